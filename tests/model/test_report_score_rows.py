"""The report lists the scores with their inputs, the midline shift and the follow-up change."""

from __future__ import annotations

import numpy as np

from ichmodel.followup import Comparison, Registration, expansion_flags
from ichmodel.measure import measure
from ichmodel.midline import MidlineShift
from ichmodel.reading import StudyReading
from ichmodel.scores import ClinicalInputs, score_sheet
from ichviewer.report.content import ReportExtras, build_report_content
from tests.model._measure_heads import Blob, make_head


def _reading() -> StudyReading:
    volume = make_head(blood=Blob((2.5, 10.0, 25.0), (22.0, 18.0, 12.0)), seed=3)
    return StudyReading(volume=volume).with_measurement(measure(volume))


def test_report_rows_for_scores_midline_and_followup():
    reading = _reading()
    sheet = score_sheet(reading.measurement, reading.volume.meta,
                        ClinicalInputs(gcs=9, age_years=70))
    midline = MidlineShift(measured=True, signed_shift_mm=-6.3, slice_index=4,
                           anterior_zyx=(4, 1, 1), posterior_zyx=(4, 9, 1),
                           septum_zyx=(4, 5, 2), foot_zyx=(4, 5, 1))
    reading = reading.with_scores(sheet).with_midline(midline)
    reg = Registration((0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), (0.0, 0.0, 0.0),
                       (0.0, 0.0, 0.0), 4.2, -0.9, 10, "", 0.97)
    m = reading.measurement
    comparison = Comparison(reading, reading, reg, None, None,
                            expansion_flags(m.hematoma_volume_ml, m.hematoma_volume_ml, 0, 0), ())
    rows = {label: (value, note) for label, value, note in
            build_report_content(reading, extras=ReportExtras(comparison=comparison)).results}
    ich_value, ich_note = rows["ICH score"]
    assert ich_value == f"{sheet.by_name('ICH score').total} / 6"
    assert "30-day mortality" in ich_note
    assert "GCS: GCS 9 -> 1" in ich_note and "Hemphill" in ich_note
    assert rows["FUNC score"][0] == "incomplete"
    assert rows["FUNC score"][1].startswith("Missing: pre-ICH cognitive impairment")
    assert rows["Midline shift"][0] == "6.3 mm (> 5 mm)"
    assert "to the patient's right" in rows["Midline shift"][1]
    assert rows["Change since baseline"][0].startswith("+0.0 ml")
    assert rows["Hematoma expansion"][0] == "standard no, revised no"
    assert np.isfinite(float(rows["Follow-up hematoma volume (ml)"][0]))
    plain = {label for label, _, _ in build_report_content(_reading()).results}
    assert "ICH score" not in plain and "Midline shift" not in plain


def test_report_value_shows_both_results_when_the_volumes_straddle():
    from ichmodel.scores import ImagingInputs
    from ichmodel.scores.compute import ScoreSheet, compute_score
    from ichmodel.scores.inputs import Age
    from ichmodel.scores.tables import ICH_SCORE
    from ichviewer.report.score_rows import score_rows

    imaging = ImagingInputs(planimetric_ml=32.0, abc2_ml=27.0, location="deep", ivh=True)
    clinical = ClinicalInputs(gcs=10, age_years=60)
    age = Age(60, "reader")
    sheet = ScoreSheet(clinical, imaging, age, (compute_score(ICH_SCORE, imaging, clinical,
                                                              age),))
    [(label, value, note)] = score_rows(sheet)
    assert (label, value) == ("ICH score", "2 / 6 (3 with planimetric)")
    assert "26 % vs 72 %" in note and note.count("Hemphill 2001 measured") == 1


def test_report_names_a_change_close_to_an_expansion_threshold():
    from ichmodel.followup.compare import near_threshold_notices

    reading = _reading()
    reg = Registration((0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), (0.0, 0.0, 0.0),
                       (0.0, 0.0, 0.0), 4.2, -0.9, 10, "", 0.97)
    found = tuple(near_threshold_notices(25.0, 25.5, 1.0, 1.97))
    comparison = Comparison(reading, reading, reg, None, None,
                            expansion_flags(25.0, 25.5, 1.0, 1.97), found)
    rows = {label: note for label, _, note in
            build_report_content(reading, extras=ReportExtras(comparison=comparison)).results}
    assert "within 0.2 ml of 1 ml" in rows["Hematoma expansion"]
