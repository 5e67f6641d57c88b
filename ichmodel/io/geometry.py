"""Slice-stack geometry: order, spacing, gantry tilt, uneven spacing, and regularization.

All geometry comes from ImagePositionPatient (IPP) and ImageOrientationPatient (IOP), DICOM
PS3.3 C.7.6.2: a slice's position along the stack is its IPP projected on the slice normal
``n = row x column``; SliceLocation, InstanceNumber and file names are never used.

In the orthonormal frame (row, column, normal) each slice s sits at in-plane offset
``(a_s, b_s) = (IPP_s . row, IPP_s . column)`` and height ``d_s = IPP_s . n``. A gantry tilt
shows as offsets that drift with ``d`` (the stack is sheared); uneven spacing as unequal gaps
in ``d``. Both are repaired by :func:`regularize` exactly like dcm2niix's tilt correction and
equidistant resampling: each slice is shifted in-plane onto a common grid (linear
interpolation, the same values as SimpleITK's linear ``Resample``, which the tests check, at
a tenth of its time), then the stack is linearly interpolated along the normal onto
equidistant heights from the first to the last slice, so the physical extent is kept.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ichmodel import notices
from ichmodel.io.resample import shift_slice
from ichmodel.notices import Notice, Source

log = logging.getLogger(__name__)

#: Offsets smaller than this fraction of a pixel over the whole stack are not a tilt.
TILT_TOLERANCE_PX = 0.1
#: Gaps differing from the median by more than this (relative, or 0.01 mm) are uneven.
UNEVEN_TOLERANCE = 0.01
#: A gap larger than this multiple of the median means a slice is missing.
MISSING_SLICE_FACTOR = 1.5


@dataclass(frozen=True)
class StackGeometry:
    """Where each slice of a stack lies, in slice order (by height along the normal)."""

    #: Index of each sorted slice in the caller's list.
    order: tuple[int, ...]
    row_dir: tuple[float, float, float]
    col_dir: tuple[float, float, float]
    normal: tuple[float, float, float]
    #: (row spacing, column spacing) = (y, x) in mm.
    pixel_spacing_mm: tuple[float, float]
    #: Height of each sorted slice along the normal, mm.
    heights_mm: tuple[float, ...]
    #: In-plane offsets (along row, along column) of each sorted slice, mm.
    offsets_mm: tuple[tuple[float, float], ...]
    #: Sorted positions dropped because another slice already sits at the same height.
    duplicates: tuple[int, ...]
    #: Angle between the stacking direction and the normal (0 when not tilted), degrees.
    tilt_deg: float
    #: GantryDetectorTilt as written in the headers (None when absent), degrees.
    tagged_tilt_deg: float | None

    @property
    def gaps_mm(self) -> np.ndarray:
        return np.diff(np.asarray(self.heights_mm, dtype=float))

    @property
    def median_gap_mm(self) -> float:
        gaps = self.gaps_mm
        return float(np.median(gaps)) if gaps.size else 0.0

    @property
    def is_tilted(self) -> bool:
        off = np.asarray(self.offsets_mm, dtype=float)
        if len(off) < 2:
            return False
        drift = np.abs(off - off[0]).max(axis=0)
        dy, dx = self.pixel_spacing_mm
        return bool(drift[0] > TILT_TOLERANCE_PX * dx or drift[1] > TILT_TOLERANCE_PX * dy)

    @property
    def is_uneven(self) -> bool:
        gaps = self.gaps_mm
        if gaps.size < 2:
            return False
        tolerance = max(0.01, UNEVEN_TOLERANCE * self.median_gap_mm)
        return bool(np.abs(gaps - self.median_gap_mm).max() > tolerance)

    @property
    def missing_gaps(self) -> list[tuple[int, float]]:
        """(index of the slice before the gap, gap in mm) for gaps > 1.5x the median.

        A gap counts only when it is also 1.5x the median of its neighbouring gaps, so a
        series that changes its spacing part-way (e.g. 4 mm slices, then 7 mm slices) is
        reported as uneven, not as missing slices.
        """
        gaps = self.gaps_mm
        median = self.median_gap_mm
        out = []
        for i, g in enumerate(gaps):
            around = np.concatenate([gaps[max(0, i - 3) : i], gaps[i + 1 : i + 4]])
            local = float(np.median(around)) if around.size else median
            if median > 0 and g > MISSING_SLICE_FACTOR * max(median, local):
                out.append((i, float(g)))
        return out

    @property
    def needs_resampling(self) -> bool:
        return self.is_tilted or self.is_uneven

    @property
    def direction(self) -> tuple[float, ...]:
        """Row-major 3x3 whose columns are the x (row), y (column), z (normal) directions."""
        m = np.column_stack([self.row_dir, self.col_dir, self.normal])
        return tuple(float(v) for v in m.ravel())


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise ValueError("zero-length direction vector")
    return vector / norm


def analyze_stack(
    positions_mm: Sequence[Sequence[float]],
    orientation: Sequence[float],
    pixel_spacing_mm: tuple[float, float],
    tagged_tilt_deg: float | None = None,
) -> StackGeometry:
    """Sort slices by height along the normal and measure tilt and gaps.

    Args:
        positions_mm: IPP (x, y, z) of each slice, any order.
        orientation: IOP of the series (row cosines, column cosines).
        pixel_spacing_mm: PixelSpacing (row spacing, column spacing).
        tagged_tilt_deg: GantryDetectorTilt, reported alongside the measured tilt.
    """
    row = _unit(np.asarray(orientation[:3], dtype=float))
    col = np.asarray(orientation[3:], dtype=float)
    col = _unit(col - row * float(col @ row))  # re-orthogonalize rounded cosines
    normal = _unit(np.cross(row, col))
    pos = np.asarray(positions_mm, dtype=float).reshape(-1, 3)
    heights = pos @ normal
    order = np.argsort(heights, kind="stable")
    sorted_heights = heights[order]
    keep = [0]
    duplicates: list[int] = []
    for i in range(1, len(order)):
        if sorted_heights[i] - sorted_heights[keep[-1]] < 1e-3:
            duplicates.append(int(order[i]))
        else:
            keep.append(i)
    order = order[keep]
    offsets = np.column_stack([pos[order] @ row, pos[order] @ col])
    tilt = 0.0
    if len(order) >= 2:
        h = heights[order]
        slope = np.polyfit(h - h[0], offsets - offsets[0], 1)[0]  # mm of shift per mm of height
        tilt = math.degrees(math.atan(float(np.hypot(*slope))))
    return StackGeometry(
        order=tuple(int(i) for i in order),
        row_dir=tuple(float(v) for v in row),  # type: ignore[arg-type]
        col_dir=tuple(float(v) for v in col),  # type: ignore[arg-type]
        normal=tuple(float(v) for v in normal),  # type: ignore[arg-type]
        pixel_spacing_mm=(float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1])),
        heights_mm=tuple(float(v) for v in heights[order]),
        offsets_mm=tuple((float(a), float(b)) for a, b in offsets),
        duplicates=tuple(duplicates),
        tilt_deg=tilt,
        tagged_tilt_deg=tagged_tilt_deg,
    )


@dataclass(frozen=True)
class RegularGrid:
    """A stack on a regular orthogonal grid: what a :class:`~ichmodel.volume.Volume` needs."""

    hu: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    direction: tuple[float, ...]
    notices: tuple[Notice, ...]


def describe(geometry: StackGeometry) -> list[Notice]:
    """Notices about tilt, uneven spacing, missing and duplicate slices."""
    out: list[Notice] = []
    if geometry.is_tilted:
        tag = (
            f" (GantryDetectorTilt {geometry.tagged_tilt_deg:g}°)"
            if geometry.tagged_tilt_deg
            else ""
        )
        out.append(notices.info(
            "load.gantry_tilt_corrected",
            f"gantry tilt of {geometry.tilt_deg:.1f}°{tag}: slices were shifted onto an "
            "orthogonal grid (tilt correction); volumes in ml are correct",
            Source.LOAD,
        ))
    elif geometry.tagged_tilt_deg:
        log.info(
            "GantryDetectorTilt %g but positions are already orthogonal", geometry.tagged_tilt_deg
        )
    if geometry.is_uneven:
        gaps = geometry.gaps_mm
        out.append(notices.info(
            "load.uneven_spacing_resampled",
            f"uneven slice spacing ({gaps.min():.2f}-{gaps.max():.2f} mm, median "
            f"{geometry.median_gap_mm:.2f} mm): resampled to equidistant slices keeping the "
            "scanned extent",
            Source.LOAD,
        ))
    missing = geometry.missing_gaps
    if missing:
        where = ", ".join(f"after slice {i + 1} ({gap:.1f} mm)" for i, gap in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        out.append(notices.warning(
            "load.missing_slices_interpolated",
            f"{len(missing)} gap(s) larger than 1.5x the usual {geometry.median_gap_mm:.2f} mm "
            f"spacing, so slices seem to be missing: {where}{more}; filled by interpolation",
            Source.LOAD,
        ))
    if geometry.duplicates:
        out.append(notices.warning(
            "load.duplicate_slices_ignored",
            f"{len(geometry.duplicates)} slice(s) at an already occupied position were ignored",
            Source.LOAD,
        ))
    return out


def regularized_shape(geometry: StackGeometry, image_size: tuple[int, int]) -> tuple[int, int, int]:
    """The (z, y, x) shape :func:`regularize` will allocate for this stack, computed first so
    an absurd geometry is refused before any memory is asked for."""
    ny, nx = image_size
    n = len(geometry.heights_mm)
    if not geometry.needs_resampling:
        return (n, ny, nx)
    dy, dx = geometry.pixel_spacing_mm
    offsets = np.asarray(geometry.offsets_mm, dtype=float)
    span_u = float(offsets[:, 0].max() - offsets[:, 0].min())
    span_v = float(offsets[:, 1].max() - offsets[:, 1].min())
    out_nx = int(math.ceil(span_u / dx - 1e-3)) + nx
    out_ny = int(math.ceil(span_v / dy - 1e-3)) + ny
    extent = float(geometry.heights_mm[-1] - geometry.heights_mm[0])
    median = geometry.median_gap_mm
    out_nz = max(2, int(round(extent / median)) + 1) if median > 0 else n
    return (out_nz, out_ny, out_nx)


def regularize(
    stack: np.ndarray,
    geometry: StackGeometry,
    on_slice: Callable[[int, int], None] | None = None,
) -> RegularGrid:
    """Put a sorted stack (n, y, x) HU onto a regular orthogonal grid.

    Without tilt and with even spacing this only wraps the array. Otherwise each slice is
    shifted in-plane onto the union of all slices' footprints (linear, as SimpleITK) and the
    stack is linearly interpolated along the normal onto equidistant heights spanning the
    first to the last slice; the output z spacing is the extent divided into steps of about
    the median gap. ``on_slice(done, total)`` reports progress.
    """
    n, ny, nx = stack.shape
    dy, dx = geometry.pixel_spacing_mm
    heights = np.asarray(geometry.heights_mm, dtype=float)
    offsets = np.asarray(geometry.offsets_mm, dtype=float)
    row, col, normal = (
        np.asarray(v) for v in (geometry.row_dir, geometry.col_dir, geometry.normal)
    )
    found = tuple(describe(geometry))

    def origin_of(a: float, b: float, d: float) -> tuple[float, float, float]:
        p = a * row + b * col + d * normal
        return (float(p[0]), float(p[1]), float(p[2]))

    if not geometry.needs_resampling:
        spacing_z = float(np.mean(geometry.gaps_mm)) if n > 1 else 1.0
        origin = origin_of(offsets[0, 0], offsets[0, 1], heights[0])
        return RegularGrid(stack, (spacing_z, dy, dx), origin, geometry.direction, found)

    # In-plane: the union of the slices' footprints on a common grid of the same spacing.
    u0, v0 = offsets[:, 0].min(), offsets[:, 1].min()
    u1 = offsets[:, 0].max() + (nx - 1) * dx
    v1 = offsets[:, 1].max() + (ny - 1) * dy
    out_nx = int(math.ceil((u1 - u0) / dx - 1e-3)) + 1  # whole footprint, like dcm2niix
    out_ny = int(math.ceil((v1 - v0) / dy - 1e-3)) + 1
    shifted = geometry.is_tilted or out_nx != nx or out_ny != ny

    # Along the normal: equidistant heights from the first to the last slice.
    extent = float(heights[-1] - heights[0])
    out_nz = max(2, int(round(extent / geometry.median_gap_mm)) + 1)
    spacing_z = extent / (out_nz - 1)
    targets = heights[0] + spacing_z * np.arange(out_nz)

    out = np.empty((out_nz, out_ny, out_nx), dtype=np.float32)
    below = np.clip(np.searchsorted(heights, targets, side="right") - 1, 0, n - 2)

    def fill(chunk: range) -> None:
        """Output slices of ``chunk``; each worker shifts the source slices it needs once."""
        cache: dict[int, np.ndarray] = {}

        def aligned(s: int) -> np.ndarray:
            if not shifted:
                return stack[s]
            if s not in cache:
                for old in [k for k in cache if k < s - 1]:
                    del cache[old]
                offset = (offsets[s, 0], offsets[s, 1])
                cache[s] = shift_slice(stack[s], offset, (u0, v0), (out_nx, out_ny), (dy, dx))
            return cache[s]

        for k in chunk:
            s = int(below[k])
            w = (targets[k] - heights[s]) / (heights[s + 1] - heights[s])
            if w <= 1e-6:
                out[k] = aligned(s)
            elif w >= 1 - 1e-6:
                out[k] = aligned(s + 1)
            else:  # out = a + w (b - a), without temporaries
                np.subtract(aligned(s + 1), aligned(s), out=out[k])
                out[k] *= np.float32(w)
                out[k] += aligned(s)

    # numpy releases the GIL on whole-slice arithmetic: contiguous chunks run in parallel
    workers = max(1, min(4, os.cpu_count() or 1, out_nz // 8))
    bounds = np.linspace(0, out_nz, workers + 1).astype(int)
    chunks = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, _ in enumerate(pool.map(fill, chunks), start=1):
            if on_slice is not None:
                on_slice(int(bounds[done]), out_nz)
    origin = origin_of(u0, v0, heights[0])
    log.info(
        "regularized %s -> %s (tilt %.1f°, z spacing %.3f mm)",
        stack.shape,
        out.shape,
        geometry.tilt_deg,
        spacing_z,
    )
    return RegularGrid(out, (spacing_z, dy, dx), origin, geometry.direction, found)
