"""The study flow, off the GUI thread: open → scan → load → (measure ‖ model) → results.

:class:`StudyController` owns the :class:`~ichviewer.workers.JobRunner`, the current
:class:`~ichviewer.state.StudyState` and the :class:`~ichviewer.jobs.ModelCache`. It knows no
widgets: the window connects to its signals. Everything it emits belongs to the current study
(results of an older study are dropped by the runner).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ichmodel.errors import ICHError
from ichviewer import jobs
from ichviewer.state import StudyState, new_token
from ichviewer.workers import Job, JobError, JobRunner

log = logging.getLogger(__name__)

CAM_HEADS = ("volume", "prognosis")


def describe_error(error: JobError) -> tuple[str, str]:
    """(plain message, details) for an error dialog."""
    exc = error.exception
    if isinstance(exc, ICHError):
        return str(exc), error.traceback_text
    message = (
        f"An unexpected problem occurred ({type(exc).__name__}: {exc}). "
        "This is a bug in ICH Viewer; the details and the log file help to report it."
    )
    return message, error.traceback_text


class StudyController(QObject):
    sig_study_opened = Signal(object)  # StudyState (new, empty)
    sig_scan = Signal(object)  # StudyScan
    sig_series_loading = Signal(object)  # SeriesInfo
    sig_volume = Signal(object)  # Volume (first slice can be shown now)
    sig_measurement = Signal(object)  # Measurement
    sig_model = Signal(object)  # LoadedModel
    sig_prediction = Signal(object, str)  # Prediction, cam head
    sig_ready = Signal(int)  # token: measurement and prediction both arrived
    sig_error = Signal(str, str, str)  # title, message, details
    sig_status = Signal(str)

    def __init__(self, parent: QObject | None = None, *, device: str = "auto") -> None:
        super().__init__(parent)
        self.runner = JobRunner(self)
        self.runner.sig_job_error.connect(self._on_unhandled_error)
        self.models = jobs.ModelCache()
        self.study: StudyState | None = None
        self.device = device
        self.cam_head = "volume"
        #: blood HU range chosen in the panel (None: the measurement's defaults)
        self.hu_range: tuple[float, float] | None = None
        self._measurer: jobs.Measurer | None = None
        self._ready_sent: set[int] = set()

    # --- opening ----------------------------------------------------------------------------
    def open(self, source: str | Path | list[str] | list[Path]) -> StudyState:
        """Open a folder, a zip, a DICOMDIR or a list of files (cancels the previous study)."""
        if isinstance(source, list | tuple):
            paths = [Path(p) for p in source]
            src: Path | list[Path] = paths[0] if len(paths) == 1 else paths
        else:
            src = Path(source)
        study = StudyState(token=new_token(), source=src)
        self.study = study
        self._measurer = None
        self.runner.set_current_token(study.token)
        log.info("opening %s (study %d)", study.source_label, study.token)
        self.sig_study_opened.emit(study)
        self.sig_status.emit(f"Scanning {study.source_label}…")
        self.runner.submit(
            Job(
                "Scanning",
                lambda: jobs.scan_study(src),
                lane="io",
                token=study.token,
                on_result=self._on_scan,
                on_error=lambda e: self._fail("Could not open the study", e),
            )
        )
        return study

    def _on_scan(self, scan: Any) -> None:
        assert self.study is not None
        self.study.scan = scan
        self.study.mark("scanned")
        self.sig_scan.emit(scan)
        picked = getattr(scan, "picked", None)
        if picked is None:
            reasons = "; ".join(
                f"{s.description or s.series_uid}: {s.reason}" for s in getattr(scan, "series", [])
            )
            message = "No series in this study can be read as an axial head CT."
            if reasons:
                message += f" What was found: {reasons}."
            message += " Open another folder, or pick a series from the list if one is offered."
            self.sig_error.emit("Could not open the study", message, "")
            return
        self._load(picked, self.study)

    def choose_series(self, series_info: Any) -> None:
        """Load another series of the open study (its jobs replace the current ones)."""
        if self.study is None:
            return
        old = self.study
        study = StudyState(token=new_token(), source=old.source, scan=old.scan)
        self.study = study
        self._measurer = None
        self.runner.set_current_token(study.token)
        self._load(series_info, study)

    def _load(self, series_info: Any, study: StudyState) -> None:
        study.series = series_info
        self.sig_series_loading.emit(series_info)
        self.sig_status.emit(f"Loading {getattr(series_info, 'description', '') or 'series'}…")
        self.runner.submit(
            Job(
                "Loading",
                lambda: jobs.load_series(series_info),
                lane="io",
                token=study.token,
                on_result=self._on_volume,
                on_error=lambda e: self._fail("Could not load the series", e),
            )
        )

    def _on_volume(self, volume: Any) -> None:
        study = self.study
        assert study is not None
        study.volume = volume
        study.mark("volume")
        self.sig_volume.emit(volume)  # the window shows the first slice now
        study.mark("first_slice")
        self.sig_status.emit("Measuring and running the model…")
        self._measurer = jobs.Measurer(volume)
        if self.hu_range is not None:
            self.remeasure(*self.hu_range)
        else:
            self.remeasure()
        self._submit_predict(study, self.cam_head)

    # --- measurement ------------------------------------------------------------------------
    def remeasure(self, hu_min: float | None = None, hu_max: float | None = None) -> None:
        """(Re)measure the current volume; a newer request supersedes a queued older one.
        The HU range (when given) is kept for the next studies too."""
        if hu_min is not None and hu_max is not None:
            self.hu_range = (float(hu_min), float(hu_max))
        study = self.study
        if study is None or study.volume is None or self._measurer is None:
            return
        self.runner.cancel_all(name="Measuring")
        measurer = self._measurer
        self.runner.submit(
            Job(
                "Measuring",
                lambda: measurer.measure(hu_min, hu_max),
                lane="io",
                token=study.token,
                on_result=self._on_measurement,
                on_error=lambda e: self._fail("Could not measure the hematoma", e),
            )
        )

    def _on_measurement(self, measurement: Any) -> None:
        study = self.study
        assert study is not None
        study.measurement = measurement
        study.mark("measurement")
        self.sig_measurement.emit(measurement)
        self._check_ready()

    # --- model ------------------------------------------------------------------------------
    def set_cam_head(self, head: str) -> None:
        if head not in CAM_HEADS:
            raise ValueError(f"cam head must be one of {CAM_HEADS}, got {head!r}")
        self.cam_head = head
        study = self.study
        if study is None or study.volume is None:
            return
        if head in study.cams and study.prediction is not None:
            self.sig_prediction.emit(study.prediction, head)
            return
        self.runner.cancel_all(name="Model")
        self._submit_predict(study, head)

    def use_model(self, path: Path | None) -> None:
        """Switch the active model (None: the default) and rerun it on the open study."""
        self.runner.cancel_all(lane="model")
        self.models.set_path(path)
        study = self.study
        if study is not None and study.volume is not None:
            study.cams.clear()
            study.prediction = None
            self._submit_predict(study, self.cam_head)

    def preload_model(self) -> None:
        """Load torch and the active model in the model lane, and import the DICOM readers and
        the measurement in the io lane, now, before any study is open, so the first study does
        not pay for them (the window is already up)."""
        if self.study is not None:
            return  # a study is already on its way: its model job loads the model after the
            # volume, so torch's import does not compete with reading the DICOM files
        self.runner.submit(Job("Preparing the readers", jobs.warm_up_readers, lane="io"))
        if self.models.loaded is not None:
            return
        models, device = self.models, self.device
        self.runner.submit(
            Job(
                "Loading the model",
                lambda: jobs.load_model(models, device),
                lane="model",
                token=None,
                on_result=self.sig_model.emit,
                on_error=self._model_load_failed,
            )
        )

    def _model_load_failed(self, error: JobError) -> None:
        # the queued model jobs would only fail the same way: one dialog is enough
        self.runner.cancel_all(lane="model")
        self._fail("Could not load the model", error)

    def _submit_predict(self, study: StudyState, head: str) -> None:
        volume = study.volume
        device = self.device
        models = self.models
        if models.loaded is None:
            self.runner.submit(
                Job(
                    "Loading the model",
                    lambda: jobs.load_model(models),
                    lane="model",
                    token=None,
                    on_result=self.sig_model.emit,
                    on_error=self._model_load_failed,
                )
            )
        else:
            self.sig_model.emit(models.loaded)

        def on_result(prediction: Any) -> None:
            study.prediction = prediction
            study.cams[head] = prediction.cam
            study.mark(f"prediction_{head}")
            self.sig_prediction.emit(prediction, head)
            self._check_ready()

        self.runner.submit(
            Job(
                "Model",
                lambda: jobs.predict(volume, models, device=device, cam_head=head),
                lane="model",
                token=study.token,
                on_result=on_result,
                on_error=lambda e: self._fail("The model could not run", e),
            )
        )

    def _check_ready(self) -> None:
        study = self.study
        if study is None or study.token in self._ready_sent:
            return
        if study.measurement is not None and study.prediction is not None:
            self._ready_sent.add(study.token)
            study.mark("results")
            self.sig_status.emit(
                f"Results ready in {study.milestones_s['results']:.1f} s "
                f"(first slice after {study.milestones_s.get('first_slice', 0):.2f} s)"
            )
            self.sig_ready.emit(study.token)

    # --- errors, cancel, shutdown -----------------------------------------------------------
    def _fail(self, title: str, error: JobError) -> None:
        message, details = describe_error(error)
        self.sig_status.emit(f"{title}.")
        self.sig_error.emit(title, message, details)

    def _on_unhandled_error(self, job: Job, error: JobError) -> None:
        self._fail(f"{job.name} failed", error)

    def cancel(self) -> int:
        n = self.runner.cancel_all()
        if n:
            self.sig_status.emit(f"Cancelled {n} job{'s' if n != 1 else ''}.")
        return n

    def shutdown(self, timeout_ms: int = 15_000) -> bool:
        return self.runner.shutdown(timeout_ms)
