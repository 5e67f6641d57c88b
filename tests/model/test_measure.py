"""ichmodel.measure on small synthetic heads with exactly known truth (see _measure_heads)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from ichmodel.errors import SingleSliceError
from ichmodel.measure import MeasureParams, kothari_weights, measure, measure_abc2, prepare
from ichmodel.volume import Volume
from tests.model._measure_heads import Blob, make_head

# A deep (basal-ganglia-like) ellipsoid: 22 mm semi-axis in z, 18 in y (AP), 12 in x.
DEEP = Blob((2.5, 10.0, 25.0), (22.0, 18.0, 12.0))
CALCIFICATION = Blob((20.0, -30.0, -30.0), (2.5, 2.5, 2.5))


@pytest.fixture(scope="module")
def deep_head() -> Volume:
    return make_head(blood=DEEP, calcification=CALCIFICATION, seed=1)


@pytest.fixture(scope="module")
def deep_result(deep_head):
    return measure(deep_head)


def _expected_c_mm(blob: Blob, shape_z: int, slice_mm: float) -> float:
    """Kothari C from the analytic cross-sections at the slice centres (independent code)."""
    centres = (np.arange(shape_z) - (shape_z - 1) / 2.0) * slice_mm
    frac = np.clip(1.0 - ((centres - blob.centre_mm[0]) / blob.semi_axes_mm[0]) ** 2, 0, None)
    count = 0.0
    for f in frac:
        count += 1.0 if f >= 0.75 else (0.5 if f >= 0.25 else 0.0)
    return count * slice_mm


def test_kothari_weighting_rule_on_a_handcrafted_profile():
    areas = np.array([0, 10, 24.9, 25, 50, 74.9, 75, 100, 80, 30, 20, 0], dtype=float)
    expected = [0, 0, 0, 0.5, 0.5, 0.5, 1, 1, 1, 0.5, 0, 0]
    assert kothari_weights(areas).tolist() == expected
    assert kothari_weights(np.zeros(4)).tolist() == [0, 0, 0, 0]


def test_abc2_of_a_handcrafted_stack_of_rectangles():
    # Slices: rectangles whose areas follow 20/50/100/80/10 % of the largest (10 x 40 px).
    mask = np.zeros((5, 60, 60), dtype=bool)
    for k, rows in enumerate((2, 5, 10, 8, 1)):
        mask[k, 10 : 10 + rows, 5:45] = True
    result = measure_abc2(mask, (4.0, 0.5, 0.5), offset_zyx=(7, 0, 0))
    assert result.slice_index == 9  # largest slice 2, shifted by the offset
    assert result.slice_weights == (0.0, 0.5, 1.0, 1.0, 0.0)
    assert result.slice_weights_start == 7
    assert result.c_mm == pytest.approx(2.5 * 4.0)
    # A: the rectangle's diagonal between pixel centres: 39 x 9 pixels of 0.5 mm.
    assert result.a_mm == pytest.approx(0.5 * math.hypot(39, 9), abs=1e-6)
    assert result.volume_ml == pytest.approx(result.a_mm * result.b_mm * result.c_mm / 2000)
    (z0, y0, x0), (z1, y1, x1) = result.a_segment_zyx
    assert z0 == z1 == 9
    assert math.hypot((y1 - y0) * 0.5, (x1 - x0) * 0.5) == pytest.approx(result.a_mm)


def test_known_ellipsoid_volume_and_its_a_b_c(deep_head, deep_result):
    m = deep_result
    assert m.status.startswith("hematoma measured")
    assert m.hematoma_volume_ml == pytest.approx(DEEP.volume_ml, rel=0.04)
    assert m.n_components == 1
    # A and B: in-plane diameters 36 and 24 mm (1 mm pixels: within about a pixel).
    assert m.abc2.a_mm == pytest.approx(36.0, abs=1.5)
    assert m.abc2.b_mm == pytest.approx(24.0, abs=1.5)
    assert m.abc2.c_mm == pytest.approx(_expected_c_mm(DEEP, deep_head.shape[0], 5.0))
    abc = m.abc2.a_mm * m.abc2.b_mm * m.abc2.c_mm / 2 / 1000
    assert m.abc2.volume_ml == pytest.approx(abc)
    # The reference slice is the one through the ellipsoid's centre; A runs along y (AP).
    centre_z = (deep_head.shape[0] - 1) / 2.0 + DEEP.centre_mm[0] / 5.0
    assert abs(m.abc2.slice_index - centre_z) <= 0.5
    (z0, y0, x0), (z1, y1, x1) = m.abc2.a_segment_zyx
    assert abs(y1 - y0) > 3 * abs(x1 - x0)
    (_, by0, bx0), (_, by1, bx1) = m.abc2.b_segment_zyx
    assert math.hypot(by1 - by0, bx1 - bx0) == pytest.approx(m.abc2.b_mm, abs=1e-6)
    # A is perpendicular to B.
    dot = (y1 - y0) * (by1 - by0) + (x1 - x0) * (bx1 - bx0)
    assert abs(dot) < 1e-6 * m.abc2.a_mm * m.abc2.b_mm + 1e-6
    assert m.location == "deep" and "left" in m.location_description
    assert "best effort" in m.location_description
    assert m.ivh is False and m.ivh_volume_ml == 0.0
    assert m.hematoma_mask.shape == deep_head.shape and m.hematoma_mask.dtype == bool


def test_mask_matches_the_truth_voxelwise(deep_head, deep_result):
    from tests.model._measure_heads import _fraction

    truth = _fraction(DEEP, deep_head.shape, deep_head.spacing_mm) >= 0.5
    inter = np.count_nonzero(truth & deep_result.hematoma_mask)
    dice = 2 * inter / (truth.sum() + deep_result.hematoma_mask.sum())
    assert dice > 0.9


def test_calcification_is_not_blood(deep_head, deep_result):
    nz = deep_head.shape[0]
    cz = int(round((nz - 1) / 2 + CALCIFICATION.centre_mm[0] / 5.0))
    cy = int(round((deep_head.shape[1] - 1) / 2 + CALCIFICATION.centre_mm[1]))
    cx = int(round((deep_head.shape[2] - 1) / 2 + CALCIFICATION.centre_mm[2]))
    # It straddles two 5 mm slices, so partial volume dims it to ~140 HU with a bright halo.
    assert deep_head.hu[cz - 1 : cz + 1, cy, cx].max() > 120
    around = deep_result.hematoma_mask[cz - 1 : cz + 2, cy - 8 : cy + 9, cx - 8 : cx + 9]
    assert not around.any()
    only_calcified = make_head(calcification=CALCIFICATION, seed=2)
    m = measure(only_calcified)
    assert m.hematoma_volume_ml == 0.0
    assert m.status == "no hematoma found above 50 HU"


def test_a_scan_without_bleed_measures_zero():
    m = measure(make_head(noise_hu=6.0, seed=3))
    assert m.hematoma_volume_ml == 0.0 and m.ivh_volume_ml == 0.0
    assert m.abc2.volume_ml == 0.0 and m.abc2.slice_index is None
    assert m.status == "no hematoma found above 50 HU"
    assert m.location == "none" and not m.found
    assert 1000 < m.intracranial_volume_ml < 1500  # ~4/3 pi 62 86 70 minus the rim


def test_no_skull_gives_the_clear_status_not_an_exception():
    m = measure(make_head(blood=DEEP, skull=False, seed=4))
    assert m.status == "no intracranial region found — is this a head CT?"
    assert m.hematoma_volume_ml == 0.0 and not m.hematoma_mask.any()
    air = Volume(hu=np.full((4, 32, 32), -1000.0, dtype=np.float32), spacing_mm=(5, 1, 1))
    assert measure(air).status.startswith("no intracranial region found")


def test_structurally_wrong_input_raises_specific_errors():
    with pytest.raises(TypeError, match="Volume"):
        measure(np.zeros((10, 10), dtype=np.float32))  # type: ignore[arg-type]
    one = Volume(hu=np.zeros((1, 16, 16), dtype=np.float32), spacing_mm=(5, 1, 1))
    with pytest.raises(SingleSliceError):
        measure(one)
    with pytest.raises(ValueError, match="hu_min"):
        MeasureParams(hu_min=90, hu_max=50)


def test_live_remeasure_reuses_the_context_and_matches_measure(deep_head, deep_result):
    ctx = prepare(deep_head)
    again = ctx.measure(MeasureParams())
    assert again.hematoma_volume_ml == deep_result.hematoma_volume_ml
    assert "prepare_s" not in again.timings_s  # no rebuild for the same structure
    wider = ctx.measure(MeasureParams(hu_min=40))
    narrower = ctx.measure(MeasureParams(hu_min=60))
    assert narrower.hematoma_volume_ml < again.hematoma_volume_ml < wider.hematoma_volume_ml
    assert narrower.params.hu_min == 60
    rebuilt = ctx.measure(replace(MeasureParams(), smoothing_mm=0.5))
    assert "prepare_s" in rebuilt.timings_s
    assert rebuilt.hematoma_volume_ml == pytest.approx(DEEP.volume_ml, rel=0.05)


def test_physical_units_thin_slices_measure_the_same_volume():
    spacing = (2.0, 1.5, 1.5)
    shape = (70, 134, 114)
    m = measure(make_head(spacing_mm=spacing, shape=shape, blood=DEEP, seed=5))
    assert m.hematoma_volume_ml == pytest.approx(DEEP.volume_ml, rel=0.05)
    assert m.abc2.a_mm == pytest.approx(36.0, abs=2.0)
    assert m.abc2.b_mm == pytest.approx(24.0, abs=2.0)


@pytest.mark.parametrize(
    ("blob", "site"),
    [
        (Blob((25.0, -30.0, -40.0), (12.0, 14.0, 10.0)), "lobar"),
        (Blob((-42.0, 45.0, 15.0), (8.0, 12.0, 12.0)), "infratentorial"),
    ],
)
def test_location_best_effort(blob, site):
    m = measure(make_head(blood=blob, seed=6))
    assert m.location == site
    assert m.hematoma_volume_ml == pytest.approx(blob.volume_ml, rel=0.1)


def test_blood_in_a_ventricle_is_intraventricular():
    # Blood layering in the back of the left lateral ventricle (ventricle: x +9 mm, 5 mm wide).
    ivh_blob = Blob((5.0, 5.0, 9.0), (10.0, 12.0, 4.5))
    m = measure(make_head(blood=ivh_blob, seed=7))
    assert m.ivh is True
    assert m.ivh_volume_ml == pytest.approx(ivh_blob.volume_ml, rel=0.3)
    assert m.hematoma_volume_ml < 0.2 * ivh_blob.volume_ml
    assert m.ivh_mask.any() and not (m.ivh_mask & m.hematoma_mask).any()


def test_partial_volume_edges_follow_a_pale_bleed():
    # A 58 HU bleed in 30 HU brain: its partial-volume midpoint is 44 HU, not 50.
    pale = make_head(blood=DEEP, blood_hu=58.0, seed=8)
    ctx = prepare(pale)
    plain_m = ctx.measure(MeasureParams(refine_edges=False))
    refined_m = ctx.measure(MeasureParams())
    # the threshold count (mask voxels) follows the edge the refinement puts at 44 HU
    plain, refined = plain_m.threshold_volume_ml, refined_m.threshold_volume_ml
    assert plain < 0.95 * DEEP.volume_ml
    assert abs(refined - DEEP.volume_ml) < 0.5 * abs(plain - DEEP.volume_ml)
    assert refined == pytest.approx(DEEP.volume_ml, rel=0.05)
    # the partial-volume volume does not depend on where the edge is
    for m in (plain_m, refined_m):
        assert m.hematoma_volume_ml == pytest.approx(DEEP.volume_ml, rel=0.03)


def test_a_ventricle_cast_with_blood_is_found_by_its_mirror_image():
    from tests.model._measure_heads import VENTRICLES

    left = VENTRICLES[1]
    cast = Blob(left.centre_mm, tuple(a + 0.5 for a in left.semi_axes_mm))
    m = measure(make_head(blood=cast, seed=9))
    assert m.ivh is True
    assert m.ivh_volume_ml == pytest.approx(cast.volume_ml, rel=0.25)
    assert m.hematoma_volume_ml < 0.1 * cast.volume_ml


@pytest.mark.parametrize("spacing_yx_mm", [(0.45, 0.45), (0.7, 0.45), (1.0, 1.0)])
@pytest.mark.parametrize("radius_mm", [0.5, 2.0, 4.5])
def test_disk_dilation_equals_scipys(spacing_yx_mm, radius_mm):
    """The rectangle decomposition of an in-plane disk gives scipy's voxels exactly."""
    from scipy import ndimage as ndi

    from ichmodel.measure import _morph

    mask = np.random.default_rng(7).random((5, 40, 50)) > 0.97
    disk = _morph.disk(radius_mm, spacing_yx_mm)
    assert _morph._disk_rectangles(disk) is not None
    np.testing.assert_array_equal(_morph.dilate(mask, disk),
                                  ndi.binary_dilation(mask, structure=disk))
    ball = _morph.ball(2.0, (1.0, *spacing_yx_mm))  # not one slice: scipy's path
    assert _morph._disk_rectangles(ball) is None
    np.testing.assert_array_equal(_morph.dilate(mask, ball),
                                  ndi.binary_dilation(mask, structure=ball))
