"""Issue 18's reading tools in the main window, driven with real mouse and key events: the ruler
and the ellipse ROI on a phantom of known geometry (anisotropic pixels), their list and Delete,
Esc, cine, invert, reset view, copy, the shortcut list, the linked reformats and the report."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtTest import QTest

from ichmodel.annotations import EllipseRoi, Plane, Ruler
from ichmodel.volume import SeriesMeta, Volume
from tests.gui import fakes
from tests.gui.mouse import click, drag
from tests.gui.test_report import pdf_text

pytestmark = pytest.mark.timeout(90)

SHAPE = (10, 130, 110)  # (z, y, x)
SPACING = (5.0, 0.6, 0.9)  # mm: rows and columns differ, so an aspect bug changes lengths
CHECKER = (slice(30, 90), slice(20, 70))  # rows, columns of a 40/60 HU checkerboard
BACKGROUND_HU = 35.0


def phantom(description: str = "phantom") -> Volume:
    """35 HU everywhere, a 40/60 HU checkerboard (mean 50, SD 10) in CHECKER on every slice,
    and a bright 1000 HU column at x = 90 so a reformat can be recognised."""
    hu = np.full(SHAPE, BACKGROUND_HU, np.float32)
    _, y, x = np.indices(SHAPE)
    checker = np.where((y + x) % 2 == 0, 40.0, 60.0).astype(np.float32)
    rows, cols = CHECKER
    hu[:, rows, cols] = checker[:, rows, cols]
    hu[:, :, 90] = 1000.0
    return Volume(hu, SPACING, meta=SeriesMeta(series_description=description,
                                               series_uid=f"1.2.3.{description}"))


@pytest.fixture
def opened(window, fake_jobs, qtbot, tmp_path, monkeypatch):
    """The window, large, with the phantom open and measured."""
    monkeypatch.setattr(fakes, "make_volume", lambda description="": phantom(description))
    window.resize(1500, 1000)
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(fakes.study_dir(tmp_path))
    window.activateWindow()
    qtbot.waitUntil(lambda: window.slice_view.volume is not None)
    window.slice_view.setFocus()
    QTest.qWait(50)
    return window


def press(window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(window.slice_view, key, modifier)


def test_ruler_measures_40_mm_with_anisotropic_pixels_and_stays_on_its_slice(opened):
    view = opened.slice_view
    press(opened, Qt.Key.Key_D)
    assert opened.act_ruler.isChecked() and view.tool is not None and view.tool.name == "Ruler"
    # 24 mm down and 32 mm across: 40 mm, in pixels of 0.6 mm (rows) and 0.9 mm (columns)
    start = (20.0, 15.0)
    end = (start[0] + 24.0 / 0.6, start[1] + 32.0 / 0.9)
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    drag(view, [start, mid, end])
    entries = opened.annotations.entries()
    assert len(entries) == 1
    ruler = entries[0].annotation
    assert isinstance(ruler, Ruler) and ruler.plane is Plane.AXIAL
    assert ruler.length_mm == pytest.approx(40.0, abs=0.5)
    assert ruler.slice_index == view.slice_index
    table = opened.measurements.table
    assert table.rowCount() == 1 and table.item(0, 3).text() == ruler.label
    overlay = opened.annotation_overlays[Plane.AXIAL]
    assert overlay.shown() == entries
    here = view.slice_index
    press(opened, Qt.Key.Key_Up)
    assert view.slice_index == here + 1 and overlay.shown() == ()
    press(opened, Qt.Key.Key_Down)
    assert overlay.shown() == entries
    # a click without a drag is no ruler
    click(view, 60.0, 60.0)
    assert len(opened.annotations.entries()) == 1


def test_ellipse_roi_statistics_and_area_in_known_regions(opened):
    view = opened.slice_view
    press(opened, Qt.Key.Key_O)
    assert view.tool is not None and view.tool.name == "Ellipse ROI"
    rows, cols = CHECKER
    box = [(rows.start + 5.0, cols.start + 5.0), (rows.start + 30.0, cols.start + 25.0),
           (rows.stop - 5.0, cols.stop - 5.0)]
    drag(view, box)
    uniform = [(100.0, 20.0), (110.0, 40.0), (120.0, 60.0)]  # 35 HU only
    drag(view, uniform)
    first, second = (e.annotation for e in opened.annotations.entries())
    assert isinstance(first, EllipseRoi) and isinstance(second, EllipseRoi)
    assert first.mean_hu == pytest.approx(50.0, abs=1.0)
    assert first.sd_hu == pytest.approx(10.0, abs=0.2)
    assert (first.min_hu, first.max_hu) == (40.0, 60.0)
    # 50 × 40 px box: semi-axes 25 px × 0.6 mm and 20 px × 0.9 mm (± the mouse's pixel)
    assert first.ellipse_area_mm2 == pytest.approx(math.pi * 15.0 * 18.0, rel=0.03)
    assert first.area_mm2 == pytest.approx(first.n_voxels * 0.6 * 0.9)
    assert first.area_mm2 == pytest.approx(first.ellipse_area_mm2, rel=0.05)
    assert second.mean_hu == pytest.approx(BACKGROUND_HU, abs=1.0)
    assert (second.sd_hu, second.min_hu, second.max_hu) == (0.0, BACKGROUND_HU, BACKGROUND_HU)
    assert "50.0 ± 10.0 HU" in opened.measurements.table.item(0, 3).text()


def test_delete_key_and_button_remove_measurements(opened, qtbot):
    view = opened.slice_view
    press(opened, Qt.Key.Key_D)
    for row in (20.0, 40.0, 60.0):
        drag(view, [(row, 10.0), (row, 30.0), (row, 50.0)])
    assert [e.number for e in opened.annotations.entries()] == [1, 2, 3]
    table = opened.measurements.table
    rect = table.visualItemRect(table.item(1, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.annotations.selected == 2
    QTest.keyClick(table, Qt.Key.Key_Delete)
    assert [e.number for e in opened.annotations.entries()] == [1, 3]
    QTest.mouseClick(opened.measurements.delete_button, Qt.MouseButton.LeftButton)
    assert len(opened.annotations.entries()) == 1
    assert len(opened.annotation_overlays[Plane.AXIAL].shown()) == 1


def test_esc_returns_to_pan_and_another_tool_unchecks_the_ruler(opened):
    view = opened.slice_view
    press(opened, Qt.Key.Key_D)
    assert view.tool is not None
    cancelled = []
    opened.controller.cancel = lambda: cancelled.append(True)
    press(opened, Qt.Key.Key_Escape)
    assert view.tool is None and not opened.act_ruler.isChecked() and not cancelled
    press(opened, Qt.Key.Key_Escape)  # no tool: Esc cancels jobs as before
    assert cancelled == [True]

    class OtherTool:  # what an edit tool looks like to the view
        name = "Paint"

        def activate(self, v): ...
        def deactivate(self, v): ...
        def click(self, v, at, m): ...
        def drag(self, v, d): ...
        def hover(self, v, at): ...
        def slice_changed(self, v, i): ...

    press(opened, Qt.Key.Key_O)
    assert opened.act_ellipse.isChecked()
    view.set_tool(OtherTool())
    assert not opened.act_ellipse.isChecked() and view.tool.name == "Paint"
    assert all(v.tool is None for v in opened.reformat_views)


def test_cine_advances_slices_and_stops(opened, qtbot):
    view = opened.slice_view
    opened.cine_speed.setValue(20)
    view.set_slice(0)
    press(opened, Qt.Key.Key_P)
    assert opened.act_cine.isChecked()
    qtbot.waitUntil(lambda: view.slice_index >= 3, timeout=3000)
    press(opened, Qt.Key.Key_P)
    assert not opened.act_cine.isChecked()
    stopped = view.slice_index
    QTest.qWait(300)
    assert view.slice_index == stopped
    # it wraps at the last slice rather than stopping there
    view.set_slice(view.n_slices - 1)
    press(opened, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: view.slice_index < view.n_slices - 1, timeout=3000)
    press(opened, Qt.Key.Key_P)


def _pixel(window, y_px, x_px) -> int:
    from tests.gui.mouse import viewport_point

    image = window.slice_view.graphics.grab().toImage()
    p = viewport_point(window.slice_view, y_px, x_px) * image.devicePixelRatio()
    return image.pixelColor(p.x(), p.y()).red()


def test_invert_space_reset_and_copy(opened, qtbot):
    view = opened.slice_view
    before = _pixel(opened, 110.0, 90.5)  # the 1000 HU column: white in the brain window
    assert before > 200
    press(opened, Qt.Key.Key_I)
    assert opened.act_invert.isChecked()
    assert _pixel(opened, 110.0, 90.5) < 50
    press(opened, Qt.Key.Key_I)
    assert _pixel(opened, 110.0, 90.5) > 200

    fitted = view.view_box.viewRange()
    view.view_box.scaleBy((0.5, 0.5))
    port = view.graphics.viewport()
    centre = port.rect().center()
    QTest.mousePress(port, Qt.MouseButton.RightButton, pos=centre)
    for dx in (10, 30, 60):
        QTest.qWait(20)
        QTest.mouseMove(port, centre + type(centre)(dx, dx))
    QTest.mouseRelease(port, Qt.MouseButton.RightButton, pos=centre + type(centre)(60, 60))
    assert opened.preset_box.current_key() == "custom"
    assert view.window().width_hu != 80
    press(opened, Qt.Key.Key_Space)
    assert opened.preset_box.current_key() == "brain"
    assert (view.window().center_hu, view.window().width_hu) == (40, 80)
    assert np.allclose(view.view_box.viewRange(), fitted)

    QGuiApplication.clipboard().clear()
    press(opened, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    image = QGuiApplication.clipboard().image()
    assert not image.isNull()
    ratio = view.graphics.devicePixelRatioF()
    assert (image.width(), image.height()) == (round(view.graphics.width() * ratio),
                                                 round(view.graphics.height() * ratio))


def test_the_shortcut_list_holds_every_action_with_a_shortcut(opened, qtbot):
    QTest.keyClick(opened.slice_view, Qt.Key.Key_F1)
    dialog = opened.shortcuts_dialog
    assert dialog is not None and dialog.isVisible()
    listed = {(row.keys, row.what) for row in dialog.rows}
    keys = {row.keys for row in dialog.rows}
    for action in opened.findChildren(QAction):
        if not action.shortcut().isEmpty():
            assert action.shortcut().toString(QKeySequence.SequenceFormat.NativeText) in \
                ",".join(keys), action.text()
    for key, what in (("D", "Ruler"), ("O", "Ellipse ROI"), ("Space", "Reset view"),
                      ("Ctrl+C", "Copy the view"), ("P", "Cine (play / pause)"),
                      ("1", "Brain window"), ("6", "DICOM window"), ("J", None)):
        assert any(k == key and (what is None or w == what) for k, w in listed), key
    shortcuts = [a.shortcut().toString() for a in opened.findChildren(QAction)
                 if not a.shortcut().isEmpty()]
    assert len(shortcuts) == len(set(shortcuts)), "two actions share a shortcut"


def test_reformats_show_the_planes_with_a_linked_crosshair(opened, qtbot):
    view, coronal, sagittal = opened.slice_view, opened.coronal_view, opened.sagittal_view
    press(opened, Qt.Key.Key_R)
    assert coronal.isVisible() and sagittal.isVisible()
    volume = view.volume
    nz, ny, nx = volume.shape
    assert np.array_equal(coronal.ct_item.image, volume.hu[:, coronal.slice_index, :])
    assert np.array_equal(sagittal.ct_item.image, volume.hu[:, :, sagittal.slice_index])
    # true aspect: the coronal image is nz × 5 mm tall and nx × 0.9 mm wide
    rect = coronal.ct_item.mapRectToParent(coronal.ct_item.boundingRect())
    assert rect.height() / rect.width() == pytest.approx(nz * 5.0 / (nx * 0.9))
    assert coronal.window() == view.window()
    # a click on the axial view moves both reformats to the clicked voxel
    QTest.qWait(50)
    click(view, 40.5, 90.5)
    assert (coronal.slice_index, sagittal.slice_index) == (40, 90)
    assert np.all(sagittal.ct_item.image == 1000.0)  # the bright column's own plane
    xs, ys = coronal.crosshair.getData()
    assert 90.5 in xs and view.slice_index + 0.5 in ys
    xs, ys = opened.axial_crosshair.getData()
    assert 90.5 in xs and 40.5 in ys
    # a click on the coronal view moves the axial slice and the sagittal plane
    QTest.qWait(50)
    click(coronal, 3.5, 60.5)
    assert (view.slice_index, sagittal.slice_index) == (3, 60)
    # the window follows a preset on every view
    press(opened, Qt.Key.Key_5)
    assert sagittal.window() == view.window() and view.window().width_hu == 2800
    # keys step the focused reformat; the title reads the voxel under the mouse
    QTest.keyClick(sagittal, Qt.Key.Key_Up)
    assert sagittal.slice_index == 61
    from tests.gui.mouse import hover
    hover(sagittal, 4.5, 40.5)  # in the 40/60 checkerboard: y + x odd is 60 HU
    assert "60 HU  [61, 40, 4]" in sagittal.title.text()
    hover(sagittal, 4.5, 100.5)
    assert "35 HU  [61, 100, 4]" in sagittal.title.text()
    # Ctrl+C copies the reformat that has the focus
    QTest.keyClick(sagittal, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    image = QGuiApplication.clipboard().image()
    ratio = sagittal.graphics.devicePixelRatioF()
    assert image.width() == round(sagittal.graphics.width() * ratio)
    assert image.height() == round(sagittal.graphics.height() * ratio)
    # the ruler works on a reformat: 10 slices of 5 mm measure along z
    press(opened, Qt.Key.Key_D)
    drag(coronal, [(1.0, 30.5), (5.0, 30.5), (9.0, 30.5)])
    ruler = opened.annotations.entries()[-1].annotation
    assert ruler.plane is Plane.CORONAL and ruler.length_mm == pytest.approx(40.0, abs=0.5)


def test_the_report_lists_the_rulers_and_rois(opened, tmp_path):
    view = opened.slice_view
    press(opened, Qt.Key.Key_D)
    drag(view, [(20.0, 15.0), (40.0, 30.0), (60.0, 45.0)])
    press(opened, Qt.Key.Key_O)
    drag(view, [(35.0, 25.0), (50.0, 40.0), (85.0, 65.0)])
    ruler, roi = (e.annotation for e in opened.annotations.entries())
    out = opened.export_report(tmp_path / "report.pdf")
    assert out is not None
    text = pdf_text(out)
    assert "Reader's measurements" in text
    assert f"{ruler.length_mm:.1f} mm" in text
    assert f"{roi.mean_hu:.1f} ± {roi.sd_hu:.1f} HU" in text
    assert f"axial {view.slice_index + 1}" in text
    # no measurements: no section
    opened.annotations.clear()
    assert "Reader's measurements" not in pdf_text(opened.export_report(tmp_path / "r2.pdf"))


def test_dicom_export_and_send_to_pacs_get_the_rulers_and_rois(opened, tmp_path, monkeypatch):
    """The DICOM results written or sent get the window's measurements, as the report does: the
    key images burn them in (tests/model/test_dicom_out.py checks their pixels) and the PDF
    inside lists them. The phantom has no source DICOM, so building the objects is stubbed."""
    import ichmodel.dicom_out as dicom_out

    press(opened, Qt.Key.Key_D)
    drag(opened.slice_view, [(20.0, 15.0), (40.0, 30.0), (60.0, 45.0)])
    entries = opened.annotations.entries()
    assert len(entries) == 1
    given: list[dict] = []
    monkeypatch.setattr(dicom_out, "build_results",
                        lambda reading, **kwargs: given.append(kwargs) or "results")
    monkeypatch.setattr(dicom_out, "write_results", lambda results, folder: [folder / results])
    assert opened.export_dicom_results(tmp_path / "dicom") == [tmp_path / "dicom" / "results"]
    assert given[0]["annotations"] == entries
    pdf = tmp_path / "inside.pdf"
    pdf.write_bytes(given[0]["pdf_bytes"])
    inside = pdf_text(pdf)
    assert f"{entries[0].annotation.length_mm:.1f} mm" in inside
    # the same report File -> Export report writes (view options, version, scores, ...)
    exported = pdf_text(opened.export_report(tmp_path / "exported.pdf"))
    assert _without_times(inside) == _without_times(exported)
    dialog = opened.send_to_pacs_dialog()
    assert dialog is not None and dialog.extras is not None
    assert dialog.extras.annotations == entries
    dialog.close()


def _without_times(text: str) -> list[str]:
    """The report's lines without the ones that carry the time it was written."""
    return [line for line in text.splitlines() if not re.search(r"\d\d:\d\d", line)]


