"""Closing the window while the io lane is busy never aborts the process; input errors and
patient identifiers stay out of the log (issue 16)."""

from __future__ import annotations

import threading
import time

import pytest

from ichviewer import jobs, workers
from ichviewer.controller import StudyController
from ichviewer.logging_setup import log_file
from tests.fuzz import raw
from tests.fuzz.corpus import PLANTED_ID, PLANTED_NAME, series

pytestmark = pytest.mark.timeout(60)


def _log_since(offset: int) -> str:
    path = log_file()
    assert path is not None
    for handler in __import__("logging").getLogger().handlers:
        handler.flush()
    with open(path, encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        return handle.read()


def _log_size() -> int:
    path = log_file()
    return path.stat().st_size if path is not None and path.exists() else 0


def test_closing_the_window_during_a_slow_scan_stops_it(window, qtbot, tmp_path, monkeypatch):
    """A scan that reads 300 slow files (0.5 s each: a hung network share) is stopped inside
    its loop when the window closes, not after the last file."""
    import ichmodel.io.scan as scan_module

    study = tmp_path / "study"
    series(study, 3)
    raw.make_fifo(study / "pipe.dcm")  # would block a reader that opens everything it finds
    for k in range(300):
        (study / f"slow{k:03d}.dcm").write_bytes(b"\0" * 200)
    real_read, reads = scan_module.read_header, []

    def slow_read(path):
        reads.append(path)
        time.sleep(0.5)  # 10 files between two yields: 5 s
        return real_read(path)

    monkeypatch.setattr(scan_module, "read_header", slow_read)
    window.open_path(study)
    qtbot.waitUntil(lambda: len(reads) >= 3, timeout=10_000)
    started = time.perf_counter()
    window.close()
    took = time.perf_counter() - started
    assert took < 3.0, f"closing took {took:.1f} s"
    assert len(reads) < 40  # stopped mid-scan
    assert not workers.abandoned_workers()
    assert not window.error_dialogs


def test_a_call_that_never_returns_does_not_abort_on_close(window, qtbot, monkeypatch):
    """A job stuck where no cancel point is reached: the window still closes at once and the
    worker is left running (and ends later) instead of Qt aborting the process."""
    release, entered = threading.Event(), threading.Event()

    def stuck_scan(source):
        entered.set()
        release.wait(20)  # ignores cancel, like a read from a dead NFS mount
        raise RuntimeError("never delivered")

    monkeypatch.setattr(jobs, "scan_study", stuck_scan)
    monkeypatch.setattr(
        window.controller, "shutdown", lambda timeout_ms=300: StudyController.shutdown(
            window.controller, 300)
    )  # fmt: skip
    window.open_path("/nonexistent/study")
    assert entered.wait(5)
    started = time.perf_counter()
    window.close()
    assert time.perf_counter() - started < 3.0
    assert "io" in workers.abandoned_workers()
    release.set()
    qtbot.waitUntil(lambda: not workers.abandoned_workers(), timeout=10_000)


def test_the_log_holds_no_patient_identifiers_nor_tracebacks_of_input_errors(
    window, qtbot, tmp_path
):
    offset = _log_size()
    # the folder is named after the patient, as exports often are
    study = tmp_path / "Plantedname_Fuzzy" / PLANTED_ID
    paths = series(study)
    raw.flip_bytes(paths[2], __import__("numpy").random.default_rng(3), 40, "header")
    with qtbot.waitSignal(window.controller.sig_volume, timeout=30_000):
        window.open_path(study)
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(window.sig_error_shown, timeout=10_000):
        window.open_path(empty)
    window.close()
    text = _log_since(offset)
    assert "opening a study" in text  # the log was written
    for secret in (PLANTED_NAME, PLANTED_ID, "Plantedname", "Fuzzy"):
        assert secret not in text, f"{secret!r} in the log:\n{text}"
    assert "Traceback" not in text
    assert "holds no regular files" in text  # the input error, as one line
