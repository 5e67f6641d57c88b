"""The septum pellucidum on one slice: midway across the thin wall between the frontal horns.

Along the ideal midline, every millimetre, a profile is sampled perpendicular to it (+/- 25 mm,
0.25 mm steps) on the lightly smoothed slice. The septum is a short stretch of tissue (0.25-12 mm)
flanked on both sides by ventricular CSF (each side at least 2.5 mm of CSF, deep in the brain:
more than 12 mm from the inner table; the interhemispheric fissure is thinner and has brain,
not CSF, on its sides). Its position is the stretch's midpoint. Thick slices and a thin septum
blur the wall below a single CSF threshold, so the threshold steps down (18, 15, 12, 9 HU)
until the wall stands out. The longest run of consecutive positions that agree (within 3 mm)
is the septum; fewer than 4 mm of it is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

THRESHOLDS_HU = (18.0, 15.0, 12.0, 9.0)
CSF_MIN_HU = -10.0
SMOOTH_MM = 0.5
DEEP_MM = 12.0
HALF_WIDTH_MM = 25.0
STEP_MM = 0.25
BIN_MM = 1.0
MIN_CSF_RUN_MM = 2.5
MAX_WALL_MM = 12.0
#: A septum more than this far from the ideal midline is not believed (extreme herniation or
#: a wrong landmark): "not found" rather than a wild number.
MAX_SHIFT_MM = 20.0
AGREE_MM = 3.0
MIN_LENGTH_MM = 4.0


@dataclass(frozen=True)
class SeptumTrace:
    """Septum positions along the midline: ``t_mm`` along it, ``s_mm`` across (+ = the side
    the normal points to)."""

    t_mm: np.ndarray
    s_mm: np.ndarray

    @property
    def length_mm(self) -> float:
        return float(len(self.t_mm)) * BIN_MM


def _runs(flags: np.ndarray) -> list[tuple[int, int, bool]]:
    """(start, stop, value) of the runs of a boolean row."""
    edges = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [len(flags)]])
    return [(int(a), int(b), bool(flags[a])) for a, b in zip(starts, stops, strict=True)]


def _wall_in_row(hu: np.ndarray, deep: np.ndarray, s: np.ndarray) -> float | None:
    min_run = int(round(MIN_CSF_RUN_MM / STEP_MM))
    max_wall = int(round(MAX_WALL_MM / STEP_MM))
    for threshold in THRESHOLDS_HU:
        csf = (hu < threshold) & (hu > CSF_MIN_HU) & deep
        runs = _runs(csf)
        best = None
        for i in range(1, len(runs) - 1):
            a, b, value = runs[i]
            before, after = runs[i - 1], runs[i + 1]
            if value or b - a > max_wall:
                continue
            if before[1] - before[0] < min_run or after[1] - after[0] < min_run:
                continue
            if not deep[a:b].all():
                continue
            mid = 0.5 * (s[a] + s[b - 1])
            if abs(mid) <= MAX_SHIFT_MM and (best is None or abs(mid) < abs(best)):
                best = mid
        if best is not None:
            return float(best)
    return None


def trace_septum(
    hu: np.ndarray, cavity: np.ndarray, spacing_yx: tuple[float, float],
    p0: np.ndarray, d: np.ndarray, n: np.ndarray,
) -> SeptumTrace:
    """The septum along the midline through ``p0`` (mm, (y, x)) with direction ``d``; ``n``
    is the across direction."""
    sy, sx = spacing_yx
    smooth = ndi.gaussian_filter(hu.astype(np.float32), sigma=(SMOOTH_MM / sy, SMOOTH_MM / sx))
    depth = ndi.distance_transform_edt(cavity, sampling=spacing_yx).astype(np.float32)
    ts = np.arange(-110.0, 110.0 + BIN_MM / 2, BIN_MM)
    s = np.arange(-HALF_WIDTH_MM, HALF_WIDTH_MM + STEP_MM / 2, STEP_MM)
    pts = p0[None, None, :] + ts[:, None, None] * d + s[None, :, None] * n
    coords = [pts[..., 0] / sy, pts[..., 1] / sx]
    on_line = ndi.map_coordinates(cavity.astype(np.float32), [p0[0] / sy + ts * d[0] / sy,
                                  p0[1] / sx + ts * d[1] / sx], order=1) >= 0.5
    prof = ndi.map_coordinates(smooth, coords, order=1, mode="nearest")
    deep = ndi.map_coordinates(depth, coords, order=1, mode="constant") >= DEEP_MM
    found_t, found_s = [], []
    for i in np.flatnonzero(on_line):
        if not deep[i].any():
            continue
        wall = _wall_in_row(prof[i], deep[i], s)
        if wall is not None:
            found_t.append(ts[i])
            found_s.append(wall)
    return _longest_agreeing(np.asarray(found_t), np.asarray(found_s))


def _longest_agreeing(t: np.ndarray, s: np.ndarray) -> SeptumTrace:
    """The longest run of consecutive positions (gaps up to 2 mm) that agree within 3 mm."""
    best: tuple[int, int] = (0, 0)
    start = 0
    for i in range(1, len(t) + 1):
        if i == len(t) or t[i] - t[i - 1] > 2.0 * BIN_MM + 1e-6 or abs(s[i] - s[i - 1]) > AGREE_MM:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = i
    a, b = best
    return SeptumTrace(t[a:b], s[a:b])
