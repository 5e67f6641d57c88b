"""Phantom v6: what real heads carry besides a bleed, each structure recorded in the truth.

* Skull base: petrous ridges (bone jutting into the cavity between the middle and posterior
  fossae), anterior clinoid processes and the dorsum sellae around a soft-tissue sella, the
  sphenoid body with its air sinus, temporal bone with mastoid air cells.
* Dura: the falx (a thin hyperdense midline sheet above the corpus callosum) and the
  tentorium (a thin hyperdense sheet over the posterior fossa).
* Dural venous sinuses at 40-70 HU (the classic mimic of blood): superior sagittal along the
  vertex's inner table, transverse along the occipital bone, straight sinus from the vein of
  Galen to the torcula.
* Beam-hardening streaks between the petrous bones (a dark Hounsfield bar and bright/dark
  rays), in the scanner's image plane on the slices that cut both petrous bones.
* Basal-ganglia (pallidal) calcifications, sometimes; optional in-plane motion blur.
* A subdural crescent (acute extra-axial blood along the convexity), sometimes: a labelled
  *negative* for intracerebral hemorrhage.

All shapes are continuous in head coordinates (u left, v posterior, w superior; mm) and drawn
with the same partial-volume ramps as the rest of the phantom (:mod:`.geometry`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ichmodel.phantom.anatomy import AIR_HU, Anatomy
from ichmodel.phantom.config import PhantomConfig
from ichmodel.phantom.geometry import (
    Ellipsoid,
    Grid,
    HeadFrame,
    bbox_samples,
    ellipsoid_boxes,
    ramp,
    rotation_matrix,
    union_fraction,
)

#: Structure names recorded in :attr:`ichmodel.phantom.Phantom.structures`.
STRUCTURES = (
    "skull_base_bone",
    "skull_base_air",
    "falx",
    "tentorium",
    "dural_sinus",
    "streak",
    "basal_ganglia_calcification",
    "subdural",
)


@dataclass(frozen=True, eq=False)
class Extras:
    """What the v6 layer added: per-structure fractions on the full grid, and the SDH."""

    fractions: dict[str, np.ndarray]  # name -> float32 (z, y, x) fraction (streak: |dHU|>5)
    subdural_volume_ml: float
    subdural_side: str
    motion_blur: bool


def _ray_surface(anatomy: Anatomy, directions: np.ndarray) -> np.ndarray:
    """Distance (mm) from the cavity centre to the inner table along unit ``directions``."""
    radii = np.arange(5.0, 130.0, 0.5, dtype=np.float32)
    pts = directions[:, None, :].astype(np.float32) * radii[None, :, None]
    dist, _, _ = anatomy.cavity_distance(pts[..., 0], pts[..., 1], pts[..., 2])
    first = np.where((dist > 0).any(axis=1), (dist > 0).argmax(axis=1), len(radii) - 1)
    return radii[first]


def _tube(points: np.ndarray, radius: float, flat: float = 1.0) -> list[Ellipsoid]:
    """A tube as overlapping small ellipsoids along ``points`` (n, 3)."""
    return [Ellipsoid(tuple(float(c) for c in p), (radius, radius, radius * flat)) for p in points]


def _sinuses(rng: np.random.Generator, a: Anatomy) -> list[Ellipsoid]:
    s = a.ay / 84.0
    r_sss = float(rng.uniform(3.0, 4.2)) * s
    # superior sagittal: the midline arc of the vertex, front to back
    theta = np.radians(np.arange(-55.0, 115.0, 4.0))
    d = np.stack([np.zeros_like(theta), np.sin(theta), np.cos(theta)], axis=1)
    sss = d * (_ray_surface(a, d) - r_sss * 0.9)[:, None]
    # transverse: from the torcula along the occipital bone, both sides
    tent_w = a.tentorium_w - 0.25 * (a.ay - 10)
    parts = [sss]
    r_tr = float(rng.uniform(2.8, 3.8)) * s
    for side in (1.0, -1.0):
        phi = np.radians(np.arange(0.0, 75.0, 5.0))
        d = np.stack([side * np.sin(phi), np.cos(phi), np.full_like(phi, 0.0)], axis=1)
        d[:, 2] = (tent_w - 4.0) / 80.0
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        parts.append(d * (_ray_surface(a, d) - r_tr * 0.9)[:, None])
    tubes = _tube(sss, r_sss)
    for p in parts[1:]:
        tubes += _tube(p, r_tr, 0.8)
    # straight sinus: vein of Galen -> torcula, at the falx-tentorium junction
    galen = np.array([0.0, 16.0 * s, 4.0 * s])
    torcula = parts[1][0]
    n = max(2, int(np.linalg.norm(torcula - galen) / 2.5))
    line = galen[None, :] + np.linspace(0, 1, n)[:, None] * (torcula - galen)[None, :]
    tubes += _tube(line, float(rng.uniform(2.2, 3.0)) * s)
    return tubes


def _skull_base(a: Anatomy) -> tuple[list[Ellipsoid], list[Ellipsoid], Ellipsoid]:
    """(bone parts, air parts, sella) of the skull base, scaled to the head."""
    s = a.ay / 84.0
    floor_mid = -a.az_low_ant
    bone, air = [], []
    for side in (1.0, -1.0):
        # petrous ridge: runs from the mastoid forwards and inwards to the apex
        yaw = rotation_matrix(side * 50.0, 0, 0)
        bone.append(
            Ellipsoid((side * 30 * s, 8 * s, floor_mid - 2 * s), (5 * s, 22 * s, 6 * s), yaw)
        )
        # temporal bone / mastoid block low and lateral, with air cells
        bone.append(
            Ellipsoid((side * 52 * s, 30 * s, floor_mid - 12 * s), (12 * s, 14 * s, 12 * s))
        )
        air.append(Ellipsoid((side * 55 * s, 33 * s, floor_mid - 14 * s), (6 * s, 8 * s, 7 * s)))
        # anterior clinoid process
        bone.append(
            Ellipsoid((side * 11 * s, -10 * s, floor_mid + 4 * s), (2.5 * s, 6 * s, 2.5 * s))
        )
    # dorsum sellae: a plate behind the pituitary fossa
    bone.append(Ellipsoid((0.0, 4 * s, floor_mid + 2 * s), (7 * s, 1.8 * s, 6 * s)))
    # sphenoid body below the sella, with its air sinus
    bone.append(Ellipsoid((0.0, -8 * s, floor_mid - 9 * s), (14 * s, 14 * s, 9 * s)))
    air.append(Ellipsoid((0.0, -12 * s, floor_mid - 11 * s), (9 * s, 9 * s, 6 * s)))
    sella = Ellipsoid((0.0, -2 * s, floor_mid - 1 * s), (6 * s, 5 * s, 4 * s))
    return bone, air, sella


def _sheet(grid, frame, a: Anatomy, kind: str, thickness: float, step: int = 8) -> np.ndarray:
    """Fraction of the falx (|u| < t/2, above the callosum) or the tentorium (|w - tent| <
    t/2 over the posterior fossa), inside the cavity, on the full grid."""
    out = np.zeros(grid.shape, dtype=np.float32)
    h = grid.spacing_mm[1]
    for k0 in range(0, grid.shape[0], step):
        k1 = min(grid.shape[0], k0 + step)
        u, v, w = frame.head_coords(grid.axis_mm(0, k0, k1), grid.axis_mm(1), grid.axis_mm(2))
        if kind == "falx":
            d = np.abs(u) - np.float32(thickness / 2)
            gate = np.clip((w - np.float32(8.0)) / np.float32(6.0), 0, 1)
        else:
            tent = (
                np.float32(a.tentorium_w) - np.float32(0.25) * (v - 10) - np.float32(0.004) * u * u
            )
            d = np.abs(w - tent) - np.float32(thickness / 2)
            gate = np.clip((v + np.float32(5.0)) / np.float32(10.0), 0, 1)
        near = d < 3 * max(h, grid.spacing_mm[0])
        if not near.any():
            continue
        dist, _, _ = a.cavity_distance(u, v, w)
        width = np.float32(math.sqrt(h * h + grid.spacing_mm[0] ** 2) if kind == "tentorium" else h)
        f = ramp(d, width) * gate * ramp(dist + np.float32(1.5), np.float32(h))
        out[k0:k1] = np.where(near, f, 0)
    return out


def _streaks(
    rng: np.random.Generator, petrous: np.ndarray, spacing_mm: tuple[float, float, float]
) -> np.ndarray:
    """HU offsets of beam hardening between the petrous bones, per slice in the image plane."""
    nz, ny, nx = petrous.shape
    out = np.zeros(petrous.shape, dtype=np.float32)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    h = spacing_mm[1]
    for k in range(nz):
        plane = petrous[k] >= 0.5
        if np.count_nonzero(plane) * h * h < 20.0:
            continue
        lab, n = ndimage.label(plane)
        if n < 2:
            continue
        sizes = np.bincount(lab.ravel())[1:]
        two = np.argsort(-sizes)[:2] + 1
        (y0, x0), (y1, x1) = (ndimage.center_of_mass(plane, lab, int(i)) for i in two)
        strength = min(1.0, float(sizes.min() * h * h) / 150.0)
        dy, dx = y1 - y0, x1 - x0
        length = math.hypot(dy, dx) + 1e-6
        ny_, nx_ = -dx / length, dy / length
        t = ((yy - y0) * dy + (xx - x0) * dx) / (length * length)
        perp = ((yy - y0) * ny_ + (xx - x0) * nx_) * h  # mm
        along = np.clip(1 - np.abs(2 * t - 1), 0, 1) ** 0.5
        bar = -rng.uniform(8, 18) * np.exp(-((perp / rng.uniform(3, 6)) ** 2)) * along
        rays = np.zeros_like(bar)
        for _ in range(int(rng.integers(2, 5))):
            ang = math.radians(rng.uniform(-30, 30))
            c, s_ = math.cos(ang), math.sin(ang)
            my, mx = (y0 + y1) / 2, (x0 + x1) / 2
            d_line = ((yy - my) * (-dx * s_ + dy * c) - (xx - mx) * (dy * s_ + dx * c)) / length
            amp = rng.uniform(6, 15) * (1 if rng.random() < 0.5 else -1)
            rays += amp * np.exp(-((d_line * h / 1.2) ** 2)) * np.exp(-np.abs(perp) / 40.0)
        out[k] = (bar + rays) * strength
    return out


def add_extras(
    hu: np.ndarray,
    grid: Grid,
    frame: HeadFrame,
    anatomy: Anatomy,
    config: PhantomConfig,
    rng: np.random.Generator,
    protect: np.ndarray,
) -> Extras:
    """Draw the v6 structures into ``hu`` (in place, before noise) and return their truth.

    ``protect`` (float32 0..1) is the blood already drawn (hematoma + IVH fraction): soft
    structures (dura, sinuses, calcifications) give way to it so the bleed's truth holds."""
    keep = np.float32(1.0) - np.clip(protect, 0, 1)
    fractions: dict[str, np.ndarray] = {}
    bone_parts, air_parts, sella = _skull_base(anatomy)
    hu_bone = float(rng.uniform(900, 1300))

    def full(parts, n_sub=1) -> np.ndarray:
        out = np.zeros(grid.shape, dtype=np.float32)
        union = union_fraction(ellipsoid_boxes(grid, frame, parts, n_sub))
        if union is not None:
            out[union[0]] = union[1]
        return out

    bone = full(bone_parts)
    airf = full(air_parts) * bone  # the air cells lie inside their bone
    sella_f = full([sella])
    hu += sella_f * (np.float32(anatomy.hu_gm) - hu)
    hu += bone * (np.float32(hu_bone) - hu)
    hu += airf * (np.float32(AIR_HU) - hu)
    fractions["skull_base_bone"] = bone - airf
    fractions["skull_base_air"] = airf

    # dura is 50-70 HU and about a millimetre thick; thicker slices dim it further
    dura_hu = float(rng.uniform(50, 70))
    falx = _sheet(grid, frame, anatomy, "falx", float(rng.uniform(0.8, 1.5)))
    tent = _sheet(grid, frame, anatomy, "tentorium", float(rng.uniform(0.8, 1.5)))
    falx *= keep
    tent *= keep
    dura = np.maximum(falx, tent) * (1 - bone)
    hu += dura * (np.float32(dura_hu) - hu)
    fractions["falx"], fractions["tentorium"] = falx * (1 - bone), tent * (1 - bone)

    sinus = full(_sinuses(rng, anatomy), n_sub=2)
    sinus *= (1 - bone) * keep
    hu += sinus * (np.float32(rng.uniform(40, 70)) - hu)
    fractions["dural_sinus"] = sinus

    s = anatomy.ay / 84.0
    bg = np.zeros(grid.shape, dtype=np.float32)
    if rng.random() < 0.3:
        r = float(rng.uniform(1.5, 3.0))
        parts = [Ellipsoid((side * 18 * s, -2 * s, 0.0), (r, r * 1.4, r)) for side in (1.0, -1.0)]
        bg = full(parts, n_sub=4) * keep
        hu += bg * (np.float32(rng.uniform(120, 300)) - hu)
    fractions["basal_ganglia_calcification"] = bg

    sdh_f = np.zeros(grid.shape, dtype=np.float32)
    side_name = ""
    want = config.subdural if config.subdural is not None else rng.random() < config.p_subdural
    if want:
        side = 1.0 if rng.random() < 0.5 else -1.0
        side_name = "left" if side > 0 else "right"
        sdh_f = _subdural(grid, frame, anatomy, side, float(rng.uniform(5.0, 12.0)))
        sdh_f *= keep  # a bleed already drawn keeps its voxels
        hu += sdh_f * (np.float32(rng.uniform(55, 75)) - hu)
    fractions["subdural"] = sdh_f

    streak = _streaks(rng, fractions["skull_base_bone"], grid.spacing_mm)
    inside = (hu > -200) & (hu < 400)
    hu += streak * inside
    fractions["streak"] = (np.abs(streak) > 5).astype(np.float32)

    blur = config.motion_blur if config.motion_blur is not None else rng.random() < config.p_motion
    if blur:
        k0 = int(rng.integers(0, max(1, grid.shape[0] - 4)))
        k1 = min(grid.shape[0], k0 + int(rng.integers(3, 8)))
        length_px = max(2, int(round(float(rng.uniform(1.5, 4.0)) / grid.spacing_mm[1])))
        axis = 1 + int(rng.integers(0, 2))
        hu[k0:k1] = ndimage.uniform_filter1d(hu[k0:k1], length_px, axis=axis, mode="nearest")
    return Extras(
        fractions=fractions,
        subdural_volume_ml=float(sdh_f.sum(dtype=np.float64)) * grid.voxel_volume_ml,
        subdural_side=side_name,
        motion_blur=bool(blur),
    )


def _subdural(grid, frame, a: Anatomy, side: float, max_mm: float) -> np.ndarray:
    """A crescent inside the inner table over one convexity, thickest laterally."""
    centre = (side * a.ax * 0.6, 0.0, a.az_up * 0.25)
    box = bbox_samples(grid, frame, centre, max(a.ax, a.ay) * 1.1, n_sub=2)
    out = np.zeros(grid.shape, dtype=np.float32)
    if box is None:
        return out
    dist, (ex, ey, ez), _ = a.cavity_distance(box.u, box.v, box.w)
    lateral = np.clip((side * ex - np.float32(0.35)) / np.float32(0.55), 0, 1)
    vertical = np.clip(1 - np.abs(ez - np.float32(0.25)) / np.float32(0.75), 0, 1)
    front_back = np.clip(1 - np.abs(ey) / np.float32(0.8), 0, 1)
    thick = np.float32(max_mm) * (lateral * vertical * front_back) ** np.float32(0.3)
    inner = -dist - thick  # > 0 deeper than the crescent
    f = ramp(dist, np.float32(box.h_mm)) * ramp(inner, np.float32(box.h_mm))
    f *= thick > 0.5
    out[box.index] = box.reduce(f)
    return out
