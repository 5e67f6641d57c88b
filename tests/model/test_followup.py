"""Follow-up comparison: expansion flags, patient check, scan times, and a phantom pair moved
rigidly (registration error on landmarks, volume change, flags) through ``ichmodel compare``."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from ichmodel.followup import (
    DifferentPatientsError,
    check_same_patient,
    expansion_flags,
    near_thresholds,
    scan_time,
)
from ichmodel.volume import SeriesMeta


@pytest.mark.parametrize(
    ("base", "follow", "ivh0", "ivh1", "standard", "revised"),
    [
        (20.0, 25.99, 0, 0, False, False),  # +5.99 ml, +30 %
        (20.0, 26.0, 0, 0, True, True),  # +6 ml
        (9.0, 11.97, 0, 0, True, True),  # +2.97 ml = +33 %
        (9.0, 11.96, 0, 0, False, False),  # +32.9 %
        (30.0, 34.0, 0, 0.5, False, True),  # new IVH
        (30.0, 34.0, 2.0, 2.99, False, False),  # IVH +0.99 ml
        (30.0, 34.0, 2.0, 3.0, False, True),  # IVH +1 ml
        (30.0, 20.0, 4.0, 1.0, False, False),  # shrinking
        (0.0, 3.0, 0, 0, False, False),  # no baseline bleed: no % rule, +3 ml < 6
    ],
)
def test_expansion_flags(base, follow, ivh0, ivh1, standard, revised):
    flags = expansion_flags(base, follow, ivh0, ivh1)
    assert (flags.standard, flags.revised) == (standard, revised)
    assert bool(flags.reasons) == revised


@pytest.mark.parametrize(
    ("base", "follow", "ivh0", "ivh1", "near"),
    [
        (10.0, 15.5, 0, 0, ("6 ml",)),  # +5.5 ml: within 1 ml of 6 ml, below it
        (10.0, 16.8, 0, 0, ("6 ml",)),  # +6.8 ml: flagged, but within 1 ml
        (10.0, 17.5, 0, 0, ()),  # +7.5 ml: clear (33 % of 10 ml is 3.3 ml, far)
        (20.0, 26.9, 0, 0, ("6 ml", "33 %")),  # +6.9 ml is near both 6 ml and 6.6 ml
        (9.0, 11.0, 0, 0, ("33 %",)),  # +2 ml vs 2.97 ml: within 1 ml of 33 %
        (9.0, 9.5, 0, 0, ()),  # +0.5 ml: far from both
        (25.0, 25.5, 1.0, 1.97, ("1 ml",)),  # IVH +0.97 ml (the GE 305 follow-up pair)
        (25.0, 25.5, 1.0, 2.3, ()),  # IVH +1.3 ml: clear
        (25.0, 25.5, 0.0, 1.0, ()),  # new IVH: no growth threshold to be near
    ],
)
def test_changes_near_an_expansion_threshold_are_named(base, follow, ivh0, ivh1, near):
    found = near_thresholds(base, follow, ivh0, ivh1)
    assert len(found) == len(near)
    for clause, threshold in zip(found, near, strict=True):
        assert threshold in clause


def test_different_patients_refused_unless_overridden():
    a, b = SeriesMeta(patient_id="A1"), SeriesMeta(patient_id="B2")
    with pytest.raises(DifferentPatientsError, match="different patients"):
        check_same_patient(a, b, override=False)
    assert check_same_patient(a, b, override=True).code == "compare.patients_overridden"
    assert check_same_patient(a, SeriesMeta(), override=False).code == "compare.patient_unchecked"
    assert check_same_patient(a, a, override=False).code == "compare.same_patient"


def test_scan_time():
    assert scan_time(SeriesMeta(study_date="20240101", study_time="183012.25")) == dt.datetime(
        2024, 1, 1, 18, 30, 12)
    assert scan_time(SeriesMeta(study_date="20240101", study_time="1830")) == dt.datetime(
        2024, 1, 1, 18, 30)
    assert scan_time(SeriesMeta()) is None and scan_time(SeriesMeta(study_date="x")) is None


@pytest.fixture(scope="module")
def pair():
    from ichmodel.followup.phantom_pairs import make_phantom_pair

    return make_phantom_pair(41, 14.0, 24.0, size=128, followup_hours=6.5)


def test_phantom_follow_up_is_a_second_scan_of_the_moved_head(pair):
    """The follow-up is generated with the head moved, not resampled: its truth is the grown
    bleed's (same shape, own partial volume) and the bleed's centre lies where truth_map puts
    the unmoved bleed's centre."""
    from dataclasses import replace

    from ichmodel.phantom import make_phantom

    unmoved = make_phantom(41, replace(pair.baseline.config, volume_ml=24.0))
    assert pair.followup_phantom.hematoma_volume_ml == pytest.approx(
        unmoved.hematoma_volume_ml, rel=0.01)
    where = pair.truth_map(np.array([unmoved.hematoma_center_mm]))[0]
    assert np.allclose(where, pair.followup_phantom.hematoma_center_mm, atol=1e-6)
    assert np.abs(np.array(pair.translation_mm)).max() > 1.0  # it did move
    assert pair.followup.meta.study_uid != pair.baseline.volume.meta.study_uid


