"""The study flow, off the GUI thread: open → scan → load → (measure ‖ model) → the reading.

:class:`StudyController` owns the :class:`~ichviewer.workers.JobRunner`, the current
:class:`~ichviewer.state.StudyState` and the :class:`~ichviewer.jobs.ModelCache`. It knows no
widgets: the window connects to its signals. It runs the steps of :mod:`ichmodel.reading` (the
same ones ``ichmodel measure``/``predict`` run) in two lanes and joins their results into the
study's :class:`~ichmodel.reading.StudyReading`; everything it emits belongs to the current
study (results of an older study are dropped by the runner).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from ichmodel.errors import ICHError
from ichviewer import jobs
from ichviewer.logging_setup import register_identifiers
from ichviewer.state import StudyState, new_token
from ichviewer.workers import Job, JobError, JobRunner

if TYPE_CHECKING:
    from ichmodel.io.scan import SeriesInfo, StudyScan
    from ichmodel.measure.types import Measurement
    from ichmodel.predict import Prediction
    from ichmodel.reading import ModelIdentity, StudyReading

log = logging.getLogger(__name__)

#: Folder names that say nothing about a patient (all others are kept out of the log).
_GENERIC_FOLDER_NAMES = {"", "dicom", "study", "studies", "images", "series", "data", "export",
                         "cd", "dvd", "disc", "tmp", "downloads", "desktop", "sample"}  # fmt: skip


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
    sig_volume = Signal(object)  # StudyReading holding the volume (first slice can be shown)
    sig_measurement = Signal(object)  # StudyReading with its new measurement
    sig_model = Signal(object)  # LoadedModel
    sig_prediction = Signal(object, str)  # StudyReading with its prediction, cam head
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
        #: blood HU range chosen in the panel (None: the reading's default range)
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
        folder = src if isinstance(src, Path) else src[0].parent
        if folder.name.lower() not in _GENERIC_FOLDER_NAMES:
            register_identifiers(folder.name)  # folders are often named after the patient
        self.study = study
        self._measurer = None
        self.runner.set_current_token(study.token)
        log.info("opening a study (study %d)", study.token)
        self.sig_study_opened.emit(study)
        self.sig_status.emit(f"Scanning {study.source_label}…")
        self._submit_io("Scanning", lambda: jobs.scan_study(src), study, self._on_scan,
                        "Could not open the study")
        return study

    def _submit_io(self, name: str, fn, study: StudyState, on_result, failure_title: str) -> None:
        """Run ``fn`` in the io lane for ``study``; a failure shows ``failure_title``."""
        self.runner.submit(
            Job(name, fn, lane="io", token=study.token, on_result=on_result,
                on_error=lambda e: self._fail(failure_title, e))
        )

    def _on_scan(self, scan: StudyScan) -> None:
        assert self.study is not None
        register_identifiers(*{h.patient_id for s in scan.series for h in s.headers[:1]})
        self.study.scan = scan
        self.study.mark("scanned")
        self.sig_scan.emit(scan)
        if scan.picked is None:
            reasons = "; ".join(f"{s.description or s.series_uid}: {s.reason}" for s in scan.series)
            message = "No series in this study can be read as an axial head CT."
            if reasons:
                message += f" What was found: {reasons}."
            message += " Open another folder, or pick a series from the list if one is offered."
            self.sig_status.emit("Could not open the study.")
            self.sig_error.emit("Could not open the study", message, "")
            return
        self._load(scan.picked, self.study)

    def choose_series(self, series_info: SeriesInfo) -> None:
        """Load another series of the open study (its jobs replace the current ones)."""
        if self.study is None:
            return
        old = self.study
        study = StudyState(token=new_token(), source=old.source, scan=old.scan)
        self.study = study
        self._measurer = None
        self.runner.set_current_token(study.token)
        self._load(series_info, study)

    def _load(self, series_info: SeriesInfo, study: StudyState) -> None:
        study.series = series_info
        self.sig_series_loading.emit(series_info)
        self.sig_status.emit(f"Loading {series_info.description or 'series'}…")
        scan, label = study.scan, study.source_label
        self._submit_io("Loading", lambda: jobs.load_reading(scan, series_info, label), study,
                        self._on_volume, "Could not load the series")

    def _on_volume(self, reading: StudyReading) -> None:
        study = self.study
        assert study is not None
        meta = reading.volume.meta
        register_identifiers(meta.patient_name, meta.patient_id, meta.patient_birth_date)
        study.reading = reading
        study.mark("volume")
        self.sig_volume.emit(reading)  # the window shows the first slice now
        study.mark("first_slice")
        self.sig_status.emit("Measuring and running the model…")
        self._measurer = jobs.Measurer(reading)
        self.remeasure()  # with the reader's HU range, kept from the previous study
        self._submit_predict(study, self.cam_head)

    # --- measurement ------------------------------------------------------------------------
    def remeasure(self, hu_min: float | None = None, hu_max: float | None = None) -> None:
        """(Re)measure the current volume; a newer request supersedes a queued older one.
        The HU range (when given) is kept for the next studies too."""
        if hu_min is not None and hu_max is not None:
            self.hu_range = (float(hu_min), float(hu_max))
        study = self.study
        if study is None or study.reading is None or self._measurer is None:
            return
        self.runner.cancel_all(name="Measuring")
        measurer, hu_range = self._measurer, self.hu_range
        self._submit_io("Measuring", lambda: measurer.measure(hu_range), study,
                        self._on_measurement, "Could not measure the hematoma")

    def _on_measurement(self, measurement: Measurement) -> None:
        study = self.study
        assert study is not None and study.reading is not None
        study.reading = study.reading.with_measurement(measurement)
        study.mark("measurement")
        self.sig_measurement.emit(study.reading)
        self._check_ready()

    # --- the reader's segmentation edits (ichviewer.edit_session) -----------------------------
    def measure_context(self):
        """The open study's measurement context (a ``MeasureContext``; None before the first
        measurement has run). Edits read its prepared arrays on the GUI thread; the io lane
        never changes them for the same volume."""
        return None if self._measurer is None else self._measurer.context

    def show_measurement(self, measurement: Measurement) -> None:
        """Join an edited measurement of the current volume and tell the window (as a new
        measurement would); the prediction is kept."""
        if self.study is not None and self.study.reading is not None:
            self._on_measurement(measurement)

    # --- model ------------------------------------------------------------------------------
    def set_cam_head(self, head: str) -> None:
        from ichmodel.reading.rules import CAM_HEADS

        if head not in CAM_HEADS:
            raise ValueError(f"cam head must be one of {CAM_HEADS}, got {head!r}")
        self.cam_head = head
        study = self.study
        if study is None or study.reading is None:
            return
        if head in study.cams and study.prediction is not None:
            self.sig_prediction.emit(study.reading, head)
            return
        self.runner.cancel_all(name="Model")
        self._submit_predict(study, head)

    def use_model(self, path: Path | None) -> None:
        """Switch the active model (None: the default) and rerun it on the open study."""
        self.runner.cancel_all(lane="model")
        self.models.set_path(path)
        study = self.study
        if study is not None and study.reading is not None:
            study.cams.clear()
            study.reading = study.reading.without_prediction("")
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
        reading = study.reading
        assert reading is not None
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

        def on_result(result: tuple[Prediction, ModelIdentity]) -> None:
            prediction, identity = result
            assert study.reading is not None
            study.reading = study.reading.with_prediction(prediction, identity)
            if prediction.cam is not None:
                study.cams[head] = prediction.cam
            study.mark(f"prediction_{head}")
            self.sig_prediction.emit(study.reading, head)
            self._check_ready()

        self.runner.submit(
            Job(
                "Model",
                lambda: jobs.predict(reading, models, device=device, cam_head=head),
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
