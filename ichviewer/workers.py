"""Work off the GUI thread: one generator-worker abstraction, one lane per kind of work.

A :class:`Job` wraps a callable that returns either an ichmodel progress generator
(``Generator[Progress, None, T]``) or a plain value. A :class:`GeneratorWorker` is a ``QObject``
living in its own ``QThread``; it runs the jobs it is given one at a time, in order: each
``yield`` is reported through ``sig_progress`` and is also the cancel point (the worker closes
the generator when the job was cancelled). The return value arrives through ``sig_result``,
an exception through ``sig_error``, and ``sig_finished`` always follows.

:class:`JobRunner` is what the window talks to. It lives in the GUI thread and owns the lanes:
``"io"`` (scan, load, measure) and ``"model"`` (model loading, inference, Grad-CAM, training —
one at a time because the model, its hooks and the device are shared). Every job is stamped
with the study it was started for; when the window moves on to another study, the runner
cancels the old study's jobs and drops whatever they still deliver (stale results).

Workers never touch widgets: job callbacks run in the GUI thread, through queued signals.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ichmodel.errors import ICHError
from ichmodel.progress import Cancelled, Progress, cancel_scope

log = logging.getLogger(__name__)

LANES = ("io", "model")
_ids = itertools.count(1)
#: Workers whose thread did not stop when asked (see :meth:`GeneratorWorker.stop`).
_ABANDONED: list[GeneratorWorker] = []


def abandoned_workers() -> list[str]:
    """Names of workers still running although they were told to stop."""
    return [w.name for w in _ABANDONED if w.running]


@dataclass(frozen=True)
class JobError:
    """An exception raised inside a job, carried back to the GUI thread."""

    exception: BaseException
    traceback_text: str

    @property
    def message(self) -> str:
        return str(self.exception) or type(self.exception).__name__


@dataclass(eq=False)
class Job:
    """One unit of background work.

    ``fn`` is called in the worker thread with no arguments; it returns a progress generator
    (driven step by step, cancellable between steps) or a plain value. ``token`` stamps the
    job with the study it belongs to (``None``: not tied to a study, never stale). The
    ``on_*`` callbacks run in the GUI thread.
    """

    name: str
    fn: Callable[[], Any]
    lane: str = "io"
    token: int | None = None
    on_progress: Callable[[Progress], Any] | None = None
    on_result: Callable[[Any], Any] | None = None
    on_error: Callable[[JobError], Any] | None = None
    on_finished: Callable[[Job], Any] | None = None
    id: int = field(default_factory=lambda: next(_ids))
    #: "queued", "running", "done", "error", "cancelled"
    state: str = "queued"
    started_s: float | None = None
    elapsed_s: float | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        """Ask the job to stop at its next cancel point (thread-safe)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def __repr__(self) -> str:
        return (
            f"Job({self.name!r}, id={self.id}, lane={self.lane}, token={self.token}, {self.state})"
        )


