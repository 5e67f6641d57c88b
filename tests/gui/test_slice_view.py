"""The slice view: true aspect, navigation, windows, overlays, cursor readout."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from ichviewer.widgets.window_presets import PRESETS, Window, WindowPresetBox
from tests.gui.fakes import SHAPE, SPACING, blob_mask

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def view(slice_view):
    return slice_view


def test_volume_is_shown_at_true_aspect_in_mm(view):
    nz, ny, nx = SHAPE
    _, sy, sx = SPACING
    assert view._stack.currentIndex() == 1  # the image, not the drop hint
    assert view.ct_item.image.shape == (ny, nx)
    rect = view.ct_item.mapRectToParent(view.ct_item.boundingRect())
    assert rect.width() == pytest.approx(nx * sx)
    assert rect.height() == pytest.approx(ny * sy)
    assert view.slice_index == nz // 2
    assert view.slider.maximum() == nz - 1


def test_set_volume_none_returns_to_the_drop_hint(view):
    view.set_volume(None)
    assert view._stack.currentIndex() == 0


class _Wheel:
    def __init__(self, delta, modifiers=Qt.KeyboardModifier.NoModifier):
        self._delta, self._mods, self.accepted = delta, modifiers, False

    def delta(self):
        return self._delta

    def modifiers(self):
        return self._mods

    def accept(self):
        self.accepted = True


def test_wheel_keys_and_slider_move_through_slices(view, qtbot):
    seen = []
    view.sig_slice_changed.connect(seen.append)
    start = view.slice_index
    view.view_box.wheelEvent(_Wheel(120))
    assert view.slice_index == start + 1
    view.view_box.wheelEvent(_Wheel(-120))
    view.view_box.wheelEvent(_Wheel(-120))
    assert view.slice_index == start - 1
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert view.slice_index == start
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert view.slice_index == SHAPE[0] - 1
    qtbot.keyClick(view, Qt.Key.Key_Up)  # clamped at the last slice
    assert view.slice_index == SHAPE[0] - 1
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.slice_index == 0
    view.slider.setValue(3)
    assert view.slice_index == 3
    assert np.array_equal(view.ct_item.image, view.volume.hu[3])
    assert "Slice 4 / 12" in view.slice_label.text()
    assert seen[-1] == 3


def test_ctrl_wheel_zooms_instead_of_moving(view):
    before = view.view_box.viewRange()
    start = view.slice_index

    class _ZoomWheel(_Wheel):
        def pos(self):
            return QPointF(10, 10)

    view.view_box.wheelEvent(_ZoomWheel(120, Qt.KeyboardModifier.ControlModifier))
    assert view.slice_index == start
    assert view.view_box.viewRange() != before


def test_presets_set_the_ct_levels(qtbot, view):
    box = WindowPresetBox()
    qtbot.addWidget(box)
    box.sig_window.connect(lambda key, w: view.set_window(w))
    for p in PRESETS:
        assert box.select(p.key)
        lo, hi = view.ct_item.getLevels()
        assert (lo, hi) == pytest.approx(p.window.levels_hu)
    assert not box.select("dicom")  # no DICOM window offered yet
    box.set_dicom_window(Window(35, 90))
    assert box.select("dicom")
    assert view.ct_item.getLevels() == pytest.approx((-10.0, 80.0))


class _Drag:
    def __init__(self, start, end, first=False, last=False):
        self._start, self._end, self._first, self._last = start, end, first, last

    def button(self):
        return Qt.MouseButton.RightButton

    def isStart(self):  # noqa: N802
        return self._first

    def isFinish(self):  # noqa: N802
        return self._last

    def pos(self):
        return self._end

    def buttonDownPos(self, _button=None):  # noqa: N802
        return self._start

    def accept(self):
        pass


def test_right_drag_changes_window_and_level(view):
    changed = []
    view.sig_window_changed.connect(changed.append)
    view.set_window(Window(40, 80))
    start = QPointF(100, 100)
    view.view_box.mouseDragEvent(_Drag(start, QPointF(100, 100), first=True))
    view.view_box.mouseDragEvent(_Drag(start, QPointF(140, 100)))  # right: wider
    assert view.window().width_hu > 80
    view.view_box.mouseDragEvent(_Drag(start, QPointF(100, 80), last=True))  # up: higher level
    assert view.window().center_hu > 40
    assert view.window().width_hu == pytest.approx(80)
    assert changed and view.ct_item.getLevels() == pytest.approx(view.window().levels_hu)


def test_overlays_contour_heatmap_and_abc2_follow_the_slice(view):
    mask = blob_mask()
    z_blob = int(np.argmax(mask.reshape(SHAPE[0], -1).sum(axis=1)))
    view.set_mask(mask)
    view.set_heatmap(mask.astype(np.float32))
    seg_a = ((z_blob, 26.0, 48.0), (z_blob, 50.0, 48.0))
    seg_b = ((z_blob, 38.0, 39.0), (z_blob, 38.0, 57.0))
    view.set_abc2(z_blob, seg_a, seg_b)
    view.set_slice(z_blob)
    assert view.contour_item.isVisible()
    assert view.heat_item.isVisible()
    assert view.a_item.isVisible() and view.b_item.isVisible()
    xs, ys = view.a_item.getData()
    assert list(xs) == [48.5, 48.5] and list(ys) == [26.5, 50.5]  # pixel centres
    view.set_slice(0)  # no blood there
    assert not view.contour_item.isVisible()
    assert not view.a_item.isVisible()
    view.set_slice(z_blob)
    view.set_contour_visible(False)
    view.set_heatmap_visible(False)
    view.set_abc2_visible(False)
    assert not view.contour_item.isVisible()
    assert not view.heat_item.isVisible()
    assert not view.a_item.isVisible()
    with pytest.raises(ValueError):
        view.set_mask(np.zeros((2, 2, 2), bool))


def test_heatmap_opacity(view):
    view.set_heatmap_opacity(0.8)
    assert view.heatmap_opacity() == pytest.approx(0.8)
    view.set_heatmap_opacity(1.7)
    assert view.heatmap_opacity() == 1.0


def test_cursor_readout_gives_hu_and_position(view):
    mask = blob_mask()
    z, y, x = np.argwhere(mask)[0]
    text = view.describe_voxel(int(z), int(y), int(x))
    assert text.startswith("70 HU")
    assert f"z {z * SPACING[0]:.1f} mm" in text
    # through the scene: the centre of pixel (x, y) on the current slice
    view.set_slice(int(z))
    scene_pos = view.ct_item.mapToScene(QPointF(x + 0.5, y + 0.5))
    got = []
    view.sig_cursor.connect(got.append)
    view._on_mouse_moved(scene_pos)
    assert got and got[-1].startswith("70 HU") and f"[{x}, {y}, {z}]" in got[-1]


def test_orientation_letters_follow_the_direction_cosines(view):
    letters = {edge: label.text() for edge, label in view.orientation_labels.items()}
    assert letters == {"left": "R", "right": "L", "top": "A", "bottom": "P"}  # LPS, radiological
    from dataclasses import replace

    flipped = replace(view.volume, direction=(-1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    view.set_volume(flipped)
    assert view.orientation_labels["left"].text() == "L"
    assert view.orientation_labels["right"].text() == "R"


def test_mask_outline_follows_pixel_edges():
    from ichviewer.widgets.slice_items import mask_outline_segments

    plane = np.zeros((4, 5), bool)
    plane[1, 2] = True  # one pixel: a unit square of 4 edges
    xs, ys = mask_outline_segments(plane)
    segments = {((xs[i], ys[i]), (xs[i + 1], ys[i + 1])) for i in range(0, len(xs), 2)}
    assert segments == {
        ((2, 1), (2, 2)),
        ((3, 1), (3, 2)),  # left, right
        ((2, 1), (3, 1)),
        ((2, 2), (3, 2)),  # top, bottom
    }
    plane[1, 3] = True  # two pixels side by side: the shared edge is not drawn
    xs, _ = mask_outline_segments(plane)
    assert len(xs) == 2 * 6
    plane[:] = True  # touching the image border: still closed
    xs, ys = mask_outline_segments(plane)
    assert len(xs) == 2 * (2 * 4 + 2 * 5)
    assert mask_outline_segments(np.zeros((3, 3), bool))[0].size == 0
