"""Real mouse events on a SliceView's viewport (QTest), in voxel coordinates of the shown slice.

pyqtgraph turns press/move/release into click and drag events itself, so these go through the
same code path as a user's hand: the ViewBox, the scene and the active tool. pyqtgraph's scene
drops mouse moves closer than ~17 ms apart (its 60 Hz rate limit), so each move waits that long
first, as a hand would.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from ichviewer.widgets.slice_view import SliceView

LEFT = Qt.MouseButton.LeftButton
NO_MODIFIER = Qt.KeyboardModifier.NoModifier
MOVE_INTERVAL_MS = 20


def viewport_point(view: SliceView, y_px: float, x_px: float) -> QPoint:
    """The viewport pixel showing slice pixel coordinates (y_px, x_px)."""
    scene = view.ct_item.mapToScene(QPointF(x_px, y_px))
    return view.graphics.mapFromScene(scene)


def click(view: SliceView, y_px: float, x_px: float, *, modifiers=NO_MODIFIER) -> None:
    where = viewport_point(view, y_px, x_px)
    QTest.mouseClick(view.graphics.viewport(), LEFT, modifiers, where)


def drag(view: SliceView, path_px: list[tuple[float, float]], *, modifiers=NO_MODIFIER) -> None:
    """Press at the first (y_px, x_px), move through the rest, release at the last."""
    port = view.graphics.viewport()
    points = [viewport_point(view, y, x) for y, x in path_px]
    QTest.mousePress(port, LEFT, modifiers, points[0])
    for point in points[1:]:
        QTest.qWait(MOVE_INTERVAL_MS)
        QTest.mouseMove(port, point)
    QTest.mouseRelease(port, LEFT, modifiers, points[-1])


def hover(view: SliceView, y_px: float, x_px: float) -> None:
    QTest.qWait(MOVE_INTERVAL_MS)
    QTest.mouseMove(view.graphics.viewport(), viewport_point(view, y_px, x_px))
