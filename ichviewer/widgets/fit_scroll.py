"""Keep a scroll area's panel at the height its wrapped labels need.

``QScrollArea(widgetResizable=True)`` sizes its widget from ``minimumSizeHint``, which ignores
height-for-width: a panel of word-wrapped labels in a short window (1440×900, or any window
at QT_SCALE_FACTOR=2) was squeezed instead of scrolled, and the rows of the results panel drew
over each other. :func:`fit_height_for_width` makes the panel's minimum height the height its
layout needs at the current width, whenever the width or the content changes; the scroll
area then scrolls.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QScrollArea, QWidget


class _HeightForWidth(QObject):
    def __init__(self, scroll: QScrollArea) -> None:
        super().__init__(scroll)
        self.scroll = scroll

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        if kind in (QEvent.Type.Resize, QEvent.Type.LayoutRequest) and isinstance(
            watched, QWidget
        ):
            self.fit()
        return False

    def fit(self) -> None:
        panel = self.scroll.widget()
        layout = panel.layout() if panel is not None else None
        if layout is None or not layout.hasHeightForWidth():
            return
        need = layout.totalHeightForWidth(self.scroll.viewport().width())
        if need > 0 and need != panel.minimumHeight():
            panel.setMinimumHeight(need)


def fit_height_for_width(scroll: QScrollArea) -> None:
    """Make ``scroll``'s widget as tall as its layout needs at the viewport's width."""
    fixer = _HeightForWidth(scroll)
    scroll.viewport().installEventFilter(fixer)
    if scroll.widget() is not None:
        scroll.widget().installEventFilter(fixer)
    fixer.fit()
