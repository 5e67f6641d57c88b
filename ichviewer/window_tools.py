"""The main window's model, device, trainer and report actions (a mixin of MainWindow)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog

from ichviewer import logging_setup
from ichviewer.dialogs.about_dialog import AboutDialog, ModelCardDialog

if TYPE_CHECKING:
    from ichviewer.report import ReportOptions

log = logging.getLogger(__name__)
T = TypeVar("T")


class WindowToolsMixin:
    """Needs ``self.controller``, ``self.settings``, ``self.model``, ``self.results``,
    ``self.slice_view``, ``self.act_anonymize``, ``self.show_error``, ``statusBar()`` and
    ``self.with_panel_scores`` (FollowupToolsMixin) and ``self.annotations`` (ReadingToolsMixin:
    the reader's rulers and ROIs, drawn on the DICOM key images and the PDF as in the report)."""

    def set_device(self, device: str) -> None:
        self.settings.device = device
        self.controller.device = device
        self.statusBar().showMessage(f"Model device: {device} (used from the next run).")

    def use_model(self, path: Path | None) -> None:
        """Make a checkpoint (None: the default model) the active model; reruns the study."""
        self.controller.use_model(path)

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model", self.settings.last_folder, "Models (*.safetensors)"
        )
        if path:
            self.use_model(Path(path))

    def show_model_card(self) -> ModelCardDialog | None:
        if self.model is None:
            self.statusBar().showMessage("No model loaded yet.")
            return None
        dialog = ModelCardDialog(self.model, self)
        dialog.show()
        return dialog

    def show_about(self) -> AboutDialog:
        log_path = logging_setup.log_file()
        dialog = AboutDialog(self, str(log_path) if log_path else None)
        dialog.show()
        return dialog

    def open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(logging_setup.log_dir())))

    @property
    def runner(self):
        """The window's job runner (the trainer dialog runs its jobs on its model lane)."""
        return self.controller.runner

    def open_trainer(self) -> None:
        """Tools → Fine-tune (the dialog lives in :mod:`ichviewer.dialogs.trainer_dialog`)."""
        def open_dialog():
            from ichviewer.dialogs.trainer_dialog import TrainerDialog

            opener = getattr(TrainerDialog, "open_for", None)
            if opener is not None:  # reuses a (maybe still training) hidden dialog
                return opener(self, self.settings)
            return TrainerDialog(parent=self, settings=self.settings)

        dialog = self.run_or_show("Fine-tuning is not available", open_dialog)
        if dialog is None:
            return None
        if getattr(self, "trainer_dialog", None) is not dialog:
            # the trainer adopted / rolled back a model: path of the weights now active
            # (None: the default model); rerun the open study with it
            dialog.sig_use_model.connect(self._on_trainer_use_model)
        self.trainer_dialog = dialog
        dialog.show()
        return dialog

    def _on_trainer_use_model(self, path) -> None:
        self.statusBar().showMessage("The active model changed; running it on the open study.")
        self.use_model(Path(path) if path else None)

    def export_report_dialog(self) -> None:
        """File → Export report: ask where, then write it in the io worker (the window stays
        usable; a 512² study takes about half a second)."""
        study = self.controller.study
        if study is None or study.volume is None:
            return
        default = Path(self.settings.last_folder or Path.home()) / "ich_report.pdf"
        path, _ = QFileDialog.getSaveFileName(self, "Export report", str(default), "PDF (*.pdf)")
        if not path:
            return
        from ichviewer.workers import Job

        self.controller.runner.submit(
            Job(
                "Exporting the report",
                self._report_call(Path(path)),
                lane="io",
                token=study.token,
                on_result=lambda out: self.statusBar().showMessage(f"Report written to {out}"),
                on_error=lambda e: self.show_error(
                    "Could not export the report", e.message, e.traceback_text
                ),
            )
        )

    def _report_call(self, path: Path):
        """A no-argument function writing the open study's report to ``path``; everything it
        needs from the widgets is read now (in the GUI thread)."""
        from ichviewer import report

        reading = self.controller.study.reading
        assert reading is not None
        options, extras = self.report_options(), self.report_extras(reading)

        def write() -> Path:
            return Path(report.export_report(path, reading, options, extras))

        return write

    def report_options(self) -> ReportOptions:
        """How the report looks, as the reader set the view: one set of options for the
        exported PDF and for the PDF sent to PACS or written as DICOM."""
        import ichviewer
        from ichviewer import report

        r = self.results
        return report.ReportOptions(
            anonymize=self.act_anonymize.isChecked(),
            heatmap_opacity=self.slice_view.heatmap_opacity(),
            show_heatmap=r.heatmap_check.isChecked(),
            show_contour=r.contour_check.isChecked(),
            show_abc2_segments=r.abc2_check.isChecked(),
            app_version=ichviewer.__version__,
        )

    # --- PACS (issue 19) ---------------------------------------------------------------------
    def _run_network_job(self, name: str, fn, on_result, on_error) -> None:
        from ichviewer.workers import Job

        self.controller.runner.submit(Job(name, fn, lane="io", on_result=on_result,
                                          on_error=lambda e: on_error(e.message)))

    def send_to_pacs_dialog(self):
        """File → Send to PACS…: the dialog for the open, measured study (returned for tests)."""
        from ichviewer.dialogs.pacs_dialog import SendToPacsDialog

        study = self.controller.study
        if study is None or study.reading is None or study.reading.measurement is None:
            self.show_error("Nothing to send", "Open a study and wait for its measurement first.")
            return None
        reading = self.with_panel_scores(study.reading)
        dialog = SendToPacsDialog(self.settings, self._run_network_job, reading,
                                  self.report_options(), self.show_error, self,
                                  extras=self.report_extras(reading))
        dialog.show()
        return dialog

    def export_dicom_results(self, folder: Path) -> list[Path] | None:
        """Write the open study's SEG/SR/key images/PDF as DICOM files into ``folder`` now (the
        smoke test checks the frozen bundle's highdicom with it). Errors become a dialog."""
        from ichmodel.dicom_out import build_results, write_results
        from ichviewer.dialogs.pacs_dialog import pdf_bytes

        study = self.controller.study
        if study is None or study.reading is None:
            return None
        options = self.report_options()
        reading = self.with_panel_scores(study.reading)  # the SR lists the scores
        extras = self.report_extras(reading)  # the key images carry the reader's marks

        def write():
            pdf = pdf_bytes(reading, options, extras)
            results = build_results(reading, pdf_bytes=pdf, anonymize=options.anonymize,
                                    annotations=extras.annotations)
            return write_results(results, folder)

        return self.run_or_show("Could not write the DICOM results", write)

    def open_listener(self):
        """Tools → DICOM listener (one per window; returned for tests)."""
        from ichviewer.dialogs.pacs_dialog import ListenerDialog

        if getattr(self, "_listener_dialog", None) is None:
            self._listener_dialog = ListenerDialog(self.settings, self.show_error, self)
        self._listener_dialog.show()
        return self._listener_dialog

    def run_or_show(self, title: str, action: Callable[[], T]) -> T | None:
        """``action()``, or None after an error dialog titled ``title`` (a failure is shown
        with its details, never a crash)."""
        try:
            return action()
        except Exception as exc:  # shown, never a crash
            import traceback

            log.exception("%s", title)
            self.show_error(title, str(exc), traceback.format_exc())
            return None

    def export_report(self, path: Path) -> Path | None:
        """Write the PDF report of the open study now (the smoke test and tests use this;
        the menu runs the same in a worker). Errors become a dialog; returns the path."""
        study = self.controller.study
        if study is None or study.volume is None:
            return None
        out = self.run_or_show("Could not export the report", self._report_call(Path(path)))
        if out is None:
            return None
        self.statusBar().showMessage(f"Report written to {out}")
        return out