@pytest.mark.slow
def test_compare_phantom_pair(pair, tmp_path_factory, capsys):
    """One registration (~30 s on 2 busy cores): the JSON contract, the change, the flags,
    and the registration's error on a 3x3x3 grid of landmarks inside the head."""
    from ichmodel.cli import main
    from ichmodel.followup import Registration
    from ichmodel.io.write import write_dicom_series

    root = tmp_path_factory.mktemp("pair")
    write_dicom_series(pair.baseline.volume, root / "baseline")
    write_dicom_series(pair.followup, root / "followup")
    assert main(["compare", str(root / "baseline"), str(root / "followup"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"baseline", "followup", "interval_h", "delta_ml", "delta_pct", "expansion",
            "registration", "warnings"} <= set(out)
    assert out["interval_h"] == pytest.approx(6.5)
    assert out["delta_ml"] == pytest.approx(pair.delta_ml, abs=1.5)
    assert out["expansion"]["standard"] and out["expansion"]["revised"]
    reg = out["registration"]
    assert reg["intracranial_dice"] > 0.9
    fitted = Registration(
        rotation_deg=tuple(reg["rotation_deg"]), matrix_rowmajor=tuple(reg["matrix_rowmajor"]),
        translation_mm=tuple(reg["translation_mm"]), center_mm=tuple(reg["center_mm"]),
        rms_mm=reg["rms_mm"], metric=0.0, iterations=0, stop_reason="", intracranial_dice=0.0,
    )
    v = pair.baseline.volume
    zs = np.linspace(0.25, 0.75, 3) * (v.shape[0] - 1)
    ys = np.linspace(0.3, 0.7, 3) * (v.shape[1] - 1)
    pts = np.array([v.index_to_physical((z, y, x)) for z in zs for y in ys for x in ys])
    error_mm = np.linalg.norm(fitted.map_points(pts) - pair.truth_map(pts), axis=1)
    assert error_mm.mean() < 1.0, error_mm


def test_compare_refuses_unmeasured_and_same_series():
    from ichmodel.errors import InputError
    from ichmodel.followup import compare
    from ichmodel.reading import StudyReading
    from ichmodel.volume import Volume

    v = Volume(np.zeros((3, 4, 4), np.float32), (1.0, 1.0, 1.0),
               meta=SeriesMeta(series_uid="1.2"))
    with pytest.raises(InputError, match="measured"):
        compare(StudyReading(volume=v), StudyReading(volume=v))


def test_a_change_close_to_33_percent_is_shown_with_its_decimal():
    from ichmodel.followup.compare import change_pct_text

    assert change_pct_text(32.94) == "+32.9 %"  # "+33 %" beside "standard: no" would mislead
    assert change_pct_text(33.0) == "+33.0 %"
    assert change_pct_text(50.4) == "+50 %"
    assert change_pct_text(-12.6) == "-13 %"
