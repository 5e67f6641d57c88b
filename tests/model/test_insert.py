"""Inserting synthetic bleeds into a head CT: the truth is the fractional sum of its own mask,
and blood never goes into bone or air."""

from __future__ import annotations

import numpy as np
import pytest

from ichmodel.phantom.insert import (
    INSERT_SITES,
    BleedPlacement,
    BleedRequest,
    InsertionError,
    analyse_head,
    insert_hematomas,
    insert_placed,
    place_bleed,
)
from tests.model._measure_heads import make_head


@pytest.fixture(scope="module")
def head():
    vol = make_head(spacing_mm=(5.0, 1.0, 1.0), shape=(28, 200, 170), seed=1)
    return vol, analyse_head(vol)


def test_truth_is_the_fractional_sum_and_never_in_bone_or_air(head):
    vol, analysis = head
    ins = insert_hematomas(vol, [BleedRequest("lobar", 6.0)], seed=4, head=analysis)
    frac = ins.fraction
    assert frac.min() >= 0 and frac.max() <= 1
    assert ins.volume_ml == pytest.approx(
        float(frac.sum(dtype=np.float64)) * vol.voxel_volume_ml, rel=1e-12
    )
    assert ins.bleeds[0].volume_ml == pytest.approx(ins.volume_ml, rel=1e-6)
    assert ins.volume_ml == pytest.approx(6.0, rel=0.05)  # the shape was scaled to its target
    # partial voxels exist (a fractional truth, not a binary one)
    assert np.count_nonzero((frac > 0.02) & (frac < 0.98)) > 100
    bone_or_air = (vol.hu > 100) | (vol.hu < -20)
    assert not frac[bone_or_air].any()
    assert np.array_equal(ins.volume.hu[bone_or_air], vol.hu[bone_or_air])
    # the blood is in the image: voxels that are all blood read as blood
    assert 50 <= float(np.median(ins.volume.hu[frac > 0.99])) <= 95


def test_two_bleeds_do_not_overlap_and_each_has_its_truth(head):
    vol, analysis = head
    reqs = [BleedRequest("deep", 4.0), BleedRequest("convexity", 3.0)]
    ins = insert_hematomas(vol, reqs, seed=7, head=analysis)
    assert len(ins.bleeds) == 2
    assert sum(b.volume_ml for b in ins.bleeds) == pytest.approx(ins.volume_ml, rel=1e-6)
    assert set(np.unique(ins.labels)) == {0, 1, 2}
    # deterministic in the seed
    again = insert_hematomas(vol, reqs, seed=7, head=analysis)
    assert np.array_equal(again.fraction, ins.fraction)


@pytest.mark.parametrize("seed", range(6))
def test_two_bleeds_keep_a_gap_where_the_head_has_room(head, seed):
    """Two inserted bleeds stay apart (touching, they would be one region in the image and
    "each bleed measured on its own" could not be tested)."""
    from scipy import ndimage as ndi

    from ichmodel.phantom.insert import BLEED_GAP_MM

    vol, analysis = head
    reqs = [BleedRequest("lobar", 5.0), BleedRequest("deep", 3.0)]
    ins = insert_hematomas(vol, reqs, seed=seed, head=analysis)
    away = ndi.distance_transform_edt(ins.labels != 1, sampling=vol.spacing_mm)
    assert float(away[ins.labels == 2].min()) >= BLEED_GAP_MM


def test_large_bleeds_keep_the_gap_when_no_centre_is_clear_by_size(head):
    """Two large bleeds (70 + 50 ml) leave no centre clear by the size rule (twice the
    equivalent radius plus the gap), so a centre is taken from the site's candidates; the
    shape placed there must itself keep the gap (seed 4 touched, 1 mm apart, before; dev GE
    insertion 400487: two bleeds merged into one region)."""
    from scipy import ndimage as ndi

    from ichmodel.phantom.insert import BLEED_GAP_MM

    vol, analysis = head
    reqs = [BleedRequest("lobar", 70.0), BleedRequest("deep", 50.0)]
    ins = insert_hematomas(vol, reqs, seed=4, head=analysis)
    away = ndi.distance_transform_edt(ins.labels != 1, sampling=vol.spacing_mm)
    assert float(away[ins.labels == 2].min()) >= BLEED_GAP_MM


