"""The pieces of the slice view that are not the widget: colours, the heatmap LUT, the mask
outline and the ViewBox with radiology mouse bindings."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel

from ichmodel.render import A_SEGMENT_RGB, B_SEGMENT_RGB, CONTOUR_RGB
from ichviewer.widgets.view_tools import ToolDrag
from ichviewer.widgets.window_presets import Window

if TYPE_CHECKING:
    from ichviewer.widgets.slice_view import SliceView

# the report's colours (ichmodel.render), so the PDF and key images show what the reader saw
CONTOUR_COLOR, A_COLOR, B_COLOR = CONTOUR_RGB, A_SEGMENT_RGB, B_SEGMENT_RGB
HEATMAP_COLORMAP = "inferno"
ORIENTATION_LABEL_STYLE = (
    "color:#cfd8dc; font-weight:bold; background:rgba(0,0,0,150); padding:0px 3px;"
    " border-radius:3px"
)
OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S", "?": "?"}


def screen_pen(color, width: float = 2.0, *, dashed: bool = False, style=None):
    """A cosmetic pen ``width`` logical pixels wide. Qt draws a cosmetic pen's width in *device*
    pixels, so at QT_SCALE_FACTOR=2 (or a 200 % display) a 2 px contour became a hairline;
    the width is scaled by the highest device pixel ratio of the screens."""
    app = QGuiApplication.instance()
    ratio = float(app.devicePixelRatio()) if isinstance(app, QGuiApplication) else 1.0
    pen = pg.mkPen(color, width=width * max(1.0, ratio), cosmetic=True)
    if style is not None:
        pen.setStyle(style)
    if dashed:
        pen.setDashPattern([4, 3])
    return pen


def heatmap_lut(name: str = HEATMAP_COLORMAP, n: int = 256) -> np.ndarray:
    """An RGBA LUT (n, 4) uint8 whose alpha rises with the value: low attention is clear."""
    cmap = pg.colormap.get(name)
    lut = cmap.getLookupTable(0.0, 1.0, n, alpha=True).astype(np.float32)
    # clear below 20 % of the peak, fully coloured from 65 %: weak attention does not veil
    # the CT, and the opacity slider scales the rest
    ramp = np.clip((np.linspace(0.0, 1.0, n) - 0.2) / 0.45, 0.0, 1.0)
    lut[:, 3] = 255.0 * ramp
    return lut.astype(np.uint8)


def mask_outline_segments(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The outline of a 2-D mask (rows, cols) as line segments along pixel edges, in pixel
    coordinates (pixel (r, c) covers x in [c, c+1], y in [r, r+1]): x and y arrays for a
    ``connect="pairs"`` curve. Vectorised: well under a millisecond for a large hematoma."""
    p = np.pad(np.asarray(plane, dtype=bool), 1)
    rows, cols = np.nonzero(p[1:-1, :-1] != p[1:-1, 1:])  # vertical edges at x = cols
    hrows, hcols = np.nonzero(p[:-1, 1:-1] != p[1:, 1:-1])  # horizontal edges at y = hrows
    n_v, n_h = rows.size, hrows.size
    xs = np.empty(2 * (n_v + n_h), dtype=np.float64)
    ys = np.empty_like(xs)
    xs[0 : 2 * n_v : 2] = cols
    xs[1 : 2 * n_v : 2] = cols
    ys[0 : 2 * n_v : 2] = rows
    ys[1 : 2 * n_v : 2] = rows + 1
    xs[2 * n_v :: 2] = hcols
    xs[2 * n_v + 1 :: 2] = hcols + 1
    ys[2 * n_v :: 2] = hrows
    ys[2 * n_v + 1 :: 2] = hrows
    return xs, ys


class SliceOverlay:
    """Something drawn over a slice view for the slice it shows (the midline, a mask's
    outline): redrawn by :meth:`refresh` on every slice change and on new content, hidden
    while :attr:`visible` is False."""

    def __init__(self, view: SliceView) -> None:
        self.view = view
        self.visible = True
        view.sig_slice_changed.connect(lambda _index: self.refresh())

    def set_visible(self, visible: bool) -> None:
        self.visible = bool(visible)
        self.refresh()

    def refresh(self) -> None:
        raise NotImplementedError


