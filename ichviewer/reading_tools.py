"""Main-window parts for issue 18's reading tools (kept out of main_window.py): the ruler and
the elliptical ROI with their Measurements dock, cine, invert, reset view, copy the view, the
coronal and sagittal reformats with a linked crosshair, and Help → Keyboard shortcuts.

Tool exclusivity: the ruler and the ROI are :class:`SliceTool`\\ s set on every view; when
another tool's name arrives on ``SliceView.sig_tool_changed`` (an edit tool) their actions
uncheck. Esc drops the active tool (back to pan) before it cancels running jobs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QActionGroup, QGuiApplication, QImage
from PySide6.QtWidgets import QDockWidget, QLabel, QScrollArea, QSpinBox, QSplitter

from ichmodel.annotations import Plane
from ichviewer.menus import make_action
from ichviewer.widgets.annotation_items import AnnotationOverlay, AnnotationStore
from ichviewer.widgets.fit_scroll import fit_height_for_width
from ichviewer.widgets.measure_tools import TOOL_NAMES, EllipseTool, RulerTool
from ichviewer.widgets.measurements_panel import MeasurementsPanel
from ichviewer.widgets.reformat_view import ReformatView, crosshair_item, set_crosshair

if TYPE_CHECKING:
    from ichmodel.reading import StudyReading
    from ichviewer.report import ReportExtras

CINE_DEFAULT_SLICES_PER_S = 8
CINE_MAX_SLICES_PER_S = 30


class ReadingToolsMixin:
    """Mixed into MainWindow before FollowupToolsMixin (needs ``controller``, ``slice_view``,
    ``preset_box``, ``settings``, ``docks``, ``statusBar``, the menus already built)."""

    def build_reading_tools(self) -> None:
        sv = self.slice_view
        self.annotations = AnnotationStore(self)
        self.coronal_view = ReformatView(Plane.CORONAL)
        self.sagittal_view = ReformatView(Plane.SAGITTAL)
        self.reformat_views = (self.coronal_view, self.sagittal_view)
        self._build_layout()
        say = self.statusBar().showMessage
        self._views = {Plane.AXIAL: sv, Plane.CORONAL: self.coronal_view,
                       Plane.SAGITTAL: self.sagittal_view}
        self.annotation_overlays = {
            plane: AnnotationOverlay(view, self.annotations, plane)
            for plane, view in self._views.items()
        }
        self._tools = {
            name: {plane: cls(self.annotations, plane, say) for plane in self._views}
            for name, cls in (("Ruler", RulerTool), ("Ellipse ROI", EllipseTool))
        }
        self.axial_crosshair = crosshair_item(sv.ct_item)
        self.axial_crosshair.setVisible(False)
        self.measurements = MeasurementsPanel(self.annotations)
        dock = QDockWidget("Measurements", self)
        dock.setObjectName("dock_measurements")
        dock.setWidget(self.measurements)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.docks["measurements"] = dock
        self.shortcuts_dialog = None
        self.cine_timer = QTimer(self)
        self.cine_timer.timeout.connect(self._cine_step)
        self._build_reading_actions()
        self._connect_reading_tools()
        # seen at 1440×900 and at QT_SCALE_FACTOR=2: the docks' wrapped labels were squeezed
        for name in ("results", "scores"):
            scroll = self.docks[name].widget() if name in self.docks else None
            if isinstance(scroll, QScrollArea):
                fit_height_for_width(scroll)

    def _build_layout(self) -> None:
        """The axial view in the middle; the reformats in a column beside it (hidden until
        View ▸ Coronal and sagittal views)."""
        sv = self.slice_view
        self.takeCentralWidget()
        self.view_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.view_splitter.addWidget(sv)
        column = QSplitter(Qt.Orientation.Vertical)
        column.addWidget(self.coronal_view)
        column.addWidget(self.sagittal_view)
        self.reformat_column = column
        self.view_splitter.addWidget(column)
        self.view_splitter.setStretchFactor(0, 2)
        self.view_splitter.setStretchFactor(1, 1)
        column.setVisible(False)
        self.setCentralWidget(self.view_splitter)

    def _menu(self, title: str):
        for action in self.menuBar().actions():
            if action.menu() is not None and action.text().replace("&", "") == title:
                return action.menu()
        raise LookupError(f"no {title} menu")

    def _build_reading_actions(self) -> None:
        bar = self.menuBar()
        measure = bar.addMenu("&Measure")
        bar.insertMenu(self._menu("Help").menuAction(), measure)
        group = QActionGroup(self)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.act_ruler = make_action(self, "&Ruler", lambda on: self._use_tool("Ruler", on), "D",
                                     checkable=True, tip="Drag on a slice: distance in mm")
        self.act_ellipse = make_action(
            self, "&Ellipse ROI", lambda on: self._use_tool("Ellipse ROI", on), "O",
            checkable=True, tip="Drag a box on a slice: mean, SD, min, max HU and area")
        self._tool_actions = {"Ruler": self.act_ruler, "Ellipse ROI": self.act_ellipse}
        for action in self._tool_actions.values():
            group.addAction(action)
            measure.addAction(action)
        measure.addSeparator()
        measure.addAction(make_action(self, "&Delete the selected measurement",
                                      self.measurements.delete_selected))
        self.act_pan = make_action(self, "&Pan (no tool)", self.drop_tool)
        measure.addAction(self.act_pan)

        view = self._menu("View")
        view.addSeparator()
        self.act_reset_view = make_action(self, "&Reset view", self.reset_view, "Space",
                                          tip="Fit the image and return to the preset's window")
        self.act_invert = make_action(self, "&Invert grey scale", self.set_inverted, "I",
                                      checkable=True)
        self.act_cine = make_action(self, "&Cine (play / pause)", self.set_cine, "P",
                                    checkable=True, tip="Play through the slices")
        self.act_copy_view = make_action(self, "&Copy the view", self.copy_view, "Ctrl+C",
                                         tip="Copy the image as shown to the clipboard")
        self.act_reformats = make_action(self, "Coronal and sagittal &views",
                                         self.set_reformats_visible, "R", checkable=True)
        self.act_crosshair = make_action(self, "Cross&hair", self.set_crosshair_visible,
                                         checkable=True, checked=True)
        for action in (self.act_reset_view, self.act_invert, self.act_cine, self.act_copy_view,
                       self.act_reformats, self.act_crosshair):
            view.addAction(action)
        self._menu("Help").insertAction(
            self._menu("Help").actions()[0],
            make_action(self, "&Keyboard shortcuts…", self.show_shortcuts, "F1"))

        self.cine_speed = QSpinBox()
        self.cine_speed.setRange(1, CINE_MAX_SLICES_PER_S)
        self.cine_speed.setValue(CINE_DEFAULT_SLICES_PER_S)
        self.cine_speed.setSuffix(" slices/s")
        self.cine_speed.setToolTip("Cine speed")
        self.cine_speed.valueChanged.connect(self._cine_interval)
        tb = self.addToolBar("Reading")
        tb.setObjectName("toolbar_reading")
        tb.setMovable(False)
        for action in (self.act_ruler, self.act_ellipse, self.act_reformats, self.act_invert,
                       self.act_cine):
            tb.addAction(action)
        tb.addWidget(QLabel(" "))
        tb.addWidget(self.cine_speed)

    def _connect_reading_tools(self) -> None:
        sv, c = self.slice_view, self.controller
        c.sig_study_opened.connect(lambda _s: self._reading_volume(None))
        c.sig_volume.connect(lambda reading: self._reading_volume(reading.volume))
        c.sig_measurement.connect(self._reading_measurement)
        sv.sig_tool_changed.connect(self._reading_tool_changed)
        sv.sig_window_changed.connect(self._sync_window)
        self.preset_box.sig_window.connect(lambda _k, w: self._sync_window(w))
        for view in self.reformat_views:
            view.sig_window_changed.connect(lambda w: sv.set_window(w, user=True))
            view.sig_slice_changed.connect(lambda _i: self._update_crosshairs())
            view.sig_clicked.connect(lambda at, v=view: self._crosshair_from(v.plane, at))
        sv.sig_slice_changed.connect(lambda _i: self._update_crosshairs())
        sv.graphics.scene().sigMouseClicked.connect(self._on_axial_click)
        self.measurements.sig_go_to.connect(self._go_to_measurement)

    # --- the volume -------------------------------------------------------------------------
    def _reading_volume(self, volume) -> None:
        self.set_cine(False)
        self.annotations.clear()
        for view in self.reformat_views:
            view.set_volume(volume)
            view.set_window(self.slice_view.window())
        if volume is not None:
            _, ny, nx = volume.shape
            self.coronal_view.set_slice(ny // 2)
            self.sagittal_view.set_slice(nx // 2)
            self.set_inverted(self.act_invert.isChecked())
        self._update_crosshairs()

    def _reading_measurement(self, reading: StudyReading) -> None:
        m = reading.measurement
        self.show_mask_on_reformats(m.hematoma_mask if m is not None else None)

    def show_mask_on_reformats(self, mask_zyx) -> None:
        """The hematoma contour on the coronal and sagittal views (an edited mask goes here
        too, beside ``slice_view.set_mask``)."""
        for view in self.reformat_views:
            view.set_mask(mask_zyx)

    def _sync_window(self, window) -> None:
        for view in self.reformat_views:
            if view.window() != window:
                view.set_window(window)

    def report_extras(self, reading: StudyReading) -> ReportExtras:
        extras = super().report_extras(reading)  # the follow-up tools' scores, midline, ...
        return replace(extras, annotations=tuple(self.annotations.entries()))

    # --- tools ------------------------------------------------------------------------------
    def _use_tool(self, name: str, on: bool) -> None:
        for plane, view in self._views.items():
            mine = self._tools[name][plane]
            if on:
                view.set_tool(mine)
            elif view.tool is mine:
                view.set_tool(None)
        if on:
            self.statusBar().showMessage(f"{name}: drag on a slice. Esc returns to pan.")

    def _reading_tool_changed(self, name: str) -> None:
        if name in TOOL_NAMES:
            return
        for action in self._tool_actions.values():  # another tool (or none) took the mouse
            action.setChecked(False)
        if name:
            for view in self.reformat_views:
                if view.tool is not None and view.tool.name in TOOL_NAMES:
                    view.set_tool(None)

    def drop_tool(self) -> None:
        """Back to pan on every view."""
        for view in self._views.values():
            view.set_tool(None)
        for action in self._tool_actions.values():
            action.setChecked(False)

    def escape_pressed(self) -> None:
        """Esc: leave the active tool first (back to pan); with none, cancel running jobs."""
        if any(view.tool is not None for view in self._views.values()):
            self.drop_tool()
            self.statusBar().showMessage("Pan (no tool).")
        else:
            self.controller.cancel()

    def _go_to_measurement(self, entry) -> None:
        a = entry.annotation
        if a.plane is not Plane.AXIAL and not self.act_reformats.isChecked():
            self.act_reformats.setChecked(True)
        self._views[a.plane].set_slice(a.slice_index)

    # --- cine, invert, reset, copy ------------------------------------------------------------
    def set_cine(self, on: bool) -> None:
        on = bool(on) and self.slice_view.n_slices > 1
        if on:
            self._cine_interval()
            self.cine_timer.start()
        else:
            self.cine_timer.stop()
        if self.act_cine.isChecked() != on:
            self.act_cine.setChecked(on)

    def _cine_interval(self) -> None:
        self.cine_timer.setInterval(round(1000 / self.cine_speed.value()))

    def _cine_step(self) -> None:
        sv = self.slice_view
        if sv.volume is None:
            self.set_cine(False)
            return
        sv.set_slice(0 if sv.slice_index >= sv.n_slices - 1 else sv.slice_index + 1)

    def set_inverted(self, inverted: bool) -> None:
        """Invert the grey scale (white blood on black becomes black on white)."""
        ramp = np.arange(256, dtype=np.uint8)
        lut = ramp[::-1].copy() if inverted else None
        for view in self._views.values():
            view.ct_item.setLookupTable(lut)

    def reset_view(self) -> None:
        """Space: fit every view and go back to the current preset's own window."""
        for view in self._views.values():
            view.fit()
        key = self.preset_box.current_key()
        if key == "custom":  # a right-drag made it custom: back to the preset chosen before
            key = self.settings.window_preset or "brain"
        if not self.preset_box.select(key):
            self.preset_box.select("brain")

    def copy_view(self) -> QImage | None:
        """Ctrl+C: the viewport as shown (overlays, zoom, window) on the clipboard: the reformat
        that has the keyboard focus, else the axial view."""
        if self.slice_view.volume is None:
            self.statusBar().showMessage("Nothing to copy: open a study first.")
            return None
        view = next((v for v in self.reformat_views if v.isVisible() and v.hasFocus()),
                    self.slice_view)
        image = view.graphics.grab().toImage()
        QGuiApplication.clipboard().setImage(image)
        self.statusBar().showMessage(f"View copied ({image.width()} × {image.height()} px).")
        return image

    def show_shortcuts(self):
        from ichviewer.dialogs.shortcuts_dialog import ShortcutsDialog

        dialog = ShortcutsDialog(self)  # rebuilt each time: it lists the actions as they are now
        self.shortcuts_dialog = dialog
        dialog.show()
        return dialog

    # --- reformats and the crosshair ----------------------------------------------------------
    def set_reformats_visible(self, visible: bool) -> None:
        self.reformat_column.setVisible(bool(visible))
        if visible:
            for view in self.reformat_views:
                view.fit()
        self._update_crosshairs()

    def set_crosshair_visible(self, visible: bool) -> None:
        self._update_crosshairs()

    def _on_axial_click(self, ev) -> None:
        sv = self.slice_view
        if sv.tool is not None or ev.button() != Qt.MouseButton.LeftButton or ev.double():
            return
        at = sv.slice_point(ev.scenePos())
        if at is not None and at.inside:
            self._crosshair_from(Plane.AXIAL, at)

    def _crosshair_from(self, plane: Plane, at) -> None:
        """A click on one view moves the other two to the clicked voxel's slices."""
        if plane is Plane.AXIAL:  # rows y, columns x
            z, y, x = at.voxel_zyx
        else:
            z, y, x = self._views[plane].voxel_zyx(at)
        for view, index in ((self.slice_view, z), (self.coronal_view, y),
                            (self.sagittal_view, x)):
            if view is not self._views[plane]:
                view.set_slice(index)
        self._update_crosshairs()

    def _update_crosshairs(self) -> None:
        sv = self.slice_view
        shown = (self.act_reformats.isChecked() and self.act_crosshair.isChecked()
                 and sv.volume is not None)
        z, y, x = sv.slice_index, self.coronal_view.slice_index, self.sagittal_view.slice_index
        if shown and min(z, y, x) >= 0:
            nz, ny, nx = sv.volume.shape
            set_crosshair(self.axial_crosshair, (ny, nx), y, x)
            self.coronal_view.set_crosshair(z, x)
            self.sagittal_view.set_crosshair(z, y)
        else:
            for view in self.reformat_views:
                view.set_crosshair(None, None)
        self.axial_crosshair.setVisible(shown)
