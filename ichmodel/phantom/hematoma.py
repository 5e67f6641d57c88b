"""The bleed: an irregular, multi-lobed acute hematoma with edema, and intraventricular blood.

Shape: the union of 1-4 ellipsoidal lobes with a bumpy surface, as the implicit function
``F(p) = min_k rho_k(p) * (1 + eps * P(p))`` (``rho_k`` the normalised radius of lobe k, ``P`` a
sum of three plane waves); inside where ``F < 1``. It is scaled to a target volume, placed at
its site and clipped to the brain parenchyma of its compartment (supra- or infratentorial).

Ground truth: the voxel *hematoma fraction* is the partial-volume average of the clipped shape
(z supersampled to <= 0.7 mm sub-planes, in-plane ramp anti-aliasing);
``hematoma_volume_ml = sum(fraction) * voxel volume`` is the numerical integral of the
continuous shape (within ~1 % of the analytic volume for an ellipsoid of a few ml, see tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ichmodel.phantom.anatomy import Anatomy
from ichmodel.phantom.config import BLEED_SHAPES, BLEED_SITES, PhantomConfig
from ichmodel.phantom.geometry import (
    BBoxSamples,
    Ellipsoid,
    Grid,
    HeadFrame,
    bbox_samples,
    equivalent_radius_mm,
    ramp,
    ramp_width,
    random_rotation,
    rotation_matrix,
)

SUBPLANE_MM = 0.7  # z supersampling step for the hematoma
#: Satellite lobes of irregular bleeds: distance of their centre from the main lobe's centre
#: and their semi-axes, both relative to the main lobe's size (before scaling to volume).
LOBE_OFFSET = (0.45, 0.85)
LOBE_RADIUS = (0.35, 0.7)


@dataclass(frozen=True, eq=False)
class HematomaSpec:
    """One sampled bleed, in head coordinates (mm)."""

    site: str
    shape: str  # "ellipsoid", "round", "lobulated" or "chain"
    side: float  # +1 patient's left, -1 right, 0 midline
    center: np.ndarray  # (3,) head coords
    lobes: tuple[Ellipsoid, ...]  # centres relative to ``center``
    wave_k: np.ndarray  # (3, 3) wave vectors (rad/mm)
    wave_phase: np.ndarray  # (3,)
    irregularity: float
    target_ml: float
    blood_hu: float
    edema_mm: float
    edema_drop_hu: float
    bounding_radius_mm: float


@dataclass(frozen=True, eq=False)
class IVHSpec:
    """Blood in the ventricles: which ventricles, layering level (head v, mm), density."""

    ventricle_ids: tuple[int, ...]
    level_v: float  # blood fills the ventricle where v > level_v (dependent, patient supine)
    blood_hu: float


@dataclass(frozen=True, eq=False)
class HematomaRender:
    """The bleed on a grid box: fraction, edema weight, and mean blood HU of the blood part."""

    index: tuple[slice, slice, slice]
    fraction: np.ndarray
    edema: np.ndarray
    blood_hu: np.ndarray


def _lognormal(rng: np.random.Generator, median: float, sigma: float) -> float:
    return float(median * math.exp(sigma * rng.standard_normal()))


def sample_site(rng: np.random.Generator, config: PhantomConfig) -> str:
    if config.site is not None:
        return config.site
    if rng.random() < config.p_no_bleed:
        return "none"
    w = np.asarray(config.site_weights, dtype=float)
    return str(rng.choice(BLEED_SITES, p=w / w.sum()))


def _site_center(rng: np.random.Generator, site: str, side: float, anatomy: Anatomy, radius: float):
    s = anatomy.ay / 84.0
    if site == "deep":
        pick = rng.choice(3, p=[0.6, 0.3, 0.1])  # putamen, thalamus, caudate
        nucleus = anatomy.nuclei[(0 if side > 0 else 3) + (0, 2, 1)[pick]]
        return np.asarray(nucleus.center) + rng.uniform(-3, 3, 3)
    if site == "infratentorial":
        if rng.random() < 0.8:  # cerebellar hemisphere
            return np.array([side * 24 * s, 42 * s, -34 * s]) + rng.uniform(-4, 4, 3)
        return np.array([0.0, 10 * s, -28 * s]) + rng.uniform(-2, 2, 3)  # pons
    # lobar: a subcortical point in one hemisphere, above the tentorium
    for _ in range(200):
        e = rng.normal(size=3)
        e /= np.linalg.norm(e)
        e[0] = side * abs(e[0])
        if e[2] < -0.3 or abs(e[0]) < 0.25:
            continue
        ray = np.linspace(0, 110, 221)[:, None] * e[None, :]
        dist, _, _ = anatomy.cavity_distance(*(ray[:, i].astype(np.float32) for i in range(3)))
        r_surface = float(ray[np.argmax(dist > 0)] @ e) if (dist > 0).any() else 60.0
        depth = anatomy.csf_mm + 3.0 + rng.uniform(0.6, 1.1) * radius
        center = e * max(r_surface - depth, 12.0)
        inf = anatomy.infratentorial_fraction(*(np.float32([c]) for c in center))
        if float(inf[0]) < 0.01:
            return center
    return np.array([side * 30 * s, -20 * s, 25 * s])  # frontal fallback


def _lobes(rng: np.random.Generator, kind: str, site: str) -> list[Ellipsoid]:
    """Lobes of a unit-sized bleed of the given shape kind (centres relative to the bleed).

    * ``round``: one ellipsoid (putaminal bleeds elongated front to back);
    * ``lobulated``: a main lobe with 1-3 smaller lobes bulging from it;
    * ``chain``: 3-5 similar lobes along a bent path (irregular, dissecting bleeds whose
      outline fills little of its bounding box: the shapes ABC/2 overestimates).
    """
    if kind == "ellipsoid":
        return [Ellipsoid((0.0, 0.0, 0.0), (0.8, 1.0, 1.25), random_rotation(rng))]
    if kind == "chain":
        n = int(rng.integers(3, 6))
        step = rng.normal(size=3)
        step /= np.linalg.norm(step)
        pos = np.zeros(3)
        lobes = []
        for _ in range(n):
            radii = tuple(float(r) for r in rng.uniform(0.45, 0.75, 3))
            lobes.append(Ellipsoid(tuple(pos), radii, random_rotation(rng)))
            turn = rng.normal(size=3) * 0.6  # bend the path by roughly +-35 degrees
            step = step + turn - (turn @ step) * step
            step /= np.linalg.norm(step)
            pos = pos + step * rng.uniform(0.9, 1.4) * np.mean(radii)
        centroid = np.mean([e.center for e in lobes], axis=0)
        return [Ellipsoid(tuple(np.subtract(e.center, centroid)), e.radii, e.axes) for e in lobes]
    if site == "deep":
        axes = rotation_matrix(*rng.uniform(-25, 25, 3))
        radii = (rng.uniform(0.7, 0.95), rng.uniform(1.1, 1.5), rng.uniform(0.85, 1.15))
    else:
        axes = random_rotation(rng)
        radii = tuple(rng.uniform(0.75, 1.3, 3))
    lobes = [Ellipsoid((0.0, 0.0, 0.0), tuple(float(r) for r in radii), axes)]
    if kind == "lobulated":
        for _ in range(int(rng.integers(1, 4))):
            d = rng.normal(size=3)
            d *= rng.uniform(*LOBE_OFFSET) / np.linalg.norm(d)
            lobes.append(
                Ellipsoid(
                    tuple(float(x) for x in d),
                    tuple(float(r) for r in rng.uniform(*LOBE_RADIUS, 3)),
                    random_rotation(rng),
                )
            )
    return lobes



def wavy_unit_shape(
    rng: np.random.Generator, lobes: Sequence[Ellipsoid], eps: float, *, n_points: int
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The surface wave of an irregular lobed shape (wave vectors (3, 3), phases (3,)), the
    shape's volume at unit scale (a Monte Carlo estimate from ``n_points`` samples, so the
    caller can scale the shape to a target volume) and its reach (bounding radius) at unit
    scale."""
    k_dirs = rng.normal(size=(3, 3))
    k_dirs /= np.linalg.norm(k_dirs, axis=1, keepdims=True)
    wave_k = k_dirs * (2 * math.pi / rng.uniform(0.5, 1.2, 3))[:, None]
    phase = rng.uniform(0, 2 * math.pi, 3)
    reach = max(np.linalg.norm(e.center) + max(e.radii) for e in lobes) * (1 + eps) + 0.05
    pts = rng.uniform(-reach, reach, size=(n_points, 3)).astype(np.float32)
    inside = _implicit(lobes, wave_k, phase, eps, pts[:, 0], pts[:, 1], pts[:, 2]) < 1
    return wave_k, phase, max(float(inside.mean()) * (2 * reach) ** 3, 1e-3), reach

