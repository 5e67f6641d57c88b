"""Hematoma segmentation: blood-range voxels inside the skull, cleaned, by hysteresis.

Split in two so a live HU-range slider stays fast:

* :func:`prepare_blood` (HU-range independent, ~50-100 ms on a typical study): clip and smooth
  the cropped HU, find calcifications and their halo.
* :func:`segment_blood` (per HU range): threshold the smoothed HU to [hu_min, hu_max], find
  each hematoma by its thick core away from bone (:mod:`.detect`: not a streak, a sinus, a
  dural sheet or bone partial volume), clearly blood somewhere (max >= hu_min +
  ``seed_margin_hu``: hysteresis), grow it back to its edge, refine the edge per bleed,
  fill its in-plane holes, drop those under ``min_component_ml``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph
from ichmodel.measure import location as loc
from ichmodel.measure.brain import IntracranialRegion
from ichmodel.measure.detect import find_cores
from ichmodel.measure.edges import Levels, refine_edges
from ichmodel.measure.location import HeadFrame
from ichmodel.measure.types import MeasureParams
from ichmodel.notices import Notice
from ichmodel.volume import voxel_volume_ml

log = logging.getLogger(__name__)

#: HU are clipped to this range before smoothing so that bone (1000+ HU) at the edge of the
#: crop does not bleed tens of HU into the brain next to it.
CLIP_LOW_HU = -100.0
CLIP_HIGH_HU = 200.0
#: A hematoma's surroundings are mostly measurable tissue; below this fraction of its shell
#: (:attr:`~ichmodel.measure.edges.Levels.tissue_shell_fraction`) it is walled in by bone.
MIN_TISSUE_SHELL = 0.5
#: A hematoma's tissue shell is brain: more than this fraction of it in the blood range
#: means the region runs on through its surroundings (the tentorium meeting a sinus).
MAX_SHELL_BLOOD = 0.1
#: See :func:`drop_inside`. On the development subdural phantoms (seeds 200000-200299, every
#: 7th) the regions a collection's mask holds lie against the skull with 51-76 % of their
#: voxels when they are the collection itself, 14-26 % when they are a parenchymal bleed beside
#: it; this sits in the gap (it was 0.25, and dropped 200145's 3.98 ml bleed at 26 %).
COLLECTION_CONTACT = 0.4
#: Slices with less intracranial area than this fraction of the largest hold no hematoma
#: we report (see :func:`drop_below_skull_base`).
MIN_SLICE_AREA = 0.2
#: A smoothing sigma below this many voxels is a no-op; skip that axis.
MIN_SIGMA_VOXELS = 0.3
#: See :func:`halo_facing_blood`: blood-like (smoothed HU) beside a calcification's halo, a
#: fixed level so that the preparation stays independent of the reader's HU range.
HALO_BLOOD_HU = 50.0
#: ... in a region at least this large (ml): a noisy voxel or two of bright brain is not.
MIN_HALO_BLOOD_ML = 0.05
#: A hole in the intracranial region up to this in-plane area (mm²) is a dense calcification
#: (a choroid glomus is up to ~10 mm across); a larger one is bone (see :func:`_near_outline`).
MAX_CALCIFICATION_MM2 = 100.0

_CROSS_3D = ndi.generate_binary_structure(3, 1)


@dataclass(frozen=True, eq=False)
class BloodPrep:
    """HU-range independent arrays on the intracranial crop (all (z, y, x))."""

    smoothed: np.ndarray  # float32 HU, clipped and smoothed
    inside: np.ndarray  # bool: the intracranial mask
    allowed: np.ndarray  # bool: intracranial and not a calcification or its halo
    calcified: np.ndarray  # bool: calcification cores
    near_skull: np.ndarray  # bool: within skull_contact_mm of bone
    spacing_mm: tuple[float, float, float]
    calcification_ml: float

    @property
    def voxel_ml(self) -> float:
        return voxel_volume_ml(self.spacing_mm)


@dataclass(frozen=True, eq=False)
class BloodSegmentation:
    """Hematomas on the crop: labels 1..n by size (0 = none), their levels, and the
    blood-range candidates no hematoma claimed (for the extra-axial check)."""

    mask: np.ndarray
    labels: np.ndarray
    n_components: int
    levels: dict[int, Levels]
    rejected: np.ndarray
    notices: tuple[Notice, ...] = ()


def smoothing_sigmas(spacing_mm: tuple[float, float, float], sigma_mm: float) -> tuple[float, ...]:
    """Gaussian sigma in voxels per axis for a physical sigma; axes too coarse get 0."""
    sig = [sigma_mm / s for s in spacing_mm]
    return tuple(s if s >= MIN_SIGMA_VOXELS else 0.0 for s in sig)


def prepare_blood(
    hu_crop: np.ndarray,
    region: IntracranialRegion,
    spacing_mm: tuple[float, float, float],
    params: MeasureParams,
) -> BloodPrep:
    """Everything of the segmentation that does not depend on the HU range."""
    clipped = np.clip(hu_crop, CLIP_LOW_HU, max(CLIP_HIGH_HU, params.calcification_hu + 50.0))
    clipped = clipped.astype(np.float32, copy=False)
    sigmas = smoothing_sigmas(spacing_mm, params.smoothing_mm)
    smoothed = clipped
    if any(sigmas):
        smoothed = ndi.gaussian_filter(clipped, sigma=sigmas, mode="nearest")
    inside = region.mask
    calcified = inside & (smoothed >= params.calcification_hu)
    allowed = inside.copy()
    calcification_ml = 0.0
    if calcified.any():
        halo = _dilate_mm(calcified, params.calcification_halo_mm, spacing_mm)
        allowed &= ~halo
        calcification_ml = float(np.count_nonzero(calcified)) * voxel_volume_ml(spacing_mm)
    return BloodPrep(
        smoothed=smoothed.astype(np.float32, copy=False),
        inside=inside,
        allowed=allowed,
        calcified=calcified,
        near_skull=region.near_skull,
        spacing_mm=spacing_mm,
        calcification_ml=calcification_ml,
    )


def halo_facing_blood(prep: BloodPrep, zone: np.ndarray, params: MeasureParams) -> np.ndarray:
    """The part of the calcifications' halo within ``zone`` (bool: where intraventricular
    blood is looked for, the ventricles' central zone) that faces blood: within
    the halo's width of a blood-like region (>= ``HALO_BLOOD_HU``, at least
    ``MIN_HALO_BLOOD_ML``) just outside it. The choroid plexus glomus lies in the atrium,
    where intraventricular blood pools around it: a halo taken wholesale cuts a 2 mm bite out
    of a cast that no hole filling restores (the calcification is at the blood's edge, not
    enclosed; dev phantoms 200029 and 200049 lost a third of their IVH). Only the
    intraventricular blood gets it back: at a hematoma's edge the same voxels are part
    calcification, and counting them as blood over-measures every bleed beside one
    (docs/measure_ivh_halo_2026-12-04.md). Away from blood (brain, CSF) the halo stays; so
    it does within ``skull_contact_mm`` of the skull (the intracranial region's outline; a
    dense calcification is itself "bone" to ``near_skull``), where bone partial volume is
    what the halo is for. Calcification cores are never returned."""
    smoothed, calcified, inside, spacing_mm = (
        prep.smoothed, prep.calcified, prep.inside, prep.spacing_mm
    )
    halo = inside & ~prep.allowed  # cores included
    out = np.zeros_like(halo)
    free = halo & ~calcified & zone
    whole = _morph.bbox(free)
    if whole is None:
        return out
    free[whole] &= ~_near_outline(inside, whole, params.skull_contact_mm, spacing_mm)
    reach = params.calcification_halo_mm + max(spacing_mm[1:])
    pad = (2, math.ceil(2 * reach / spacing_mm[1]), math.ceil(2 * reach / spacing_mm[2]))
    box = _morph.bbox(free, pad=pad)  # the halos away from the skull: a few, small
    if box is None:
        return out
    h = halo[box]
    outside = ~h & ~calcified[box] & (smoothed[box] >= HALO_BLOOD_HU)
    outside &= smoothed[box] < params.calcification_hu
    labels, n = ndi.label(outside)
    if n == 0:
        return out
    shell = ndi.binary_dilation(h, structure=_CROSS_3D) & outside
    touching = np.unique(labels[shell])
    touching = touching[touching > 0]
    if touching.size == 0:
        return out
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    min_voxels = MIN_HALO_BLOOD_ML / voxel_volume_ml(spacing_mm)
    keep = np.zeros(n + 1, dtype=bool)
    keep[touching[sizes[touching] >= min_voxels]] = True
    facing = shell & keep[labels]
    if not facing.any():
        return out
    near = _dilate_mm(facing, reach, spacing_mm)
    out[box] = near & free[box]
    return out


def _near_outline(
    inside: np.ndarray, box: tuple[slice, ...], radius_mm: float,
    spacing_mm: tuple[float, float, float],
) -> np.ndarray:
    """Within ``box``: in-plane within ``radius_mm`` of the intracranial region's outline or of
    bone inside it (its small in-plane holes, dense calcifications, filled first)."""
    sy, sx = spacing_mm[1:]
    pad = (0, math.ceil(radius_mm / sy) + 1, math.ceil(radius_mm / sx) + 1)
    big = tuple(
        slice(max(0, b.start - p), min(n, b.stop + p))
        for b, p, n in zip(box, pad, inside.shape, strict=True)
    )
    part = inside[big]
    holes = _morph.fill_holes_per_slice(part) & ~part
    # small holes are dense calcifications (the region leaves out bone >= bone_hu); large
    # ones are bone: the petrous ridges and the clinoids, enclosed on the skull-base slices
    labels, n = ndi.label(holes, structure=_morph.IN_PLANE)
    area_mm2 = np.bincount(labels.ravel(), minlength=n + 1) * (sy * sx)
    small = area_mm2 <= MAX_CALCIFICATION_MM2
    small[0] = False
    outside = ~(part | small[labels])
    # beyond the crop is outside too (the crop is the region's bounding box)
    outside = np.pad(outside, ((0, 0), (1, 1), (1, 1)), constant_values=True)
    # on blocks of about a fifth of the radius: fast, and errs towards "near"
    f = max(1, int(radius_mm / (5.0 * min(sy, sx))))
    coarse = _morph.block_any(outside, 1, f)
    near_c = _morph.dilate(coarse, _morph.disk(radius_mm, (sy * f, sx * f)))
    near = _morph.upsample(near_c, 1, f, outside.shape)[:, 1:-1, 1:-1]
    inner = tuple(slice(b.start - c.start, b.stop - c.start) for b, c in zip(box, big, strict=True))
    return near[inner]


def _dilate_mm(mask: np.ndarray, radius_mm: float, spacing_mm: tuple[float, float, float]):
    """Dilate by a cylinder of radius and half-height ``radius_mm``, within the mask's box."""
    if radius_mm <= 0:
        return mask.copy()
    sz, sy, sx = spacing_mm
    nz = int(round(radius_mm / sz))
    pad = (nz, int(round(radius_mm / sy)) + 1, int(round(radius_mm / sx)) + 1)
    box = _morph.bbox(mask, pad=pad)
    out = np.zeros_like(mask)
    if box is None:
        return out
    part = _morph.dilate(mask[box], _morph.disk(radius_mm, (sy, sx)))
    if nz > 0:
        part = ndi.maximum_filter1d(part.view(np.uint8), size=2 * nz + 1, axis=0).view(bool)
    out[box] = part
    return out


