"""Editing the segmentation in the window, with real mouse and key events: exclude/include,
grow from a seed, paint, erase, undo/redo, the record surviving a reopen, the HU-range
question, the report and the mask export. The measurement is the real one (on a phantom head
with a thin bleed the automatic rules drop); scanning, loading and the model are the fakes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from ichmodel.reading import StudyReading
from tests.edit_phantom import edit_phantom
from tests.gui import fakes
from tests.gui.mouse import click, drag, hover

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def real_measure(monkeypatch):
    """Fake scan/load/model, the real measurement, the edit phantom as the loaded volume."""
    from ichviewer import jobs

    real = jobs.Measurer.measure
    backend = fakes.install(monkeypatch)
    monkeypatch.setattr(jobs.Measurer, "measure", real)
    ep = edit_phantom()

    def load_reading(scan, info, label):
        yield from ()
        return StudyReading(volume=ep.volume, source_label=label, scan=scan, series=info)

    monkeypatch.setattr(jobs, "load_reading", load_reading)
    return backend, ep


def _open(qtbot, window, tmp_path, name="study"):
    with qtbot.waitSignal(window.controller.sig_ready, timeout=60_000):
        window.open_path(fakes.study_dir(tmp_path, name))
    qtbot.waitUntil(lambda: window.edits.session is not None, timeout=10_000)
    qtbot.waitExposed(window)
    return window.controller.study.reading.measurement


def _deepest(mask: np.ndarray) -> tuple[int, int, int]:
    from scipy import ndimage as ndi

    depth = ndi.distance_transform_edt(mask)
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(depth)), mask.shape))


def _shown(window):
    return window.controller.study.reading.measurement


def _tool(window, key):
    window.edit_actions[key].trigger()
    assert window.slice_view.tool is window.edit_tools[key]


def test_exclude_grow_paint_erase_undo_redo(qtbot, window, real_measure, tmp_path):
    _, ep = real_measure
    auto = _open(qtbot, window, tmp_path)
    view = window.slice_view
    first = auto.hematomas[0]
    z, y, x = _deepest(auto.hematoma_labels == 1)

    _tool(window, "exclude")
    view.set_slice(z)
    click(view, y + 0.5, x + 0.5)
    m = _shown(window)
    assert m.hematoma_volume_ml == pytest.approx(auto.hematoma_volume_ml - first.volume_ml)
    assert f"{m.hematoma_volume_ml:.1f} ml" in window.results.planimetric_volume.text()
    assert window.excluded_overlay.shown  # dashed contour on this slice
    assert window.edit_badge_action.isVisible() and "1 edit" in window.edit_badge.text()
    click(view, y + 0.5, x + 0.5)  # an excluded one: included again
    assert _shown(window).hematoma_volume_ml == pytest.approx(auto.hematoma_volume_ml)
    assert not window.excluded_overlay.shown

    _tool(window, "grow")
    tz, ty, tx = ep.tube_seed_zyx
    view.set_slice(tz)
    click(view, ty + 0.5, tx + 0.5)
    grown = _shown(window)
    assert grown.n_components == auto.n_components + 1
    assert (grown.hematoma_mask & ep.tube_mask).sum() >= 0.9 * ep.tube_mask.sum()
    assert grown.hematoma_volume_ml > auto.hematoma_volume_ml

    _tool(window, "paint")
    window.brush_size.setValue(6.0)
    hover(view, ty + 10.5, tx + 0.5)
    assert window.edit_tools["paint"].cursor_shown
    assert "6 mm" in window.edit_tools["paint"]._label.toPlainText()
    drag(view, [(ty + 10.5, tx - 3.5), (ty + 10.5, tx + 0.5), (ty + 10.5, tx + 4.5)])
    painted = _shown(window)
    assert painted.threshold_volume_ml > grown.threshold_volume_ml
    assert window.controller.study.reading.prediction is not None  # model untouched

    _tool(window, "erase")
    window.brush_size.setValue(10.0)
    drag(view, [(ty + 10.5, tx - 3.5), (ty + 10.5, tx + 4.5)])
    erased = _shown(window)
    assert erased.hematoma_volume_ml == pytest.approx(grown.hematoma_volume_ml, abs=1e-6)

    view.setFocus()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _shown(window).hematoma_volume_ml == pytest.approx(painted.hematoma_volume_ml)
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _shown(window).hematoma_volume_ml == pytest.approx(grown.hematoma_volume_ml)
    QTest.keyClick(window, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert _shown(window).hematoma_volume_ml == pytest.approx(painted.hematoma_volume_ml)

    window.act_reset_edits.trigger()
    assert _shown(window).hematoma_volume_ml == pytest.approx(auto.hematoma_volume_ml)
    assert _shown(window).edited is None and not window.edit_badge_action.isVisible()

    # the reset is undone like any edit (its edits come back and are saved again), redone too
    uid = ep.volume.meta.series_uid
    assert window.edits.store.load(uid) is None and window.act_undo_edit.isEnabled()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _shown(window).hematoma_volume_ml == pytest.approx(painted.hematoma_volume_ml)
    assert window.edit_badge_action.isVisible()
    qtbot.waitUntil(lambda: window.edits.store.load(uid) is not None, timeout=5_000)
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _shown(window).hematoma_volume_ml == pytest.approx(grown.hematoma_volume_ml)
    QTest.keyClick(window, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(window, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert _shown(window).hematoma_volume_ml == pytest.approx(auto.hematoma_volume_ml)
    assert not window.act_redo_edit.isEnabled()


def _open_and_exclude_the_first(qtbot, window, tmp_path):
    """Open the edit phantom, click hematoma 1 with the exclude tool: (automatic, edited)."""
    auto = _open(qtbot, window, tmp_path)
    z, y, x = _deepest(auto.hematoma_labels == 1)
    _tool(window, "exclude")
    window.slice_view.set_slice(z)
    click(window.slice_view, y + 0.5, x + 0.5)
    return auto, _shown(window)


def test_edits_survive_closing_and_reopening(qtbot, window, real_measure, tmp_path, settings):
    from ichviewer import report
    from ichviewer.main_window import MainWindow

    auto, edited = _open_and_exclude_the_first(qtbot, window, tmp_path)
    content = report.build_report_content(window.controller.study.reading)
    rows = {label: (value, note) for label, value, note in content.results}
    assert rows["Segmentation"][0] == "edited by the reader"
    assert "1 hematoma excluded" in rows["Segmentation"][1]
    assert "dashed violet" in content.image_legend
    mask_path = window.export_mask(tmp_path / "mask.nii.gz")
    import SimpleITK as sitk

    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(mask_path)))
    assert np.array_equal(labels == 1, edited.hematoma_mask)
    window.close()

    again = MainWindow(settings)
    qtbot.addWidget(again)
    again.show()
    try:
        _open(qtbot, again, tmp_path)
        qtbot.waitUntil(lambda: _shown(again).edited is not None, timeout=10_000)
        assert _shown(again).hematoma_volume_ml == pytest.approx(edited.hematoma_volume_ml)
        assert not (_shown(again).hematoma_mask & edited.excluded_mask).any()
        assert again.edit_badge_action.isVisible() and "restored" in again.edit_badge.text()
        again.act_reset_edits.trigger()  # the way to discard them
        assert _shown(again).edited is None
        assert again.edits.store.load(auto_uid(again)) is None
    finally:
        again.controller.shutdown(5000)


def auto_uid(window) -> str:
    return window.controller.study.reading.volume.meta.series_uid


def test_a_new_hu_range_asks_before_replacing_edits(qtbot, window, real_measure, tmp_path):
    auto, edited = _open_and_exclude_the_first(qtbot, window, tmp_path)

    window.results.hu_low.setValue(46)
    qtbot.waitUntil(lambda: window.hu_question is not None and window.hu_question.isVisible())
    qtbot.mouseClick(window.hu_keep_button, Qt.MouseButton.LeftButton)
    assert window.hu_question is None
    assert window.results.hu_range() == (50.0, 90.0)
    assert _shown(window) is edited

    window.results.hu_low.setValue(46)
    qtbot.waitUntil(lambda: window.hu_question is not None and window.hu_question.isVisible())
    with qtbot.waitSignal(window.controller.sig_measurement, timeout=30_000):
        qtbot.mouseClick(window.hu_replace_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _shown(window).params.hu_min == 46.0, timeout=30_000)
    assert _shown(window).edited is None and not window.edits.edited


def test_another_tool_unchecks_the_edit_tools(qtbot, window, real_measure, tmp_path):
    from tests.gui.test_view_tools import RecordingTool

    _open(qtbot, window, tmp_path)
    _tool(window, "paint")
    assert window.edit_actions["paint"].isChecked()
    window.slice_view.set_tool(RecordingTool())
    assert not any(a.isChecked() for a in window.edit_actions.values())
    window.edit_actions["grow"].trigger()
    assert window.slice_view.tool is window.edit_tools["grow"]
    window.edit_actions["grow"].trigger()  # unchecking gives the mouse back to panning
    assert window.slice_view.tool is None


def test_refused_edits_are_a_status_sentence(qtbot, window, real_measure, tmp_path):
    _open(qtbot, window, tmp_path)
    _tool(window, "grow")
    view = window.slice_view
    view.set_slice(view.n_slices // 2)
    click(view, 2.5, 2.5)  # air, outside the head
    assert "outside" in window.statusBar().currentMessage()
    assert not window.edits.edited and not window.error_dialogs


def test_the_cli_reproduces_the_windows_edited_volume(qtbot, window, monkeypatch, tmp_path,
                                                       capsys):
    """Real scan and load of a DICOM series; the edits made with the mouse, replayed by
    ``ichmodel measure --edits`` from the record the window saved."""
    import json
    import shutil
    import subprocess

    from ichmodel.cli import main
    from ichmodel.io.write import write_dicom_series
    from ichviewer import jobs

    real = {name: getattr(jobs, name) for name in ("scan_study", "load_reading")}
    measure = jobs.Measurer.measure
    fakes.install(monkeypatch)  # the model stays the fake
    for name, fn in real.items():
        monkeypatch.setattr(jobs, name, fn)
    monkeypatch.setattr(jobs.Measurer, "measure", measure)
    ep = edit_phantom()
    folder = tmp_path / "dicom"
    write_dicom_series(ep.volume, folder)
    with qtbot.waitSignal(window.controller.sig_ready, timeout=60_000):
        window.open_path(folder)
    qtbot.waitUntil(lambda: window.edits.session is not None, timeout=10_000)
    auto = _shown(window)
    z, y, x = _deepest(auto.hematoma_labels == 1)
    view = window.slice_view
    _tool(window, "exclude")
    view.set_slice(z)
    click(view, y + 0.5, x + 0.5)
    _tool(window, "grow")
    tz, ty, tx = ep.tube_seed_zyx
    view.set_slice(tz)
    click(view, ty + 0.5, tx + 0.5)
    _tool(window, "paint")
    drag(view, [(ty + 10.5, tx - 3.5), (ty + 10.5, tx + 4.5)])
    edited = _shown(window)
    assert edited.edited is not None and edited.edited.n_edits == 3
    window.edits.flush()
    saved = window.edits.store.path(auto_uid(window))
    assert saved.is_file()

    capsys.readouterr()
    assert main(["measure", str(folder), "--edits", str(saved), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hematoma_volume_ml"] == pytest.approx(edited.hematoma_volume_ml, abs=1e-3)
    assert out["threshold_volume_ml"] == pytest.approx(edited.threshold_volume_ml, abs=1e-3)
    assert out["abc2_ml"] == pytest.approx(edited.abc2.volume_ml, abs=1e-3)

    pdf = window.export_report(tmp_path / "report.pdf")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        text = " ".join(text.split())  # the table wraps its cells
        assert "edited by" in text and "1 hematoma excluded" in text
        assert "grown from a seed" in text


@pytest.fixture
def cast_measure(monkeypatch):
    """The real measurement of a synthetic head whose right lateral ventricle is filled with
    dense blood (intraventricular by its mirror image on the left one)."""
    from ichviewer import jobs
    from tests.model._measure_heads import BLOOD_HU, VENTRICLES, _fraction, make_head

    real = jobs.Measurer.measure
    fakes.install(monkeypatch)
    monkeypatch.setattr(jobs.Measurer, "measure", real)
    spacing, shape = (5.0, 1.0, 1.0), (28, 200, 170)
    head = make_head(spacing_mm=spacing, shape=shape, seed=4)
    cast = _fraction(VENTRICLES[0], shape, spacing)
    volume = head.with_hu((head.hu + cast * (BLOOD_HU - head.hu)).astype(np.float32))

    def load_reading(scan, info, label):
        yield from ()
        return StudyReading(volume=volume, source_label=label, scan=scan, series=info)

    monkeypatch.setattr(jobs, "load_reading", load_reading)
    return cast >= 0.5


def test_ivh_is_outlined_and_a_cast_taken_for_a_hematoma_is_grown_into_one(
    qtbot, window, cast_measure, tmp_path
):
    """The blood counted as IVH is outlined in blue (with the contour check box, as in the
    report), the panel says it was counted by its mirror image and how to change that; Grow
    from seed on it makes it a hematoma, and the outline and the check go."""
    cast = cast_measure
    auto = _open(qtbot, window, tmp_path)
    assert auto.ivh and auto.hematoma_volume_ml < 0.3
    view = window.slice_view
    z, y, x = _deepest(cast)
    view.set_slice(z)
    assert window.ivh_overlay.shown
    assert "Grow from seed" in window.results.status.text()
    window.results.contour_check.setChecked(False)
    assert not window.ivh_overlay.shown
    window.results.contour_check.setChecked(True)
    assert window.ivh_overlay.shown

    _tool(window, "grow")
    click(view, y + 0.5, x + 0.5)
    m = _shown(window)
    assert m.hematoma_volume_ml > 3.0 and m.ivh_volume_ml < 0.3
    assert not window.ivh_overlay.shown
    assert "Grow from seed" not in window.results.status.text()
