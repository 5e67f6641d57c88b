"""Morphology helpers in physical units (mm), so thin and thick slices behave alike."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def disk(radius_mm: float, spacing_yx_mm: tuple[float, float]) -> np.ndarray:
    """An in-plane elliptical disk of ``radius_mm`` as a (1, h, w) structuring element.

    The radius is rounded to whole pixels per axis; at least the centre pixel is kept.
    """
    sy, sx = spacing_yx_mm
    ry, rx = int(round(radius_mm / sy)), int(round(radius_mm / sx))
    y, x = np.ogrid[-ry : ry + 1, -rx : rx + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = ((y * sy) ** 2 + (x * sx) ** 2) <= radius_mm**2 + 1e-9
    inside[ry, rx] = True
    return inside[None]


def ball(radius_mm: float, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """An ellipsoidal (z, y, x) structuring element of ``radius_mm`` on an anisotropic grid.

    On 5 mm slices a 2 mm ball is a single slice thick, so it acts like :func:`disk`.
    """
    sz, sy, sx = spacing_mm
    rz, ry, rx = (int(round(radius_mm / s)) for s in spacing_mm)
    z, y, x = np.ogrid[-rz : rz + 1, -ry : ry + 1, -rx : rx + 1]
    inside = ((z * sz) ** 2 + (y * sy) ** 2 + (x * sx) ** 2) <= radius_mm**2 + 1e-9
    inside[rz, ry, rx] = True
    return inside


def dilate(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Binary dilation by ``structure``, the same voxels as ``ndi.binary_dilation``.

    An in-plane disk (any structure that is one slice of centred, symmetric row runs) is the
    union of a few centred rectangles, and a rectangle is two running maxima along y and x
    (cost independent of its size): several times faster than scipy's element-by-element
    dilation for the 2-4 mm disks the measurement uses at 0.4-0.5 mm pixels.
    """
    if structure.size == 1:
        return mask.copy()
    rectangles = _disk_rectangles(structure)
    if rectangles is None:
        return ndi.binary_dilation(mask, structure=structure)
    flat = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    out = np.zeros(mask.shape, dtype=bool)
    for half_rows, half_cols in rectangles:
        grown = flat
        if half_rows:
            grown = ndi.maximum_filter1d(grown, 2 * half_rows + 1, axis=-2, mode="constant")
        if half_cols:
            grown = ndi.maximum_filter1d(grown, 2 * half_cols + 1, axis=-1, mode="constant")
        out |= grown.view(bool)
    return out


def _disk_rectangles(structure: np.ndarray) -> list[tuple[int, int]] | None:
    """(half rows, half cols) of centred rectangles whose union is ``structure`` (trimmed of
    empty planes, as symmetric ones do not move the centre), or None when it is not a single
    slice of centred row runs narrowing away from the middle row."""
    s = np.asarray(structure, dtype=bool)
    if s.ndim != 3 or any(n % 2 == 0 for n in s.shape):
        return None
    nz = s.shape[0] // 2
    if s.shape[0] > 1:
        if s[:nz].any() or s[nz + 1 :].any():
            return None
    plane = s[nz]
    ry, rx = plane.shape[0] // 2, plane.shape[1] // 2
    half_widths = []
    for row in plane:
        cols = np.flatnonzero(row)
        if cols.size == 0:
            half_widths.append(-1)
            continue
        w = rx - int(cols[0])
        if cols[-1] != rx + w or cols.size != 2 * w + 1:
            return None  # not a centred run
        half_widths.append(w)
    upper, lower = half_widths[ry::-1], half_widths[ry:]
    widening = any(b > a for a, b in zip(upper[:-1], upper[1:], strict=True))
    if upper != lower or upper[0] < 0 or widening:
        return None
    rectangles = []
    for k, w in enumerate(upper):
        if w < 0:
            break
        if k + 1 < len(upper) and upper[k + 1] == w:
            continue  # contained in the taller rectangle of the same width
        rectangles.append((k, w))
    return rectangles


def erode(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    if structure.size == 1:
        return mask.copy()
    # border_value=0: voxels at the array edge erode (the head may touch the field of view).
    return ndi.binary_erosion(mask, structure=structure, border_value=0)


def label_voxels(labels: np.ndarray, i: int, box: tuple[slice, ...]) -> np.ndarray:
    """(n, 3) (z, y, x) indices of label ``i``'s voxels, found in its bounding ``box``."""
    return np.argwhere(labels[box] == i) + np.array([b.start for b in box])


#: 4-connectivity within each slice, none across slices: labels in-plane pieces.
IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE[1] = ndi.generate_binary_structure(2, 1)


def fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """Fill in-plane holes slice by slice (work confined to the mask's bounding box)."""
    box = bbox(mask, pad=(0, 1, 1))
    if box is None:
        return mask.copy()
    out = mask.copy()
    out[box] = _fill_holes_per_slice(mask[box])
    return out


def _fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """Fill in-plane holes slice by slice (holes enclosed within each axial slice).

    One labelling of the background with in-plane connectivity: background components that
    do not touch their slice's edge are holes. (Much faster than binary_fill_holes per slice.)
    """
    if not mask.any():
        return mask.copy()
    labels, n = ndi.label(~mask, structure=IN_PLANE)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, dtype=bool)
    for edge in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        outside[np.unique(edge)] = True
    outside[0] = True  # label 0 is the mask itself
    return mask | ~outside[labels]


def bbox(mask: np.ndarray, pad: tuple[int, int, int] = (0, 0, 0)) -> tuple[slice, ...] | None:
    """The padded bounding box of ``mask`` as slices, clipped to the array, or None if empty."""
    if not mask.any():
        return None
    out = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        lo = max(0, int(hit[0]) - pad[axis])
        hi = min(mask.shape[axis], int(hit[-1]) + 1 + pad[axis])
        out.append(slice(lo, hi))
    return tuple(out)


def largest_component(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The largest 6-connected component of ``mask`` and its voxel count."""
    labels, n = ndi.label(mask)
    if n == 0:
        return np.zeros_like(mask), 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    biggest = int(np.argmax(sizes))
    return labels == biggest, int(sizes[biggest])


def pad_to(array: np.ndarray, fz: int, fy: int, mode: str) -> np.ndarray:
    z, y, x = array.shape
    pads = ((0, (-z) % fz), (0, (-y) % fy), (0, (-x) % fy))
    if any(p[1] for p in pads):
        array = np.pad(array, pads, mode=mode)
    return array


def block_any(array: np.ndarray, fz: int, fy: int) -> np.ndarray:
    """Reduce by blocks of fz slices x fy x fy pixels: True where any voxel is."""
    return _block_reduce(pad_to(array, fz, fy, "constant"), fz, fy, np.logical_or)


def block_mean(array: np.ndarray, fz: int, fy: int) -> np.ndarray:
    """Reduce by blocks of fz slices x fy x fy pixels: the mean (float32)."""
    a = pad_to(array, fz, fy, "edge").astype(np.float32, copy=False)
    return _block_reduce(a, fz, fy, np.add) / np.float32(fz * fy * fy)


def _block_reduce(a: np.ndarray, fz: int, fy: int, op) -> np.ndarray:
    """Combine strided views axis by axis (much faster than a 6-D reshape reduction)."""
    for axis, f in ((2, fy), (1, fy), (0, fz)):
        if f == 1:
            continue
        index = [slice(None)] * 3
        index[axis] = slice(0, None, f)
        out = a[tuple(index)].copy()
        for i in range(1, f):
            index[axis] = slice(i, None, f)
            op(out, a[tuple(index)], out=out)
        a = out
    return a


def upsample(array: np.ndarray, fz: int, fy: int, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour inverse of the block reductions, cropped to ``shape``."""
    up = array
    if fz > 1:
        up = np.repeat(up, fz, axis=0)
    if fy > 1:
        up = np.repeat(np.repeat(up, fy, axis=1), fy, axis=2)
    return np.ascontiguousarray(up[: shape[0], : shape[1], : shape[2]])


def label_in_box(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """``ndi.label`` (6-connected) of a sparse mask, computed only within its bounding box."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    box = bbox(mask)
    if box is None:
        return labels, 0
    part, n = ndi.label(mask[box])
    labels[box] = part
    return labels, int(n)