class MaskOutline:
    """A mask's outline on one plane, drawn on a ``connect="pairs"`` curve and redrawn only
    when that plane's pixels change: after an edit the planes it did not touch (most reformat
    slices; the ABC/2 segments being set just after the mask) cost a comparison, not a path."""

    def __init__(self, item: pg.PlotCurveItem,
                 style: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
                 | None = None) -> None:
        self.item = item
        self._style = style
        self._plane: np.ndarray | None = None
        self._drawn = False

    def show(self, plane: np.ndarray | None) -> None:
        """Outline ``plane`` (2-D, rows × cols; None hides it)."""
        if plane is None:
            self._plane = None
            self.item.setVisible(False)
            return
        if self._plane is None or not np.array_equal(self._plane, plane):
            self._plane = np.array(plane, dtype=bool)  # a copy: the caller may edit its mask
            xs, ys = mask_outline_segments(self._plane)
            if self._style is not None:
                xs, ys = self._style(xs, ys)
            self._drawn = xs.size > 0
            if self._drawn:
                self.item.setData(xs, ys)
        self.item.setVisible(self._drawn)


class SliceViewBox(pg.ViewBox):
    """ViewBox with radiology mouse bindings (see the module docstring)."""

    @property
    def _owner(self) -> SliceView:
        owner = self._owner_ref()
        if owner is None:
            raise RuntimeError("the slice view was deleted")
        return owner

    def __init__(self, owner: SliceView) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._owner_ref = weakref.ref(owner)  # no cycle: Qt owns the C++ side
        self._drag_window: Window | None = None

    def wheelEvent(self, ev, axis=None):  # noqa: N802 (Qt override)
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        steps = 1 if ev.delta() > 0 else -1
        self._owner.step_slice(steps)
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt override)
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            if ev.isStart():
                self._drag_window = self._owner.window()
            if self._drag_window is None:
                return
            delta = ev.pos() - ev.buttonDownPos(Qt.MouseButton.RightButton)
            start = self._drag_window
            per_px = max(0.5, start.width_hu / 200.0)
            width = max(1.0, start.width_hu + delta.x() * per_px)
            center = start.center_hu - delta.y() * per_px
            self._owner.set_window(Window(center, width), user=True)
            if ev.isFinish():
                self._drag_window = None
            return
        owner = self._owner
        if ev.button() == Qt.MouseButton.LeftButton and owner.tool is not None:
            ev.accept()
            start = owner.slice_point(ev.buttonDownScenePos(Qt.MouseButton.LeftButton))
            now = owner.slice_point(ev.scenePos())
            if start is not None and now is not None:
                step = ToolDrag(start, now, ev.isStart(), ev.isFinish(), ev.modifiers())
                owner.tool.drag(owner, step)
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802 (Qt override)
        if ev.double() and ev.button() == Qt.MouseButton.LeftButton:
            self._owner.fit()
            ev.accept()
            return
        owner = self._owner
        if ev.button() == Qt.MouseButton.LeftButton and owner.tool is not None:
            ev.accept()
            at = owner.slice_point(ev.scenePos())
            if at is not None:
                owner.tool.click(owner, at, ev.modifiers())
            return
        super().mouseClickEvent(ev)


class EdgeLetters(QObject):
    """Patient-direction letters at the four edges of a graphics view (``labels`` by edge:
    left, right, top, bottom), kept in place when the view is resized."""

    def __init__(self, graphics: pg.GraphicsView, margin_px: int) -> None:
        super().__init__(graphics)
        self._graphics = graphics
        self._margin_px = margin_px
        self.labels: dict[str, QLabel] = {}
        for edge in ("left", "right", "top", "bottom"):
            label = QLabel("", graphics)
            # a dark backing: the letters stay readable over an inverted (white) image
            label.setStyleSheet(ORIENTATION_LABEL_STYLE)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            self.labels[edge] = label
        graphics.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Resize:
            self.place()
        return False

    def set_letters(self, letters: dict[str, str]) -> None:
        """Letters by edge; "?" or a missing edge shows nothing."""
        for edge, label in self.labels.items():
            text = letters.get(edge, "")
            label.setText("" if text == "?" else text)
        self.place()

    def place(self) -> None:
        w, h, m = self._graphics.width(), self._graphics.height(), self._margin_px
        for edge, label in self.labels.items():
            label.adjustSize()
            lw, lh = label.width(), label.height()
            x = {"left": m, "right": w - lw - m}.get(edge, (w - lw) // 2)
            y = {"top": m, "bottom": h - lh - m}.get(edge, (h - lh) // 2)
            label.move(x, y)
