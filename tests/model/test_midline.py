"""Midline shift on phantoms (truth: the septum between the two frontal horns, from the
phantom's own ventricle parameters) and "could not be measured" with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from ichmodel.midline import FLAG_MM, measure_midline_shift
from ichmodel.midline.phantom_truth import septum_truth_mm
from ichmodel.phantom import PhantomConfig, make_phantom
from ichmodel.volume import Volume


@pytest.mark.parametrize(("seed", "site", "ml"), [(21, "deep", 60.0), (22, "none", None)])
def test_midline_shift_on_phantoms(seed, site, ml):
    phantom = make_phantom(seed, PhantomConfig(site=site, volume_ml=ml, size=192,
                                               slice_thickness_mm=5.0))
    result = measure_midline_shift(phantom.volume)
    assert result.measured, result.reason
    truth = septum_truth_mm(phantom, phantom.volume.index_to_physical(result.septum_zyx))
    assert truth is not None
    # 1.5 mm per case (the bench's goal is a 1 mm *mean*): a 60 ml bleed squeezes its own
    # horn thin, and a 5 mm slice averages its wall over the slab (this case misses by 1.1 mm)
    assert result.signed_shift_mm == pytest.approx(truth, abs=1.5)
    assert result.flagged == (abs(result.signed_shift_mm) > FLAG_MM)
    if site == "deep":  # a 60 ml bleed pushes the septum > 5 mm away from its side
        away = 1.0 if phantom.side == "right" else -1.0
        assert np.sign(result.signed_shift_mm) == away and result.flagged
    k, y, x = result.septum_zyx
    assert k == result.slice_index == result.anterior_zyx[0] == result.foot_zyx[0]
    assert result.anterior_zyx[1] < result.posterior_zyx[1]  # anterior = smaller row (LPS)
    assert "midline shift" in result.summary


def test_a_cancelled_midline_stops_at_once():
    """The viewer measures the midline after the results; a study opened meanwhile cancels it
    and must not wait for it to finish."""
    import threading

    from ichmodel.progress import Cancelled, cancel_scope

    phantom = make_phantom(21, PhantomConfig(site="deep", volume_ml=20.0, size=128,
                                               slice_thickness_mm=5.0))
    cancelled = threading.Event()
    cancelled.set()
    with cancel_scope(cancelled), pytest.raises(Cancelled):
        measure_midline_shift(phantom.volume)


def test_not_measured_without_skull_or_ventricles():
    blank = Volume(np.full((20, 64, 64), 30.0, np.float32), (5.0, 1.0, 1.0))
    result = measure_midline_shift(blank)
    assert not result.measured and "skull" in result.reason
    assert result.shift_mm is None and not result.flagged
    assert result.summary.startswith("midline shift could not be measured")
    assert measure_midline_shift(Volume(np.zeros((2, 8, 8), np.float32), (1, 1, 1))).reason


def test_real_ge_head_is_plausible(dcm_qa_ct):
    from ichmodel.progress import run_to_completion
    from ichmodel.reading import open_study

    reading = run_to_completion(open_study(dcm_qa_ct / "In" / "GE"))
    result = measure_midline_shift(reading.volume)
    assert result.measured, result.reason
    assert result.shift_mm < 3.0  # a head without a mass lesion
    assert result.septum_length_mm >= 10.0


@pytest.mark.parametrize(("signed_mm", "flagged", "near"), [
    (3.9, False, False), (4.0, False, True), (5.0, False, True), (5.01, True, True),
    (-6.0, True, True), (6.01, True, False),
])
def test_a_shift_within_1_mm_of_the_threshold_says_so(signed_mm, flagged, near):
    """The flag is the measurement's > 5 mm; within 1 mm of it (the error goal) the summary,
    the JSON and the report ask the reader to check the drawing."""
    from ichmodel.midline import MidlineShift
    from ichviewer.report.score_rows import midline_rows

    result = MidlineShift(measured=True, signed_shift_mm=signed_mm, slice_index=3)
    assert result.flagged is flagged and result.near_flag is near
    assert ("check the drawing" in result.summary) is near
    assert result.to_dict()["near_flag"] is near
    [(_, value, note)] = midline_rows(result)
    assert ("(> 5 mm)" in value) is flagged and ("check the drawing" in note) is near