def sample_hematoma(
    rng: np.random.Generator, config: PhantomConfig, anatomy: Anatomy, site: str
) -> HematomaSpec | None:
    """Draw a bleed at ``site`` (None for "none")."""
    if site == "none":
        return None
    side = 1.0 if rng.random() < 0.5 else -1.0
    lo, hi = config.volume_range_ml
    if config.volume_ml is not None:
        target = float(config.volume_ml)
    elif site == "infratentorial":
        target = _lognormal(rng, config.infratentorial_median_ml, config.infratentorial_sigma)
        target = min(target, 40.0)
    else:
        target = _lognormal(rng, config.volume_median_ml, config.volume_sigma)
    target = float(np.clip(target, lo, hi)) if config.volume_ml is None else target

    kind = config.shape
    if kind == "irregular":
        w = np.asarray(config.shape_weights, dtype=float)
        kind = str(rng.choice(BLEED_SHAPES, p=w / w.sum()))
    ellipsoid = kind == "ellipsoid"
    lobes = _lobes(rng, kind, site)
    radii = lobes[0].radii
    eps = 0.0 if ellipsoid else float(rng.uniform(*config.irregularity))
    # scale the unit shape to the target volume
    wave_k, phase, unit_mm3, reach = wavy_unit_shape(rng, lobes, eps, n_points=20000)
    scale = (
        (target * 1000.0 / unit_mm3) ** (1 / 3)
        if not ellipsoid
        else (target * 1000.0 / (4 / 3 * math.pi * radii[0] * radii[1] * radii[2])) ** (1 / 3)
    )
    lobes = [
        Ellipsoid(tuple(c * scale for c in e.center), tuple(r * scale for r in e.radii), e.axes)
        for e in lobes
    ]
    radius_eq = equivalent_radius_mm(target)
    center = _site_center(rng, site, side, anatomy, radius_eq)
    if site == "infratentorial" and abs(center[0]) < 5:
        side = 0.0
    edema_mm = (0.12 * radius_eq + rng.uniform(1.0, 3.0)) if config.edema else 0.0
    return HematomaSpec(
        site=site,
        shape=kind,
        side=side,
        center=np.asarray(center, dtype=float),
        lobes=tuple(lobes),
        wave_k=wave_k / scale,
        wave_phase=phase,
        irregularity=eps,
        target_ml=target,
        blood_hu=float(rng.uniform(*config.blood_hu)),
        edema_mm=edema_mm,
        edema_drop_hu=float(rng.uniform(*config.edema_drop_hu)) if config.edema else 0.0,
        bounding_radius_mm=reach * scale + edema_mm + 4.0,
    )


def _implicit(lobes, wave_k, phase, eps, u, v, w) -> np.ndarray:
    """F (< 1 inside) at coordinates relative to the bleed's centre."""
    f = None
    for lobe in lobes:
        du = u - np.float32(lobe.center[0])
        dv = v - np.float32(lobe.center[1])
        dw = w - np.float32(lobe.center[2])
        a = lobe.axes.astype(np.float32)
        total = None
        for i in range(3):
            q = (a[0, i] * du + a[1, i] * dv + a[2, i] * dw) * np.float32(1.0 / lobe.radii[i])
            total = q * q if total is None else total + q * q
        rho = np.sqrt(total)
        f = rho if f is None else np.minimum(f, rho)
    if eps > 0:
        bumps = sum(
            np.sin(
                np.float32(wave_k[i, 0]) * u
                + np.float32(wave_k[i, 1]) * v
                + np.float32(wave_k[i, 2]) * w
                + np.float32(phase[i])
            )
            for i in range(3)
        )
        f = f * (1 + np.float32(eps / 3) * bumps)
    return f


def render_hematoma(
    grid: Grid, frame: HeadFrame, anatomy: Anatomy, spec: HematomaSpec
) -> HematomaRender | None:
    """Partial-volume fraction, edema weight and blood HU of the bleed on its grid box."""
    n_sub = max(1, math.ceil(grid.spacing_mm[0] / SUBPLANE_MM))
    box = bbox_samples(grid, frame, spec.center, spec.bounding_radius_mm, n_sub)
    if box is None:
        return None
    c = spec.center.astype(np.float32)
    ru, rv, rw = box.u - c[0], box.v - c[1], box.w - c[2]
    f = _implicit(spec.lobes, spec.wave_k, spec.wave_phase, spec.irregularity, ru, rv, rw)
    dist, nz2 = _distance_from_implicit(f, box)
    shape = ramp(dist, ramp_width(nz2, box.h_mm, box.hz_mm))
    tissue = anatomy.parenchyma_fraction(box.u, box.v, box.w)
    infra = anatomy.infratentorial_fraction(box.u, box.v, box.w)
    compartment = infra if spec.site == "infratentorial" else 1 - infra
    fine = shape * tissue * compartment
    edema = np.clip((np.float32(spec.edema_mm + 2.0) - dist) / np.float32(2.0), 0, 1) * tissue
    # clot: slightly denser core, gentle heterogeneity
    core = np.clip(-dist / np.float32(8.0), 0, 1)
    blood = (
        np.float32(spec.blood_hu)
        + np.float32(3.0) * core
        + np.float32(2.5)
        * np.sin(
            np.float32(spec.wave_k[0, 0] * 2.1) * ru + np.float32(spec.wave_k[1, 1] * 2.1) * rv
        )
    )
    fraction = box.reduce(fine)
    blood_hu = box.reduce(fine * blood) / np.maximum(fraction, np.float32(1e-6))
    return HematomaRender(
        index=box.index, fraction=fraction, edema=box.reduce(edema), blood_hu=blood_hu
    )


