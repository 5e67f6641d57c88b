"""ICH score, FUNC and max-ICH: every item at each boundary, from the primary papers."""

from __future__ import annotations

import pytest

from ichmodel.scores import (
    FUNC_SCORE,
    ICH_SCORE,
    MAX_ICH_SCORE,
    Age,
    ClinicalInputs,
    ImagingInputs,
    ScoreInputError,
    age_from_meta,
    compute_score,
)
from ichmodel.scores import tables as t
from ichmodel.volume import SeriesMeta

# --- item boundaries (Hemphill 2001; Rost 2008; Sembill 2017) ----------------------------------
#: Each item's points on both sides of every boundary the paper draws: (input, points).
ITEM_BOUNDARIES = (
    (t.ich_gcs_points, [(3, 2), (4, 2), (5, 1), (12, 1), (13, 0), (15, 0)]),
    (t.ich_volume_points, [(0.1, 0), (29.99, 0), (30.0, 1), (120.0, 1)]),
    (t.ich_age_points, [(18, 0), (79, 0), (80, 1), (101, 1)]),
    (t.func_volume_points, [(0.5, 4), (29.99, 4), (30.0, 2), (60.0, 2), (60.01, 0), (150.0, 0)]),
    (t.func_age_points, [(40, 2), (69, 2), (70, 1), (79, 1), (80, 0)]),
    (t.func_gcs_points, [(3, 0), (8, 0), (9, 2), (15, 2)]),
    (t.max_ich_nihss_points,
     [(0, 0), (6, 0), (7, 1), (13, 1), (14, 2), (20, 2), (21, 3), (42, 3)]),
    (t.max_ich_age_points,
     [(50, 0), (69, 0), (70, 1), (74, 1), (75, 2), (79, 2), (80, 3), (95, 3)]),
    (t.max_ich_lobar_points, [(9.99, 0), (10.0, 0), (29.99, 0), (30.0, 1)]),
    (t.max_ich_nonlobar_points, [(9.99, 0), (10.0, 1), (29.99, 1), (30.0, 1)]),
)


@pytest.mark.parametrize(
    ("item", "value", "points"),
    [pytest.param(item, value, points, id=f"{item.__name__}({value})")
     for item, rows in ITEM_BOUNDARIES for value, points in rows],
)
def test_item_points(item, value, points):
    assert item(value) == points


# --- totals and outcome tables -----------------------------------------------------------------
FULL = ClinicalInputs(gcs=15, nihss=3, age_years=60, anticoagulated=False,
                      cognitive_impairment=False)


def _score(spec, imaging, clinical=FULL, age=None):
    age = age or Age(clinical.age_years, "reader")
    return compute_score(spec, imaging, clinical, age)


@pytest.mark.parametrize(
    ("gcs", "abc2_ml", "ivh", "location", "age", "total", "mortality"),
    [
        (15, 10.0, False, "deep", 60, 0, "0 %"),
        (13, 10.0, True, "deep", 60, 1, "13 %"),
        (12, 10.0, True, "deep", 60, 2, "26 %"),
        (5, 30.0, True, "deep", 79, 3, "72 %"),
        (4, 30.0, True, "deep", 79, 4, "97 %"),
        (4, 30.0, True, "infratentorial", 79, 5, "100 %"),
        (3, 31.0, True, "infratentorial", 80, 6, t.ICH_SCORE_NOT_OBSERVED),
    ],
)
def test_ich_score_totals_and_mortality(gcs, abc2_ml, ivh, location, age, total, mortality):
    imaging = ImagingInputs(planimetric_ml=abc2_ml, abc2_ml=abc2_ml, location=location, ivh=ivh)
    result = _score(ICH_SCORE, imaging, ClinicalInputs(gcs=gcs, age_years=age))
    assert result.total == total
    assert result.outcome_text == mortality
    assert result.volume_method == "abc2" and result.straddle is None


