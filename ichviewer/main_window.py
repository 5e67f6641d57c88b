"""The main window: slice view in the middle, series on the left, results on the right.

It connects widgets to the :class:`~ichviewer.controller.StudyController` (which runs the
work in worker threads) and to the :class:`~ichviewer.settings.Settings`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
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
from ichviewer.dialogs.error_dialog import ErrorDialog, show_error
from ichviewer.edit_menu import EditToolsMixin
from ichviewer.followup_tools import FollowupToolsMixin
from ichviewer.menus import build_menus, build_toolbar, make_action
from ichviewer.reading_tools import ReadingToolsMixin
from ichviewer.settings import Settings
from ichviewer.widgets.progress import ProgressStrip
from ichviewer.widgets.results_panel import ResultsPanel
from ichviewer.widgets.series_list import SeriesList
from ichviewer.widgets.slice_view import SliceView
from ichviewer.widgets.window_presets import Window, WindowPresetBox
from ichviewer.window_tools import WindowToolsMixin

if TYPE_CHECKING:
    from ichmodel.checkpoint import LoadedModel
    from ichmodel.io.scan import SeriesInfo
    from ichmodel.reading import StudyReading

log = logging.getLogger(__name__)


def sample_study_source() -> Path:
    """The bundled sample's DICOM folder (its DICOM/ subfolder when it has one, so the ground
    truth file beside it is not reported as a skipped file)."""
    root = resources.sample_study_dir()
    return root / "DICOM" if (root / "DICOM").is_dir() else root


class MainWindow(
    EditToolsMixin, ReadingToolsMixin, FollowupToolsMixin, WindowToolsMixin, QMainWindow
):
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
        self._fit_to_screen(1440, 900)
        self.controller = StudyController(self, device=self.settings.device)
        self.error_dialogs: list[ErrorDialog] = []
        self.model: LoadedModel | None = None

        self.slice_view = SliceView()
        self.slice_view.graphics.setAcceptDrops(False)
        self.slice_view.graphics.viewport().setAcceptDrops(False)
        self.setCentralWidget(self.slice_view)
        self.series_list = SeriesList()
        self.results = ResultsPanel()
        self.preset_box = WindowPresetBox()
        self.progress = ProgressStrip()
        self._build_docks()
        self.build_followup_tools()
        build_menus(self)
        build_toolbar(self)
        self.build_edit_tools()  # issue 18: Segmentation menu, toolbar and edit tools
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().showMessage("Drop a head CT study on the window, or File ▸ Open.")
        self._connect()
        # issue 18's reading tools (ruler, ROI, cine, reformats, ...): ichviewer/reading_tools.py
        self.build_reading_tools()
        self._restore_preferences()
        if preload_model:
            QTimer.singleShot(0, self.controller.preload_model)

    # --- layout -----------------------------------------------------------------------------
    def _fit_to_screen(self, width: int, height: int) -> None:
        """Default size, but never larger than the screen (laptops are 1366×768)."""
        screen = self.screen()
        if screen is not None:
            avail = screen.availableGeometry()
            width = min(width, int(avail.width() * 0.96))
            height = min(height, int(avail.height() * 0.92))
        self.resize(width, height)

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
        r.sig_hu_range_changed.connect(self.request_hu_range)  # asks when edits would go
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
            self.recent_menu.addAction(make_action(self, path, lambda p=path: self.open_path(p)))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction(make_action(self, "Clear the list", self._clear_recent))
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
        self.followup_study_opened()
        self.setWindowTitle(f"ICH Viewer — {study.source_label}")

    def _on_series_chosen(self, info: SeriesInfo) -> None:
        self.slice_view.set_volume(None)
        self.results.clear()
        self.act_export.setEnabled(False)
        self.controller.choose_series(info)

    def _on_volume(self, reading: StudyReading) -> None:
        volume = reading.volume
        meta = volume.meta
        dicom_window = None
        if meta.window_center_hu is not None and meta.window_width_hu:
            dicom_window = Window(meta.window_center_hu, meta.window_width_hu)
        self.preset_box.set_dicom_window(dicom_window)
        self.slice_view.set_volume(volume)
        self.slice_view.set_window(self.preset_box.current_window())
        if reading.series is not None:
            self.series_list.set_current(reading.series.series_uid)
        self.results.set_pending(measuring=True, predicting=True)
        self.results.set_reading(reading)
        desc = meta.series_description or meta.study_description or "series"
        self.setWindowTitle(f"ICH Viewer — {desc}")
        self.act_export.setEnabled(True)
        self.followup_volume(reading)
        self.slice_view.setFocus()

    def _on_measurement(self, reading: StudyReading) -> None:
        m = reading.measurement
        assert m is not None
        self.results.set_reading(reading)
        self.act_jump.setEnabled(reading.largest_hematoma_slice is not None)
        self.slice_view.set_mask(m.hematoma_mask)
        abc2 = m.abc2
        self.slice_view.set_abc2(abc2.slice_index, abc2.a_segment_zyx, abc2.b_segment_zyx)
        self.followup_measurement(reading)

    def _on_prediction(self, reading: StudyReading, head: str) -> None:
        self.results.set_reading(reading)
        study = self.controller.study
        cam = study.cams.get(head) if study is not None else None
        # an out-of-distribution model's map is as untrustworthy as its numbers
        self.slice_view.set_heatmap(cam if reading.model_trusted else None)

    def _on_model(self, model: LoadedModel) -> None:
        self.model = model
        self.results.set_model(model.name, banner=model.card.warning_banner)

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
        listener = getattr(self, "_listener_dialog", None)
        if listener is not None:  # the DICOM listener's port is released with the window
            listener.stop()
        self.controller.shutdown()
        for dialog in list(self.error_dialogs):
            dialog.close()
        event.accept()
