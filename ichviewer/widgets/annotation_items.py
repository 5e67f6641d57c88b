"""The reader's rulers and elliptical ROIs: the list they live in and how a view draws them.

:class:`AnnotationStore` holds the measurements of the open volume (numbered, in the order they
were made) and says when they change. :class:`AnnotationOverlay` draws on one view (the axial
:class:`~ichviewer.widgets.slice_view.SliceView` or a reformat) the measurements of that view's
plane on its current slice, whatever tool is active: a ruler is kept on the slice it was drawn
on. Items are children of the view's ``ct_item`` (pixel coordinates).
"""

from __future__ import annotations

import logging

import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsEllipseItem

from ichmodel.annotations import EllipseRoi, Plane, ReaderMeasurement, Ruler
from ichmodel.render import ROI_RGB, RULER_RGB
from ichviewer.widgets.slice_items import screen_pen

log = logging.getLogger(__name__)

# one definition with the report's (ichmodel.render), so the PDF draws what the screen showed
RULER_COLOR = RULER_RGB
ROI_COLOR = ROI_RGB
SELECTED_COLOR = (255, 255, 255)
LINE_WIDTH = 2
LABEL_POINT_SIZE = 10

Annotation = Ruler | EllipseRoi


#: One numbered ruler or ROI (the list, the overlays and the report share the type).
Entry = ReaderMeasurement


class AnnotationStore(QObject):
    """The measurements of the open volume. ``sig_changed`` after every add/remove/clear;
    ``sig_selected(number)`` (0: none) when the list's selection changes."""

    sig_changed = Signal()
    sig_selected = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[Entry] = []
        self._next = 1
        self.selected = 0

    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    def on_slice(self, plane: Plane, slice_index: int) -> tuple[Entry, ...]:
        return tuple(
            e for e in self._entries
            if e.annotation.plane is plane and e.annotation.slice_index == slice_index
        )

    def add(self, annotation: Annotation) -> Entry:
        entry = Entry(self._next, annotation)
        self._next += 1
        self._entries.append(entry)
        log.info("%s %d added on %s", entry.kind, entry.number, entry.where)
        self.sig_changed.emit()
        return entry

    def remove(self, number: int) -> bool:
        kept = [e for e in self._entries if e.number != number]
        if len(kept) == len(self._entries):
            return False
        self._entries = kept
        if self.selected == number:
            self.selected = 0
        self.sig_changed.emit()
        return True

    def clear(self) -> None:
        """A new volume: the old measurements and their numbering go."""
        self._entries = []
        self._next = 1
        self.selected = 0
        self.sig_changed.emit()

    def select(self, number: int) -> None:
        if number != self.selected:
            self.selected = number
            self.sig_selected.emit(number)


def cosmetic_pen(color, *, dashed: bool = False):
    return screen_pen(color, LINE_WIDTH, dashed=dashed)


def label_item(text: str, color) -> pg.TextItem:
    """A text label that keeps its screen size whatever the zoom, on a dark backing so it reads
    over bone and brain alike."""
    item = pg.TextItem(text, color=color, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 170))
    font = QFont()
    font.setPointSize(LABEL_POINT_SIZE)  # points: scales with the screen's DPI / scale factor
    font.setBold(True)
    item.setFont(font)
    return item


class AnnotationOverlay:
    """Draws the store's measurements of ``plane`` on ``view``'s current slice."""

    def __init__(self, view, store: AnnotationStore, plane: Plane) -> None:
        self.view = view
        self.store = store
        self.plane = plane
        self._items: list = []
        store.sig_changed.connect(self.redraw)
        store.sig_selected.connect(lambda _n: self.redraw())
        view.sig_slice_changed.connect(lambda _i: self.redraw())

    def shown(self) -> tuple[Entry, ...]:
        """The measurements drawn now (tests and the status bar read this)."""
        if self.view.volume is None:
            return ()
        return self.store.on_slice(self.plane, self.view.slice_index)

    def redraw(self) -> None:
        for item in self._items:
            item.setParentItem(None)
            scene = item.scene()
            if scene is not None:
                scene.removeItem(item)
        self._items = []
        for entry in self.shown():
            self._items += self._draw(entry)

    def _draw(self, entry: Entry) -> list:
        a = entry.annotation
        selected = entry.number == self.store.selected
        parent = self.view.ct_item
        if isinstance(a, Ruler):
            color = SELECTED_COLOR if selected else RULER_COLOR
            line = pg.PlotCurveItem(
                [a.start_px[1], a.end_px[1]], [a.start_px[0], a.end_px[0]], pen=cosmetic_pen(color)
            )
            anchor_rc = min((a.start_px, a.end_px), key=lambda p: p[0])  # the upper end
            text = f"{entry.number}: {a.label}"
        else:
            color = SELECTED_COLOR if selected else ROI_COLOR
            (r0, c0), (r1, c1) = a.corner_a_px, a.corner_b_px
            line = QGraphicsEllipseItem(QRectF(min(c0, c1), min(r0, r1), abs(c1 - c0),
                                               abs(r1 - r0)))
            line.setPen(cosmetic_pen(color))
            anchor_rc = (min(r0, r1), min(c0, c1))
            text = (f"{entry.number}: {a.mean_hu:.0f} ± {a.sd_hu:.0f} HU\n"
                    f"min {a.min_hu:.0f}, max {a.max_hu:.0f} HU, {a.area_mm2:.0f} mm²")
        line.setParentItem(parent)
        line.setZValue(5)
        label = label_item(text, QColor(*color))
        label.setParentItem(parent)
        label.setPos(anchor_rc[1], anchor_rc[0])
        label.setZValue(6)
        return [line, label]