def test_requests_are_checked_and_no_room_is_a_clear_error(head):
    vol, analysis = head
    with pytest.raises(ValueError, match="site must be one of"):
        BleedRequest("subdural", 3.0)
    assert "convexity" in INSERT_SITES
    no_skull = make_head(shape=(12, 120, 100), skull=False)
    with pytest.raises(InsertionError, match="cannot insert a bleed"):
        insert_hematomas(no_skull, [BleedRequest("deep", 3.0)], seed=0)


def _centroid_mm(vol, frac):
    idx = (np.argwhere(frac > 0) * frac[frac > 0][:, None]).sum(0) / frac.sum()
    return vol.index_to_physical(tuple(idx))


def test_a_placed_bleed_grows_in_place_with_its_own_truth(head):
    """A follow-up: the same shape (shape seed) grown, at the same centre; each truth is its
    own fraction sum."""
    from dataclasses import replace

    vol, analysis = head
    place = place_bleed(analysis, BleedRequest("deep", 4.0), seed=3)
    small = insert_placed(vol, [place], seed=1, head=analysis)
    big = insert_placed(vol, [replace(place, volume_ml=8.0)], seed=2, head=analysis)
    assert small.volume_ml == pytest.approx(4.0, rel=0.05)
    assert big.volume_ml == pytest.approx(8.0, rel=0.05)
    assert big.bleeds[0].volume_ml == pytest.approx(big.volume_ml, rel=1e-6)
    centre = vol.index_to_physical(place.centre_zyx)
    # a copy scaled about the centre: its centroid moves a little, never to another place
    shift = np.linalg.norm(_centroid_mm(vol, big.fraction) - _centroid_mm(vol, small.fraction))
    assert shift < 5.0
    assert np.linalg.norm(_centroid_mm(vol, small.fraction) - centre) < 10.0
    # mostly the same blood: most of the small bleed lies inside the grown one
    assert float(small.fraction[big.fraction > 0.5].sum()) > 0.8 * float(small.fraction.sum())


def test_a_confined_placement_stays_in_its_mask(head):
    vol, analysis = head
    place = place_bleed(analysis, BleedRequest("deep", 4.0), seed=5)
    half = np.zeros(vol.shape, dtype=bool)
    half[:, :, : int(place.centre_zyx[2])] = True
    from dataclasses import replace

    ins = insert_placed(vol, [replace(place, confined=True)], head=analysis, confine=half)
    assert ins.volume_ml > 0.5 and not ins.fraction[~half].any()
    with pytest.raises(ValueError, match="3x3 rotation"):
        BleedPlacement("deep", 4.0, place.centre_zyx, (1.0,) * 9, 0)


def test_synth_into_writes_a_series_whose_truth_is_its_fraction_map(tmp_path, capsys):
    import json

    from ichmodel.cli import main
    from ichmodel.io.load import load_study
    from ichmodel.io.sitk_bridge import read_nifti
    from ichmodel.io.write import write_dicom_series

    vol = make_head(spacing_mm=(5.0, 1.0, 1.0), shape=(28, 200, 170), seed=2)
    write_dicom_series(vol, tmp_path / "head")
    out = tmp_path / "out"
    code = main(["synth", str(out), "--into", str(tmp_path / "head"), "--bleed", "lobar:5",
                 "--seed", "3", "--json"])  # fmt: skip
    assert code == 0
    truth = json.loads((out / "TRUTH.json").read_text())
    assert truth == json.loads(capsys.readouterr().out)
    fraction = read_nifti(out / "truth_fraction.nii.gz")
    ml = float(fraction.hu.sum(dtype=np.float64)) * fraction.voxel_volume_ml
    assert ml == pytest.approx(truth["hematoma_volume_ml"], abs=1e-3)
    inserted = load_study(out / "series")
    assert inserted.shape == vol.shape
    assert 50 <= float(np.median(inserted.hu[fraction.hu > 0.99])) <= 95
    assert main(["synth", str(out), "--into", str(tmp_path / "head"), "--bleed", "nowhere:5"]) == 3
