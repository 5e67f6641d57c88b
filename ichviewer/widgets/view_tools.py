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

import pyqtgraph as pg
from PySide6.QtCore import Qt, SignalInstance

if TYPE_CHECKING:
    from ichmodel.volume import Volume
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


class ToolHost:
    """The tool plumbing of a view that shows one slice image (the axial SliceView and the
    reformats): which tool has the left button, and where the mouse is on the slice. The view
    defines ``sig_tool_changed = Signal(str)``, ``volume``, ``_slice`` and ``ct_item``."""

    sig_tool_changed: SignalInstance
    volume: Volume | None
    _slice: int
    ct_item: pg.ImageItem
    view_box: pg.ViewBox
    _tool: SliceTool | None = None

    sig_slice_changed: SignalInstance

    @property
    def n_slices(self) -> int:
        raise NotImplementedError

    def _show_slice(self, index: int) -> None:
        """Draw slice ``index`` (the image, labels and overlays); the view implements it."""
        raise NotImplementedError

    def set_slice(self, index: int) -> None:
        """Show slice ``index`` (clamped); tools and ``sig_slice_changed`` hear of a change."""
        if self.volume is None:
            return
        index = min(max(int(index), 0), self.n_slices - 1)
        if index == self._slice:
            return
        self._slice = index
        self._show_slice(index)
        if self._tool is not None:
            self._tool.slice_changed(self, index)  # type: ignore[arg-type]
        self.sig_slice_changed.emit(index)

    @property
    def slice_index(self) -> int:
        return self._slice

    def step_slice(self, steps: int) -> None:
        self.set_slice(self._slice + steps)

    def fit(self) -> None:
        """Fit the whole slice image in the view."""
        self.view_box.autoRange(items=[self.ct_item], padding=0.02)

    @property
    def tool(self) -> SliceTool | None:
        return self._tool

    def set_tool(self, tool: SliceTool | None) -> None:
        """Make ``tool`` receive the left mouse button (None: the left button pans)."""
        if tool is self._tool:
            return
        if self._tool is not None:
            self._tool.deactivate(self)  # type: ignore[arg-type]
        self._tool = tool
        if tool is not None:
            tool.activate(self)  # type: ignore[arg-type]
        self.sig_tool_changed.emit("" if tool is None else tool.name)

    def _show_cursor(self, at: SlicePoint) -> None:
        """Show what is under the mouse (HU, position); the view implements it."""
        raise NotImplementedError

    def _on_mouse_moved(self, scene_pos) -> None:
        at = self.slice_point(scene_pos)
        if at is None:
            return
        if self._tool is not None:
            self._tool.hover(self, at)  # type: ignore[arg-type]
        self._show_cursor(at)

    def slice_point(self, scene_pos) -> SlicePoint | None:
        """The slice position under a scene position, or None when no slice is shown."""
        if self.volume is None or self._slice < 0:
            return None
        pos = self.ct_item.mapFromScene(scene_pos)
        rows, cols = self.ct_item.image.shape[:2]
        x, y = float(pos.x()), float(pos.y())
        return SlicePoint(self._slice, y, x, inside=0 <= x < cols and 0 <= y < rows)
