"""Intraventricular blood on v6 phantoms (issue 15): a deep bleed with blood in the
ventricles is flagged with its own volume, kept apart from the parenchymal volume; the same
heads without intraventricular blood, with their choroid and pineal calcifications and the
falx, are not flagged. Small phantoms (256², 5 mm slices): about a second each."""

from __future__ import annotations

import numpy as np
import pytest

from ichmodel.measure import measure
from ichmodel.phantom import PhantomConfig, make_phantom

#: Test seeds (below the evaluation range 100000+ and the dev range 200100+).
SEEDS = (2, 6, 8)


def _phantom(seed: int, ivh: bool):
    config = PhantomConfig(
        size=256, slice_thickness_mm=5.0, site="deep", ivh=ivh, calcifications=True, subdural=False
    )
    return make_phantom(seed, config)


@pytest.mark.parametrize("seed", SEEDS)
def test_intraventricular_blood_is_flagged_with_its_own_volume(seed):
    ph = _phantom(seed, ivh=True)
    assert ph.ivh and ph.ivh_volume_ml > 2.0  # the phantom really carries IVH
    m = measure(ph.volume)
    assert m.ivh is True
    assert m.ivh_volume_ml >= 0.5 * ph.ivh_volume_ml
    # what is called IVH lies on the phantom's intraventricular blood, not elsewhere
    assert np.count_nonzero(m.ivh_mask & ph.ivh_mask) >= 0.5 * np.count_nonzero(m.ivh_mask)
    assert not (m.ivh_mask & m.hematoma_mask).any()
    # the ventricular blood is not added to the parenchymal volume
    assert m.hematoma_volume_ml == pytest.approx(ph.hematoma_volume_ml, rel=0.1)


@pytest.mark.parametrize("seed", SEEDS)
def test_calcifications_and_the_falx_without_ivh_are_not_flagged(seed):
    ph = _phantom(seed, ivh=False)
    assert not ph.ivh and ph.calcification_mask.any() and ph.structures["falx"].any()
    m = measure(ph.volume)
    assert m.ivh is False and m.ivh_volume_ml == 0.0
    assert not m.ivh_mask.any()
    assert m.hematoma_volume_ml == pytest.approx(ph.hematoma_volume_ml, rel=0.1)


def _cast_head(blood_hu: float):
    """The synthetic head with the back half of its right lateral ventricle cast with thin
    blood (``blood_hu``: below the 60 HU a hematoma core needs), CSF left in front; the
    truth (ml) is the fractional volume of the cast."""
    from tests.model._measure_heads import CSF_HU, VENTRICLES, _coords, _fraction, make_head

    spacing, shape = (5.0, 1.0, 1.0), (28, 200, 170)
    head = make_head(spacing_mm=spacing, shape=shape, seed=4)
    _, y, _ = np.meshgrid(*_coords(shape, spacing), indexing="ij")
    cast = _fraction(VENTRICLES[0], shape, spacing) * (y > 0.0)  # +y is posterior (LPS)
    hu = head.hu + (cast * (blood_hu - CSF_HU)).astype(np.float32)
    truth_ml = float(cast.sum()) * float(np.prod(spacing)) / 1000.0
    return head.with_hu(hu.astype(np.float32)), truth_ml, cast >= 0.5


def test_a_horn_cast_with_thin_blood_is_ivh_by_its_mirror_on_the_other_side():
    """A cast 12-17 mm long, too thin for a hematoma core, reaches beyond the few mm from
    the CSF in front of it that layering blood is looked for in: it is found whole because
    its mirror image is the other ventricle's CSF (before: about half of it)."""
    vol, truth_ml, cast = _cast_head(55.0)
    m = measure(vol)
    assert m.ivh is True
    assert m.ivh_volume_ml >= 0.8 * truth_ml
    assert np.count_nonzero(m.ivh_mask & cast) >= 0.8 * np.count_nonzero(m.ivh_mask)
    assert m.hematoma_volume_ml < 0.3


def test_thin_blood_beside_a_ventricle_that_mirrors_onto_brain_is_not_ivh():
    """The same dim blob moved out of the ventricle, into the brain lateral to it: its mirror
    image is brain, so it is neither IVH nor (without a core) a hematoma."""
    from tests.model._measure_heads import Blob, _fraction, make_head

    spacing, shape = (5.0, 1.0, 1.0), (28, 200, 170)
    head = make_head(spacing_mm=spacing, shape=shape, seed=4)
    blob = _fraction(Blob((5.0, 20.0, -30.0), (10.0, 8.0, 4.0)), shape, spacing)
    vol = head.with_hu((head.hu + blob * (55.0 - head.hu)).astype(np.float32))
    m = measure(vol)
    assert m.ivh is False and m.ivh_volume_ml == 0.0


def test_a_cast_horn_joined_to_its_hematoma_is_split_off_as_ivh():
    """A hematoma that has taken the front of its ventricle, the back of it cast with thinner
    blood, as one connected region on 2 mm slices: most of what mirrors onto the other
    ventricle is hematoma, so the cast is found by its own voxels being thinner than the
    rest (before: the mirrored part as a whole was as dense as the hematoma, and the cast
    was counted as parenchymal blood)."""
    from tests.model._measure_heads import VENTRICLES, Blob, _coords, _fraction, make_head

    spacing, shape = (2.0, 1.0, 1.0), (70, 200, 170)
    head = make_head(spacing_mm=spacing, shape=shape, seed=5)
    _, y, _ = np.meshgrid(*_coords(shape, spacing), indexing="ij")
    hematoma = _fraction(Blob((5.0, -10.0, -15.0), (13.0, 17.0, 10.0)), shape, spacing)
    cast = _fraction(VENTRICLES[0], shape, spacing) * (y > 0.0) * (1.0 - hematoma)
    hu = head.hu + hematoma * (80.0 - head.hu)
    hu = hu + cast * (62.0 - hu)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    m = measure(head.with_hu(hu.astype(np.float32)))
    assert m.ivh is True
    assert m.ivh_volume_ml == pytest.approx(float(cast.sum()) * voxel_ml, rel=0.3)
    assert m.hematoma_volume_ml == pytest.approx(float(hematoma.sum()) * voxel_ml, rel=0.1)



def test_a_cast_atrium_whose_mirror_is_the_other_thin_cast_is_ivh():
    """Dev phantom 201027 (1 mm slices, a deep bleed by the midline with both atria cast):
    the right atrium's cast is dense enough for a hematoma core and lies beside the
    hematoma; its mirror image is the left atrium's cast, too thin for a core and not yet
    found, so it mirrored onto neither CSF nor IVH and was counted as 1.2 ml of hematoma
    (+9 %). Central dim blood now stands in the mirror test for the other cast."""
    config = PhantomConfig(size=256, slice_thickness_mm=1.0, site="deep", ivh=True, subdural=False)
    ph = make_phantom(201027, config)
    m = measure(ph.volume)
    assert m.ivh is True
    assert m.hematoma_volume_ml == pytest.approx(ph.hematoma_volume_ml, rel=0.03)
    assert np.count_nonzero(m.hematoma_mask & ph.ivh_mask) * ph.volume.voxel_volume_ml < 0.5


def test_a_clot_in_a_ventricle_with_csf_behind_it_is_ivh():
    """A clot filling the side of a ventricle, with CSF in front of it, behind it and a sliver
    beside it, is in the ventricle, although CSF behind a blood region usually marks a
    hematoma beside a ventricle whose body runs on behind it (dev GE follow-up pairs 354/355:
    1.7-2.2 ml clots against a lateral ventricle's wall counted as parenchymal). The same clot
    moved into the brain beside the ventricle is a hematoma."""
    from tests.model._measure_heads import (
        BLOOD_HU,
        BRAIN_HU,
        CSF_HU,
        Blob,
        _fraction,
        make_head,
    )

    spacing, shape = (5.0, 0.5, 0.5), (28, 400, 340)
    head = make_head(spacing_mm=spacing, shape=shape, seed=7)
    # wide atria on both sides (the clot's mirror image is the other atrium's CSF)
    atria = [Blob((5.0, 8.0, side * 16.0), (12.0, 14.0, 9.0)) for side in (-1.0, 1.0)]
    f_csf = np.maximum(*[_fraction(a, shape, spacing) for a in atria])
    hu = head.hu + f_csf * (CSF_HU - BRAIN_HU) * (head.hu > 20.0)
    voxel_ml = float(np.prod(spacing)) / 1000.0

    def with_clot(centre_x_mm: float):
        clot = _fraction(Blob((5.0, 8.0, centre_x_mm), (7.0, 7.0, 4.0)), shape, spacing)
        return head.with_hu((hu + clot * (BLOOD_HU - hu)).astype(np.float32)), clot

    inside, clot = with_clot(-19.5)  # 1.5 mm of CSF left between it and the lateral wall
    m = measure(inside)
    assert m.ivh is True
    assert m.ivh_volume_ml == pytest.approx(float(clot.sum()) * voxel_ml, rel=0.25)
    assert m.hematoma_volume_ml < 0.2
    beside, clot = with_clot(-34.0)  # lateral to the atrium: brain on its outer side
    m = measure(beside)
    assert m.ivh_volume_ml < 0.3
    assert m.hematoma_volume_ml == pytest.approx(float(clot.sum()) * voxel_ml, rel=0.25)


def test_a_lobar_bleed_mirroring_onto_a_cistern_joined_by_a_thin_csf_sheet_is_a_hematoma():
    """Dev GE insertions 400052/400182 (an atrophic head): the ventricles, the cisterns and
    widened sulci were one CSF region, central as a whole, so a 1.7 ml lobar bleed whose
    mirror image fell on the other side's insular cistern passed as a cast horn and measured
    0 ml ("intraventricular blood only"). A 2 mm sheet of CSF joining a lateral cistern to
    the left ventricle no longer makes the cistern ventricular."""
    from tests.model._measure_heads import CSF_HU, Blob, _coords, _fraction, make_head

    spacing, shape = (5.0, 1.0, 1.0), (28, 200, 170)
    bleed = Blob((5.0, 0.0, -44.0), (8.0, 8.0, 6.0))  # right hemisphere, lateral
    head = make_head(spacing_mm=spacing, shape=shape, blood=bleed, seed=9)
    z, y, x = np.meshgrid(*_coords(shape, spacing), indexing="ij")
    sheet = (np.abs(y) <= 1.0) & (x >= 12.0) & (x <= 42.0) & (np.abs(z - 5.0) <= 10.0)
    cistern = _fraction(Blob((5.0, 0.0, 44.0), (10.0, 8.0, 5.0)), shape, spacing)
    csf = np.maximum(cistern, sheet.astype(np.float32))
    vol = head.with_hu((head.hu + csf * (CSF_HU - head.hu)).astype(np.float32))
    m = measure(vol)
    assert m.ivh is False and m.ivh_volume_ml == 0.0
    assert m.hematoma_volume_ml == pytest.approx(bleed.volume_ml, rel=0.15)


def test_dense_blood_counted_as_ivh_by_its_mirror_asks_the_reader_to_check():
    """A right lateral ventricle filled with dense blood is a cast horn by its mirror image on
    the left one, but it lies outside the ventricles' CSF envelope, where a hematoma behind a
    small atrium would lie too (dev GE insertions 400039, 400807): the measurement says so and
    how to count it as a hematoma. Growing it from a seed takes it out of the IVH and the
    check goes away."""
    from ichmodel.edits.record import GrowEdit
    from ichmodel.edits.session import EditSession
    from ichmodel.measure import MeasureContext
    from ichmodel.measure.context import IVH_BY_MIRROR_CODE
    from tests.model._measure_heads import BLOOD_HU, VENTRICLES, _fraction, make_head

    spacing, shape = (5.0, 1.0, 1.0), (28, 200, 170)
    head = make_head(spacing_mm=spacing, shape=shape, seed=4)
    cast = _fraction(VENTRICLES[0], shape, spacing)
    vol = head.with_hu((head.hu + cast * (BLOOD_HU - head.hu)).astype(np.float32))
    context = MeasureContext(vol)
    m = context.measure()
    assert m.ivh is True and m.hematoma_volume_ml < 0.3
    (check,) = [n for n in m.notices if n.code == IVH_BY_MIRROR_CODE]
    # the check names the dense blood's voxel count; the IVH volume adds its partial volume
    checked_ml = float(check.text.split(" ml ")[0])
    assert checked_ml == pytest.approx(m.ivh_volume_ml, rel=0.1) and "Grow from seed" in check.text
    seed = tuple(int(round(v)) for v in np.argwhere(cast >= 0.5).mean(axis=0))
    edited = EditSession(context, m, "1.2.3").apply(GrowEdit(seed, 60.0, 150.0))
    assert edited.hematoma_volume_ml > 0.8 * float(cast.sum()) * vol.voxel_volume_ml
    assert not [n for n in edited.notices if n.code == IVH_BY_MIRROR_CODE]


def test_blood_inside_the_ventricles_csf_needs_no_mirror_check():
    """Thin blood layering in a horn, CSF in front of it, is found without a hematoma core
    and within the ventricles' envelope: nothing for the reader to check."""
    from ichmodel.measure.context import IVH_BY_MIRROR_CODE

    vol, _, _ = _cast_head(55.0)
    m = measure(vol)
    assert m.ivh is True
    assert not [n for n in m.notices if n.code == IVH_BY_MIRROR_CODE]


def test_blood_around_the_choroid_glomus_is_intraventricular():
    """Dev phantom 200049 (2.5 mm slices, both atria cast around a calcified choroid glomus):
    the calcification's 2 mm partial-volume halo took a third of the cast (1.62 of 2.45 ml
    measured); the halo's side that faces the blood is intraventricular blood again."""
    config = PhantomConfig(size=256, slice_thickness_mm=2.5, site="deep", ivh=True,
                           subdural=False, version="6")
    ph = make_phantom(200049, config)
    m = measure(ph.volume)
    assert m.ivh
    assert m.ivh_volume_ml == pytest.approx(ph.ivh_volume_ml, rel=0.1)
    near_glomus = ph.ivh_mask & _within_mm(ph.calcification_mask, 3.0, ph.volume.spacing_mm)
    assert near_glomus.sum() * ph.volume.voxel_volume_ml > 0.3  # the glomus sits in the cast
    assert np.count_nonzero(m.ivh_mask & near_glomus) >= 0.7 * near_glomus.sum()
    assert not (m.ivh_mask & ph.calcification_mask).any()


def _within_mm(mask: np.ndarray, radius_mm: float, spacing_mm) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.distance_transform_edt(~mask, sampling=spacing_mm) <= radius_mm


def test_a_cast_atrium_whose_mirror_joined_the_hematoma_is_ivh():
    """Dev phantom 200020 (1 mm slices, a deep bleed by the midline, both atria cast): one
    atrium's cast joined the hematoma, whose region has ventricular CSF behind it; the other
    cast, on its own, mirrors onto it. Such a region now stands as the mirror target: the
    isolated cast is IVH (it was 2.4 ml of hematoma)."""
    config = PhantomConfig(size=256, slice_thickness_mm=1.0, subdural=False, version="6")
    ph = make_phantom(200020, config)
    assert ph.ivh and ph.ivh_volume_ml > 2.5  # the phantom of the finding
    m = measure(ph.volume)
    assert m.ivh and m.ivh_volume_ml >= 0.6 * ph.ivh_volume_ml
    assert np.count_nonzero(m.ivh_mask & ph.ivh_mask) >= 0.8 * np.count_nonzero(m.ivh_mask)
    assert m.hematoma_volume_ml == pytest.approx(ph.hematoma_volume_ml, rel=0.06)


@pytest.mark.parametrize("blood_hu", [55.0, 75.0])
def test_a_layering_cast_is_measured_with_its_partial_volume(blood_hu):
    """A voxel half blood and half CSF (~35-45 HU) is below the 50 HU threshold: the voxel
    count of a thin cast runs 7-12 % low. Its partial volume against the CSF beside it (and
    the brain of the wall) brings it within 5 % of the cast's fractional truth."""
    vol, truth_ml, _ = _cast_head(blood_hu)
    m = measure(vol)
    count_ml = float(np.count_nonzero(m.ivh_mask)) * vol.voxel_volume_ml
    assert count_ml < 0.95 * truth_ml  # what the voxel count gives
    assert m.ivh_volume_ml == pytest.approx(truth_ml, rel=0.05)