def _distance_from_implicit(f: np.ndarray, box: BBoxSamples) -> tuple[np.ndarray, np.ndarray]:
    """First-order signed distance ``(F - 1) / |grad F|`` (mm) and n_z**2, numerically."""
    axes_spacing = (box.hz_mm, box.h_mm, box.h_mm)
    grads = [
        np.gradient(f, axes_spacing[i], axis=i) if f.shape[i] > 1 else np.zeros_like(f)
        for i in range(3)
    ]
    gnorm = np.sqrt(grads[0] ** 2 + grads[1] ** 2 + grads[2] ** 2) + np.float32(1e-6)
    dist = (f - 1) / gnorm
    nz2 = (grads[0] / gnorm) ** 2
    return dist.astype(np.float32, copy=False), nz2.astype(np.float32, copy=False)


def sample_ivh(
    rng: np.random.Generator, config: PhantomConfig, anatomy: Anatomy, spec: HematomaSpec | None
) -> IVHSpec | None:
    """Intraventricular extension: forced by ``config.ivh`` or drawn for deep bleeds >= 5 ml."""
    if spec is None or config.ivh is False:
        return None
    if config.ivh is None and not (
        spec.site == "deep" and spec.target_ml >= 5 and rng.random() < config.p_ivh
    ):
        return None
    left, right = anatomy.ipsi_ventricle_index
    third, fourth = len(anatomy.ventricles) - 2, len(anatomy.ventricles) - 1
    if spec.site == "infratentorial":
        return IVHSpec((fourth,), level_v=-100.0, blood_hu=float(rng.uniform(50, 70)))
    ipsi = left if spec.side >= 0 else right
    ids = list(ipsi[:2])  # body and atrium/occipital horn
    if rng.random() < 0.3:  # a cast of the third ventricle too
        ids.append(third)
    if rng.random() < 0.5:  # layering in the other occipital horn
        ids.append((right if spec.side >= 0 else left)[1])
    s = anatomy.ay / 84.0
    return IVHSpec(
        tuple(ids), level_v=float(rng.uniform(8, 28) * s), blood_hu=float(rng.uniform(50, 70))
    )


def render_ivh(
    grid: Grid, frame: HeadFrame, anatomy: Anatomy, spec: IVHSpec
) -> list[tuple[tuple[slice, slice, slice], np.ndarray]]:
    """Per filled ventricle: its grid box and the fraction of each voxel holding blood."""
    out = []
    for i in spec.ventricle_ids:
        ell = anatomy.ventricles[i]
        box = bbox_samples(grid, frame, ell.center, ell.bounding_radius + 3.0)
        if box is None:
            continue
        dist, nz2 = ell.signed_distance(box.u, box.v, box.w, frame.rotation)
        inside = ramp(dist, ramp_width(nz2, box.h_mm, box.hz_mm))
        filled = inside * ramp(np.float32(spec.level_v) - box.v, box.h_mm)
        out.append((box.index, box.reduce(filled)))
    return out
