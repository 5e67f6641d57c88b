"""In-plane resampling of one slice by a pure translation (gantry-tilt correction).

:func:`shift_slice` gives the same values as SimpleITK's linear ``Resample`` (the reference
:func:`shift_slice_sitk`, compared in the tests) at about a tenth of its time, because a
translation makes bilinear interpolation separable and, in the interior, a constant-weight
blend of two shifted views of the slice.
"""

from __future__ import annotations

import math

import numpy as np

from ichmodel.volume import AIR_HU


def _linear_indices(n_src: int, n_out: int, shift_px: float) -> tuple[np.ndarray, ...]:
    """Source neighbours/weights for output k sampling source position ``k - shift_px``.

    Same rule as ITK's linear interpolator: positions within half a pixel outside the
    source take the edge value, positions further out are outside (the default value).
    """
    pos = np.arange(n_out, dtype=float) - shift_px
    inside = (pos >= -0.5) & (pos < n_src - 0.5)
    pos = np.clip(pos, 0.0, n_src - 1.0)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n_src - 1)
    weight = (pos - lo).astype(np.float32)
    return lo, hi, weight, inside


def shift_slice(
    image: np.ndarray,
    offset_mm: tuple[float, float],
    origin_mm: tuple[float, float],
    size_xy: tuple[int, int],
    spacing_yx: tuple[float, float],
) -> np.ndarray:
    """Resample one slice (y, x) sitting at ``offset_mm`` onto the common in-plane grid.

    A pure translation, so bilinear interpolation separates into two 1-D linear passes;
    this gives the same values as SimpleITK's ``Resample`` with a linear interpolator and
    default value :data:`AIR_HU` (checked in the tests) at about 1/10 of its time.
    """
    dy, dx = spacing_yx
    out_nx, out_ny = size_xy
    columns = _shift_axis(image, (offset_mm[0] - origin_mm[0]) / dx, out_nx, axis=1)
    return _shift_axis(columns, (offset_mm[1] - origin_mm[1]) / dy, out_ny, axis=0)


def _shift_axis(array: np.ndarray, shift_px: float, n_out: int, axis: int) -> np.ndarray:
    """1-D linear resampling along ``axis`` (0 or 1) of a 2-D array: output k samples
    source position k - shift (C-contiguous float32 result)."""
    n_src = array.shape[axis]

    def take(index) -> tuple:  # index along `axis`, everything along the other
        return (index, slice(None)) if axis == 0 else (slice(None), index)

    shape = (n_out, array.shape[1]) if axis == 0 else (array.shape[0], n_out)
    out = np.full(shape, AIR_HU, dtype=np.float32)
    lo, hi, weight, inside = _linear_indices(n_src, n_out, shift_px)
    c = int(math.ceil(shift_px - 1e-9))
    w = np.float32(c - shift_px) if c - shift_px > 1e-6 else np.float32(0.0)
    # interior: a constant shift, so whole slices of the source line up (fast path)
    start = max(c, 0)
    stop = min(n_src - 1 + c - (1 if w else 0), n_out - 1) + 1
    if stop > start:
        a = array[take(slice(start - c, stop - c))]
        if w:
            b = array[take(slice(start - c + 1, stop - c + 1))]
            np.multiply(a, 1 - w, out=out[take(slice(start, stop))])
            out[take(slice(start, stop))] += b * w
        else:
            out[take(slice(start, stop))] = a
    for k in np.flatnonzero(inside):  # the few edge samples (clamped like ITK)
        if start <= k < stop:
            continue
        out[take(k)] = array[take(lo[k])] * (1 - weight[k]) + array[take(hi[k])] * weight[k]
    return out
