"""Tools → Fine-tune: train the model on the site's own cases, watch it learn, adopt or roll back.

The dialog is modeless and training runs on the ``"model"`` lane of a
:class:`~ichviewer.workers.JobRunner` of the dialog's own, not the window's: a run takes minutes
to hours, and on the window's lane it would hold back every prediction of the studies the user
keeps reading, and the window's Cancel button would stop it. The trained network is a copy, never
the viewer's model object, so both may run at once (they share the CPU/GPU). Closing the dialog
during a run only hides it; :meth:`TrainerDialog.open_for` brings the same dialog back, and the
run is cancelled (its state saved for resume) when the application quits.

Everything a user does has a method a test can call without ``exec()``:
:meth:`set_manifest`, :meth:`build_manifest`, :meth:`start`, :meth:`cancel`,
:meth:`use_trained_model`, :meth:`rollback`; :meth:`wait_idle` processes events until the run ends.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ichmodel.errors import ManifestError
from ichmodel.progress import Progress
from ichviewer.dialogs.trainer_backend import (
    IchmodelBackend,
    TrainingBackend,
    TrainOutcome,
    default_run_root,
)
from ichviewer.dialogs.trainer_data import TrainingCurves, format_eta
from ichviewer.dialogs.trainer_form import HyperparameterForm
from ichviewer.dialogs.trainer_manifest import ManifestPanel
from ichviewer.dialogs.trainer_plots import FinalMetricsPanel, TrainingPlots
from ichviewer.workers import Job, JobError, JobRunner

if TYPE_CHECKING:
    from ichmodel.train.config import TrainConfig
    from ichmodel.train.fine_tune import FineTuneRequest
    from ichmodel.train.manifest import ManifestReport
    from ichviewer.settings import Settings

log = logging.getLogger(__name__)


class TrainerDialog(QDialog):
    """Fine-tune the model: manifest → validation report → hyperparameters → live curves."""

    #: The active model changed (use / rollback): the weights now active (None: the default).
    #: The main window connects it to its ``use_model`` to rerun the open study.
    sig_use_model = Signal(object)
    sig_running_changed = Signal(bool)

    def __init__(
        self,
        parent: QWidget | None = None,
        settings: Settings | None = None,
        *,
        runner: JobRunner | None = None,
        backend: TrainingBackend | None = None,
        run_root: str | Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune the model")
        self.setModal(False)
        self.settings = settings
        self.backend: TrainingBackend = backend or IchmodelBackend()
        self.runner: JobRunner = runner or JobRunner(self)
        self._owns_runner = runner is None
        self.run_root = Path(run_root) if run_root else default_run_root()
        self.outcome: TrainOutcome | None = None
        self.curves = TrainingCurves()
        self.job: Job | None = None
        self.last_error: str = ""
        self._t_start = 0.0
        self._shut_down = False
        self._build_ui()
        self.runner.sig_job_finished.connect(self._on_job_finished)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._update_buttons()
        self.resize(1150, 760)

    # --- UI -------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)

        self.data = ManifestPanel(self.backend, self.settings)
        self.data.sig_changed.connect(self._update_buttons)
        self.data.sig_check_requested.connect(self.check_studies)
        # short names for scripts and tests
        self.manifest_edit = self.data.manifest_edit
        self.exclude_check = self.data.exclude_check
        self.report_view = self.data.report_view
        left_layout.addWidget(self.data, 1)

        device = self.settings.device if self.settings is not None else "auto"
        self.form = HyperparameterForm(device, f"default: a new folder in {self.run_root}")
        left_layout.addWidget(self.form)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        left_layout.addLayout(buttons)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.status_label = QLabel("Idle.")
        self.status_label.setWordWrap(True)
        self.eta_label = QLabel("")
        right_layout.addWidget(self.progress_bar)
        right_layout.addWidget(self.status_label)
        right_layout.addWidget(self.eta_label)
        self.tabs = QTabWidget()
        self.plots = TrainingPlots()
        self.tabs.addTab(self.plots, "Curves")
        self.final_panel = FinalMetricsPanel()
        self.tabs.addTab(self.final_panel, "Final metrics")
        right_layout.addWidget(self.tabs, 1)

        model_row = QHBoxLayout()
        self.active_label = QLabel()
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.use_trained_model)
        self.rollback_button = QPushButton("Roll back to the demo model")
        self.rollback_button.clicked.connect(self.rollback)
        model_row.addWidget(self.active_label, 1)
        model_row.addWidget(self.use_button)
        model_row.addWidget(self.rollback_button)
        right_layout.addLayout(model_row)
        self._refresh_active_model()

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # --- state ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    def _update_buttons(self) -> None:
        ready = self.data.ready
        self.start_button.setEnabled(ready and not self.running)
        self.cancel_button.setEnabled(self.running)
        self.use_button.setEnabled(
            not self.running and self.outcome is not None and self.outcome.checkpoint is not None
        )
        self.rollback_button.setEnabled(not self.running)
        self.form.set_running(self.running)
        self.data.set_running(self.running)

    def _refresh_active_model(self) -> None:
        self.active_label.setText(f"Active model: {self.backend.active_model_name()}")

    # --- data -----------------------------------------------------------------------------
    @property
    def report(self) -> ManifestReport | None:
        """The manifest's validation report (``ichmodel.train.manifest.ManifestReport``)."""
        return self.data.report

    def set_manifest(self, path: str | Path) -> None:
        self.data.set_manifest(path)

    def build_manifest(self, folder: str | Path, labels_csv: str | Path) -> Path | None:
        return self.data.build_manifest(folder, labels_csv)

    def check_studies(self) -> Job | None:
        """Load every study of the manifest in the worker (building the cache training reuses)
        and list the rows that fail; returns the job, None when there is nothing to check."""
        path = self.data.manifest_path
        if path is None or self.running or self.data.report is None:
            return None
        self._ensure_runner()
        exclude, start = self.data.exclude_rows, self.form.start_choice()
        check = self.backend.check_studies
        self.status_label.setText("Checking that every study loads…")
        self.job = Job(
            name="check studies",
            fn=lambda: check(path, exclude, start),
            lane="model",
            on_progress=self._on_progress,
            on_result=self._on_checked,
            on_error=self._on_error,
        )
        self.runner.submit(self.job)
        self._update_buttons()
        self.sig_running_changed.emit(True)
        return self.job

    def _on_checked(self, checked: ManifestReport) -> None:
        self.data.show_load_check(checked.problems)
        if not self.data.load_problems:
            self.report_view.appendPlainText("\nEvery study loads.")
        n = len(self.data.load_problems)
        self.status_label.setText(
            f"{n} stud{'y does' if n == 1 else 'ies do'} not load." if n else "Every study loads."
        )
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(1000)

    # --- hyperparameters ------------------------------------------------------------------
    def train_config(self) -> TrainConfig:
        return self.form.train_config()

    def request(self) -> FineTuneRequest:
        """The form as the fine-tune session ``ichmodel train`` runs too; the data is the
        user's own manifest, so its provenance is ``site``."""
        from ichmodel.model_card import Provenance
        from ichmodel.train.fine_tune import FineTuneRequest

        run_text = self.form.run_edit.text().strip()
        run_dir = Path(run_text) if run_text else self.run_root / time.strftime("%Y%m%d-%H%M%S")
        return FineTuneRequest(
            data=self.data.manifest_path or Path(),
            run_dir=run_dir,
            start=self.form.start_choice(),
            config=self.train_config(),
            provenance=Provenance.SITE,
            exclude_rows=self.data.exclude_rows,
            resume=self.form.resume_check.isChecked(),
        )

    # --- run ------------------------------------------------------------------------------
    def start(self) -> Job | None:
        """Start training in the dialog's worker; returns the job, None when not ready."""
        if self.running or not self.start_button.isEnabled():
            return None
        self._ensure_runner()
        try:
            request = self.request()
        except ValueError as exc:  # a TrainConfig the form allowed but the loop refuses
            self.status_label.setText(f"Cannot start: {exc}")
            return None
        if not request.resume:
            request.run_dir.parent.mkdir(parents=True, exist_ok=True)
        self.form.run_edit.setText(str(request.run_dir))
        self.outcome = None
        self.last_error = ""
        self.curves = TrainingCurves(epochs=request.config.epochs)
        self.plots.clear_curves()
        self.final_panel.show_outcome({}, None, None)
        self.tabs.setCurrentIndex(0)
        self.progress_bar.setValue(0)
        self.status_label.setText(f"Starting: run folder {request.run_dir}")
        self.eta_label.setText("")
        self._t_start = time.monotonic()
        backend = self.backend
        self.job = Job(
            name="train",
            fn=lambda: backend.run(request),
            lane="model",
            on_progress=self._on_progress,
            on_result=self._on_result,
            on_error=self._on_error,
        )
        self.runner.submit(self.job)
        log.info("training started: %s", request)
        self._update_buttons()
        self.sig_running_changed.emit(True)
        return self.job

    def _ensure_runner(self) -> None:
        if self._shut_down:  # closed earlier: threads stopped; start fresh ones
            self.runner = JobRunner(self)
            self.runner.sig_job_finished.connect(self._on_job_finished)
            self._owns_runner = True
            self._shut_down = False

    def cancel(self) -> None:
        """Stop the run at its next step; the loop saves its state (resume later)."""
        if self.job is None:
            return
        self.job.cancel()
        self.status_label.setText("Cancelling… the state is saved at the current step.")
        self.cancel_button.setEnabled(False)

    def _on_progress(self, event: Progress) -> None:
        if self.curves.add(event):
            self.plots.show_curves(self.curves)
        fraction = event.fraction
        if event.stage in ("train", "validate") and fraction is not None:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(fraction * 1000))
        elif fraction is None:
            self.progress_bar.setRange(0, 0)  # busy indicator
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(fraction * 1000))
        self.status_label.setText(f"{event.stage}: {event.message}")
        eta = format_eta(self.curves.eta_s) if event.stage in ("train", "validate") else ""
        elapsed = format_eta(time.monotonic() - self._t_start)
        last = self.curves.last_validation
        parts = [f"elapsed {elapsed}"]
        if eta:
            parts.append(f"ETA {eta}")
        if "val_mae_ml" in last:
            parts.append(f"val MAE {last['val_mae_ml']:.2f} ml")
        if "val_auc" in last:
            parts.append(f"val AUC {last['val_auc']:.3f}")
        self.eta_label.setText(" · ".join(parts))

    def _on_result(self, outcome: TrainOutcome) -> None:
        self.outcome = outcome
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(1000)
        result = outcome.result
        self.status_label.setText(
            f"Done ({result.stopped}): {result.run_dir}. "
            "Press “Use this model” to make it the active model."
        )
        self.final_panel.show_outcome(outcome.metrics, outcome.roc_fpr, outcome.roc_tpr)
        self.eta_label.setText(f"finished in {format_eta(time.monotonic() - self._t_start)}")
        self.form.run_edit.clear()  # the next start makes a new run folder
        self.form.resume_check.setChecked(False)
        self.tabs.setCurrentIndex(1)

    def _on_error(self, error: JobError) -> None:
        self.last_error = error.message
        what = "Training" if self.job is None or self.job.name == "train" else "The study check"
        exc = error.exception
        if isinstance(exc, ManifestError) and exc.problems:
            # refused: rows that do not parse or whose study does not load
            self.data.show_load_check(exc.problems)
            self.data.report_view.appendPlainText(
                "\nThe run was refused: fix these rows or tick “Exclude the rows with problems”."
            )
        self.status_label.setText(f"{what} failed: {error.message}")
        log.warning("%s failed: %s", what, error.message)

    def _on_job_finished(self, job: Job) -> None:
        if job is not self.job:
            return
        if job.state == "cancelled" and job.name == "train":
            self.status_label.setText(
                "Cancelled. Tick “continue the interrupted run” and start again to resume."
            )
            self.form.resume_check.setChecked(True)
            self.progress_bar.setRange(0, 1000)
        elif job.state == "cancelled":
            self.status_label.setText("Cancelled.")
        self.job = None
        self._update_buttons()
        self.sig_running_changed.emit(False)

    def metrics_shown(self) -> dict[str, str]:
        """The final metrics table as {label: text} (for tests and the smoke test)."""
        return self.final_panel.metrics_shown()

    # --- registry -------------------------------------------------------------------------
    def use_trained_model(self) -> str | None:
        """Register the finished run's best model and make it the active one."""
        if self.outcome is None or self.running:
            return None
        return self._switch(lambda: self.backend.use_model(self.outcome), "use this model")

    def rollback(self) -> str | None:
        """Make the bundled demo model the active one again."""
        if self.running:
            return None
        return self._switch(self.backend.rollback, "roll back")

    def _switch(self, action, what: str) -> str | None:
        try:
            switch = action()
        except Exception as exc:  # registry problems are reported, never raised into Qt
            log.exception("%s failed", what)
            self.status_label.setText(f"Could not {what}: {exc}")
            return None
        self.status_label.setText(switch.message)
        self._refresh_active_model()
        self.sig_use_model.emit(switch.path)
        return switch.message

    # --- lifetime -------------------------------------------------------------------------
    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until the run has ended (tests, scripts); True when it did."""
        from PySide6.QtCore import QCoreApplication

        deadline = time.monotonic() + timeout_s
        while self.job is not None and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.005)
        return self.job is None

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel a run (its state is saved for resume) and stop the dialog's own threads."""
        if self._shut_down:
            return
        if self.job is not None:
            self.cancel()
            self.wait_idle(timeout_s)
        if self._owns_runner:
            self.runner.shutdown(int(timeout_s * 1000))
            self._shut_down = True

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # A running training keeps going while the dialog is hidden; reopen it (open_for) to
        # watch. Without a run, closing lets the runner's threads go.
        if self.job is None and self._owns_runner:
            self.shutdown()
        super().closeEvent(event)

    @classmethod
    def open_for(
        cls, parent: QWidget | None = None, settings: Settings | None = None
    ) -> TrainerDialog:
        """The window's trainer dialog: the existing one (maybe still training) or a new one,
        shown and raised. Use this for Tools → Fine-tune so a hidden run is never orphaned."""
        dialog = None
        if parent is not None:
            dialog = next(
                (d for d in parent.findChildren(cls) if not d._shut_down), None
            )
        if dialog is None:
            dialog = cls(parent, settings)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog
