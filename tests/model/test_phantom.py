"""Synthetic head-CT phantoms: determinism, tissue densities, exact volumes, sites, labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from ichmodel.phantom import (
    TISSUE_LABELS,
    PhantomConfig,
    make_phantom,
    proxy_poor_outcome,
)
from ichmodel.phantom.hematoma import sample_hematoma, sample_site

SMALL = dict(size=128, slice_thickness_mm=5.0)
CODE = {name: code for code, name in TISSUE_LABELS.items()}


def _core(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` whose in-plane neighbours are in it too (no partial volume)."""
    return ndimage.binary_erosion(mask, np.ones((1, 3, 3), bool))


def test_same_seed_same_phantom_other_seed_other_phantom() -> None:
    cfg = PhantomConfig(**SMALL)
    a, b, c = make_phantom(11, cfg), make_phantom(11, cfg), make_phantom(12, cfg)
    np.testing.assert_array_equal(a.volume.hu, b.volume.hu)
    np.testing.assert_array_equal(a.hematoma_mask, b.hematoma_mask)
    assert a.truth() == b.truth()
    assert a.volume.meta == b.volume.meta
    assert a.volume.shape != c.volume.shape or not np.array_equal(a.volume.hu, c.volume.hu)
    assert a.volume.meta.series_uid != c.volume.meta.series_uid


def test_tissue_densities_are_plausible() -> None:
    p = make_phantom(3, PhantomConfig(**SMALL, site="deep", volume_ml=20, calcifications=True))
    hu, lab = p.volume.hu, p.labels
    assert hu.dtype == np.float32 and np.array_equal(hu, np.rint(hu))  # integer HU like CT
    med = {name: float(np.median(hu[_core(lab == CODE[name])])) for name in ("brain", "hematoma")}
    assert 25 <= med["brain"] <= 40
    assert 50 <= med["hematoma"] <= 90
    bone = hu[lab == CODE["bone"]]
    assert 700 <= np.median(bone) <= 1500 and bone.max() <= 1700
    vent = hu[_core(lab == CODE["ventricle"])]
    assert vent.size > 20 and 0 <= np.median(vent) <= 15
    calc = hu[lab == CODE["calcification"]]
    assert calc.size > 0 and 100 <= calc.max() <= 450
    assert np.median(hu[lab == CODE["air"]]) == pytest.approx(-1000, abs=2)
    # brain and blood are separable the way a threshold segmenter needs
    assert np.percentile(hu[_core(lab == CODE["brain"])], 99) < 50


def test_noise_has_the_stated_sd() -> None:
    p = make_phantom(5, PhantomConfig(**SMALL, site="none"))
    air = p.volume.hu[:, :20, :20]  # FOV corner, far from the head
    assert p.labels[:, :20, :20].max() == 0
    assert 3.0 * 0.9 <= p.noise_sd_hu <= 6.0 * 1.1
    assert float(air.std()) == pytest.approx(p.noise_sd_hu, rel=0.12)


@pytest.mark.parametrize(
    ("seed", "thickness", "target"), [(0, 5.0, 10.0), (1, 2.5, 4.0), (2, 1.0, 25.0)]
)
def test_ellipsoid_truth_matches_analytic_volume(
    seed: int, thickness: float, target: float
) -> None:
    cfg = PhantomConfig(
        size=160 if thickness < 2 else 192,
        slice_thickness_mm=thickness,
        site="deep",
        shape="ellipsoid",
        volume_ml=target,
        ivh=False,
    )
    p = make_phantom(seed, cfg)
    assert p.hematoma_target_ml == pytest.approx(target)
    assert p.hematoma_volume_ml == pytest.approx(target, rel=0.01)
    # the >= 50 % mask is close to the integral too (it is what a segmenter can reach)
    mask_ml = p.hematoma_mask.sum() * p.volume.voxel_volume_ml
    assert mask_ml == pytest.approx(target, rel=0.06)


def test_no_bleed_has_zero_volume_and_empty_mask() -> None:
    p = make_phantom(4, PhantomConfig(**SMALL, site="none"))
    assert p.site == "none" and p.side == ""
    assert p.hematoma_volume_ml == 0.0
    assert not p.hematoma_mask.any() and not p.ivh_mask.any()
    assert p.poor_outcome == 0 and not p.ivh
    assert p.hematoma_center_zyx is None
    assert not (p.labels == CODE["hematoma"]).any()
    assert "no bleed" in repr(p) and "SYN" not in repr(p)  # short repr, no arrays


def test_proxy_outcome_rule() -> None:
    assert proxy_poor_outcome(29.99, "deep") == 0
    assert proxy_poor_outcome(30.0, "deep") == 1
    assert proxy_poor_outcome(45.0, "lobar") == 1
    assert proxy_poor_outcome(14.99, "infratentorial") == 0
    assert proxy_poor_outcome(15.0, "infratentorial") == 1
    assert proxy_poor_outcome(99.0, "none") == 0
    with pytest.raises(ValueError, match="site"):
        proxy_poor_outcome(10.0, "brainstem")
    big = make_phantom(6, PhantomConfig(**SMALL, site="lobar", volume_ml=45))
    assert big.poor_outcome == proxy_poor_outcome(big.hematoma_volume_ml, "lobar") == 1
    small_infra = make_phantom(7, PhantomConfig(**SMALL, site="infratentorial", volume_ml=5))
    assert small_infra.poor_outcome == 0


@pytest.mark.parametrize("site", ["deep", "lobar", "infratentorial"])
def test_sites_lie_in_their_compartment(site: str) -> None:
    for seed in (21, 22):
        p = make_phantom(seed, PhantomConfig(**SMALL, site=site, volume_ml=12))
        mask = p.hematoma_mask
        assert p.site == site and mask.sum() > 10
        assert p.hematoma_volume_ml == pytest.approx(12, rel=0.35)  # clipping may trim it
        assert np.all(p.intracranial_mask[mask])
        infra = p.infratentorial_mask()[mask].mean()
        if site == "infratentorial":
            assert infra > 0.95
        else:
            assert infra < 0.05
        # deep bleeds sit near the centre of the cavity, lobar ones towards the cortex
        zyx = np.argwhere(mask) * np.asarray(p.volume.spacing_mm)
        lps = zyx[:, ::-1] + np.asarray(p.volume.origin_mm)
        uvw = (lps - p.frame.center_mm) @ p.frame.rotation
        dist, _, _ = p.anatomy.cavity_distance(*(uvw[:, i].astype(np.float32) for i in range(3)))
        if site == "deep":
            assert np.median(dist) < -35
        elif site == "lobar":
            assert np.median(dist) > -30


def test_ivh_is_blood_in_the_ventricles_and_not_counted_as_hematoma() -> None:
    p = make_phantom(8, PhantomConfig(**SMALL, site="deep", volume_ml=15, ivh=True))
    assert p.ivh and p.ivh_volume_ml > 0.3 and p.ivh_mask.any()
    assert not (p.ivh_mask & p.hematoma_mask).any()
    assert np.median(p.volume.hu[p.ivh_mask]) > 35
    q = make_phantom(8, PhantomConfig(**SMALL, site="deep", volume_ml=15, ivh=False))
    assert not q.ivh and q.ivh_volume_ml == 0.0


def test_calcifications_are_bright_and_not_hematoma() -> None:
    p = make_phantom(9, PhantomConfig(**SMALL, calcifications=True))
    assert p.calcification_mask.any()
    assert not (p.calcification_mask & p.hematoma_mask).any()
    q = make_phantom(9, PhantomConfig(**SMALL, calcifications=False))
    assert not q.calcification_mask.any()


def test_volume_geometry_and_metadata() -> None:
    p = make_phantom(123, PhantomConfig(size=96, slice_thickness_mm=3.0))
    v = p.volume
    assert v.shape[1:] == (96, 96) and v.spacing_mm[0] == 3.0
    assert 2.2 <= v.spacing_mm[1] == v.spacing_mm[2] <= 2.7  # FOV 220-250 mm / 96
    assert v.orientation_code == "LPS"
    assert 110 <= v.shape[0] * v.spacing_mm[0] <= 200  # whole head in z
    m = v.meta
    assert m.patient_name == "PHANTOM^SYNTHETIC" and m.patient_id == "SYN-000123"
    assert m.series_description == "Synthetic head NCCT (phantom)"
    assert m.kernel == "STANDARD" and m.modality == "CT" and m.slice_thickness_mm == 3.0
    assert m.series_uid.startswith("2.25.") and len(m.series_uid) <= 64
    # the head is inside the FOV: no skull touches the border
    assert not p.labels[:, [0, -1], :].any() and not p.labels[:, :, [0, -1]].any()
    assert not p.labels[[0, -1]].any()


def test_bleed_centre_is_inside_its_mask_for_a_convex_bleed() -> None:
    p = make_phantom(10, PhantomConfig(**SMALL, site="deep", shape="ellipsoid", volume_ml=8))
    z, y, x = (int(round(c)) for c in p.hematoma_center_zyx)
    assert p.hematoma_mask[z, y, x]


def test_partial_volume_blurs_thick_slices() -> None:
    p = make_phantom(13, PhantomConfig(**SMALL, site="lobar", volume_ml=10))
    f = p.hematoma_fraction
    assert f.dtype == np.float32 and f.min() >= 0 and f.max() <= 1
    partial = ((f > 0.05) & (f < 0.95)).sum()
    assert partial > 0.3 * (f >= 0.95).sum()  # 5 mm slices: much of a 10 ml bleed is partial
    assert p.hematoma_volume_ml == pytest.approx(f.sum() * p.volume.voxel_volume_ml)


def test_volume_distribution_is_clinically_skewed() -> None:
    cfg = PhantomConfig()
    rng = np.random.default_rng(0)
    anatomy = make_phantom(0, PhantomConfig(**SMALL, site="none")).anatomy
    sites, volumes, shapes = [], [], set()
    for _ in range(300):
        site = sample_site(rng, cfg)
        sites.append(site)
        spec = sample_hematoma(rng, cfg, anatomy, site)
        volumes.append(0.0 if spec is None else spec.target_ml)
        shapes.add(None if spec is None else spec.shape)
    v = np.asarray(volumes)
    bleeds = v[v > 0]
    assert 0.05 <= np.mean(v == 0) <= 0.16
    assert 6 <= np.median(bleeds) <= 16  # many small
    assert np.mean(bleeds > 60) >= 0.01  # some huge
    assert np.mean(bleeds >= 30) >= 0.08
    assert set(sites) == {"none", "deep", "lobar", "infratentorial"}
    assert shapes == {None, "round", "lobulated", "chain"}


@pytest.mark.parametrize("kind", ["round", "lobulated", "chain"])
def test_forced_shape_kinds(kind: str) -> None:
    p = make_phantom(30, PhantomConfig(**SMALL, site="lobar", shape=kind, volume_ml=15))
    assert p.hematoma_shape == kind and p.truth()["hematoma_shape"] == kind
    assert p.hematoma_volume_ml == pytest.approx(15, rel=0.35)
    labelled, n = ndimage.label(p.hematoma_mask)
    sizes = np.bincount(labelled.ravel())[1:]
    assert sizes.max() >= 0.9 * sizes.sum()  # one bleed, not scattered blobs


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ValueError, match="site"):
        PhantomConfig(site="subdural")
    with pytest.raises(ValueError, match="size"):
        PhantomConfig(size=8)
    with pytest.raises(ValueError, match="seed"):
        make_phantom(-1, PhantomConfig(**SMALL))


def test_analytic_helper_volume() -> None:
    # guard the analytic formula the ellipsoid test relies on
    from ichmodel.phantom.geometry import Ellipsoid

    assert Ellipsoid((0, 0, 0), (1.0, 2.0, 3.0)).volume_mm3 == pytest.approx(8 * math.pi)
