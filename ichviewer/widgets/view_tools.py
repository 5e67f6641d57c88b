"""Interactive tools of the slice view: what the left mouse button does.

With no tool active the left button pans (pyqtgraph's default). A tool (ruler, ROI, exclude a
hematoma, grow from a seed, paint, erase, ...) receives the left-button presses, drags, clicks
and hover positions in *voxel* coordinates of the shown slice, so it never deals with the
view's zoom or the pixel spacing. Wheel (slices), Ctrl+wheel (zoom), right-drag
(window/level) and double-click (fit) keep their meaning whatever the tool.

Tools draw their own items as children of ``SliceView.ct_item`` (pixel coordinates: pixel
(row r, column c) covers x in [c, c+1], y in [r, r+1]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt

if TYPE_CHECKING:
    from ichviewer.widgets.slice_view import SliceView


@dataclass(frozen=True)
class SlicePoint:
    """A position on the shown slice: ``slice_index`` and in-plane pixel coordinates
    (``x_px`` along columns, ``y_px`` along rows; voxel (r, c) has its centre at c + 0.5,
    r + 0.5). ``inside`` is False when the mouse is off the image."""

    slice_index: int
    y_px: float
    x_px: float
    inside: bool

    @property
    def voxel_zyx(self) -> tuple[int, int, int]:
        return (self.slice_index, int(self.y_px // 1), int(self.x_px // 1))


@dataclass(frozen=True)
class ToolDrag:
    """One step of a left-button drag: where it started, where the mouse is now, and whether
    this is the first or the last step. ``modifiers`` are the keyboard modifiers held."""

    start: SlicePoint
    now: SlicePoint
    is_start: bool
    is_finish: bool
    modifiers: Qt.KeyboardModifier


class SliceTool(Protocol):
    """What a tool implements. Every method is called on the GUI thread."""

    @property
    def name(self) -> str:
        """Shown in the status bar, e.g. 'Ruler'."""
        ...

    def activate(self, view: SliceView) -> None:
        """The tool became active on ``view`` (create its items, set the cursor)."""
        ...

    def deactivate(self, view: SliceView) -> None:
        """Another tool (or none) took over: hide previews, drop half-made shapes."""
        ...

    def click(self, view: SliceView, at: SlicePoint, modifiers: Qt.KeyboardModifier) -> None:
        """A left click without a drag."""
        ...

    def drag(self, view: SliceView, drag: ToolDrag) -> None:
        """A left-button drag step."""
        ...

    def hover(self, view: SliceView, at: SlicePoint) -> None:
        """The mouse moved without a button (brush previews)."""
        ...

    def slice_changed(self, view: SliceView, slice_index: int) -> None:
        """The shown slice changed (per-slice items re-draw)."""
        ...
