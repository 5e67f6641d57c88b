"""A coronal or sagittal reformat of the open volume, beside the axial slice view.

The same pyqtgraph parts as :class:`~ichviewer.widgets.slice_view.SliceView` (a
:class:`~ichviewer.widgets.slice_items.SliceViewBox` with the radiology mouse bindings and a CT
``ImageItem`` whose rect is set from the plane's spacing, so a 5 mm slice is 5 mm tall: the
true aspect), the hematoma contour and a crosshair at the other two views' slices. It offers
what the view box and the slice tools use (``tool``/``set_tool``, ``slice_point``,
``step_slice``, ``window``/``set_window``, ``fit``), so a ruler or an ROI works here too — the
C of ABC/2 is read on a reformat. Superior is at the top when the volume's z axis says where
it is.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ichmodel.annotations import Plane, n_slices, plane_image, plane_spacing_mm
from ichmodel.volume import Volume
from ichviewer.widgets.slice_items import (
    CONTOUR_COLOR,
    OPPOSITE,
    EdgeLetters,
    MaskOutline,
    SliceViewBox,
    screen_pen,
)
from ichviewer.widgets.view_tools import SlicePoint, ToolHost
from ichviewer.widgets.window_presets import Window

CROSSHAIR_COLOR = (255, 235, 59, 150)


def crosshair_item(parent) -> pg.PlotCurveItem:
    """Two dashed lines (a ``connect="pairs"`` curve) drawn over ``parent``'s pixels."""
    pen = screen_pen(CROSSHAIR_COLOR, 1.0)
    pen.setDashPattern([6, 4])
    item = pg.PlotCurveItem(pen=pen, connect="pairs")
    item.setParentItem(parent)
    item.setZValue(4)
    return item


def set_crosshair(item: pg.PlotCurveItem, shape_rc: tuple[int, int], row: int, col: int) -> None:
    """Lines through the centre of pixel (row, col), across the whole image."""
    rows, cols = shape_rc
    y, x = row + 0.5, col + 0.5
    item.setData(np.array([0.0, cols, x, x]), np.array([y, y, 0.0, rows]))


