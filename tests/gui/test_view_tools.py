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


def _points(xs, ys) -> set[tuple[float, float]]:
    return set(zip(xs.tolist(), ys.tolist(), strict=True))


def test_outlines_follow_the_mask_hidden_reformats_draw_when_shown(slice_view, qtbot):
    """The contour is redrawn when its plane's pixels change (also when the caller edits its
    mask in place); a hidden reformat skips the work and draws on being shown."""
    import numpy as np

    from ichmodel.annotations import Plane
    from ichviewer.widgets.reformat_view import ReformatView
    from ichviewer.widgets.slice_items import mask_outline_segments

    volume = slice_view.volume
    nz, ny, nx = volume.shape
    mask = np.zeros(volume.shape, dtype=bool)
    mask[1 : nz - 1, ny // 2 - 4 : ny // 2 + 4, nx // 2 - 3 : nx // 2 + 3] = True
    coronal = ReformatView(Plane.CORONAL)
    qtbot.addWidget(coronal)
    coronal.set_volume(volume)
    coronal.set_slice(ny // 2)
    coronal.set_mask(mask)
    drawn = coronal.contour_item.getData()[0]
    assert drawn is None or len(drawn) == 0  # nothing drawn while hidden
    coronal.resize(300, 300)
    coronal.show()
    qtbot.waitExposed(coronal)
    want = _points(*mask_outline_segments(mask[:, ny // 2, :]))
    assert coronal.contour_item.isVisible()
    assert _points(*coronal.contour_item.getData()) == want

    slice_view.set_slice(nz // 2)
    slice_view.set_mask(mask)
    before = _points(*slice_view.contour_item.getData())
    mask[nz // 2, ny // 2 - 4 : ny // 2 + 4, nx // 2 + 3 : nx // 2 + 6] = True  # in place
    slice_view.set_mask(mask)
    after = _points(*slice_view.contour_item.getData())
    assert after != before and after == _points(*mask_outline_segments(mask[nz // 2]))
    mask[:] = False
    slice_view.set_mask(mask)
    assert not slice_view.contour_item.isVisible()
