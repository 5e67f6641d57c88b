"""A plausible extra-axial collection: blood-range voxels lying as a crescent on the skull.

The measurement counts only intraparenchymal blood; a subdural or epidural hematoma is a
different diagnosis with a different volume rule, but the reader must hear of it. Bone
partial volume also lies along the skull in the blood range (every real head holds 20-50 ml
of it), as a thin, graded rim; a collection is *thick*: this notice fires when a connected
blood-range region within ``RIM_MM`` of the inner table is at least ``MIN_THICKNESS_MM``
thick (its mean thickness: area over the length it touches the inner table) on at least
``MIN_SLICES`` slices of the supratentorial convexity (relative height ``HEIGHT_RANGE``:
the skull base and the vertex, where thick slices cut the bone obliquely, are left out), and
at least
``MIN_LENGTH_MM`` long in contact with the inner table there (a convexity hematoma 1 cm
from the skull touches it nowhere). Hematomas found inside such a collection are dropped:
it is one extra-axial collection, not intracerebral blood.

The intracranial region leaves out a rim of ``skull_rim_mm`` against the bone, and a
crescent fills that rim too: its thickness from the inner table is its thickness inside
the region plus the rim times the fraction of the rim (next to the region, towards the
bone) that is in the blood range (``rim_blood``). Bone partial volume grades up from the
brain to the bone, so most of its rim is brighter than blood (a real head: 0.1-0.3 of it in
the blood range); a collection's rim is blood (phantoms: 0.4-0.95). Without this a crescent
4-5 mm thick from the table measured 2 mm inside the region and went unreported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph
from ichmodel.measure.location import HeadFrame
from ichmodel.measure.types import MeasureParams
from ichmodel.volume import voxel_volume_ml

log = logging.getLogger(__name__)

RIM_MM = 15.0
MIN_THICKNESS_MM = 3.0
MIN_SLICES = 3
MIN_LENGTH_MM = 20.0
HEIGHT_RANGE = (0.3, 0.9)
MIN_ML = 1.0
#: Pixels this close (mm) to the intracranial edge touch the inner table (the rim left out
#: of the region is ``skull_rim_mm``; one coarse pixel more).
CONTACT_MM = 1.5
COARSE_YX_MM = 1.0
#: The smoothed HU are clipped at 200 (:mod:`.hematoma`): at or above this, bone.
BONE_CLIPPED_HU = 199.0
#: A region with at least half its voxels this close (mm) to the midline plane is dural
#: (sinus, falx), see :func:`find_extra_axial`.
MIDLINE_MM = 10.0
#: A region that is mostly hematoma is still a collection where it spreads along the inner
#: table: in contact over at least this many times its thickness (see :func:`find_extra_axial`).
CRESCENT_LENGTH_RATIO = 5.0
#: ... on at least this fraction of its thick slices (a bleed's cap may be flat on two or three).
CRESCENT_SLICE_FRACTION = 0.5


@dataclass(frozen=True, eq=False)
class ExtraAxial:
    """The plausible collections: the largest's ml, thickness (mm) and slices over the
    thickness, and all of them as a bool mask on the crop (not intracerebral blood)."""

    volume_ml: float
    thickness_mm: float
    n_slices: int
    mask: np.ndarray


def find_extra_axial(
    candidates: np.ndarray,
    inside: np.ndarray,
    height: np.ndarray,
    spacing_mm: tuple[float, float, float],
    hematoma: np.ndarray | None = None,
    smoothed: np.ndarray | None = None,
    rim_mm: float = 0.0,
    hu_range: tuple[float, float] = (MeasureParams.hu_min, MeasureParams.hu_max),
    frame: HeadFrame | None = None,
) -> ExtraAxial | None:
    """Crescents among the blood-range ``candidates`` (bool, crop grid), or None.

    ``hematoma`` (bool): voxels already taken as hematomas; a region that is mostly
    hematoma is a bleed near the surface, not a collection, unless it spreads along the
    inner table (``CRESCENT_LENGTH_RATIO``) on ``MIN_SLICES`` slices and on most of its thick
    ones (``CRESCENT_SLICE_FRACTION``): on thin slices the dense inner layer of a subdural
    crescent holds hematoma cores (dev phantoms 200352, 200558, 200586 at 1 mm: half of each
    crescent, 20-26 ml, counted as a lobar hematoma); a bleed reaching the table touches it
    over about its own width, and lies flat on it at most at its top and bottom (dev phantom
    200028: 3 of 18 thick slices). ``smoothed`` (HU on the crop),
    ``rim_mm`` (the skull rim left out of ``inside``) and ``hu_range``: see the module doc
    (without ``smoothed`` the rim adds nothing). With the head's ``frame``, a region lying
    mostly within ``MIDLINE_MM`` of the midline plane is the superior sagittal sinus coming
    down the occiput with the falx, not a convexity collection."""
    sz, sy, sx = spacing_mm
    f = max(1, int(round(COARSE_YX_MM / min(sy, sx))))
    rej = _morph.block_mean(candidates.astype(np.float32), 1, f) >= 0.5
    hem = None if hematoma is None else _morph.block_mean(hematoma.astype(np.float32), 1, f) >= 0.5
    ins = _morph.block_mean(inside.astype(np.float32), 1, f) >= 0.5
    if not rej.any():
        return None
    h = (sy * f, sx * f)
    to_edge = np.zeros(ins.shape, dtype=np.float32)
    for k in range(ins.shape[0]):
        if ins[k].any():
            to_edge[k] = ndi.distance_transform_edt(ins[k], sampling=h)
    band = (height >= HEIGHT_RANGE[0]) & (height <= HEIGHT_RANGE[1])
    rim = rej & (to_edge <= RIM_MM)
    labels, n = ndi.label(rim)
    if n == 0:
        return None
    voxel_ml = voxel_volume_ml((sz, h[0], h[1]))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    best: tuple[float, float, int] | None = None
    found_mask = np.zeros(labels.shape, dtype=bool)
    objects = ndi.find_objects(labels)
    for i in np.flatnonzero(sizes * voxel_ml >= MIN_ML):
        if i == 0 or objects[i - 1] is None:
            continue
        comp = labels[objects[i - 1]] == i
        mostly_hematoma = (
            hem is not None and np.count_nonzero(comp & hem[objects[i - 1]]) >= 0.5 * sizes[i]
        )
        if frame is not None and _on_midline(comp, objects[i - 1], f, frame):
            continue
        edge = to_edge[objects[i - 1]]
        z0 = objects[i - 1][0].start
        extra_mm = 0.0
        if smoothed is not None and rim_mm > 0:
            extra_mm = rim_mm * _rim_blood(
                comp, objects[i - 1], f, smoothed, inside, rim_mm, spacing_mm, hu_range
            )
        thick_slices, crescent_slices, thickest = 0, 0, 0.0
        for k in range(comp.shape[0]):
            plane = comp[k]
            if not plane.any() or not band[z0 + k]:
                continue
            # along the inner table: its pixels in the first row inside the skull; the mean
            # thickness is its area over that length (a sinus's triangle on a thin rim of
            # bone partial volume stays thin, a crescent does not)
            contact_mm = float(np.count_nonzero(plane & (edge[k] <= CONTACT_MM))) * h[0]
            area_mm2 = float(np.count_nonzero(plane)) * h[0] * h[1]
            thickness = area_mm2 / max(contact_mm, h[0]) + extra_mm
            if thickness >= MIN_THICKNESS_MM and contact_mm >= MIN_LENGTH_MM:
                thick_slices += 1
                thickest = max(thickest, thickness)
                crescent_slices += contact_mm >= CRESCENT_LENGTH_RATIO * thickness
        crescent = crescent_slices >= max(MIN_SLICES, CRESCENT_SLICE_FRACTION * thick_slices)
        if mostly_hematoma and not crescent:
            continue
        if thick_slices >= MIN_SLICES:
            found_mask[objects[i - 1]] |= comp
            ml = float(sizes[i]) * voxel_ml
            if best is None or ml > best[0]:
                best = (ml, thickest, thick_slices)
    if best is None:
        return None
    log.debug("extra-axial collection %s", best)
    mask = _morph.upsample(found_mask, 1, f, candidates.shape) & candidates
    return ExtraAxial(best[0], best[1], best[2], mask)


def _rim_blood(
    comp: np.ndarray,
    box: tuple[slice, ...],
    f: int,
    smoothed: np.ndarray,
    inside: np.ndarray,
    rim_mm: float,
    spacing_mm: tuple[float, float, float],
    hu_range: tuple[float, float],
) -> float:
    """Fraction of the skull rim next to ``comp`` (a component on the coarse grid, in its
    ``box``) that is in the blood range: the ring within ``rim_mm`` + one pixel outside the
    region, on the crop grid."""
    sy, sx = spacing_mm[1:]
    fine_box = (
        box[0],
        slice(box[1].start * f, min(inside.shape[1], box[1].stop * f)),
        slice(box[2].start * f, min(inside.shape[2], box[2].stop * f)),
    )
    pad = int(np.ceil((rim_mm + max(sy, sx)) / min(sy, sx))) + 1
    big = (
        fine_box[0],
        slice(max(0, fine_box[1].start - pad), min(inside.shape[1], fine_box[1].stop + pad)),
        slice(max(0, fine_box[2].start - pad), min(inside.shape[2], fine_box[2].stop + pad)),
    )
    fine = np.zeros(inside[big].shape, dtype=bool)
    up = _morph.upsample(comp, 1, f, (comp.shape[0], comp.shape[1] * f, comp.shape[2] * f))
    oy, ox = fine_box[1].start - big[1].start, fine_box[2].start - big[2].start
    hy, hx = fine_box[1].stop - fine_box[1].start, fine_box[2].stop - fine_box[2].start
    fine[:, oy : oy + hy, ox : ox + hx] = up[:, :hy, :hx]
    fine &= inside[big]
    ring = _morph.dilate(fine, _morph.disk(rim_mm + max(sy, sx), (sy, sx))) & ~inside[big]
    values = smoothed[big][ring]
    values = values[values < BONE_CLIPPED_HU]  # the skull itself is no part of the rim
    if values.size == 0:
        return 0.0
    return float(np.count_nonzero((values >= hu_range[0]) & (values <= hu_range[1]))) / values.size


def _on_midline(comp: np.ndarray, box: tuple[slice, ...], f: int, frame: HeadFrame) -> bool:
    """Does most of ``comp`` (coarse grid, in ``box``) lie within ``MIDLINE_MM`` of the
    midline plane?"""
    if not frame.orientation.axial:
        return False
    zyx = np.argwhere(comp) + np.array([b.start for b in box])
    yx = zyx[:, 1:] * f + (f - 1) / 2.0  # crop pixels
    across = frame.across_mm(zyx[:, 0], yx)
    return bool(np.mean(np.abs(across) <= MIDLINE_MM) >= 0.5)