class ReformatView(ToolHost, QWidget):
    """Coronal or sagittal slices. Signals as SliceView's: ``sig_slice_changed(int)``,
    ``sig_window_changed(Window)`` (interactive only), ``sig_tool_changed(str)``, and
    ``sig_clicked(SlicePoint)`` for a left click with no tool (the crosshair follows it)."""

    sig_slice_changed = Signal(int)
    sig_window_changed = Signal(object)
    sig_tool_changed = Signal(str)
    sig_clicked = Signal(object)

    def __init__(self, plane: Plane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if plane is Plane.AXIAL:
            raise ValueError("the axial plane is SliceView's; a reformat is coronal or sagittal")
        self.plane = plane
        self.volume: Volume | None = None
        self._slice = -1
        self._window = Window(40, 80)
        self._mask: np.ndarray | None = None
        self._cross_rc: tuple[int, int] | None = None  # (row, col) the crosshair goes through
        self._overlays_stale = False  # drawn when shown (see _update_overlays)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.graphics = pg.GraphicsView(background="k")
        self.graphics.setFocusProxy(self)
        # a study dropped here goes to the window (a QGraphicsView would take the drop)
        self.graphics.setAcceptDrops(False)
        self.graphics.viewport().setAcceptDrops(False)
        self.view_box = SliceViewBox(self)
        self.graphics.setCentralItem(self.view_box)
        self.ct_item = pg.ImageItem(axisOrder="row-major")
        self.ct_item.setAutoDownsample(False)
        self.view_box.addItem(self.ct_item)
        self.contour_item = pg.PlotCurveItem(
            pen=screen_pen(CONTOUR_COLOR), connect="pairs"
        )
        self.contour_item.setParentItem(self.ct_item)
        self.contour_item.setZValue(2)
        self.contour = MaskOutline(self.contour_item)
        self.crosshair = crosshair_item(self.ct_item)
        self.title = QLabel(plane.value.capitalize())
        self.title.setStyleSheet("color:#b0bec5; font-weight:bold")
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.title)
        column.addWidget(self.graphics, 1)
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_click)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.edge_letters = EdgeLetters(self.graphics, margin_px=4)
        self.orientation_labels = self.edge_letters.labels

    def _set_orientation(self, volume: Volume | None) -> None:
        """Patient-direction letters at the edges: superior at the top (the rows are z), the
        columns are x (coronal) or y (sagittal), as the axial view's."""
        code = volume.orientation_code if volume is not None else "???"
        across = code[0] if self.plane is Plane.CORONAL else code[1]
        known = code[2] in "SI"  # set_volume flips the rows so that superior is on top
        letters = {"left": OPPOSITE[across], "right": across,
                   "top": "S" if known else "?", "bottom": "I" if known else "?"}
        self.edge_letters.set_letters(letters)

    # --- data -------------------------------------------------------------------------------
    def set_volume(self, volume: Volume | None) -> None:
        self.volume = volume
        self._mask = None
        self._slice = -1
        if volume is None:
            self.ct_item.clear()
            self.contour.show(None)
            self.crosshair.setVisible(False)
            self.title.setText(self.plane.value.capitalize())
            self._set_orientation(None)
            return
        self._set_orientation(volume)
        # superior at the top: rows are z, so flip when z runs towards the head's top
        self.view_box.invertY(volume.orientation_code[2] != "S")
        self.set_slice(self.n_slices // 2)
        row_mm, col_mm = plane_spacing_mm(volume.spacing_mm, self.plane)
        rows, cols = self.ct_item.image.shape
        self.ct_item.setRect(QRectF(0.0, 0.0, cols * col_mm, rows * row_mm))
        self.fit()

    def set_mask(self, mask_zyx: np.ndarray | None) -> None:
        self._mask = mask_zyx
        self._update_overlays()

    # --- the view box's and the tools' interface (as SliceView's) ---------------------------
    @property
    def n_slices(self) -> int:
        return 0 if self.volume is None else n_slices(self.volume.shape, self.plane)

    def _show_slice(self, index: int) -> None:
        assert self.volume is not None
        image = plane_image(self.volume.hu, self.plane, index)
        self.ct_item.setImage(image, autoLevels=False, levels=self._window.levels_hu)
        self.title.setText(self._title())
        self._update_overlays()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        steps = {Qt.Key.Key_Up: 1, Qt.Key.Key_Right: 1, Qt.Key.Key_Down: -1,
                 Qt.Key.Key_Left: -1, Qt.Key.Key_PageUp: 5, Qt.Key.Key_PageDown: -5}
        if event.key() in steps:
            self.step_slice(steps[event.key()])
            event.accept()
            return
        super().keyPressEvent(event)

    def _title(self, readout: str = "") -> str:
        text = f"{self.plane.value.capitalize()}  {self._slice + 1} / {self.n_slices}"
        return f"{text}   {readout}" if readout else text

    def voxel_zyx(self, at: SlicePoint) -> tuple[int, int, int]:
        """The (z, y, x) voxel under a point of this plane."""
        row, col = int(at.y_px // 1), int(at.x_px // 1)
        if self.plane is Plane.CORONAL:
            return (row, self._slice, col)
        return (row, col, self._slice)

    def _show_cursor(self, at: SlicePoint) -> None:
        assert self.volume is not None
        readout = ""
        if at.inside:
            z, y, x = self.voxel_zyx(at)
            readout = f"{float(self.volume.hu[z, y, x]):.0f} HU  [{x}, {y}, {z}]"
        self.title.setText(self._title(readout))

    def window(self) -> Window:
        return self._window

    def set_window(self, window: Window, *, user: bool = False) -> None:
        self._window = window
        self.ct_item.setLevels(window.levels_hu)
        if user:
            self.sig_window_changed.emit(window)


    # --- crosshair --------------------------------------------------------------------------
    def set_crosshair(self, row: int | None, col: int | None) -> None:
        """Where the other two views' slices cut this one (None: hide the crosshair)."""
        self._cross_rc = None if row is None or col is None else (int(row), int(col))
        self._update_overlays()

    def set_crosshair_visible(self, visible: bool) -> None:
        self.crosshair.setOpacity(1.0 if visible else 0.0)

    def _on_scene_click(self, ev) -> None:
        if self._tool is not None or ev.button() != Qt.MouseButton.LeftButton or ev.double():
            return
        at = self.slice_point(ev.scenePos())
        if at is not None and at.inside:
            self.sig_clicked.emit(at)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._overlays_stale:
            self._update_overlays()

    def _update_overlays(self) -> None:
        # hidden (the reformats are closed by default): an edit must not pay for the
        # outlines of planes no one sees; they are drawn when the view is shown
        self._overlays_stale = not self.isVisible()
        if self.volume is None or self._slice < 0 or self._overlays_stale:
            return
        shape = self.ct_item.image.shape
        self.contour.show(None if self._mask is None
                          else plane_image(self._mask, self.plane, self._slice))
        if self._cross_rc is not None:
            set_crosshair(self.crosshair, shape, *self._cross_rc)
        self.crosshair.setVisible(self._cross_rc is not None)