class GeneratorWorker(QObject):
    """Runs jobs in its own ``QThread``, one at a time, in submission order.

    Signals carry ``(job, payload)`` and are emitted from the worker thread; connect them to
    slots of objects living in the GUI thread (they are then queued).
    """

    sig_progress = Signal(object, object)  # job, Progress
    sig_result = Signal(object, object)  # job, result value
    sig_error = Signal(object, object)  # job, JobError
    sig_finished = Signal(object)  # job (after result, error or cancel)
    _sig_submit = Signal(object)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._thread = QThread()
        self._thread.setObjectName(f"ichviewer-{name}")
        self.moveToThread(self._thread)
        self._sig_submit.connect(self._run_job)
        self._lock = threading.Lock()
        self._pending: list[Job] = []
        self._current: Job | None = None
        self._thread.start()

    # --- GUI-thread API -------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._lock:
            self._pending.append(job)
        self._sig_submit.emit(job)

    def jobs(self) -> list[Job]:
        """The running job (if any) followed by the queued ones."""
        with self._lock:
            current = [self._current] if self._current is not None else []
            return current + list(self._pending)

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything, end the thread and wait for it; True when it ended in time.

        A job stuck in a call that never returns (a hung network drive) cannot be stopped:
        its worker is then kept alive in :data:`_ABANDONED` rather than destroyed while its
        thread runs (which makes Qt abort the process), and :func:`abandoned_workers` tells
        ``main`` to leave without running destructors."""
        for job in self.jobs():
            job.cancel()
        self._thread.quit()
        ended = self._thread.wait(timeout_ms)
        if not ended:
            log.error("worker %s did not stop within %d ms; leaving it", self.name, timeout_ms)
            _ABANDONED.append(self)
        return bool(ended)

    @property
    def running(self) -> bool:
        return bool(self._thread.isRunning())

    # --- worker thread --------------------------------------------------------------------
    @Slot(object)
    def _run_job(self, job: Job) -> None:
        with self._lock:
            if job in self._pending:
                self._pending.remove(job)
            self._current = job
        try:
            self._drive(job)
        finally:
            with self._lock:
                self._current = None
            self.sig_finished.emit(job)

    def _drive(self, job: Job) -> None:
        if job.cancelled:
            job.state = "cancelled"
            return
        job.state = "running"
        job.started_s = time.perf_counter()
        log.debug("%s: start %r", self.name, job)
        gen = None
        try:
            with cancel_scope(job._cancel):  # raise_if_cancelled() inside a step sees it
                value = job.fn()
            if inspect.isgenerator(value):
                gen = value
                value = None
                while True:
                    if job.cancelled:
                        gen.close()  # cancel point: between two yields
                        job.state = "cancelled"
                        log.info("%s: cancelled %r", self.name, job)
                        return
                    try:
                        with cancel_scope(job._cancel):
                            event = next(gen)
                    except StopIteration as stop:
                        value = stop.value
                        break
                    if isinstance(event, Progress):
                        self.sig_progress.emit(job, event)
            if job.cancelled:
                job.state = "cancelled"
                return
            job.state = "done"
            job.elapsed_s = time.perf_counter() - job.started_s
            log.debug("%s: done %r in %.3f s", self.name, job, job.elapsed_s)
            self.sig_result.emit(job, value)
        except Cancelled:
            job.state = "cancelled"
            log.info("%s: cancelled %r inside a step", self.name, job)
        except Exception as exc:  # reported to the GUI, never raised through Qt
            job.state = "error"
            text = traceback.format_exc()
            if isinstance(exc, ICHError):  # an ordinary input problem: one line, no traceback
                log.warning("%s: %s: %s", self.name, job.name, str(exc).splitlines()[0][:500])
            else:
                log.error("%s: job %r failed: %s\n%s", self.name, job, exc, text)
            self.sig_error.emit(job, JobError(exc, text))
            if gen is not None:
                gen.close()


class JobRunner(QObject):
    """The GUI-side front of the worker lanes: submit, cancel, drop stale results, shut down.

    ``sig_progress(job, Progress)`` and ``sig_busy_changed(bool)`` feed the progress bar;
    ``sig_job_error(job, JobError)`` fires for errors of current (non-stale) jobs that have no
    ``on_error`` callback of their own.
    """

    sig_progress = Signal(object, object)
    sig_busy_changed = Signal(bool)
    sig_active_changed = Signal(list)  # names of the active (not cancelled) jobs
    sig_job_finished = Signal(object)
    sig_job_error = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.current_token: int | None = None
        self._workers: dict[str, GeneratorWorker] = {}
        self._active: list[Job] = []
        self._stopped = False
        for lane in LANES:
            worker = GeneratorWorker(lane)
            worker.sig_progress.connect(self._on_progress)
            worker.sig_result.connect(self._on_result)
            worker.sig_error.connect(self._on_error)
            worker.sig_finished.connect(self._on_finished)
            self._workers[lane] = worker

    # --- API ------------------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        if self._stopped:
            raise RuntimeError("the job runner has been shut down")
        if job.lane not in self._workers:
            raise ValueError(f"unknown lane {job.lane!r}; use one of {LANES}")
        was_busy = self.busy
        self._active.append(job)
        self._workers[job.lane].submit(job)
        self._changed(was_busy)
        return job

    def _changed(self, was_busy: bool) -> None:
        busy = self.busy
        if busy != was_busy:
            self.sig_busy_changed.emit(busy)
        self.sig_active_changed.emit([job.name for job in self.active_jobs()])

    def is_stale(self, job: Job) -> bool:
        return job.cancelled or (job.token is not None and job.token != self.current_token)

    def set_current_token(self, token: int) -> None:
        """Move on to another study: cancel every job stamped with an older one."""
        self.current_token = token
        was_busy = self.busy
        for job in list(self._active):
            if job.token is not None and job.token != token:
                job.cancel()
        self._changed(was_busy)

    def cancel_all(self, lane: str | None = None, name: str | None = None) -> int:
        """Cancel active jobs (optionally only of one lane / one name); returns how many."""
        count = 0
        was_busy = self.busy
        for job in list(self._active):
            if (lane is None or job.lane == lane) and (name is None or job.name == name):
                if not job.cancelled:
                    job.cancel()
                    count += 1
        self._changed(was_busy)
        return count

    def active_jobs(self) -> list[Job]:
        return [job for job in self._active if not job.cancelled]

    @property
    def busy(self) -> bool:
        return any(not job.cancelled for job in self._active)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Process events until no job is active (for tests and the smoke test)."""
        from PySide6.QtCore import QCoreApplication

        deadline = time.monotonic() + timeout_s
        while self._active and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.005)
        return not self._active

    def shutdown(self, timeout_ms: int = 15_000) -> bool:
        """Cancel all jobs and stop every lane's thread, waiting for running jobs to end."""
        if self._stopped:
            return True
        self._stopped = True
        self.cancel_all()
        ok = True
        for worker in self._workers.values():
            ok = worker.stop(timeout_ms) and ok
        log.info("job runner stopped (clean=%s)", ok)
        return ok

    # --- slots (GUI thread) ---------------------------------------------------------------
    @Slot(object, object)
    def _on_progress(self, job: Job, event: Progress) -> None:
        if self.is_stale(job):
            return
        self.sig_progress.emit(job, event)
        if job.on_progress is not None:
            job.on_progress(event)

    @Slot(object, object)
    def _on_result(self, job: Job, value: Any) -> None:
        if self.is_stale(job):
            log.info("dropped the stale result of %r", job)
            return
        if job.on_result is not None:
            try:
                job.on_result(value)
            except Exception as exc:  # a bug in a GUI callback: report, do not crash
                log.exception("result handler of %r failed", job)
                self._deliver_error(job, JobError(exc, traceback.format_exc()))

    @Slot(object, object)
    def _on_error(self, job: Job, error: JobError) -> None:
        if self.is_stale(job):
            log.info("dropped the error of stale %r: %s", job, error.message)
            return
        self._deliver_error(job, error)

    def _deliver_error(self, job: Job, error: JobError) -> None:
        if job.on_error is not None:
            job.on_error(error)
        else:
            self.sig_job_error.emit(job, error)

    @Slot(object)
    def _on_finished(self, job: Job) -> None:
        was_busy = self.busy or (job in self._active and not job.cancelled)
        if job in self._active:
            self._active.remove(job)
        if job.on_finished is not None and not self.is_stale(job):
            job.on_finished(job)
        self.sig_job_finished.emit(job)
        self._changed(was_busy)
