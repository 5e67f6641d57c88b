"""The slice view hands the left mouse button to the active tool, in voxel coordinates."""

from __future__ import annotations

import pytest

from ichviewer.widgets.view_tools import SlicePoint, ToolDrag
from tests.gui.fakes import SHAPE
from tests.gui.mouse import click, drag, hover

pytestmark = pytest.mark.timeout(60)


class RecordingTool:
    name = "Recorder"

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def activate(self, view):
        self.events.append(("activate", None))

    def deactivate(self, view):
        self.events.append(("deactivate", None))

    def click(self, view, at: SlicePoint, modifiers):
        self.events.append(("click", at))

    def drag(self, view, drag: ToolDrag):
        self.events.append(("drag", drag))

    def hover(self, view, at: SlicePoint):
        self.events.append(("hover", at))

    def slice_changed(self, view, slice_index: int):
        self.events.append(("slice", slice_index))


@pytest.fixture
def view(slice_view):
    return slice_view


def test_a_click_reaches_the_tool_at_the_voxel_under_the_mouse(view, qtbot):
    tool = RecordingTool()
    with qtbot.waitSignal(view.sig_tool_changed) as changed:
        view.set_tool(tool)
    assert changed.args == ["Recorder"]
    click(view, 20.5, 30.5)
    clicks = [e[1] for e in tool.events if e[0] == "click"]
    assert len(clicks) == 1
    assert clicks[0].voxel_zyx == (view.slice_index, 20, 30)
    assert clicks[0].inside


def test_a_drag_reaches_the_tool_and_does_not_pan(view):
    tool = RecordingTool()
    view.set_tool(tool)
    before = view.view_box.viewRange()
    drag(view, [(10.5, 10.5), (15.5, 20.5), (20.5, 30.5)])
    steps = [e[1] for e in tool.events if e[0] == "drag"]
    assert steps and steps[0].is_start and steps[-1].is_finish
    assert steps[-1].start.voxel_zyx[1:] == (10, 10)
    assert steps[-1].now.voxel_zyx[1:] == (20, 30)
    assert view.view_box.viewRange() == before


def test_without_a_tool_the_left_drag_pans(view):
    before = view.view_box.viewRange()
    drag(view, [(10.5, 10.5), (15.5, 20.5), (20.5, 30.5)])
    assert view.view_box.viewRange() != before


def test_hover_and_slice_changes_reach_the_tool_and_switching_deactivates(view):
    tool, other = RecordingTool(), RecordingTool()
    view.set_tool(tool)
    hover(view, 5.5, 6.5)
    view.step_slice(1)
    assert any(e[0] == "hover" and e[1].voxel_zyx[1:] == (5, 6) for e in tool.events)
    assert ("slice", view.slice_index) in tool.events
    view.set_tool(other)
    assert tool.events[-1] == ("deactivate", None)
    view.set_tool(None)
    assert other.events[-1] == ("deactivate", None)
    off = RecordingTool()
    view.set_tool(off)
    _, ny, nx = SHAPE
    hover(view, ny / 2, -0.4)  # in the fit's margin, just off the image
    assert off.events[-1][0] == "hover" and not off.events[-1][1].inside
