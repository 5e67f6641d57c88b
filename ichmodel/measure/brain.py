"""The intracranial region: inside the skull, minus the skull and a thin rim against it.

Method (on a coarse grid of about 1 mm in-plane / 2 mm in z, which keeps a 512 x 512 x 40
study well under 0.2 s; the result is upsampled to the Volume grid):

1. Bone = HU >= ``bone_hu``. No bone at all -> no intracranial region (not a head CT).
2. Candidate = soft tissue / fluid (``SOFT_MIN_HU`` <= HU < ``bone_hu``) that is more than
   ``skull_rim_mm`` away from bone.
3. Erode in-plane by ``BRIDGE_MM`` to cut thin bridges (foramina, orbits, scalp reaching
   round an open skull base), keep the largest 3-D component, dilate it back within the
   candidate, and fill in-plane holes (ventricles and calcifications lie inside).
4. Check it is really enclosed by skull: at least ``MIN_ENCLOSURE`` of the region's in-plane
   outline must lie within ``skull_rim_mm + ENCLOSURE_REACH_MM`` of bone. A brain-like blob
   in air (a phantom without a skull, an abdomen, a water bottle) fails here.
5. Keep the in-plane pieces the skull encloses, the largest 3-D component of them, and of
   that the pieces stacked under (or over) the region of the slice next to them towards the
   largest slice: the neck below the skull base is not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph
from ichmodel.volume import voxel_volume_ml

log = logging.getLogger(__name__)

#: Lower HU bound of intracranial content: CSF is ~0-15 HU; -30 leaves room for noise while
#: excluding fat (-100 HU) and air.
SOFT_MIN_HU = -30.0
#: In-plane erosion that separates the brain from tissue outside the skull through openings.
BRIDGE_MM = 4.0
#: Coarse-grid target spacing (mm) in-plane and along z.
COARSE_YX_MM = 1.0
COARSE_Z_MM = 2.0
#: Below this much bone (ml) there is no skull to speak of.
MIN_BONE_ML = 2.0
#: Below this intracranial volume (ml) we do not trust the region (a brain is ~1200-1500 ml;
#: a partial scan through the posterior fossa still holds well over 30 ml).
MIN_INTRACRANIAL_ML = 30.0
#: Fraction of the region's outline that must have skull nearby.
MIN_ENCLOSURE = 0.5
#: Fraction of each in-plane piece's outline that must have skull nearby (see
#: ``_enclosed_slices``): the cranial cavity is bone-bound all round on every axial slice.
MIN_SLICE_ENCLOSURE = 0.6
#: An in-plane piece of the region lies mostly on the next slice's region towards the largest
#: slice (see ``_stacked``).
MIN_STACKED = 0.5
#: How far beyond the rim (mm) the outline may be from bone and still count as enclosed.
ENCLOSURE_REACH_MM = 4.0

NO_REGION_STATUS = "no intracranial region found — is this a head CT?"


@dataclass(frozen=True, eq=False)
class IntracranialRegion:
    """The intracranial mask, cropped to its bounding box ``box`` of the Volume grid.

    ``mask`` and ``near_skull`` are bool (z, y, x) arrays of the crop's shape; ``near_skull``
    marks voxels within ``skull_contact_mm`` of bone. ``status`` is "" when a region was
    found, else one sentence saying why not.
    """

    mask: np.ndarray
    near_skull: np.ndarray
    box: tuple[slice, slice, slice] | None
    volume_ml: float
    skull_enclosure: float
    status: str

    @property
    def found(self) -> bool:
        return not self.status


def _not_found(reason: str, enclosure: float = 0.0) -> IntracranialRegion:
    log.info("no intracranial region: %s", reason)
    empty = np.zeros((0, 0, 0), dtype=bool)
    return IntracranialRegion(empty, empty, None, 0.0, enclosure, NO_REGION_STATUS)


def _enclosed_slices(region: np.ndarray, outline: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Keep the in-plane pieces of the region that the skull encloses, then the largest 3-D
    component. Below the skull base (neck muscles round the spine, the face) the region can
    leak out through the foramen magnum; those pieces have most of their outline far from
    bone (against fat or air), unlike every slice of the cranial cavity."""
    labels, n = ndi.label(region, structure=_morph.IN_PLANE)
    if n == 0:
        return region
    n_outline = np.bincount(labels[outline], minlength=n + 1).astype(float)
    n_near = np.bincount(labels[outline & reach], minlength=n + 1).astype(float)
    keep = n_near >= MIN_SLICE_ENCLOSURE * np.maximum(n_outline, 1.0)
    keep[0] = False
    kept, _ = _morph.largest_component(keep[labels])
    return _stacked(kept)


def _stacked(region: np.ndarray) -> np.ndarray:
    """The region less the in-plane pieces that do not lie mostly (``MIN_STACKED``) on the
    region of the next slice towards the largest one. The cranial cavity narrows slice by
    slice towards the foramen magnum and the vertex, each slice under (or over) the one
    before; below the floor of the middle cranial fossa, the neck's soft tissue (the
    parapharyngeal and masticator spaces) is enclosed by bone on a thick slice too, and
    joins the cavity through a foramen once the head has turned a few degrees, but lies
    under bone (dev re-scans of the GE head, 410005: 2.6 ml of neck muscle measured as
    blood)."""
    area = region.reshape(region.shape[0], -1).sum(axis=1)
    if not area.any():
        return region
    out = region.copy()
    anchor = int(np.argmax(area))
    for step in (-1, 1):
        k = anchor + step
        while 0 <= k < region.shape[0]:
            labels, n = ndi.label(out[k])
            if n:
                sizes = np.bincount(labels.ravel(), minlength=n + 1)
                over = np.bincount(labels[out[k - step]], minlength=n + 1)
                keep = over >= MIN_STACKED * sizes
                keep[0] = False
                out[k] = keep[labels]
            k += step
    return out


