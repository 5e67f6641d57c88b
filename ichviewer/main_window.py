"""The main window: slice view in the middle, series on the left, results on the right.

It connects widgets to the :class:`~ichviewer.controller.StudyController` (which runs the
work in worker threads) and to the :class:`~ichviewer.settings.Settings`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QScrollArea,
    QWidget,
)

from ichmodel import resources
from ichviewer import logging_setup
from ichviewer.controller import StudyController
from ichviewer.dialogs.about_dialog import AboutDialog, ModelCardDialog
from ichviewer.dialogs.error_dialog import ErrorDialog, show_error
from ichviewer.settings import DEVICES, Settings
from ichviewer.state import is_synthetic_or_untrained, model_banner
from ichviewer.widgets.progress import ProgressStrip
from ichviewer.widgets.results_panel import ResultsPanel
from ichviewer.widgets.series_list import SeriesList
from ichviewer.widgets.slice_view import SliceView
from ichviewer.widgets.window_presets import PRESETS, Window, WindowPresetBox

log = logging.getLogger(__name__)


def sample_study_source() -> Path:
    """The bundled sample's DICOM folder (its DICOM/ subfolder when it has one, so the ground
    truth file beside it is not reported as a skipped file)."""
    root = resources.sample_study_dir()
    return root / "DICOM" if (root / "DICOM").is_dir() else root


class MainWindow(QMainWindow):
    sig_error_shown = Signal(object)  # ErrorDialog

    def __init__(
        self,
        settings: Settings | None = None,
        parent: QWidget | None = None,
        *,
        preload_model: bool = False,
    ) -> None:
        """``preload_model``: load torch and the model in the background right away (the app
        does; tests that swap in a tiny model do not)."""
        super().__init__(parent)
        self.settings = settings or Settings()
        self.setWindowTitle("ICH Viewer")
        self.setAcceptDrops(True)
        self.resize(1440, 900)
        self.controller = StudyController(self, device=self.settings.device)
        self.error_dialogs: list[ErrorDialog] = []
        self.model: Any = None

        self.slice_view = SliceView()
        self.slice_view.graphics.setAcceptDrops(False)
        self.slice_view.graphics.viewport().setAcceptDrops(False)
        self.setCentralWidget(self.slice_view)
        self.series_list = SeriesList()
        self.results = ResultsPanel()
        self.preset_box = WindowPresetBox()
        self.progress = ProgressStrip()
        self._build_docks()
        self._build_actions()
        self._build_toolbar()
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().showMessage("Drop a head CT study on the window, or File ▸ Open.")
        self._connect()
        self._restore_preferences()
        if preload_model:
            QTimer.singleShot(0, self.controller.preload_model)

    # --- layout -----------------------------------------------------------------------------
    def _build_docks(self) -> None:
        left = QDockWidget("Series", self)
        left.setObjectName("dock_series")
        left.setWidget(self.series_list)
        left.setMinimumWidth(220)
        self.addDockWidget(self._area("Left"), left)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.results)
        scroll.setMinimumWidth(340)
        right = QDockWidget("Results", self)
        right.setObjectName("dock_results")
        right.setWidget(scroll)
        self.addDockWidget(self._area("Right"), right)
        self.docks = {"series": left, "results": right}

    @staticmethod
    def _area(name: str):
        from PySide6.QtCore import Qt

        return getattr(Qt.DockWidgetArea, f"{name}DockWidgetArea")

    def _action(
        self,
        text: str,
        slot,
        shortcut: str | QKeySequence | None = None,
        checkable: bool = False,
        checked: bool = False,
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if checkable:
            action.setCheckable(True)
            action.setChecked(checked)
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _=False: slot())
        if tip:
            action.setStatusTip(tip)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        self.act_open = self._action(
            "&Open folder…", self.open_folder_dialog, QKeySequence.StandardKey.Open
        )
        m.addAction(self.act_open)
        m.addAction(self._action("Open &files…", self.open_files_dialog))
        self.recent_menu = m.addMenu("Open &recent")
        m.addAction(self._action("Open the &sample study", self.open_demo))
        m.addSeparator()
        self.act_export = self._action("&Export report…", self.export_report_dialog, "Ctrl+E")
        self.act_export.setEnabled(False)
        m.addAction(self.act_export)
        self.act_anonymize = self._action(
            "Anonymize reports",
            lambda _on: None,
            checkable=True,
            checked=True,
            tip="Leave name, ID and birth date out of reports",
        )
        m.addAction(self.act_anonymize)
        m.addSeparator()
        m.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        m = bar.addMenu("&View")
        for p in PRESETS:
            m.addAction(
                self._action(
                    f"{p.label} window", lambda k=p.key: self.preset_box.select(k), p.shortcut
                )
            )
        m.addAction(self._action("DICOM window", lambda: self.preset_box.select("dicom"), "6"))
        m.addSeparator()
        m.addAction(self._action("&Fit to window", self.slice_view.fit, "F"))
        self.act_jump = self._action(
            "&Jump to the largest hematoma slice", self.jump_to_largest, "J"
        )
        self.act_jump.setIconText("Largest slice")
        self.act_jump.setToolTip("Jump to the slice with the largest hematoma area (J)")
        self.act_jump.setEnabled(False)
        m.addAction(self.act_jump)

        m = bar.addMenu("&Tools")
        m.addAction(self._action("&Fine-tune the model…", self.open_trainer))
        m.addAction(self._action("Use the &default model", lambda: self.use_model(None)))
        m.addAction(self._action("Use a model &file…", self.choose_model_file))
        device_menu = m.addMenu("&Device")
        group = QActionGroup(self)
        for device in DEVICES:
            action = self._action(
                device,
                lambda on, d=device: on and self.set_device(d),
                checkable=True,
                checked=device == self.settings.device,
            )
            group.addAction(action)
            device_menu.addAction(action)

        m = bar.addMenu("&Help")
        m.addAction(self._action("&Model card…", self.show_model_card))
        m.addAction(self._action("Open the &log folder", self.open_log_folder))
        m.addAction(self._action("&About ICH Viewer", self.show_about))

        cancel = self._action("Cancel running jobs", self.controller.cancel, "Esc")
        self.addAction(cancel)

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        tb.addAction(self.act_open)
        tb.addSeparator()
        tb.addWidget(self.preset_box)
        tb.addAction(self._action("Fit", self.slice_view.fit))
        tb.addAction(self.act_jump)
        tb.addSeparator()
        tb.addAction(self.act_export)

    def _connect(self) -> None:
        c = self.controller
        c.sig_study_opened.connect(self._on_study_opened)
        c.sig_scan.connect(lambda scan: self.series_list.set_scan(scan))
        c.sig_volume.connect(self._on_volume)
        c.sig_measurement.connect(self._on_measurement)
        c.sig_prediction.connect(self._on_prediction)
        c.sig_model.connect(self._on_model)
        c.sig_error.connect(self.show_error)
        c.sig_status.connect(lambda text: self.statusBar().showMessage(text))
        c.runner.sig_progress.connect(lambda job, ev: self.progress.show_progress(job.name, ev))
        c.runner.sig_busy_changed.connect(self.progress.set_busy)
        c.runner.sig_active_changed.connect(self.progress.set_active)
        self.progress.sig_cancel.connect(c.cancel)
        self.series_list.sig_series_chosen.connect(self._on_series_chosen)
        self.preset_box.sig_window.connect(self._on_preset)
        self.slice_view.sig_window_changed.connect(self.preset_box.show_custom)
        r = self.results
        r.sig_opacity_changed.connect(self._on_opacity)
        r.sig_heatmap_visible.connect(self.slice_view.set_heatmap_visible)
        r.sig_contour_visible.connect(self.slice_view.set_contour_visible)
        r.sig_abc2_visible.connect(self.slice_view.set_abc2_visible)
        r.sig_cam_head_changed.connect(c.set_cam_head)
        r.sig_jump_largest.connect(self.jump_to_largest)
        r.sig_hu_range_changed.connect(c.remeasure)
        r.sig_model_card.connect(self.show_model_card)

    def _restore_preferences(self) -> None:
        s = self.settings
        if s.geometry is not None:
            self.restoreGeometry(s.geometry)
        if s.window_state is not None:
            self.restoreState(s.window_state)
        self.results.set_opacity(s.heatmap_opacity)
        self.slice_view.set_heatmap_opacity(s.heatmap_opacity)
        if not self.preset_box.select(s.window_preset):
            self.preset_box.select("brain")
        self._refresh_recent()

    # --- opening ----------------------------------------------------------------------------
    def open_path(self, source: str | Path | list[str] | list[Path]) -> None:
        """Open a study (folder, zip, DICOMDIR or files) from anywhere: drop, menu, argv."""
        paths = [Path(p) for p in (source if isinstance(source, list | tuple) else [source])]
        if len(paths) == 1:
            self.settings.add_recent_study(paths[0])
            folder = paths[0] if paths[0].is_dir() else paths[0].parent
            self.settings.last_folder = folder
            self._refresh_recent()
        self.controller.open(paths if len(paths) > 1 else paths[0])

    def open_demo(self) -> None:
        self.open_path(sample_study_source())

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a study folder", self.settings.last_folder
        )
        if folder:
            self.open_path(folder)

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Open DICOM files or a zip",
            self.settings.last_folder,
            "DICOM or zip (*.dcm *.zip *.DCM DICOMDIR *);;All files (*)",
        )
        if files:
            self.open_path(files)

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_studies
        for path in recent:
            self.recent_menu.addAction(self._action(path, lambda p=path: self.open_path(p)))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction(self._action("Clear the list", self._clear_recent))
        self.recent_menu.setEnabled(bool(recent))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_studies()
        self._refresh_recent()

    # drag and drop, anywhere on the window
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self._dropped_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt override)
        event.acceptProposedAction() if self._dropped_paths(event) else event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        paths = self._dropped_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        log.info("dropped %d path(s)", len(paths))
        self.open_path(paths if len(paths) > 1 else paths[0])

    @staticmethod
    def _dropped_paths(event) -> list[Path]:
        mime = event.mimeData()
        if mime is None or not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]

    # --- controller → widgets ---------------------------------------------------------------
    def _on_study_opened(self, study) -> None:
        self.slice_view.set_volume(None)
        self.series_list.clear()
        self.results.clear()
        self.act_export.setEnabled(False)
        self.act_jump.setEnabled(False)
        self.setWindowTitle(f"ICH Viewer — {study.source_label}")

    def _on_series_chosen(self, info: Any) -> None:
        self.slice_view.set_volume(None)
        self.results.clear()
        self.act_export.setEnabled(False)
        self.controller.choose_series(info)

    def _on_volume(self, volume) -> None:
        meta = volume.meta
        dicom_window = None
        if meta.window_center_hu is not None and meta.window_width_hu:
            dicom_window = Window(meta.window_center_hu, meta.window_width_hu)
        self.preset_box.set_dicom_window(dicom_window)
        self.slice_view.set_volume(volume)
        self.slice_view.set_window(self.preset_box.current_window())
        study = self.controller.study
        warnings = list(volume.warnings)
        if study is not None:
            warnings += list(getattr(study.series, "warnings", ()) or ())
            warnings += list(getattr(study.scan, "warnings", ()) or ())
            self.series_list.set_current(getattr(study.series, "series_uid", ""))
        self.results.set_loader_warnings(list(dict.fromkeys(warnings)))
        self.results.set_pending(measuring=True, predicting=True)
        desc = meta.series_description or meta.study_description or "series"
        self.setWindowTitle(f"ICH Viewer — {desc}")
        self.act_export.setEnabled(True)
        self.slice_view.setFocus()

    def _on_measurement(self, m) -> None:
        self.results.set_measurement(m)
        self.act_jump.setEnabled(bool(m.hematoma_mask.any()))
        self.slice_view.set_mask(m.hematoma_mask)
        abc2 = m.abc2
        self.slice_view.set_abc2(abc2.slice_index, abc2.a_segment_zyx, abc2.b_segment_zyx)

    def _on_prediction(self, prediction, head: str) -> None:
        self.results.set_prediction(prediction)
        study = self.controller.study
        cam = study.cams.get(head) if study is not None else None
        self.slice_view.set_heatmap(cam)

    def _on_model(self, model) -> None:
        self.model = model
        self.results.set_model(getattr(model, "name", str(model)), banner=model_banner(model))

    def _on_preset(self, key: str, window: Window) -> None:
        self.slice_view.set_window(window)
        if key not in ("custom",):
            self.settings.window_preset = key

    def _on_opacity(self, opacity: float) -> None:
        self.slice_view.set_heatmap_opacity(opacity)
        self.settings.heatmap_opacity = opacity

    def jump_to_largest(self) -> None:
        study = self.controller.study
        index = study.largest_hematoma_slice() if study is not None else None
        if index is not None:
            self.slice_view.set_slice(index)

    # --- errors -----------------------------------------------------------------------------
    def show_error(self, title: str, message: str, details: str = "") -> ErrorDialog:
        dialog = show_error(self, title, message, details, logging_setup.log_file())
        self.error_dialogs.append(dialog)
        dialog.finished.connect(lambda _r, d=dialog: self._forget_dialog(d))
        self.sig_error_shown.emit(dialog)
        return dialog

    def _forget_dialog(self, dialog: ErrorDialog) -> None:
        if dialog in self.error_dialogs:
            self.error_dialogs.remove(dialog)

    # --- model, device, trainer, report -----------------------------------------------------
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
        try:
            from ichviewer.dialogs.trainer_dialog import TrainerDialog

            opener = getattr(TrainerDialog, "open_for", None)
            if opener is not None:  # reuses a (maybe still training) hidden dialog
                dialog = opener(self, self.settings)
            else:
                dialog = TrainerDialog(parent=self, settings=self.settings)
        except Exception as exc:  # shown, never a crash
            import traceback

            log.exception("the trainer dialog could not open")
            self.show_error("Fine-tuning is not available", str(exc), traceback.format_exc())
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
        study = self.controller.study
        if study is None or study.volume is None:
            return
        default = Path(self.settings.last_folder or Path.home()) / "ich_report.pdf"
        path, _ = QFileDialog.getSaveFileName(self, "Export report", str(default), "PDF (*.pdf)")
        if path:
            self.export_report(Path(path))

    def export_report(self, path: Path) -> Path | None:
        """Write the PDF report of the open study (see :mod:`ichviewer.report`)."""
        from ichviewer import report

        study = self.controller.study
        if study is None or study.volume is None:
            return None
        try:
            import ichviewer

            r = self.results
            options = report.ReportOptions(
                anonymize=self.act_anonymize.isChecked(),
                heatmap_opacity=self.slice_view.heatmap_opacity(),
                show_heatmap=r.heatmap_check.isChecked(),
                show_contour=r.contour_check.isChecked(),
                show_abc2_segments=r.abc2_check.isChecked(),
                cam_head=self.controller.cam_head,
                synthetic_model=is_synthetic_or_untrained(self.model) if self.model else None,
                app_version=ichviewer.__version__,
            )
            out = report.export_report(
                path,
                volume=study.volume,
                measurement=study.measurement,
                prediction=study.prediction,
                model_card=getattr(self.model, "card", None),
                options=options,
            )
        except Exception as exc:  # shown, never a crash
            log.exception("report export failed")
            import traceback

            self.show_error("Could not export the report", str(exc), traceback.format_exc())
            return None
        self.statusBar().showMessage(f"Report written to {out}")
        return Path(out)

    # --- closing ----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.sync()
        self.statusBar().showMessage("Stopping background jobs…")
        trainer = getattr(self, "trainer_dialog", None)
        if trainer is not None and hasattr(trainer, "shutdown"):
            try:  # a running fine-tune is cancelled (its state is saved for resume)
                trainer.shutdown()
            except RuntimeError:  # already deleted by Qt
                pass
        self.controller.shutdown()
        for dialog in list(self.error_dialogs):
            dialog.close()
        event.accept()
