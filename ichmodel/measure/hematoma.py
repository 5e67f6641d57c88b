"""Hematoma segmentation: blood-range voxels inside the skull, cleaned, by hysteresis.

Split in two so a live HU-range slider stays fast:

* :func:`prepare_blood` (HU-range independent, ~50-100 ms on a typical study): clip and smooth
  the cropped HU, find calcifications and their halo.
* :func:`segment_blood` (per HU range, ~20-50 ms): threshold the smoothed HU to
  [hu_min, hu_max], label 6-connected components, keep those that are big enough
  (``min_component_ml``), clearly blood somewhere (max >= hu_min + ``seed_margin_hu``: a
  hysteresis threshold) and not a streak along the skull; fill their in-plane holes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel import notices
from ichmodel.measure import _morph
from ichmodel.measure.brain import IntracranialRegion
from ichmodel.measure.edges import refine_edges
from ichmodel.measure.types import MeasureParams
from ichmodel.notices import Notice, Source

log = logging.getLogger(__name__)

#: HU are clipped to this range before smoothing so that bone (1000+ HU) at the edge of the
#: crop does not bleed tens of HU into the brain next to it.
CLIP_LOW_HU = -100.0
CLIP_HIGH_HU = 200.0
#: Below this many ml, dropped skull-contact regions are not worth a warning.
WARN_DROPPED_ML = 0.5
#: A smoothing sigma below this many voxels is a no-op; skip that axis.
MIN_SIGMA_VOXELS = 0.3


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
        sz, sy, sx = self.spacing_mm
        return sz * sy * sx / 1000.0


@dataclass(frozen=True, eq=False)
class BloodSegmentation:
    """Blood mask on the crop, its component labels (0 = background) and notes."""

    mask: np.ndarray
    labels: np.ndarray
    n_components: int
    notices: tuple[Notice, ...]


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
        sz, sy, sx = spacing_mm
        calcification_ml = float(np.count_nonzero(calcified)) * sz * sy * sx / 1000.0
    return BloodPrep(
        smoothed=smoothed.astype(np.float32, copy=False),
        inside=inside,
        allowed=allowed,
        calcified=calcified,
        near_skull=region.near_skull,
        spacing_mm=spacing_mm,
        calcification_ml=calcification_ml,
    )


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
    """Blood-range components that pass the size, hysteresis and skull-contact tests."""
    sm = prep.smoothed
    cand = prep.allowed & (sm >= params.hu_min) & (sm <= params.hu_max)
    labels, n = ndi.label(cand)
    empty = BloodSegmentation(np.zeros_like(cand), np.zeros_like(labels), 0, ())
    if n == 0:
        return empty
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    min_voxels = max(1, math.ceil(params.min_component_ml / prep.voxel_ml - 1e-9))
    big = np.flatnonzero(sizes[1:] >= min_voxels) + 1
    if big.size == 0:
        return empty
    seeds = np.bincount(labels[sm >= params.hu_min + params.seed_margin_hu], minlength=n + 1)
    contact = np.bincount(labels[prep.near_skull], minlength=n + 1)[big] / sizes[big]
    seeded = seeds[big] > 0
    along_skull = contact > params.max_skull_contact_fraction
    keep = big[seeded & ~along_skull]
    found: list[Notice] = []
    dropped_ml = float(sizes[big[seeded & along_skull]].sum()) * prep.voxel_ml
    if dropped_ml >= WARN_DROPPED_ML:
        found.append(notices.info(
            "measure.skull_contact_not_counted",
            f"not counted: {dropped_ml:.1f} ml of blood-range voxels hugging the skull (usually "
            "partial volume of bone; an extra-axial bleed there would not be measured either)",
            Source.MEASURE,
        ))
    if keep.size == 0:
        return BloodSegmentation(np.zeros_like(cand), np.zeros_like(labels), 0, tuple(found))
    lut = np.zeros(n + 1, dtype=bool)
    lut[keep] = True
    mask = lut[labels]
    if params.refine_edges:
        mask = refine_edges(mask, sm, prep.allowed, prep.spacing_mm, params)
    # Enclosed holes of a bleed (a few voxels over hu_max, a calcification's carved halo) are
    # bleed; the calcification itself is not blood.
    mask = _morph.fill_holes_per_slice(mask) & prep.inside & ~prep.calcified
    out_labels, n_out = _morph.label_in_box(mask)
    log.debug("blood: %d candidate components, %d kept", n, n_out)
    return BloodSegmentation(mask, out_labels, int(n_out), tuple(found))