def test_func_total_and_table_ends():
    best = ImagingInputs(10.0, 10.0, "lobar", False)
    assert _score(FUNC_SCORE, best).total == 11
    assert _score(FUNC_SCORE, best).outcome_text == "> 80 %"
    worst = ImagingInputs(70.0, 70.0, "infratentorial", True)
    low = ClinicalInputs(gcs=5, age_years=85, cognitive_impairment=True)
    result = _score(FUNC_SCORE, worst, low)
    assert result.total == 0 and result.outcome_text == "0 %"
    middle = _score(FUNC_SCORE, ImagingInputs(40.0, 40.0, "deep", False),
                    ClinicalInputs(gcs=10, age_years=75, cognitive_impairment=False))
    assert middle.total == 2 + 1 + 1 + 2 + 1
    assert "not transcribed" in middle.outcome_text  # never a made-up number


@pytest.mark.parametrize(
    ("total", "outcome"),
    [(0, "0 %"), (4, "0 %"), (5, None), (7, None), (8, None), (9, None), (10, None),
     (11, "> 80 %")],
)
def test_func_outcome_at_each_band_boundary(total, outcome):
    """Rost 2008's bands 0-4 / 5-7 / 8 / 9-10 / 11: a row is shown only where two sources
    agree (tables.py docstring); the others say "not transcribed" and carry no number."""
    text = t._func_outcome(total)
    if outcome is None:
        assert "not transcribed" in text and "%" not in text
    else:
        assert text == outcome
    row = t.func_outcome_row(total)
    assert row.lo <= total <= row.hi
    assert (row.text is not None) == (len(row.sources) >= 2)


def test_func_bands_cover_0_to_11_once():
    covered = [n for row in t.FUNC_INDEPENDENCE for n in range(row.lo, row.hi + 1)]
    assert covered == list(range(12))
    with pytest.raises(ValueError, match="0-11"):
        t.func_outcome_row(12)


@pytest.mark.parametrize("nihss", [0, 7, 14, 21])
def test_max_ich_outcome_is_never_a_number(nihss):
    clinical = ClinicalInputs(nihss=nihss, age_years=60, anticoagulated=False)
    result = _score(MAX_ICH_SCORE, ImagingInputs(12.0, 12.0, "deep", False), clinical)
    assert result.complete
    assert "not transcribed" in result.outcome_text and "%" not in result.outcome_text


def test_max_ich_total_lobar_and_nonlobar():
    clinical = ClinicalInputs(nihss=21, age_years=80, anticoagulated=True)
    lobar = _score(MAX_ICH_SCORE, ImagingInputs(30.0, 30.0, "lobar", True), clinical)
    assert lobar.total == 3 + 3 + 1 + 0 + 1 + 1 == 9
    deep = _score(MAX_ICH_SCORE, ImagingInputs(12.0, 12.0, "deep", False), clinical)
    assert deep.total == 3 + 3 + 0 + 1 + 0 + 1
    small_lobar = _score(MAX_ICH_SCORE, ImagingInputs(12.0, 12.0, "lobar", False), clinical)
    assert small_lobar.total == 3 + 3 + 0 + 0 + 0 + 1


# --- incomplete, never guessed -----------------------------------------------------------------
def test_empty_item_leaves_score_incomplete():
    imaging = ImagingInputs(10.0, 10.0, "deep", False)
    result = _score(ICH_SCORE, imaging, ClinicalInputs(age_years=60))
    assert result.total is None and result.missing == ("GCS",)
    assert "incomplete" in result.summary and result.outcome_text == ""
    no_age = compute_score(ICH_SCORE, imaging, ClinicalInputs(gcs=15), Age(None, "anonymized"))
    assert no_age.total is None and no_age.missing == ("age",)
    func = _score(FUNC_SCORE, imaging, ClinicalInputs(gcs=15, age_years=60))
    assert func.missing == ("pre-ICH cognitive impairment",)
    maxich = _score(MAX_ICH_SCORE, imaging, ClinicalInputs(nihss=3, age_years=60))
    assert maxich.missing == ("oral anticoagulation",)