def _in_plane_distance_mm(mask: np.ndarray, spacing_yx: tuple[float, float]) -> np.ndarray:
    """Per slice, the in-plane distance (mm) of every voxel to the nearest ``mask`` voxel."""
    out = np.full(mask.shape, np.inf, dtype=np.float32)
    for k in range(mask.shape[0]):
        if mask[k].any():
            out[k] = ndi.distance_transform_edt(~mask[k], sampling=spacing_yx)
    return out


def _within_mm(distance: np.ndarray, radius_mm: float, slice_mm: float) -> np.ndarray:
    """Voxels within ``radius_mm`` in-plane of the mask, on this or the slices whose centres
    lie within ``radius_mm`` above/below (a cylinder: a superset of the ball; a 2 mm radius
    on 2.5-5 mm slices is just the slice itself: rounding would reach a slice 3 mm away and
    take the edge of a bleed near the skull out of the measurement)."""
    out = distance <= radius_mm
    nz = int(radius_mm // slice_mm + 1e-9)
    if nz > 0:
        out = ndi.maximum_filter1d(out.view(np.uint8), size=2 * nz + 1, axis=0).view(bool)
    return out


def find_intracranial(
    hu: np.ndarray,
    spacing_mm: tuple[float, float, float],
    *,
    bone_hu: float = 300.0,
    skull_rim_mm: float = 2.0,
    skull_contact_mm: float = 5.0,
) -> IntracranialRegion:
    """Find the intracranial region of a head CT (HU, (z, y, x), spacing in mm)."""
    sz, sy, sx = (float(s) for s in spacing_mm)
    voxel_ml = voxel_volume_ml(spacing_mm)
    bone_full = hu >= bone_hu
    n_bone = int(np.count_nonzero(bone_full))
    if n_bone * voxel_ml < MIN_BONE_ML:
        return _not_found(f"only {n_bone * voxel_ml:.2f} ml of bone (>= {bone_hu:g} HU)")
    head_box = _morph.bbox(bone_full, pad=(1, 2, 2))
    assert head_box is not None
    hu_c, bone_c = hu[head_box], bone_full[head_box]

    fz = max(1, int(round(COARSE_Z_MM / sz)))
    fy = max(1, int(round(COARSE_YX_MM / min(sy, sx))))
    coarse_spacing = (sz * fz, sy * fy, sx * fy)
    bone_s = _morph.block_any(bone_c, fz, fy)
    hu_s = _morph.block_mean(hu_c, fz, fy)

    soft = (hu_s >= SOFT_MIN_HU) & ~bone_s
    bone_dist = _in_plane_distance_mm(bone_s, coarse_spacing[1:])
    near_bone = _within_mm(bone_dist, skull_rim_mm, coarse_spacing[0])
    cand = soft & ~near_bone
    bridge = _morph.disk(BRIDGE_MM, coarse_spacing[1:])
    core, n_core = _morph.largest_component(_morph.erode(cand, bridge))
    if n_core == 0:
        return _not_found("no soft tissue enclosed by bone")
    region = _morph.dilate(core, bridge) & cand
    region = _morph.fill_holes_per_slice(region) & ~bone_s

    coarse_ml = voxel_volume_ml(coarse_spacing)
    volume_ml = float(np.count_nonzero(region)) * coarse_ml
    outline = region & ~_morph.erode(region, _morph.disk(coarse_spacing[1], coarse_spacing[1:]))
    reach = _within_mm(bone_dist, skull_rim_mm + ENCLOSURE_REACH_MM, coarse_spacing[0])
    n_outline = int(np.count_nonzero(outline))
    enclosure = float(np.count_nonzero(outline & reach)) / max(1, n_outline)
    log.debug("intracranial %.0f ml, skull enclosure %.2f", volume_ml, enclosure)
    if enclosure < MIN_ENCLOSURE:
        return _not_found(f"skull encloses only {enclosure:.0%} of the region", enclosure)
    region = _enclosed_slices(region, outline, reach)
    volume_ml = float(np.count_nonzero(region)) * coarse_ml
    if volume_ml < MIN_INTRACRANIAL_ML:
        return _not_found(f"region of {volume_ml:.1f} ml is too small", enclosure)

    near_skull = _within_mm(bone_dist, max(skull_contact_mm, skull_rim_mm), coarse_spacing[0])
    full_shape = hu_c.shape
    mask_full = _morph.upsample(region, fz, fy, full_shape)
    # The fine rim: the coarse grid may leave up to one coarse pixel of partial bone.
    mask_full &= ~bone_c
    box_in_crop = _morph.bbox(mask_full)
    if box_in_crop is None:
        return _not_found("region vanished at full resolution", enclosure)
    near_full = _morph.upsample(near_skull, fz, fy, full_shape)
    box = tuple(
        slice(outer.start + inner.start, outer.start + inner.stop)
        for outer, inner in zip(head_box, box_in_crop, strict=True)
    )
    mask = np.ascontiguousarray(mask_full[box_in_crop])
    return IntracranialRegion(
        mask=mask,
        near_skull=np.ascontiguousarray(near_full[box_in_crop]),
        box=box,  # type: ignore[arg-type]
        volume_ml=float(np.count_nonzero(mask)) * voxel_ml,
        skull_enclosure=enclosure,
        status="",
    )
