"""Insert synthetic hematomas of exactly known volume into a real head CT.

Real anatomy (skull base, sinuses, streaks, the scanner's own noise) with exact truth:

* shape: an irregular multi-lobe bleed (the phantom's own implicit shape, :mod:`.hematoma`),
  scaled to a target volume and evaluated on sub-samples of every voxel (<= ``SUB_MM`` apart
  on each axis), so each voxel gets its fractional occupancy;
* blood may displace only soft tissue and CSF inside the skull (original HU in
  [``TISSUE_MIN_HU``, ``TISSUE_MAX_HU``] and intracranial): never bone, never air or fat; the
  fraction is zero elsewhere, so the truth counts only what is in the image;
* mixing: ``hu = (1 - f) * (tissue - edema) + f * (blood + noise)``, where blood is
  55-85 HU with a smooth texture and ``noise`` is the scan's own high-pass residual at that
  voxel (the real noise stays), and edema lowers the tissue in a rim around the bleed;
* truth: ``volume_ml = sum(f) * voxel volume`` (exactly what :attr:`Inserted.fraction` sums).

Sites: ``deep``, ``lobar``, ``convexity`` (surface 10-20 mm from the inner table),
``infratentorial``, ``periventricular``; pass two requests for two bleeds at once.
:func:`insert_placed` puts a bleed at a given centre and orientation instead (a follow-up:
:func:`place_bleed` picks a place once, and the same shape grown goes where the head moved).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure.brain import find_intracranial
from ichmodel.measure.location import orientation_from_direction
from ichmodel.phantom.geometry import equivalent_radius_mm, random_rotation
from ichmodel.phantom.hematoma import _implicit, _lobes, wavy_unit_shape
from ichmodel.volume import Volume

log = logging.getLogger(__name__)

INSERT_SITES = ("deep", "lobar", "convexity", "infratentorial", "periventricular")
TISSUE_MIN_HU = -20.0
TISSUE_MAX_HU = 100.0
#: Largest distance (mm) between sub-samples of a voxel along any axis.
SUB_MM = 0.5
BLOOD_HU = (55.0, 85.0)
EDEMA_DROP_HU = (4.0, 10.0)
#: Least gap (mm) kept between two inserted bleeds when the head has room (see clear_of_bleeds).
BLEED_GAP_MM = 5.0
#: Centres tried for a bleed that no size-rule clear centre fits before giving up.
MAX_PLACEMENT_TRIES = 30
#: Brain parenchyma on the smoothed original (a centre must sit in it).
PARENCHYMA_HU = (18.0, 48.0)


class InsertionError(ValueError):
    """No place in this head fits the requested bleed (say what to change)."""


@dataclass(frozen=True)
class BleedRequest:
    """One bleed to insert: site (one of :data:`INSERT_SITES`) and target volume, ml."""

    site: str
    volume_ml: float

    def __post_init__(self) -> None:
        if self.site not in INSERT_SITES:
            raise ValueError(f"site must be one of {INSERT_SITES}, got {self.site!r}")
        if not 0.05 <= self.volume_ml <= 150:
            raise ValueError(f"volume_ml must be 0.05..150 ml, got {self.volume_ml}")


@dataclass(frozen=True)
class InsertedBleed:
    """One inserted bleed's truth: ``volume_ml`` = its fraction sum x voxel volume."""

    site: str
    volume_ml: float
    target_ml: float
    centre_zyx: tuple[float, float, float]  # voxel index of the nominal centre
    blood_hu: float
    shape: str

    def to_dict(self) -> dict[str, object]:
        return {
            "site": self.site,
            "volume_ml": round(self.volume_ml, 4),
            "target_ml": round(self.target_ml, 4),
            "centre_zyx": [round(c, 2) for c in self.centre_zyx],
            "blood_hu": round(self.blood_hu, 1),
            "shape": self.shape,
        }


@dataclass(frozen=True, eq=False)
class Inserted:
    """The real scan with bleeds inserted, and the truth on its grid (z, y, x)."""

    volume: Volume
    fraction: np.ndarray  # float32 0..1: blood fraction of each voxel (all bleeds)
    labels: np.ndarray  # uint8: 1.. = which bleed holds the voxel's largest fraction
    bleeds: tuple[InsertedBleed, ...]

    @property
    def mask(self) -> np.ndarray:
        """Voxels at least half blood."""
        return self.fraction >= 0.5

    @property
    def volume_ml(self) -> float:
        return float(self.fraction.sum(dtype=np.float64)) * self.volume.voxel_volume_ml

    def truth(self) -> dict[str, object]:
        return {
            "hematoma_volume_ml": round(self.volume_ml, 4),
            "bleeds": [b.to_dict() for b in self.bleeds],
            "truth_is": "sum of voxel blood fractions x voxel volume",
        }


def _bbox_of(mask: np.ndarray, pad: int) -> tuple[slice, ...] | None:
    if not mask.any():
        return None
    out = []
    for axis in range(3):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        out.append(slice(max(0, hit[0] - pad), min(mask.shape[axis], hit[-1] + 1 + pad)))
    return tuple(out)


def _subsample_offsets(spacing: float) -> np.ndarray:
    n = max(1, math.ceil(spacing / SUB_MM - 1e-9))
    return ((np.arange(n) + 0.5) / n - 0.5) * spacing


@dataclass(frozen=True, eq=False)
class HeadAnalysis:
    """HU-derived maps of one head that say where a bleed may be placed."""

    hu_smooth: np.ndarray
    region: np.ndarray  # intracranial, full grid
    edge_mm: np.ndarray  # distance to the region's edge (mm), full grid
    csf_mm: np.ndarray  # distance to ventricular-like CSF (mm)
    height: np.ndarray  # (z,) 0 lowest intracranial slice .. 1 highest
    centre_yx: np.ndarray  # (2,) in-plane centre of the region (pixels)
    posterior_sign: int
    midline_x: float


def analyse_head(volume: Volume) -> HeadAnalysis:
    """Where bleeds may go in this head (slow part; reuse it for many insertions)."""
    hu = volume.hu
    region = find_intracranial(hu, volume.spacing_mm)
    if not region.found or region.box is None:
        raise InsertionError(f"cannot insert a bleed: {region.status}")
    full = np.zeros(volume.shape, dtype=bool)
    full[region.box] = region.mask
    sz, sy, sx = volume.spacing_mm
    sig = [1.0 / s if 1.0 / s >= 0.3 else 0.0 for s in volume.spacing_mm]
    smooth = ndi.gaussian_filter(np.clip(hu, -100, 200).astype(np.float32), sig)
    edge = ndi.distance_transform_edt(full, sampling=volume.spacing_mm).astype(np.float32)
    central = full & (edge > 15.0)
    csf = central & (smooth < 15.0)
    csf_mm = ndi.distance_transform_edt(~csf, sampling=volume.spacing_mm).astype(np.float32)
    area = full.reshape(full.shape[0], -1).sum(axis=1)
    rows = np.flatnonzero(area > 0.1 * area.max())
    z = np.arange(full.shape[0], dtype=float)
    height = np.clip((z - rows[0]) / max(1.0, rows[-1] - rows[0]), 0, 1)
    orient = orientation_from_direction(volume.direction)
    if orient.superior < 0:
        height = 1 - height
    yx = np.argwhere(full[rows[len(rows) // 2]])
    centre = yx.mean(axis=0)
    return HeadAnalysis(
        smooth, full, edge, csf_mm, height, centre, orient.posterior, float(centre[1])
    )


def _candidates(head: HeadAnalysis, site: str, radius_mm: float, slack: float = 1.0) -> np.ndarray:
    """Where the centre of a bleed of ``radius_mm`` may go; ``slack`` < 1 relaxes margins."""
    h = head.height[:, None, None]
    lo, hi = PARENCHYMA_HU
    tissue = head.region & (head.hu_smooth >= lo) & (head.hu_smooth <= hi)
    ny = head.region.shape[1]
    y = np.arange(ny)[None, :, None]
    posterior = (y - head.centre_yx[0]) * head.posterior_sign > 0
    away_csf = head.csf_mm >= slack * (0.7 * radius_mm + 1.0)
    e = head.edge_mm
    r = radius_mm
    if site == "deep":
        c = tissue & away_csf & (e >= r + slack * 18) & (h > 0.35) & (h < 0.75)
    elif site == "lobar":
        c = tissue & away_csf & (e >= r + slack * 6) & (e <= r + 22) & (h > 0.4)
    elif site == "convexity":  # the bleed's surface 10-20 mm from the inner table
        c = tissue & (e >= r + 10) & (e <= r + 20) & (h > 0.45)
    elif site == "infratentorial":
        c = tissue & (e >= r + slack * 4) & (h < 0.3) & posterior
    else:  # periventricular: beside the ventricles, not in them
        c = tissue & (head.csf_mm >= r + 1) & (head.csf_mm <= r + 6)
        c &= (e >= r + slack * 12) & (h > 0.35)
    return c


def _shape(rng: np.random.Generator, target_ml: float, site: str):
    kind = str(rng.choice(("round", "lobulated", "chain"), p=(0.35, 0.45, 0.2)))
    if site == "convexity" or target_ml < 2.0:
        kind = "round" if kind == "chain" else kind
    lobes = _lobes(rng, kind, "deep" if site in ("deep", "periventricular") else "lobar")
    eps = float(rng.uniform(0.04, 0.12))
    wave_k, phase, unit_mm3, reach = wavy_unit_shape(rng, lobes, eps, n_points=40000)
    scale = (target_ml * 1000.0 / unit_mm3) ** (1 / 3)
    return kind, lobes, wave_k, phase, eps, scale, reach * scale


def _occupancy(
    shape_zyx: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    centre_zyx: np.ndarray,
    shape_params,
    rotation: np.ndarray,
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Fraction of each voxel inside the bleed, on its bounding box, by supersampling."""
    _, lobes, wave_k, phase, eps, scale, reach_mm = shape_params
    box = []
    for c, s, n in zip(centre_zyx, spacing_mm, shape_zyx, strict=True):
        lo = max(0, int(math.floor(c - reach_mm / s)) - 1)
        hi = min(n, int(math.ceil(c + reach_mm / s)) + 2)
        box.append(slice(lo, hi))
    axes = []
    for b, s, c in zip(box, spacing_mm, centre_zyx, strict=True):
        centres = (np.arange(b.start, b.stop) - c) * s
        axes.append((centres[:, None] + _subsample_offsets(s)[None, :]).ravel())
    nsub = [len(_subsample_offsets(s)) for s in spacing_mm]
    out = np.zeros([b.stop - b.start for b in box], dtype=np.float32)
    rt = rotation.T.astype(np.float32)
    zs, ys, xs = (a.astype(np.float32) for a in axes)
    # slab by slab in z (memory): each voxel row's sub-samples are averaged back
    for k in range(out.shape[0]):
        z = zs[k * nsub[0] : (k + 1) * nsub[0]][:, None, None]
        y, x = ys[None, :, None], xs[None, None, :]
        # head-free local frame: rotate the sample offsets, scale to the unit shape
        u = (rt[0, 0] * x + rt[0, 1] * y + rt[0, 2] * z) / np.float32(scale)
        v = (rt[1, 0] * x + rt[1, 1] * y + rt[1, 2] * z) / np.float32(scale)
        w = (rt[2, 0] * x + rt[2, 1] * y + rt[2, 2] * z) / np.float32(scale)
        inside = (_implicit(lobes, wave_k, phase, eps, u, v, w) < 1).astype(np.float32)
        fz, fy, fx = inside.shape
        red = inside.reshape(nsub[0], fy // nsub[1], nsub[1], fx // nsub[2], nsub[2])
        out[k] = red.mean(axis=(0, 2, 4))
    return tuple(box), out


class _Canvas:
    """The bleeds painted so far on one volume (internal to this module)."""

    def __init__(self, volume: Volume, head: HeadAnalysis, confine: np.ndarray | None) -> None:
        if head.region.shape != volume.shape:
            raise ValueError("the head analysis belongs to another volume")
        if confine is not None and confine.shape != volume.shape:
            raise ValueError("the confine mask belongs to another volume")
        self.volume = volume
        self.head = head
        self.spacing = tuple(float(s) for s in volume.spacing_mm)
        self.hu0 = volume.hu.astype(np.float32)
        self.allowed = head.region & (self.hu0 >= TISSUE_MIN_HU) & (self.hu0 <= TISSUE_MAX_HU)
        self.confine = confine
        self.fraction = np.zeros(volume.shape, dtype=np.float32)
        self.labels = np.zeros(volume.shape, dtype=np.uint8)
        self.taken = np.zeros(volume.shape, dtype=bool)
        self.blood = np.zeros(volume.shape, dtype=np.float32)
        self.edema = np.zeros(volume.shape, dtype=np.float32)
        self.bleeds: list[InsertedBleed] = []
        self._away: tuple[int, np.ndarray] | None = None

    def paint(self, site: str, target_ml: float, centre: np.ndarray, params, rotation,
              rng: np.random.Generator, confined: bool = False) -> None:
        """Occupancy, blood HU, texture and edema of one bleed (rng: HU, texture, edema)."""
        i = len(self.bleeds) + 1
        radius = equivalent_radius_mm(target_ml)
        spacing = self.spacing
        box, occ = _occupancy(self.volume.shape, spacing, centre, params, rotation)
        occ *= self.allowed[box]
        if confined and self.confine is not None:
            occ *= self.confine[box]
        occ = np.minimum(occ, 1.0 - self.fraction[box])  # bleeds never overlap
        b_hu = float(rng.uniform(*BLOOD_HU))
        texture = ndi.gaussian_filter(rng.standard_normal(occ.shape).astype(np.float32), 2.0)
        texture *= np.float32(3.0 / (texture.std() + 1e-6))
        core = ndi.distance_transform_edt(occ >= 0.5, sampling=spacing).astype(np.float32)
        blood = self.blood
        blood[box] = np.where(occ > 0, b_hu + texture + np.minimum(core, 6.0) * 0.5, blood[box])
        outside = ndi.distance_transform_edt(occ < 0.5, sampling=spacing).astype(np.float32)
        rim_mm = 2.0 + 0.12 * radius
        drop = float(rng.uniform(*EDEMA_DROP_HU)) * np.clip(1 - outside / rim_mm, 0, 1)
        self.edema[box] = np.maximum(self.edema[box], drop * self.allowed[box])
        self.labels[box][occ > self.fraction[box]] = i
        self.fraction[box] += occ
        self.taken |= ndi.binary_dilation(self.fraction > 0, iterations=3)
        ml = float(occ.sum(dtype=np.float64)) * self.volume.voxel_volume_ml
        self.bleeds.append(InsertedBleed(site, ml, target_ml, tuple(centre), b_hu, params[0]))
        log.debug("inserted %s %.2f ml at %s", site, ml, centre)

    def would_touch(self, centre: np.ndarray, params, rotation) -> bool:
        """Whether a bleed of this shape at ``centre`` would come within ``BLEED_GAP_MM`` of
        the bleeds painted so far."""
        if not self.bleeds:
            return False
        box, occ = _occupancy(self.volume.shape, self.spacing, centre, params, rotation)
        footprint = (occ > 0) & self.allowed[box]
        if not footprint.any():
            return False
        return bool(self._distance_to_bleeds()[box][footprint].min() < BLEED_GAP_MM)

    def _distance_to_bleeds(self) -> np.ndarray:
        """Distance (mm) of each voxel to the bleeds painted so far (kept until the next)."""
        if self._away is None or self._away[0] != len(self.bleeds):
            away = ndi.distance_transform_edt(self.fraction == 0, sampling=self.spacing)
            self._away = (len(self.bleeds), away)
        return self._away[1]

    def clear_of_bleeds(self, req: BleedRequest) -> np.ndarray | None:
        """Centres from which a new bleed of ``req``'s size keeps a gap of at least
        ``BLEED_GAP_MM`` to the bleeds painted so far (None before the first): two bleeds
        that touch are one region in the image, and "each bleed measured on its own" could
        not be tested on them. A lobed shape reaches up to about twice its equivalent
        radius."""
        if not self.bleeds:
            return None
        radius = equivalent_radius_mm(req.volume_ml)
        return self._distance_to_bleeds() > 2.0 * radius + BLEED_GAP_MM

    def finish(self) -> Inserted:
        fraction, hu0, spacing = self.fraction, self.hu0, self.spacing
        touched = _bbox_of((fraction > 0) | (self.edema > 0), pad=3)
        hu = hu0.copy()
        if touched is not None:
            part = hu0[touched]
            # the scan's own noise: the high-pass residual of the original, kept under the blood
            sig = [1.0 / s if 1.0 / s >= 0.3 else 0.0 for s in spacing]
            noise = np.clip(part - ndi.gaussian_filter(part, sig), -40, 40)
            f = fraction[touched]
            tissue = part - self.edema[touched] * (part > 15)
            mixed = (1 - f) * tissue + f * (self.blood[touched] + noise)
            hu[touched] = np.where(self.allowed[touched], mixed, part)
        # unrounded: voxels we did not touch keep their exact values (a DICOM writer rounds)
        return Inserted(self.volume.with_hu(hu), fraction, self.labels, tuple(self.bleeds))


def insert_hematomas(
    volume: Volume,
    requests: tuple[BleedRequest, ...] | list[BleedRequest],
    seed: int = 0,
    head: HeadAnalysis | None = None,
) -> Inserted:
    """Insert each requested bleed into ``volume`` (see the module doc). Deterministic in seed.

    Raises :class:`InsertionError` when the head has no room for a request (a scan that is
    not a head, a site this series does not cover).
    """
    if not requests:
        raise ValueError("ask for at least one bleed")
    rng = np.random.default_rng(seed)
    canvas = _Canvas(volume, head if head is not None else analyse_head(volume), None)
    for req in requests:
        params = _shape(rng, req.volume_ml, req.site)
        centre = _pick_centre(canvas.head, req, canvas.taken, rng, canvas.clear_of_bleeds(req))
        rotation = random_rotation(rng)
        tries = 0
        while canvas.would_touch(centre, params, rotation):
            # no centre was clear by the size rule: try others until the shape itself keeps
            # the gap (only then are more random numbers drawn, so other cases stay the same)
            tries += 1
            if tries > MAX_PLACEMENT_TRIES:
                raise InsertionError(
                    f"no room for a {req.volume_ml:g} ml {req.site} bleed at least "
                    f"{BLEED_GAP_MM:g} mm from the other bleeds in this series (ask for smaller "
                    "bleeds or other sites)"
                )
            centre = _pick_centre(canvas.head, req, canvas.taken, rng)
            rotation = random_rotation(rng)
        canvas.paint(req.site, req.volume_ml, centre, params, rotation, rng)
    return canvas.finish()


def _pick_centre(head: HeadAnalysis, req: BleedRequest, taken: np.ndarray,
                 rng: np.random.Generator, clear: np.ndarray | None = None) -> np.ndarray:
    """A centre for ``req``: a site candidate not ``taken``, preferring the ``clear`` ones (far
    enough from the bleeds so far that the two stay apart in the image)."""
    radius = equivalent_radius_mm(req.volume_ml)
    idx = np.empty(0, dtype=np.intp)
    for keep_clear in ((True, False) if clear is not None else (False,)):
        for slack in (1.0, 0.7, 0.4):
            free = _candidates(head, req.site, radius, slack) & ~taken
            if keep_clear:
                free &= clear  # type: ignore[operator]
            idx = np.flatnonzero(free.ravel())
            if idx.size:
                break
        if idx.size:
            break
    if idx.size == 0:
        raise InsertionError(
            f"no room for a {req.volume_ml:g} ml {req.site} bleed in this series "
            "(try a smaller volume or another site)"
        )
    centre = np.array(np.unravel_index(int(rng.choice(idx)), head.region.shape), dtype=float)
    return centre + rng.uniform(-0.5, 0.5, 3)


@dataclass(frozen=True)
class BleedPlacement:
    """A bleed at a chosen place and orientation (a follow-up scan: the same bleed, grown,
    where the head's move put it).

    ``shape_seed`` fixes the shape: the same seed and site with another ``volume_ml`` give the
    same shape scaled. ``centre_zyx`` is a (fractional) voxel index; ``rotation_rowmajor`` the
    3x3 rotation taking the shape's own frame to the grid's (x, y, z) axes in mm.
    ``confined``: the bleed may fill only the ``confine`` mask given to :func:`insert_placed`
    (e.g. blood layering in a ventricle's CSF)."""

    site: str
    volume_ml: float
    centre_zyx: tuple[float, float, float]
    rotation_rowmajor: tuple[float, ...]
    shape_seed: int
    confined: bool = False

    def __post_init__(self) -> None:
        BleedRequest(self.site, self.volume_ml)  # the same checks
        r = np.asarray(self.rotation_rowmajor, float)
        if r.shape != (9,) or not np.allclose(r.reshape(3, 3) @ r.reshape(3, 3).T, np.eye(3),
                                              atol=1e-6):
            raise ValueError("rotation_rowmajor must be 9 numbers of a 3x3 rotation")

    @property
    def rotation(self) -> np.ndarray:
        return np.asarray(self.rotation_rowmajor, float).reshape(3, 3)


def place_bleed(head: HeadAnalysis, request: BleedRequest, seed: int) -> BleedPlacement:
    """Where :func:`insert_hematomas` would put ``request`` in this head: a random centre among
    the site's candidates, a random orientation and shape (all from ``seed``)."""
    rng = np.random.default_rng(seed)
    centre = _pick_centre(head, request, np.zeros(head.region.shape, dtype=bool), rng)
    rotation = random_rotation(rng)
    return BleedPlacement(request.site, request.volume_ml, tuple(float(c) for c in centre),
                          tuple(float(v) for v in rotation.ravel()),
                          shape_seed=int(rng.integers(0, 2**31 - 1)))


def insert_placed(
    volume: Volume,
    placements: tuple[BleedPlacement, ...] | list[BleedPlacement],
    seed: int = 0,
    head: HeadAnalysis | None = None,
    confine: np.ndarray | None = None,
) -> Inserted:
    """Insert bleeds at given places (see :class:`BleedPlacement`); the same truth as
    :func:`insert_hematomas` (the fraction sum in *this* volume). ``seed`` draws the blood HU,
    texture and edema; ``confine`` (bool, the volume's grid) bounds the ``confined`` bleeds."""
    if not placements:
        raise ValueError("give at least one placement")
    rng = np.random.default_rng(seed)
    canvas = _Canvas(volume, head if head is not None else analyse_head(volume), confine)
    for p in placements:
        params = _shape(np.random.default_rng(p.shape_seed), p.volume_ml, p.site)
        canvas.paint(p.site, p.volume_ml, np.asarray(p.centre_zyx, float), params, p.rotation,
                     rng, confined=p.confined)
    return canvas.finish()
