"""Midline shift: the septum pellucidum's deviation from the ideal midline, in mm.

The ideal midline is the line through the falx's anterior and posterior attachments to the
inner table. The falx attaches on the skull's plane of symmetry, which mass effect does not
move, so the line is where the intracranial cavity's 3-D mirror plane (the smoothed cavity
correlated with its reflection, optimised over yaw, tilt and offset from the cavity's principal
axis; :mod:`.geometry`) cuts the measured slice; its ends are where it meets the inner table.
The septum pellucidum is the thin wall between the frontal horns (:mod:`.septum`); the slice is
the one, in the middle of the cavity's height, where the longest stretch of septum is found (the
frontal horns and bodies at the level of the foramen of Monro). The shift is the median
perpendicular distance of the septum from the ideal midline along that stretch; > 5 mm is
flagged.

When a landmark is not found (no closed skull, no septum between two ventricles) the result
says "could not be measured" and why; nothing is guessed. Best effort from image geometry,
not an anatomical atlas.

::

    from ichmodel.midline import measure_midline_shift
    result = measure_midline_shift(volume)   # MidlineShift
    result.summary, result.shift_mm, result.flagged, result.anterior_zyx, result.septum_zyx
"""

from __future__ import annotations

import logging

import numpy as np

from ichmodel.midline.geometry import (
    MIN_CAVITY_MM2,
    cavity_of_slice,
    exit_point,
    line_on_slice,
    lps_x_sign,
    symmetry_plane,
)
from ichmodel.midline.septum import MIN_LENGTH_MM, trace_septum
from ichmodel.midline.types import FLAG_MM, MidlineShift, not_measured
from ichmodel.progress import raise_if_cancelled
from ichmodel.volume import Volume

log = logging.getLogger(__name__)

__all__ = ["FLAG_MM", "MidlineShift", "measure_midline_shift"]


def measure_midline_shift(volume: Volume) -> MidlineShift:
    """The midline shift of a head CT (see the module docstring)."""
    if volume.shape[0] < 3:
        return not_measured("the series has too few slices for a midline")
    sz, sy, sx = (float(s) for s in volume.spacing_mm)
    spacing_yx = (sy, sx)
    # slice by slice with a cancel point each: the viewer runs this after the results, and a
    # study opened meanwhile must not wait for it (the worker's cancel raises here)
    found = []
    for k in range(volume.shape[0]):
        raise_if_cancelled()
        found.append(cavity_of_slice(volume.hu[k], spacing_yx))
    cavities = np.stack(found)
    areas = cavities.sum(axis=(1, 2)) * sy * sx
    big = np.flatnonzero(areas >= MIN_CAVITY_MM2)
    if big.size < 3:
        return not_measured("no closed skull found (no slice encloses a brain-sized cavity)")
    lo, hi = int(big[0]), int(big[-1])
    # the ventricles' bodies lie in the middle of the cavity's height, never at its ends
    middle = [k for k in range(lo + (hi - lo) // 5, hi - (hi - lo) // 5 + 1)
              if areas[k] >= MIN_CAVITY_MM2]
    stack = np.zeros_like(cavities)
    stack[middle] = cavities[middle]
    normal, offset = symmetry_plane(stack, volume.spacing_mm)
    best = None
    for k in middle:
        raise_if_cancelled()
        rows, cols = np.nonzero(cavities[k])
        near = np.array([rows.mean() * sy, cols.mean() * sx])
        p0, d = line_on_slice(normal, offset, k * sz, near)
        n = np.array([-d[1], d[0]])
        n = n * lps_x_sign(volume, n)  # + = towards the patient's left
        trace = trace_septum(volume.hu[k], cavities[k], spacing_yx, p0, d, n)
        if best is None or trace.length_mm > best[1].length_mm:
            best = (k, trace, p0, d, n)
    assert best is not None  # middle is never empty when three slices are big
    k, trace, p0, d, n = best
    if trace.length_mm < MIN_LENGTH_MM:
        return not_measured(
            "no septum pellucidum found between two lateral ventricles (small or effaced "
            "ventricles, or slices too thick)", k)
    shift = float(np.median(trace.s_mm))
    t_at = float(trace.t_mm[int(np.argmin(np.abs(trace.s_mm - shift)))])
    foot = p0 + t_at * d
    septum = foot + shift * n
    ends = [exit_point(cavities[k], spacing_yx, p0, sign * d) for sign in (1.0, -1.0)]
    dm = volume.direction_matrix
    # anterior = the end with the smaller LPS y (towards the patient's face)
    anterior, posterior = sorted(ends, key=lambda p: p[1] * dm[1, 0] + p[0] * dm[1, 1])

    def zyx(p: np.ndarray) -> tuple[float, float, float]:
        return (float(k), float(p[0] / sy), float(p[1] / sx))

    log.debug("midline: slice %d, septum %.1f mm long, shift %.2f mm", k, trace.length_mm, shift)
    return MidlineShift(
        measured=True,
        signed_shift_mm=shift,
        slice_index=k,
        anterior_zyx=zyx(anterior),
        posterior_zyx=zyx(posterior),
        septum_zyx=zyx(septum),
        foot_zyx=zyx(foot),
        septum_length_mm=trace.length_mm,
    )