def test_no_measurement_or_no_bleed_leaves_imaging_items_missing():
    assert _score(ICH_SCORE, None).missing == (
        "ICH volume >= 30 ml", "intraventricular hemorrhage", "infratentorial origin")
    none = _score(ICH_SCORE, ImagingInputs(0.0, None, "none", False))
    assert none.total is None and "no hematoma measured" in none.items[1].value_text


@pytest.mark.parametrize(
    "kwargs",
    [{"gcs": 2}, {"gcs": 16}, {"nihss": -1}, {"nihss": 43}, {"age_years": 131},
     {"gcs": 7.5}, {"gcs": True}, {"anticoagulated": "yes"}],
)
def test_out_of_range_entries_are_refused(kwargs):
    with pytest.raises(ScoreInputError):
        ClinicalInputs(**kwargs)


def test_clinical_roundtrip_and_unknown_keys():
    assert ClinicalInputs.from_dict(FULL.to_dict()) == FULL
    with pytest.raises(ScoreInputError, match="unknown"):
        ClinicalInputs.from_dict({"gcs": 9, "weight": 80})


# --- which volume feeds the score; the straddle case shows both ----------------------------------
def test_straddle_ich_score_shows_both_results():
    # planimetric 32 ml >= 30, ABC/2 27 ml < 30: Hemphill's method (ABC/2) gives one point less
    imaging = ImagingInputs(planimetric_ml=32.0, abc2_ml=27.0, location="deep", ivh=True)
    result = _score(ICH_SCORE, imaging, ClinicalInputs(gcs=10, age_years=60))
    assert result.volume_method == "abc2" and result.volume_ml == 27.0
    assert result.total == 2
    assert result.straddle is not None
    assert result.straddle.other_method == "planimetric" and result.straddle.other_total == 3
    assert result.straddle.threshold_text == "30 ml"
    assert "ABC/2" in result.straddle.reason and "Hemphill" in result.straddle.reason
    # and what each total means: Hemphill's 30-day mortality row for 2 and for 3
    assert result.straddle.other_outcome_text == "72 %"
    assert "(30-day mortality 26 % vs 72 %)" in result.straddle.reason


def test_straddle_func_at_60_and_max_ich_at_10():
    func = _score(FUNC_SCORE, ImagingInputs(58.0, 63.0, "deep", False))
    assert func.volume_method == "planimetric" and func.straddle is not None
    assert func.straddle.threshold_text == "60 ml"
    assert func.total - func.straddle.other_total == 2
    # 8 vs 6: neither row is transcribed, so the sentence quotes no outcome
    assert "not transcribed" not in func.straddle.reason and " vs " not in func.straddle.reason
    maxich = _score(MAX_ICH_SCORE, ImagingInputs(9.0, 11.0, "infratentorial", False))
    assert maxich.straddle is not None and maxich.straddle.threshold_text == "10 ml"
    assert maxich.straddle.other_total == maxich.total + 1
    # both volumes on the same side: no straddle
    assert _score(MAX_ICH_SCORE, ImagingInputs(11.0, 14.0, "deep", False)).straddle is None


# --- age from DICOM ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("meta", "years", "source"),
    [
        (SeriesMeta(patient_age="079Y"), 79, "DICOM PatientAge"),
        (SeriesMeta(patient_age="080Y"), 80, "DICOM PatientAge"),
        (SeriesMeta(patient_age="030M"), 2, "DICOM PatientAge"),
        (SeriesMeta(patient_birth_date="19440302", study_date="20240301"), 79,
         "DICOM birth date + study date"),
        (SeriesMeta(patient_birth_date="19440302", study_date="20240302"), 80,
         "DICOM birth date + study date"),
        (SeriesMeta(), None, "no age in the DICOM (anonymized?): type the age"),
    ],
)
def test_age_from_dicom(meta, years, source):
    age = age_from_meta(meta)
    assert (age.years, age.source) == (years, source)


def test_bad_dicom_age_says_so():
    age = age_from_meta(SeriesMeta(patient_age="eighty"))
    assert age.years is None and "not a DICOM age string" in age.source
