"""The generator worker: progress, results, errors, cooperative cancel, stale results, lanes."""

from __future__ import annotations

import threading
import time

import pytest

from ichmodel.progress import Progress
from ichviewer.workers import Job, JobRunner

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def runner(qtbot):
    r = JobRunner()
    yield r
    assert r.shutdown(5000)


def counting(n: int, step_s: float = 0.0, log: list | None = None, result="done"):
    try:
        for i in range(n):
            if step_s:
                time.sleep(step_s)
            yield Progress("count", i + 1, n, f"{i + 1}/{n}")
    finally:
        if log is not None:
            log.append(("closed", threading.current_thread().name))
    return result


def test_generator_job_reports_progress_and_result_in_the_gui_thread(runner, qtbot):
    events, results, threads = [], [], []

    def on_result(value):
        threads.append(threading.current_thread() is threading.main_thread())
        results.append(value)

    job = runner.submit(
        Job(
            "count", lambda: counting(4), token=None, on_progress=events.append, on_result=on_result
        )
    )
    qtbot.waitUntil(lambda: bool(results), timeout=5000)
    assert results == ["done"]
    assert [e.current for e in events] == [1, 2, 3, 4]
    assert threads == [True]
    assert job.state == "done" and job.elapsed_s is not None
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)


def test_plain_function_job_and_error(runner, qtbot):
    results, errors = [], []
    runner.submit(Job("plain", lambda: 41 + 1, on_result=results.append))

    def boom():
        raise ValueError("bad input: try another folder")

    runner.submit(Job("boom", boom, on_error=errors.append))
    qtbot.waitUntil(lambda: bool(results and errors), timeout=5000)
    assert results == [42]
    assert isinstance(errors[0].exception, ValueError)
    assert "bad input" in errors[0].message
    assert "Traceback" in errors[0].traceback_text


def test_cancel_closes_the_generator_between_yields(runner, qtbot):
    log, results, progress = [], [], []
    job = runner.submit(
        Job(
            "slow",
            lambda: counting(200, 0.01, log),
            lane="model",
            on_progress=progress.append,
            on_result=results.append,
        )
    )
    qtbot.waitUntil(lambda: len(progress) >= 2, timeout=5000)
    job.cancel()
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=5000)
    assert log and log[0][0] == "closed"
    assert log[0][1] != threading.main_thread().name  # closed in the worker thread
    qtbot.wait(50)
    assert results == []
    assert len(progress) < 200


def test_stale_results_of_an_old_study_are_dropped(runner, qtbot):
    got = []
    runner.set_current_token(1)
    old = runner.submit(
        Job("old", lambda: counting(5, 0.02, result="old"), token=1, on_result=got.append)
    )
    runner.set_current_token(2)  # the user opened another study
    new = runner.submit(
        Job("new", lambda: counting(2, result="new"), token=2, on_result=got.append)
    )
    qtbot.waitUntil(lambda: new.state == "done", timeout=5000)
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert old.cancelled
    assert got == ["new"]


def test_a_finished_but_stale_result_is_dropped(runner, qtbot):
    """Even a job that completes (no cancel point left) does not deliver for an old study."""
    got = []
    gate = threading.Event()

    def blocking():
        gate.wait(5)
        return "late"

    runner.set_current_token(7)
    job = runner.submit(Job("blocking", blocking, token=7, on_result=got.append))
    qtbot.waitUntil(lambda: job.state == "running", timeout=5000)
    runner.current_token = 8  # moved on without cancelling (worst case)
    gate.set()
    qtbot.waitUntil(lambda: job.state in ("done", "cancelled"), timeout=5000)
    qtbot.wait(50)
    assert got == []


def test_model_lane_runs_one_job_at_a_time(runner, qtbot):
    active, overlaps, done = [0], [], []
    lock = threading.Lock()

    def job_fn():
        with lock:
            active[0] += 1
            overlaps.append(active[0])
        time.sleep(0.03)
        with lock:
            active[0] -= 1
        return True

    for i in range(4):
        runner.submit(Job(f"m{i}", job_fn, lane="model", on_result=done.append))
    qtbot.waitUntil(lambda: len(done) == 4, timeout=5000)
    assert max(overlaps) == 1


def test_io_and_model_lanes_run_concurrently(runner, qtbot):
    started = {}
    release = threading.Event()

    def waiter(name):
        started[name] = time.perf_counter()
        release.wait(5)
        return name

    done = []
    runner.submit(Job("io", lambda: waiter("io"), lane="io", on_result=done.append))
    runner.submit(Job("model", lambda: waiter("model"), lane="model", on_result=done.append))
    qtbot.waitUntil(lambda: len(started) == 2, timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: len(done) == 2, timeout=5000)


def test_shutdown_waits_for_a_running_job(qtbot):
    runner = JobRunner()
    log = []
    runner.submit(Job("slow", lambda: counting(1000, 0.005, log), lane="model"))
    qtbot.wait(30)
    t0 = time.perf_counter()
    assert runner.shutdown(5000)
    assert time.perf_counter() - t0 < 2.0
    assert log and log[0][0] == "closed"
    with pytest.raises(RuntimeError):
        runner.submit(Job("late", lambda: 1))