def segment_blood(prep: BloodPrep, params: MeasureParams) -> BloodSegmentation:
    """Hematomas among the blood-range voxels: found by their cores (:mod:`.detect`), edges
    refined per bleed (:mod:`.edges`), enclosed holes filled, tiny ones dropped."""
    sm = prep.smoothed
    cand = prep.allowed & (sm >= params.hu_min) & (sm <= params.hu_max)
    seeds = cand & (sm >= params.hu_min + params.seed_margin_hu)
    cores = find_cores(
        cand, seeds, prep.near_skull, prep.spacing_mm, params.core_radius_mm, params.min_core_ml
    )
    labels, levels = refine_edges(
        cores.labels, cores.n, sm, prep.allowed, prep.spacing_mm, params, prep.near_skull
    )
    for i, lv in levels.items():
        # a hazy smear (the tentorium on thick slices), not a clot; or a pocket walled in by
        # bone (the brainstem in the foramen magnum on a thick slice), not in the brain
        hazy = lv.blood_hu - lv.tissue_hu < params.min_contrast_hu
        dural = lv.shell_blood_fraction > MAX_SHELL_BLOOD  # runs on: tentorium + sinus
        if hazy or dural or lv.tissue_shell_fraction < MIN_TISSUE_SHELL:
            labels[labels == i] = 0
    labels = _fill_holes_per_label(labels, cores.n)
    labels[~prep.inside | prep.calcified] = 0
    sizes = np.bincount(labels.ravel(), minlength=cores.n + 1)
    sizes[0] = 0
    min_voxels = max(1, math.ceil(params.min_component_ml / prep.voxel_ml - 1e-9))
    order = [int(i) for i in np.argsort(-sizes, kind="stable") if sizes[i] >= min_voxels and i]
    relabel = np.zeros(cores.n + 1, dtype=np.int32)
    relabel[order] = np.arange(1, len(order) + 1)
    labels = relabel[labels]
    new_levels = {int(relabel[i]): lv for i, lv in levels.items() if relabel[i]}
    mask = labels > 0
    log.debug("blood: %d cores, %d hematomas kept", cores.n, len(order))
    return BloodSegmentation(mask, labels, len(order), new_levels, cand & ~mask)