def test_a_full_cast_is_measured_with_the_partial_volume_of_its_wall():
    """Dev phantom 200045 (2.5 mm slices, a subdural crescent too, casts filling both atria
    against the ventricles' walls): the voxel count measured 8.75 ml of its 9.60; with the
    partial volume of the cast's edge against the wall's brain, within 4 %."""
    config = PhantomConfig(size=256, slice_thickness_mm=2.5, subdural=True, version="6")
    ph = make_phantom(200045, config)
    assert ph.ivh and ph.ivh_volume_ml > 8.0  # the phantom of the finding
    m = measure(ph.volume)
    assert m.ivh_volume_ml == pytest.approx(ph.ivh_volume_ml, rel=0.04)
    assert m.hematoma_volume_ml == pytest.approx(ph.hematoma_volume_ml, rel=0.05)


def test_the_tentorium_on_one_slice_beside_a_horn_is_not_a_cast():
    """Dev phantom 200310 (3 mm slices, no intraventricular blood): a band of the tentorium
    crossing one slice beside the temporal horns, 45 HU, mirrored onto the other side's band
    and so stood as one of two cast horns: 0.6 ml called IVH. A horn's cast is seen on more
    than one slice."""
    config = PhantomConfig(size=256, slice_thickness_mm=3.0, version="6", subdural=True)
    ph = make_phantom(200310, config)
    assert not ph.ivh and ph.structures["tentorium"].any()
    m = measure(ph.volume)
    assert m.ivh is False and m.ivh_volume_ml == 0.0
    assert m.hematoma_volume_ml == pytest.approx(ph.hematoma_volume_ml, rel=0.1)


@pytest.mark.parametrize(
    "seed, site, ivh, rel",
    [(200135, "deep", False, 0.1), (200327, None, None, 0.1), (200111, "deep", False, 0.05)],
)
def test_thin_blood_on_one_thick_slice_is_not_a_cast(seed, site, ivh, rel):
    """Dev phantoms on 5 mm slices without intraventricular blood: 200135's deep hematoma
    by the atrium has a dim textured rim under the hematoma range that mirrored onto the
    other atrium (0.85 ml called IVH); 200327's tentorium crosses one slice as a band either
    side, each mirroring onto the other as 'both atria cast' (1.2 ml); 200111's 34 ml deep
    bleed between the frontal horns has a lobe's end, dimmed by the next slice's brain, that
    mirrored onto the other ventricle and was split off as a cast part (0.85 ml). A cast
    fills its horn through the horn's height, on two slices or more."""
    config = PhantomConfig(
        size=256, slice_thickness_mm=5.0, version="6", site=site, ivh=ivh, subdural=False
    )
    ph = make_phantom(seed, config)
    assert not ph.ivh
    m = measure(ph.volume)
    assert m.ivh is False and m.ivh_volume_ml == 0.0
    assert m.hematoma_volume_ml == pytest.approx(ph.hematoma_volume_ml, rel=rel)


def test_both_atria_cast_with_csf_only_on_the_next_slice_are_ivh():
    """Dev phantom 200359 (5 mm slices, a 3.6 ml deep bleed, both atria fully cast, 8.4 ml):
    the CSF left in the ventricles lies on the slice above one of the casts only, so that
    cast was not 'by a horn' and neither could stand in the other's mirror test: no IVH
    found. A horn's CSF on the next slice counts as beside it."""
    config = PhantomConfig(
        size=256, slice_thickness_mm=5.0, version="6", site="deep", ivh=True, subdural=True
    )
    ph = make_phantom(200359, config)
    assert ph.ivh and ph.ivh_volume_ml > 5.0
    m = measure(ph.volume)
    assert m.ivh is True
    assert m.ivh_volume_ml >= 0.7 * ph.ivh_volume_ml
    assert np.count_nonzero(m.ivh_mask & ph.ivh_mask) >= 0.9 * np.count_nonzero(m.ivh_mask)
    assert m.hematoma_volume_ml == pytest.approx(ph.hematoma_volume_ml, rel=0.1)
