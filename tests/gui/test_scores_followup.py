"""The Scores panel (entries -> scores, saved per series), the midline overlay and the
comparison dialog, with the fake backend and real ichmodel types."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.gui.fakes import study_dir

pytestmark = pytest.mark.timeout(120)


def test_scores_panel_entries_compute_and_persist(window, fake_jobs, qtbot, tmp_path):
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    panel = window.scores
    ich = panel.sheet.by_name("ICH score")
    assert ich.total is None and "GCS" in ich.missing  # nothing entered: incomplete
    panel.gcs.setValue(7)
    panel.age.setValue(82)
    ich = panel.sheet.by_name("ICH score")
    assert ich.total is not None and ich.items[0].points == 1  # GCS 5-12
    assert "ICH score" in panel.result_label.text()
    reading = window.controller.study.reading
    assert window.report_extras(reading).scores is panel.sheet  # what the report prints
    uid = window.controller.study.reading.volume.meta.series_uid
    saved = window.score_store.load(uid)
    assert saved.gcs == 7 and saved.age_years == 82
    assert str(window.score_store.root).startswith(str(tmp_path))
    # a fresh panel shows the saved entries for the same series
    panel.clear()
    panel.set_inputs(window.score_store.load(uid))
    assert panel.gcs.value() == 7 and panel.nihss.value() == panel.nihss.minimum()


def test_midline_overlay_draws_on_its_slice(window, qtbot):
    from dataclasses import replace

    from ichmodel.midline import MidlineShift
    from tests.gui.fakes import make_volume

    volume = make_volume()
    window.slice_view.set_volume(volume)
    k = volume.shape[0] // 2
    result = MidlineShift(measured=True, signed_shift_mm=6.2, slice_index=k,
                          anterior_zyx=(k, 5.0, 30.0), posterior_zyx=(k, 60.0, 31.0),
                          septum_zyx=(k, 30.0, 36.0), foot_zyx=(k, 30.0, 30.5))
    window.midline_overlay.set_midline(result)
    window.slice_view.set_slice(k)
    assert window.midline_overlay.shown
    label = window.midline_overlay.label_item.textItem.toPlainText()
    assert "6.2" in label and "near 5 mm" not in label
    window.midline_overlay.set_midline(replace(result, signed_shift_mm=-4.6))
    assert "near 5 mm: check" in window.midline_overlay.label_item.textItem.toPlainText()
    window.slice_view.set_slice(k - 1)
    assert not window.midline_overlay.shown
    window.jump_to_midline()
    assert window.slice_view.slice_index == k
    window.midline_overlay.set_midline(MidlineShift(measured=False, reason="no septum"))
    assert not window.midline_overlay.shown


def test_compare_dialog_links_slices(qtbot):
    from ichmodel.followup import Comparison, Expansion, Registration
    from ichmodel.measure import measure
    from ichmodel.reading import StudyReading
    from ichviewer.dialogs.compare_dialog import CompareDialog
    from tests.gui.fakes import make_volume

    a, b = make_volume("baseline"), make_volume("follow-up")
    ra = StudyReading(volume=a).with_measurement(measure(a))
    rb = StudyReading(volume=b).with_measurement(measure(b))
    reg = Registration((0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), (0.0, 0.0, 0.0),
                       (0.0, 0.0, 0.0), 0.0, -0.9, 10, "converged", 0.99)
    comparison = Comparison(ra, rb, reg, None, None, Expansion(False, False, ()), ())
    dialog = CompareDialog()
    qtbot.addWidget(dialog)
    dialog.set_comparison(comparison, b, np.zeros(b.shape, bool))
    dialog.baseline_view.set_slice(3)
    assert dialog.followup_view.slice_index == 3
    dialog.followup_view.set_slice(1)
    assert dialog.baseline_view.slice_index == 1
    assert "Change" in dialog.summary.text() and "interval unknown" in dialog.summary.text()


def test_dicom_export_takes_the_panels_scores(window, fake_jobs, qtbot, tmp_path):
    """What the DICOM export and Send to PACS build from: the reading with the scores typed in
    the panel (tests/model/test_sr_scores.py checks the SR they make), never another study's."""
    from PySide6.QtCore import Qt

    from tests.gui.fakes import make_volume

    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    panel = window.scores
    for box, text in ((panel.gcs, "7"), (panel.age, "82")):
        box.setFocus()
        box.selectAll()
        qtbot.keyClicks(box, text)
        qtbot.keyClick(box, Qt.Key.Key_Return)
    assert panel.inputs().gcs == 7 and panel.inputs().age_years == 82
    reading = window.controller.study.reading
    exported = window.with_panel_scores(reading)
    assert exported.scores is panel.sheet and exported.volume is reading.volume
    assert exported.scores.by_name("ICH score").items[0].value_text == "GCS 7"
    other = replace(reading, volume=make_volume("another"))
    assert window.with_panel_scores(other).scores is None