def drop_inside(
    seg: BloodSegmentation, collection: np.ndarray, near_skull: np.ndarray
) -> BloodSegmentation:
    """``seg`` without the hematomas that are part of an extra-axial ``collection`` (bool):
    mostly (>= half) inside it and lying against the skull (>= ``COLLECTION_CONTACT`` of
    their voxels within ``skull_contact_mm`` of bone). A parenchymal bleed that merely
    touches a collection keeps its place."""
    n = seg.n_components
    if n == 0:
        return seg
    sizes = np.maximum(np.bincount(seg.labels.ravel(), minlength=n + 1), 1)
    inside = np.bincount(seg.labels[collection], minlength=n + 1)
    against = np.bincount(seg.labels[near_skull], minlength=n + 1)
    return drop_labels(seg, (inside >= 0.5 * sizes) & (against >= COLLECTION_CONTACT * sizes))


def drop_below_skull_base(seg: BloodSegmentation, slice_area: np.ndarray) -> BloodSegmentation:
    """``seg`` without hematomas centred on slices whose intracranial area is under
    ``MIN_SLICE_AREA`` of the largest (``slice_area``: (z,) pixels per crop slice): the
    foramen magnum and the skull base, where a thick slice mixes bone into every voxel."""
    n = seg.n_components
    if n == 0 or slice_area.max() <= 0:
        return seg
    z = np.arange(seg.labels.shape[0], dtype=float)[:, None, None]
    sizes = np.bincount(seg.labels.ravel(), minlength=n + 1).astype(float)
    zsum = np.bincount(
        seg.labels.ravel(), weights=np.broadcast_to(z, seg.labels.shape).ravel(), minlength=n + 1
    )
    zc = np.rint(zsum / np.maximum(sizes, 1)).astype(int)
    small = slice_area / slice_area.max() < MIN_SLICE_AREA
    return drop_labels(seg, small[np.clip(zc, 0, len(small) - 1)] & (sizes > 0))