def test_reformat_letters_and_hidpi_pens(opened, monkeypatch):
    from ichviewer.widgets import slice_items

    letters = {e: lab.text() for e, lab in opened.coronal_view.orientation_labels.items()}
    assert letters == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    letters = {e: lab.text() for e, lab in opened.sagittal_view.orientation_labels.items()}
    assert (letters["left"], letters["right"]) == ("A", "P")
    # a cosmetic pen's width is in device pixels: at a 200 % scale it is doubled
    assert slice_items.screen_pen((1, 2, 3), 2).widthF() == 2.0 * max(
        1.0, QGuiApplication.instance().devicePixelRatio())
    monkeypatch.setattr(QGuiApplication, "devicePixelRatio", lambda self: 2.0)
    assert slice_items.screen_pen((1, 2, 3), 2).widthF() == 4.0



def test_the_keys_before_a_study_is_open_change_nothing_and_raise_nothing(window, qtbot):
    window.activateWindow()
    window.slice_view.setFocus()
    errors: list = []
    window.sig_error_shown.connect(errors.append)
    for key, modifier in ((Qt.Key.Key_Space, None), (Qt.Key.Key_P, None), (Qt.Key.Key_I, None),
                          (Qt.Key.Key_R, None), (Qt.Key.Key_D, None), (Qt.Key.Key_Escape, None),
                          (Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)):
        QTest.keyClick(window.slice_view, key, modifier or Qt.KeyboardModifier.NoModifier)
    assert not window.act_cine.isChecked() and not window.cine_timer.isActive()
    assert window.slice_view.tool is None and window.annotations.entries() == ()
    assert "open a study first" in window.statusBar().currentMessage()
    assert errors == []
