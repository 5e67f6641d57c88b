"""The midline drawing on the slice view: the ideal midline (falx attachments, dashed cyan),
the septum's deviation from it (red, with the septum marked) on the slice it was measured on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from ichviewer.widgets.slice_items import SliceOverlay, screen_pen

if TYPE_CHECKING:
    from ichmodel.midline import MidlineShift
    from ichviewer.widgets.slice_view import SliceView

MIDLINE_COLOR = "#4dd0e1"
SHIFT_COLOR = "#ff5252"


class MidlineOverlay(SliceOverlay):
    """Attach to a :class:`SliceView`; :meth:`set_midline` shows a result (None hides it)."""

    def __init__(self, view: SliceView) -> None:
        self.result: MidlineShift | None = None
        pen = screen_pen(MIDLINE_COLOR, 2, style=Qt.PenStyle.DashLine)  # logical px (HiDPI)
        self.line_item = pg.PlotDataItem(pen=pen)
        self.shift_item = pg.PlotDataItem(
            pen=screen_pen(SHIFT_COLOR, 3), symbol="o", symbolSize=7,
            symbolBrush=None, symbolPen=screen_pen(SHIFT_COLOR, 2),
        )
        self.label_item = pg.TextItem("", color="#ffffff", anchor=(0, 1),
                                     fill=pg.mkBrush(183, 28, 28, 200))
        for item in (self.line_item, self.shift_item, self.label_item):
            item.setParentItem(view.ct_item)
            item.setZValue(4)
            item.setVisible(False)
        super().__init__(view)

    def set_midline(self, result: MidlineShift | None) -> None:
        self.result = result
        self.refresh()

    @property
    def shown(self) -> bool:
        return self.line_item.isVisible()

    def refresh(self) -> None:
        r = self.result
        on = (
            self.visible and r is not None and r.measured and self.view.volume is not None
            and r.slice_index == self.view.slice_index
        )
        for item in (self.line_item, self.shift_item, self.label_item):
            item.setVisible(bool(on))
        if not on or r is None:
            return
        ends = np.array([r.anterior_zyx, r.posterior_zyx], float)
        self.line_item.setData(ends[:, 2] + 0.5, ends[:, 1] + 0.5)
        shift = np.array([r.foot_zyx, r.septum_zyx], float)
        self.shift_item.setData(shift[:, 2] + 0.5, shift[:, 1] + 0.5, symbol=[None, "o"])
        near = " (near 5 mm: check)" if r.near_flag else ""
        self.label_item.setText(f"MLS {r.shift_mm:.1f} mm{near}")
        self.label_item.setPos(float(shift[1, 2]) + 8.0, float(shift[1, 1]))