def vertex_slices(slice_area: np.ndarray, frame: HeadFrame) -> np.ndarray:
    """(z,) bool: the vertex slices of the crop - above the slice of largest intracranial area,
    those with less than ``MIN_SLICE_AREA`` of it (``slice_area``: pixels per crop slice).

    A slice there cuts the vault tangentially, so bone partial volume gives blood-range HU
    across much of what is inside (the GE head's top two 4 mm slices: 53-77 HU over 13-27
    cm2), and a bleed just below would annex it through the partial volume of its own top.
    No hematoma voxel and no partial-volume edge is counted there (:func:`trim_slices`): the
    vertex counterpart of :func:`drop_below_skull_base`. A bleed that truly reaches the vertex
    loses that cap (the top ~8 mm of the cavity on 4 mm slices)."""
    if slice_area.max() <= 0:
        return np.zeros(slice_area.shape, dtype=bool)
    widest = int(np.argmax(slice_area))
    small = slice_area / slice_area.max() < MIN_SLICE_AREA
    return small & (frame.height > frame.height[widest])


def trim_slices(seg: BloodSegmentation, slices: np.ndarray) -> BloodSegmentation:
    """``seg`` without its voxels on ``slices`` ((z,) bool); a hematoma left empty is gone."""
    if seg.n_components == 0 or not slices.any() or not seg.mask[slices].any():
        return seg
    labels = seg.labels.copy()
    labels[slices] = 0
    return _with_labels(seg, labels)


def drop_midline_dural(seg: BloodSegmentation, frame: HeadFrame) -> BloodSegmentation:
    """``seg`` without narrow regions hugging the midline plane: the straight and superior
    sagittal sinuses and the falx seen edge-on (:func:`.location.midline_sheets`). A
    midline hematoma of 1 ml or more (vermis, pons, a cast third ventricle) is wider."""
    return drop_labels(seg, loc.midline_sheets(seg.labels, seg.n_components, frame))


def drop_labels(seg: BloodSegmentation, drop: np.ndarray) -> BloodSegmentation:
    """``seg`` without the labels where ``drop`` (bool per label, index 0 ignored) holds."""
    drop = drop.copy()
    drop[0] = False
    if not drop.any():
        return seg
    return _with_labels(seg, np.where(drop[seg.labels], 0, seg.labels).astype(np.int32))


def _with_labels(seg: BloodSegmentation, labels: np.ndarray) -> BloodSegmentation:
    """``seg`` with fewer hematoma voxels (``labels``, a subset of its own): what was taken
    away joins the rejected candidates (the extra-axial check looks at them)."""
    mask = labels > 0
    return BloodSegmentation(
        mask, labels, seg.n_components, seg.levels, seg.rejected | (seg.mask & ~mask), seg.notices
    )


def _fill_holes_per_label(labels: np.ndarray, n: int) -> np.ndarray:
    """Enclosed in-plane holes of each bleed (a few voxels over hu_max, a calcification's
    carved halo) belong to it."""
    out = labels.copy()
    for i, box in enumerate(ndi.find_objects(labels, max_label=n), start=1):
        if box is None:
            continue
        part = out[box]
        filled = _morph.fill_holes_per_slice(part == i)
        part[filled & (part == 0)] = i
    return out
