"""The voxels an edit touches: a region grown from a seed, a round-brush stroke.

Both work on the measurement's intracranial crop (:class:`~ichmodel.measure.hematoma.BloodPrep`:
its smoothed HU, the intracranial mask and the calcification-free ``allowed`` mask) and return
a bool mask inside a box of that crop, so an edit costs in proportion to what it touches.

**Region growing, and how it is bounded.** From the seed, the 6-connected region of voxels
whose *smoothed* HU (the image the automatic threshold reads) lies in the current HU range,
restricted to

* ``allowed``: inside the intracranial region (never bone, its 2 mm partial-volume rim or
  outside the skull) and not a calcification or its halo, so it stops at the skull;
* a ball of ``max_radius_mm`` around the seed (Euclidean, in mm from the real spacing): a
  path of blood-range voxels through grey matter cannot carry it across the brain;
* voxels no other hematoma holds (it is added as a hematoma of its own).

Its enclosed in-plane holes (a few voxels over ``hu_max``) are filled as the automatic
segmentation fills them. A region larger than ``max_volume_ml`` is refused
(:class:`GrowLeakError`): it has leaked into tissue, and the reader is told to narrow the HU
range or to paint instead. The defaults (60 mm, 150 ml) reach every edge of a 100 ml bleed
(about 58 mm across) from a seed anywhere inside it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ichmodel.edits.record import EditError
from ichmodel.measure import _morph
from ichmodel.measure.hematoma import BloodPrep

DEFAULT_GROW_RADIUS_MM = 60.0
DEFAULT_GROW_MAX_ML = 150.0
#: The first ball a region is grown in (doubled until the region stops short of its edge).
FIRST_RADIUS_MM = 15.0

Box = tuple[slice, slice, slice]


class GrowLeakError(EditError):
    """The grown region exceeded its volume limit."""


def grow_region(
    prep: BloodPrep,
    seed_crop: tuple[int, int, int],
    hu_range: tuple[float, float],
    occupied: np.ndarray,
    max_radius_mm: float = DEFAULT_GROW_RADIUS_MM,
    max_volume_ml: float = DEFAULT_GROW_MAX_ML,
) -> tuple[Box, np.ndarray]:
    """(box, mask) of the region grown from ``seed_crop`` (crop voxel indices); see the
    module doc. ``occupied`` (bool, crop) marks voxels other hematomas hold."""
    shape = prep.smoothed.shape
    if not all(0 <= s < n for s, n in zip(seed_crop, shape, strict=True)):
        raise EditError("the seed lies outside the intracranial region: click inside the brain")
    lo, hi = hu_range
    hu = float(prep.smoothed[seed_crop])
    if not prep.allowed[seed_crop]:
        raise EditError("the seed lies on bone, next to the skull or on a calcification: "
                        "click inside the bleed")
    if occupied[seed_crop]:
        raise EditError("the seed lies inside a hematoma that is already segmented")
    if not lo <= hu <= hi:
        raise EditError(f"the seed reads {hu:.0f} HU (smoothed), outside the blood range "
                        f"{lo:g}-{hi:g} HU: click on the bleed itself or widen the HU range")
    # Grown in widening balls: a small bleed is found in a small box (a 60 mm ball's box is
    # 2 M voxels at 512²); a wider ball is tried only when the region reaches the ball's edge,
    # so the result is the region within max_radius_mm either way.
    radius = min(max_radius_mm, FIRST_RADIUS_MM)
    while True:
        box, region, at_edge = _grow_in_ball(prep, seed_crop, hu_range, occupied, radius)
        if not at_edge or radius >= max_radius_mm:
            break
        radius = min(max_radius_mm, 2.0 * radius)
    region = _morph.fill_holes_per_slice(region) & prep.inside[box] & ~occupied[box]
    volume_ml = float(np.count_nonzero(region)) * prep.voxel_ml
    if volume_ml > max_volume_ml:
        raise GrowLeakError(
            f"the region grown from this seed reached {volume_ml:.0f} ml (limit "
            f"{max_volume_ml:g} ml): it leaks into the tissue around the bleed; narrow the HU "
            "range or paint the bleed instead"
        )
    return _tight(box, region)


def _grow_in_ball(prep: BloodPrep, seed_crop, hu_range, occupied, radius_mm: float):
    """(box, region, touches the ball's surface) of the seed's connected blood-range region
    inside a ball of ``radius_mm``."""
    lo, hi = hu_range
    shape = prep.smoothed.shape
    spacing = np.asarray(prep.spacing_mm, dtype=float)
    reach = np.ceil(radius_mm / spacing).astype(int)
    box = tuple(slice(max(0, c - r), min(n, c + r + 1))
                for c, r, n in zip(seed_crop, reach, shape, strict=True))
    zz, yy, xx = np.ogrid[tuple(slice(b.start - c, b.stop - c)
                                for b, c in zip(box, seed_crop, strict=True))]
    ball = ((zz * spacing[0]) ** 2 + (yy * spacing[1]) ** 2
            + (xx * spacing[2]) ** 2) <= radius_mm ** 2
    sm = prep.smoothed[box]
    cand = prep.allowed[box] & (sm >= lo) & (sm <= hi) & ~occupied[box]
    labels, _ = ndi.label(cand & ball)
    local = tuple(c - b.start for c, b in zip(seed_crop, box, strict=True))
    region = labels == labels[local]
    # would it go on outside the ball? a candidate voxel beyond the ball next to the region
    beyond = ndi.binary_dilation(region) & cand & ~ball
    touches_box = any(
        (region.take(0, axis=a).any() and b.start > 0)
        or (region.take(-1, axis=a).any() and b.stop < n)
        for a, (b, n) in enumerate(zip(box, shape, strict=True))
    )
    return box, region, bool(beyond.any() or touches_box)


def brush_region(
    shape_crop: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    slices: range,
    points_yx: tuple[tuple[float, float], ...],
    radius_mm: float,
) -> tuple[Box, np.ndarray] | None:
    """(box, mask) of a round-brush stroke on the crop: every voxel whose centre lies within
    ``radius_mm`` (in-plane, mm) of the stroke (its points joined by straight segments) on
    each of ``slices``; None when it misses the crop. Points are crop voxel indices (y, x)."""
    _, sy, sx = spacing_mm
    nz, ny, nx = shape_crop
    z0, z1 = max(0, slices.start), min(nz, slices.stop)
    pts = np.asarray(points_yx, dtype=float).reshape(-1, 2)
    ry, rx = radius_mm / sy, radius_mm / sx
    y0 = max(0, int(math.floor(pts[:, 0].min() - ry)))
    y1 = min(ny, int(math.ceil(pts[:, 0].max() + ry)) + 1)
    x0 = max(0, int(math.floor(pts[:, 1].min() - rx)))
    x1 = min(nx, int(math.ceil(pts[:, 1].max() + rx)) + 1)
    if z0 >= z1 or y0 >= y1 or x0 >= x1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(float)
    pmm = pts * (sy, sx)
    grid = np.stack([yy * sy, xx * sx], axis=-1)
    best = np.full(yy.shape, np.inf)
    starts, ends = (pmm[:-1], pmm[1:]) if len(pmm) > 1 else (pmm, pmm)
    for a, b in zip(starts, ends, strict=True):  # distance to each segment of the stroke
        ab = b - a
        t = np.zeros(yy.shape) if not ab.any() else np.clip(
            ((grid - a) @ ab) / float(ab @ ab), 0.0, 1.0)
        d2 = ((grid - (a + t[..., None] * ab)) ** 2).sum(-1)
        np.minimum(best, d2, out=best)
    disk = best <= radius_mm ** 2 + 1e-9
    if not disk.any():
        return None
    mask = np.broadcast_to(disk, (z1 - z0,) + disk.shape).copy()
    return (slice(z0, z1), slice(y0, y1), slice(x0, x1)), mask


def _tight(box: Box, mask: np.ndarray) -> tuple[Box, np.ndarray]:
    inner = _morph.bbox(mask)
    if inner is None:
        return box, mask
    out = tuple(slice(b.start + i.start, b.start + i.stop) for b, i in zip(box, inner, strict=True))
    return out, mask[inner]  # type: ignore[return-value]
