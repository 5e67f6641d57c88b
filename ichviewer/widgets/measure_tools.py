"""The ruler and the elliptical ROI as :class:`~ichviewer.widgets.view_tools.SliceTool`\\ s.

Drag to draw: a ruler from the press to the release, an ellipse inscribed in the dragged box.
While dragging a dashed preview shows the live value; on release the measurement is computed
by :mod:`ichmodel.annotations` from the volume and its spacing and goes into the shared
:class:`~ichviewer.widgets.annotation_items.AnnotationStore`, which every view draws from.
One tool instance per view (each has its own preview item), all writing to the same store.
"""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsEllipseItem

from ichmodel.annotations import (
    AnnotationError,
    Plane,
    measure_ellipse,
    measure_ruler,
)
from ichviewer.widgets.annotation_items import (
    ROI_COLOR,
    RULER_COLOR,
    AnnotationStore,
    cosmetic_pen,
    label_item,
)
from ichviewer.widgets.view_tools import SlicePoint, ToolDrag

#: Shorter drags are taken as a slip of the hand, not a measurement (pixels of the slice).
MIN_DRAG_PX = 1.0

RULER_NAME = "Ruler"
ELLIPSE_NAME = "Ellipse ROI"
TOOL_NAMES = (RULER_NAME, ELLIPSE_NAME)


class _DrawingTool:
    """What the ruler and the ellipse share: a preview while dragging, a store on release."""

    name = ""
    color: tuple[int, int, int] = RULER_COLOR

    def __init__(self, store: AnnotationStore, plane: Plane,
                 report: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.plane = plane
        self.report = report or (lambda text: None)  # the status bar
        self._preview: list = []

    # --- SliceTool --------------------------------------------------------------------------
    def activate(self, view) -> None:
        view.graphics.viewport().setCursor(Qt.CursorShape.CrossCursor)

    def deactivate(self, view) -> None:
        self._clear_preview()
        view.graphics.viewport().unsetCursor()

    def click(self, view, at: SlicePoint, modifiers) -> None:
        self.report(f"{self.name}: drag on the image to draw")

    def hover(self, view, at: SlicePoint) -> None:
        return None

    def slice_changed(self, view, slice_index: int) -> None:
        self._clear_preview()

    def drag(self, view, drag: ToolDrag) -> None:
        if view.volume is None:
            return
        start = (drag.start.y_px, drag.start.x_px)
        now = self._clamp(view, (drag.now.y_px, drag.now.x_px))
        if drag.is_start and not drag.start.inside:
            return
        if not drag.start.inside:
            self._clear_preview()
            return
        big_enough = max(abs(now[0] - start[0]), abs(now[1] - start[1])) >= MIN_DRAG_PX
        if drag.is_finish:
            self._clear_preview()
            if big_enough:
                self._finish(view, drag.start.slice_index, start, now)
            return
        self._show_preview(view, drag.start.slice_index, start, now)

    # --- shared -----------------------------------------------------------------------------
    @staticmethod
    def _clamp(view, rc: tuple[float, float]) -> tuple[float, float]:
        rows, cols = view.ct_item.image.shape[:2]
        return (min(max(rc[0], 0.0), float(rows)), min(max(rc[1], 0.0), float(cols)))

    def _clear_preview(self) -> None:
        for item in self._preview:
            item.setParentItem(None)
            if item.scene() is not None:
                item.scene().removeItem(item)
        self._preview = []

    def _place(self, view, shape, text: str, at_rc) -> None:
        self._clear_preview()
        shape.setParentItem(view.ct_item)
        shape.setZValue(7)
        label = label_item(text, QColor(*self.color))
        label.setParentItem(view.ct_item)
        label.setPos(at_rc[1], at_rc[0])
        label.setZValue(8)
        self._preview = [shape, label]

    def _show_preview(self, view, slice_index, start, now) -> None:
        raise NotImplementedError

    def _finish(self, view, slice_index, start, now) -> None:
        raise NotImplementedError


class RulerTool(_DrawingTool):
    """Distance in mm between the press and the release, from the plane's pixel spacing."""

    name = RULER_NAME
    color = RULER_COLOR

    def _show_preview(self, view, slice_index, start, now) -> None:
        ruler = measure_ruler(view.volume.spacing_mm, self.plane, slice_index, start, now)
        line = pg.PlotCurveItem([start[1], now[1]], [start[0], now[0]],
                                pen=cosmetic_pen(self.color, dashed=True))
        self._place(view, line, ruler.label, now)

    def _finish(self, view, slice_index, start, now) -> None:
        ruler = measure_ruler(view.volume.spacing_mm, self.plane, slice_index, start, now)
        entry = self.store.add(ruler)
        self.report(f"Ruler {entry.number}: {ruler.label} on {entry.where}")


class EllipseTool(_DrawingTool):
    """HU statistics and area of the voxels inside the ellipse inscribed in the dragged box."""

    name = ELLIPSE_NAME
    color = ROI_COLOR

    def _show_preview(self, view, slice_index, start, now) -> None:
        box = QRectF(min(start[1], now[1]), min(start[0], now[0]),
                     abs(now[1] - start[1]), abs(now[0] - start[0]))
        shape = QGraphicsEllipseItem(box)
        shape.setPen(cosmetic_pen(self.color, dashed=True))
        try:
            roi = measure_ellipse(view.volume, self.plane, slice_index, start, now)
            text = roi.label
        except AnnotationError:
            text = "…"
        self._place(view, shape, text, now)

    def _finish(self, view, slice_index, start, now) -> None:
        try:
            roi = measure_ellipse(view.volume, self.plane, slice_index, start, now)
        except AnnotationError as exc:  # a box thinner than a voxel: say so, keep going
            self.report(str(exc))
            return
        entry = self.store.add(roi)
        self.report(f"Ellipse ROI {entry.number}: {roi.label} on {entry.where}")
