"""The axial slice view, built from pyqtgraph parts.

A ``ViewBox`` holds the CT ``ImageItem``; the Grad-CAM heatmap (an ``ImageItem`` with its own
LUT and opacity), the hematoma contour (the mask's pixel-edge outline; pyqtgraph's
``IsocurveItem`` took 16 ms per slice on an 80×70 px bleed) and the ABC/2 A and B
segments (``PlotDataItem``) are children of the CT item and therefore share its pixel
coordinates. The CT item's rect is set from the pixel spacing, so the view is in mm and the
aspect ratio is true.

Mouse: wheel = slices, Ctrl+wheel = zoom, left-drag = pan (or the active tool, see
``view_tools``), right-drag = window/level (horizontal: width, vertical: center),
double-click = fit. Keys: arrows/PageUp/PageDown/
Home/End move through slices.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from ichmodel.volume import Volume
from ichviewer.widgets.slice_items import (
    A_COLOR,
    B_COLOR,
    CONTOUR_COLOR,
    OPPOSITE,
    EdgeLetters,
    MaskOutline,
    SliceViewBox,
    heatmap_lut,
    screen_pen,
)
from ichviewer.widgets.view_tools import SlicePoint, ToolHost
from ichviewer.widgets.window_presets import Window


class SliceView(ToolHost, QWidget):
    """Axial slice viewer. Signals: ``sig_slice_changed(int)``, ``sig_window_changed(Window)``
    (only for interactive changes), ``sig_cursor(str)`` (HU and position under the mouse)."""

    sig_slice_changed = Signal(int)
    sig_window_changed = Signal(object)
    sig_cursor = Signal(str)
    sig_tool_changed = Signal(str)  # the active tool's name, "" for none (pan)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.volume: Volume | None = None
        self._slice = 0
        self._window = Window(40, 80)
        self._cam: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._abc2 = None  # (slice_index, a_segment_zyx, b_segment_zyx)
        self._heat_visible = True
        self._contour_visible = True
        self._abc2_visible = True
        self._heat_shown: tuple[int, int] | None = None  # (slice, id(cam)) in heat_item
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._build()

    # --- construction -----------------------------------------------------------------------
    def _build(self) -> None:
        self.graphics = pg.GraphicsView(background="k")
        self.graphics.setFocusProxy(self)
        self.view_box = SliceViewBox(self)
        self.graphics.setCentralItem(self.view_box)

        self.ct_item = pg.ImageItem(axisOrder="row-major")
        self.ct_item.setAutoDownsample(False)
        self.view_box.addItem(self.ct_item)

        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setParentItem(self.ct_item)
        self.heat_item.setLookupTable(heatmap_lut())
        self.heat_item.setZValue(1)
        self.heat_item.setOpacity(0.45)

        # the outline follows pixel edges: it shows exactly the voxels the volume counts
        self.contour_item = pg.PlotCurveItem(
            pen=screen_pen(CONTOUR_COLOR), connect="pairs"
        )
        self.contour_item.setParentItem(self.ct_item)
        self.contour_item.setZValue(2)
        self.contour = MaskOutline(self.contour_item)

        self.a_item = pg.PlotDataItem(pen=screen_pen(A_COLOR))
        self.b_item = pg.PlotDataItem(pen=screen_pen(B_COLOR))
        for item in (self.a_item, self.b_item):
            item.setParentItem(self.ct_item)
            item.setZValue(3)
            item.setVisible(False)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimum(0)
        self.slider.setMaximum(0)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.valueChanged.connect(self.set_slice)
        self.slice_label = QLabel("—")
        self.slice_label.setMinimumWidth(170)
        self.window_label = QLabel("")
        self.cursor_label = QLabel("")
        self.cursor_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.cursor_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 2)
        bar.addWidget(self.slice_label)
        bar.addWidget(self.slider, 1)
        info = QHBoxLayout()
        info.setContentsMargins(6, 0, 6, 2)
        info.addWidget(self.window_label)
        info.addWidget(self.cursor_label, 1)

        viewer = QWidget()
        column = QVBoxLayout(viewer)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.graphics, 1)
        column.addLayout(bar)
        column.addLayout(info)

        self.placeholder = QLabel(
            "<div style='font-size:15pt; color:#cfd8dc'>Drop a head CT here</div>"
            "<div style='color:#90a4ae'>a DICOM folder, a zip or files — or File ▸ Open "
            "(Ctrl+O)</div><div style='color:#607d8b'>No scan at hand? File ▸ Open the sample "
            "study</div>"
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("background:#101417; border:2px dashed #37474f;")

        # patient-direction letters at the image edges (radiological convention on screen)
        self.edge_letters = EdgeLetters(self.graphics, margin_px=6)
        self.orientation_labels = self.edge_letters.labels

        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.placeholder)
        self._stack.addWidget(viewer)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def _set_orientation(self, volume: Volume | None) -> None:
        code = volume.orientation_code if volume is not None else "???"
        x_to, y_to = code[0], code[1]  # where +x (screen right) and +y (screen down) point
        letters = {
            "right": x_to,
            "left": OPPOSITE[x_to],
            "bottom": y_to,
            "top": OPPOSITE[y_to],
        }
        self.edge_letters.set_letters(letters if volume is not None else {})

    # --- data -------------------------------------------------------------------------------
    def set_volume(self, volume: Volume | None, *, slice_index: int | None = None) -> None:
        """Show a volume (clears overlays); None returns to the drop hint."""
        self.volume = volume
        self._cam = None
        self._heat_shown = None
        self._mask = None
        self._abc2 = None
        if volume is None:
            self.ct_item.clear()
            self._stack.setCurrentIndex(0)
            self.slider.setMaximum(0)
            self.slice_label.setText("—")
            return
        nz, ny, nx = volume.shape
        self._set_orientation(volume)
        self._slice = -1
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(0, nz - 1))
        self.slider.blockSignals(False)
        start = nz // 2 if slice_index is None else int(np.clip(slice_index, 0, nz - 1))
        self._stack.setCurrentIndex(1)
        self.set_slice(start)
        _, sy, sx = volume.spacing_mm
        self.ct_item.setRect(QRectF(0.0, 0.0, nx * sx, ny * sy))
        self.fit()

    def set_heatmap(self, cam_zyx: np.ndarray | None) -> None:
        """The Grad-CAM map on the volume grid (z, y, x) in [0, 1], or None to remove it."""
        if cam_zyx is not None and self.volume is not None and cam_zyx.shape != self.volume.shape:
            raise ValueError(f"heatmap shape {cam_zyx.shape} != volume {self.volume.shape}")
        self._cam = cam_zyx
        self._heat_shown = None
        self._update_overlays()

    def set_mask(self, mask_zyx: np.ndarray | None) -> None:
        """The hematoma mask (bool, z, y, x) drawn as a contour, or None."""
        if mask_zyx is not None and self.volume is not None and mask_zyx.shape != self.volume.shape:
            raise ValueError(f"mask shape {mask_zyx.shape} != volume {self.volume.shape}")
        self._mask = mask_zyx
        self._update_overlays()

    def set_abc2(self, slice_index: int | None, a_segment_zyx=None, b_segment_zyx=None) -> None:
        """The ABC/2 A and B segments ((z, y, x) end points, voxel indices) on their slice."""
        if slice_index is None or a_segment_zyx is None or b_segment_zyx is None:
            self._abc2 = None
        else:
            self._abc2 = (int(slice_index), a_segment_zyx, b_segment_zyx)
        self._update_overlays()

    # --- display options --------------------------------------------------------------------
    def window(self) -> Window:
        return self._window

    def set_window(self, window: Window, *, user: bool = False) -> None:
        self._window = window
        self.ct_item.setLevels(window.levels_hu)
        self.window_label.setText(f"W {window.width_hu:.0f}  L {window.center_hu:.0f}")
        if user:
            self.sig_window_changed.emit(window)

    def heatmap_opacity(self) -> float:
        return float(self.heat_item.opacity())

    def set_heatmap_opacity(self, opacity: float) -> None:
        self.heat_item.setOpacity(float(np.clip(opacity, 0.0, 1.0)))

    def set_heatmap_visible(self, visible: bool) -> None:
        self._heat_visible = bool(visible)
        self._update_overlays()

    def set_contour_visible(self, visible: bool) -> None:
        self._contour_visible = bool(visible)
        self._update_overlays()

    def set_abc2_visible(self, visible: bool) -> None:
        self._abc2_visible = bool(visible)
        self._update_overlays()

    # --- slices -----------------------------------------------------------------------------
    @property
    def n_slices(self) -> int:
        return 0 if self.volume is None else self.volume.shape[0]

    def _show_slice(self, index: int) -> None:
        assert self.volume is not None
        self.ct_item.setImage(
            self.volume.hu[index], autoLevels=False, levels=self._window.levels_hu
        )
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self.slice_label.setText(
            f"Slice {index + 1} / {self.n_slices}  ·  {self.slice_position_mm(index):.1f} mm"
        )
        self._update_overlays()

    def slice_position_mm(self, index: int) -> float:
        """Position of slice ``index`` along the slice normal (mm, patient coordinates)."""
        assert self.volume is not None
        normal = self.volume.direction_matrix[:, 2]
        return float(np.dot(self.volume.index_to_physical((index, 0, 0)), normal))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        key = event.key()
        steps = {
            Qt.Key.Key_Up: 1,
            Qt.Key.Key_Right: 1,
            Qt.Key.Key_Down: -1,
            Qt.Key.Key_Left: -1,
            Qt.Key.Key_PageUp: 5,
            Qt.Key.Key_PageDown: -5,
        }
        if key in steps:
            self.step_slice(steps[key])
        elif key == Qt.Key.Key_Home:
            self.set_slice(0)
        elif key == Qt.Key.Key_End:
            self.set_slice(self.n_slices - 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # --- overlays ---------------------------------------------------------------------------
    def _update_overlays(self) -> None:
        z = self._slice
        has_volume = self.volume is not None and z >= 0
        # heatmap (set again only when its slice or map changed: a new contour after an edit
        # must not pay for re-colouring a 512² heatmap)
        if has_volume and self._cam is not None and self._heat_visible:
            if self._heat_shown != (z, id(self._cam)):
                self.heat_item.setImage(self._cam[z], autoLevels=False, levels=(0.0, 1.0))
                self._heat_shown = (z, id(self._cam))
            self.heat_item.setVisible(True)
        else:
            self.heat_item.setVisible(False)
        # contour: the outline of the mask's pixels on this slice
        on = has_volume and self._mask is not None and self._contour_visible
        self.contour.show(self._mask[z] if on else None)
        # ABC/2 segments
        show_abc = has_volume and self._abc2 is not None and self._abc2_visible
        if show_abc and self._abc2[0] == z:
            for item, seg in ((self.a_item, self._abc2[1]), (self.b_item, self._abc2[2])):
                pts = np.asarray(seg, dtype=float).reshape(2, 3)
                item.setData(pts[:, 2] + 0.5, pts[:, 1] + 0.5)
                item.setVisible(True)
        else:
            self.a_item.setVisible(False)
            self.b_item.setVisible(False)

    # --- cursor readout ---------------------------------------------------------------------
    def _show_cursor(self, at: SlicePoint) -> None:
        if not at.inside:
            self.cursor_label.setText("")
            return
        x, y = int(np.floor(at.x_px)), int(np.floor(at.y_px))
        text = self.describe_voxel(self._slice, y, x)
        self.cursor_label.setText(text)
        self.sig_cursor.emit(text)

    def describe_voxel(self, z: int, y: int, x: int) -> str:
        """'HU at (z, y, x) and its patient position in mm (LPS)', as shown under the cursor."""
        assert self.volume is not None
        hu = float(self.volume.hu[z, y, x])
        px, py, pz = self.volume.index_to_physical((z, y, x))
        text = f"{hu:.0f} HU   x {px:.1f}  y {py:.1f}  z {pz:.1f} mm   [{x}, {y}, {z}]"
        if self._cam is not None and self._heat_visible:
            text += f"   CAM {float(self._cam[z, y, x]):.2f}"
        return text
