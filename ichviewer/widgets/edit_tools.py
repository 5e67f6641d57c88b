"""The segmentation edit tools of the slice view (:class:`~ichviewer.widgets.view_tools.SliceTool`)
and the drawing of excluded hematomas.

* :class:`ExcludeTool` - a click on a hematoma excludes it, a click on an excluded one (dashed
  contour) includes it again;
* :class:`GrowTool` - a click inside a bleed the segmentation missed grows it from that seed;
* :class:`BrushTool` - paint or erase with a round brush; its size in mm is drawn on the cursor
  (a circle of that radius, in mm on screen whatever the zoom) and the stroke is applied on
  release, on the current slice or across ``slice_span`` slices.

Every tool hands its edit to the :class:`~ichviewer.edit_session.EditController`; positions
are Volume voxel indices (a pixel's centre at an integer), as :mod:`ichmodel.edits` expects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QGraphicsEllipseItem

from ichmodel.edits.record import BrushEdit, ComponentEdit, GrowEdit
from ichmodel.render import EXCLUDED_RGB, IVH_RGB
from ichviewer.widgets.slice_items import MaskOutline, SliceOverlay
from ichviewer.widgets.view_tools import SlicePoint, ToolDrag

if TYPE_CHECKING:
    from ichmodel.measure import Measurement
    from ichviewer.edit_session import EditController
    from ichviewer.widgets.slice_view import SliceView

EXCLUDED_COLOR = EXCLUDED_RGB  # violet, as in the report
IVH_COLOR = IVH_RGB  # blue, as in the report
BRUSH_COLOR = {"paint": (0, 230, 118), "erase": (255, 82, 82)}


class ExcludeTool:
    name = "Exclude / include"

    def __init__(self, edits: EditController) -> None:
        self.edits = edits

    def activate(self, view: SliceView) -> None:
        view.graphics.viewport().setCursor(Qt.CursorShape.PointingHandCursor)

    def deactivate(self, view: SliceView) -> None:
        view.graphics.viewport().unsetCursor()

    def click(self, view: SliceView, at: SlicePoint, modifiers) -> None:
        session = self.edits.session
        if not at.inside or session is None:
            self.edits.apply(ComponentEdit("exclude", at.voxel_zyx))  # says why not
            return
        kind = "include" if session.is_excluded(at.voxel_zyx) else "exclude"
        self.edits.apply(ComponentEdit(kind, at.voxel_zyx))

    def drag(self, view: SliceView, drag: ToolDrag) -> None:
        pass

    def hover(self, view: SliceView, at: SlicePoint) -> None:
        pass

    def slice_changed(self, view: SliceView, slice_index: int) -> None:
        pass


class GrowTool(ExcludeTool):
    name = "Grow from seed"

    def activate(self, view: SliceView) -> None:
        view.graphics.viewport().setCursor(Qt.CursorShape.CrossCursor)

    def click(self, view: SliceView, at: SlicePoint, modifiers) -> None:
        from ichmodel.edits.regions import DEFAULT_GROW_MAX_ML, DEFAULT_GROW_RADIUS_MM

        self.edits.apply(GrowEdit(at.voxel_zyx, DEFAULT_GROW_RADIUS_MM, DEFAULT_GROW_MAX_ML))


class BrushTool:
    """Paint (``kind`` 'paint') or erase with a round brush of ``radius_mm``."""

    def __init__(self, edits: EditController, kind: str, radius_mm: float = 3.0,
                 slice_span: int = 1) -> None:
        self.edits = edits
        self.kind = kind
        self.name = "Paint" if kind == "paint" else "Erase"
        self.radius_mm = float(radius_mm)
        self.slice_span = int(slice_span)
        self._points: list[tuple[float, float]] = []
        self._circle: QGraphicsEllipseItem | None = None
        self._label: pg.TextItem | None = None
        self._stroke: pg.PlotCurveItem | None = None

    # --- drawing ----------------------------------------------------------------------------
    def activate(self, view: SliceView) -> None:
        colour = BRUSH_COLOR[self.kind]
        self._circle = QGraphicsEllipseItem()
        self._circle.setPen(pg.mkPen(colour, width=1.5, cosmetic=True))
        self._circle.setParentItem(view.ct_item)
        self._circle.setZValue(6)
        self._label = pg.TextItem("", color=colour, anchor=(0, 1))
        self._label.setParentItem(view.ct_item)
        self._label.setZValue(6)
        self._stroke = pg.PlotCurveItem(pen=pg.mkPen((*colour, 110), width=1, cosmetic=True))
        self._stroke.setParentItem(view.ct_item)
        self._stroke.setZValue(5)
        for item in (self._circle, self._label, self._stroke):
            item.setVisible(False)
        view.graphics.viewport().setCursor(Qt.CursorShape.CrossCursor)

    def deactivate(self, view: SliceView) -> None:
        for item in (self._circle, self._label, self._stroke):
            if item is not None:
                item.setParentItem(None)
                if item.scene() is not None:
                    item.scene().removeItem(item)
        self._circle = self._label = self._stroke = None
        self._points = []
        view.graphics.viewport().unsetCursor()

    @property
    def cursor_shown(self) -> bool:
        return self._circle is not None and self._circle.isVisible()

    def cursor_radius_px(self, view: SliceView) -> tuple[float, float]:
        """The brush's radius in image pixels (y, x): ``radius_mm`` over the pixel spacing."""
        assert view.volume is not None
        _, sy, sx = view.volume.spacing_mm
        return self.radius_mm / sy, self.radius_mm / sx

    def _show_cursor(self, view: SliceView, at: SlicePoint) -> None:
        if self._circle is None or self._label is None or view.volume is None:
            return
        ry, rx = self.cursor_radius_px(view)
        self._circle.setRect(QRectF(at.x_px - rx, at.y_px - ry, 2 * rx, 2 * ry))
        span = f" × {self.slice_span} slices" if self.slice_span > 1 else ""
        self._label.setText(f"{self.name} Ø {2 * self.radius_mm:g} mm{span}")
        self._label.setPos(at.x_px + rx, at.y_px - ry)
        self._circle.setVisible(at.inside)
        self._label.setVisible(at.inside)

    # --- events -----------------------------------------------------------------------------
    def hover(self, view: SliceView, at: SlicePoint) -> None:
        self._show_cursor(view, at)

    def click(self, view: SliceView, at: SlicePoint, modifiers) -> None:
        if at.inside:
            self._apply(view, [(at.y_px - 0.5, at.x_px - 0.5)])

    def drag(self, view: SliceView, drag: ToolDrag) -> None:
        if drag.is_start:
            self._points = [(drag.start.y_px - 0.5, drag.start.x_px - 0.5)]
        self._points.append((drag.now.y_px - 0.5, drag.now.x_px - 0.5))
        self._show_cursor(view, drag.now)
        if self._stroke is not None:
            pts = np.asarray(self._points) + 0.5
            self._stroke.setData(pts[:, 1], pts[:, 0])
            self._stroke.setPen(pg.mkPen((*BRUSH_COLOR[self.kind], 110), cosmetic=False,
                                         width=2 * self.cursor_radius_px(view)[1]))
            self._stroke.setVisible(True)
        if drag.is_finish:
            points, self._points = self._points, []
            if self._stroke is not None:
                self._stroke.setVisible(False)
            self._apply(view, points)

    def _apply(self, view: SliceView, points: list[tuple[float, float]]) -> None:
        self.edits.apply(BrushEdit(self.kind, view.slice_index,  # type: ignore[arg-type]
                                   tuple((float(y), float(x)) for y, x in points),
                                   self.radius_mm, self.slice_span))

    def slice_changed(self, view: SliceView, slice_index: int) -> None:
        self._points = []


class MaskOverlay(SliceOverlay):
    """One mask of the shown measurement outlined on the slice view, in its own colour (the
    excluded hematomas dashed violet, the intraventricular blood blue): ``mask_of`` picks
    the mask from a measurement (None: nothing to draw)."""

    def __init__(
        self,
        view: SliceView,
        colour: tuple[int, int, int],
        mask_of: Callable[[Measurement], np.ndarray | None],
        style: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        self.mask: np.ndarray | None = None
        self._mask_of = mask_of
        self.item = pg.PlotCurveItem(pen=pg.mkPen(colour, width=2, cosmetic=True),
                                     connect="pairs")
        self.item.setParentItem(view.ct_item)
        self.item.setZValue(2)
        self.item.setVisible(False)
        self.outline = MaskOutline(self.item, style=style)
        super().__init__(view)  # visible: follows the panel's contour check box (as the report)

    def set_measurement(self, measurement: Measurement | None) -> None:
        self.mask = None if measurement is None else self._mask_of(measurement)
        self.refresh()

    @property
    def shown(self) -> bool:
        return self.item.isVisible()

    def refresh(self) -> None:
        view, mask = self.view, self.mask
        on = mask is not None and view.volume is not None and mask.shape == view.volume.shape
        self.outline.show(mask[view.slice_index] if on and self.visible else None)


def excluded_overlay(view: SliceView) -> MaskOverlay:
    """The reader's excluded hematomas, dashed violet (as in the report)."""
    return MaskOverlay(view, EXCLUDED_COLOR, lambda m: m.excluded_mask, style=dashed)


def ivh_overlay(view: SliceView) -> MaskOverlay:
    """The blood counted as intraventricular, blue (as in the report): the reader sees what
    the IVH volume is, and a hematoma taken for a cast horn."""
    return MaskOverlay(view, IVH_COLOR, lambda m: m.drawn_ivh_mask)


#: Dash length along the outline, image pixels (a dash, then a gap as long).
DASH_PX = 2


def dashed(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every other run of ``DASH_PX`` unit segments of a pixel-edge outline (``connect="pairs"``
    arrays): a dashed outline. Qt's dash pattern restarts on each one-pixel segment and would
    draw it solid."""
    if xs.size == 0:
        return xs, ys
    mid_x = 0.5 * (xs[0::2] + xs[1::2])
    mid_y = 0.5 * (ys[0::2] + ys[1::2])
    keep = ((np.floor(mid_x) + np.floor(mid_y)) // DASH_PX) % 2 == 0
    pairs = np.repeat(keep, 2)
    return xs[pairs], ys[pairs]
