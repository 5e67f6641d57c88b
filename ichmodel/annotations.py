"""The reader's own measurements on a slice: a ruler (distance in mm) and an elliptical ROI
(HU statistics and area), on the axial slices or on a coronal / sagittal reformat.

No Qt: the viewer's tools hand in pixel coordinates of the shown plane and get frozen, typed
results back; the report prints them. Pixel coordinates follow the viewer's convention: pixel
(row r, column c) covers rows [r, r+1] and columns [c, c+1], so its centre is (r + 0.5, c + 0.5).

Planes of a (z, y, x) volume:

=========  ==============  ====================  ===================
plane      slice index     image rows            image columns
=========  ==============  ====================  ===================
axial      z               y                     x
coronal    y               z                     x
sagittal   x               z                     y
=========  ==============  ====================  ===================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ichmodel.errors import InputError
from ichmodel.volume import Volume

__all__ = [
    "AnnotationError",
    "EllipseRoi",
    "Plane",
    "PointPx",
    "ReaderMeasurement",
    "Ruler",
    "ellipse_axes_px",
    "ellipse_mask",
    "measure_ellipse",
    "measure_ruler",
    "n_slices",
    "plane_image",
    "plane_point_index",
    "plane_spacing_mm",
]

#: (row, column) in pixel coordinates of a plane's image, fractional.
PointPx = tuple[float, float]


class AnnotationError(InputError):
    """A ruler or ROI cannot be measured as drawn (off the image, no voxel inside, ...)."""


class Plane(StrEnum):
    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"


def n_slices(shape_zyx: tuple[int, int, int], plane: Plane) -> int:
    """How many slices ``plane`` has in a volume of ``shape_zyx``."""
    nz, ny, nx = shape_zyx
    return {Plane.AXIAL: nz, Plane.CORONAL: ny, Plane.SAGITTAL: nx}[plane]


def plane_spacing_mm(
    spacing_zyx_mm: tuple[float, float, float], plane: Plane
) -> tuple[float, float]:
    """(row, column) pixel spacing in mm of ``plane``'s images."""
    sz, sy, sx = (float(s) for s in spacing_zyx_mm)
    return {Plane.AXIAL: (sy, sx), Plane.CORONAL: (sz, sx), Plane.SAGITTAL: (sz, sy)}[plane]


def plane_image(hu_zyx: np.ndarray, plane: Plane, index: int) -> np.ndarray:
    """Slice ``index`` of ``plane`` as a 2-D (rows, columns) view (not a copy)."""
    if not 0 <= index < n_slices(hu_zyx.shape, plane):
        raise AnnotationError(
            f"{plane.value} slice {index} is outside the volume "
            f"(0..{n_slices(hu_zyx.shape, plane) - 1})"
        )
    if plane is Plane.AXIAL:
        return hu_zyx[index]
    if plane is Plane.CORONAL:
        return hu_zyx[:, index, :]
    return hu_zyx[:, :, index]


def plane_point_index(
    plane: Plane, slice_index: int, point_px: PointPx
) -> tuple[float, float, float]:
    """The (z, y, x) voxel index, fractional, of pixel coordinates ``point_px`` on slice
    ``slice_index`` of ``plane``: pixel coordinate r + 0.5 is voxel r's centre, and the slice
    is its voxels' centre plane (the inverse of :func:`plane_image`'s indexing)."""
    row, col = float(point_px[0]) - 0.5, float(point_px[1]) - 0.5
    k = float(slice_index)
    if plane is Plane.AXIAL:
        return (k, row, col)
    if plane is Plane.CORONAL:
        return (row, k, col)
    return (row, col, k)


@dataclass(frozen=True)
class Ruler:
    """A straight distance on one slice: end points in pixel coordinates, length in mm."""

    plane: Plane
    slice_index: int
    start_px: PointPx
    end_px: PointPx
    length_mm: float

    @property
    def label(self) -> str:
        return f"{self.length_mm:.1f} mm"


@dataclass(frozen=True)
class EllipseRoi:
    """The voxels whose centres lie inside the ellipse inscribed in a box (two opposite corners
    in pixel coordinates): their HU statistics and area. ``area_mm2`` counts those voxels
    (what the statistics are over); ``ellipse_area_mm2`` is the drawn ellipse's own area."""

    plane: Plane
    slice_index: int
    corner_a_px: PointPx
    corner_b_px: PointPx
    n_voxels: int
    area_mm2: float
    ellipse_area_mm2: float
    mean_hu: float
    sd_hu: float
    min_hu: float
    max_hu: float

    @property
    def label(self) -> str:
        return f"{self.mean_hu:.1f} ± {self.sd_hu:.1f} HU, {self.area_mm2:.0f} mm²"


@dataclass(frozen=True)
class ReaderMeasurement:
    """One ruler or ROI and the number the viewer's list and the report show it under."""

    number: int
    annotation: Ruler | EllipseRoi

    @property
    def kind(self) -> str:
        return "Ruler" if isinstance(self.annotation, Ruler) else "Ellipse ROI"

    @property
    def where(self) -> str:
        """'axial 7': the plane and the slice number as the viewer shows it (1-based)."""
        a = self.annotation
        return f"{a.plane.value} {a.slice_index + 1}"

    @property
    def value_text(self) -> str:
        a = self.annotation
        if isinstance(a, Ruler):
            return a.label
        return (f"{a.mean_hu:.1f} ± {a.sd_hu:.1f} HU (min {a.min_hu:.0f}, max {a.max_hu:.0f}), "
                f"{a.area_mm2:.1f} mm²")


def measure_ruler(
    spacing_zyx_mm: tuple[float, float, float],
    plane: Plane,
    slice_index: int,
    start_px: PointPx,
    end_px: PointPx,
) -> Ruler:
    """The distance in mm between two points of one slice, from the plane's pixel spacing
    (rows and columns may differ: anisotropic pixels and thick-slice reformats)."""
    row_mm, col_mm = plane_spacing_mm(spacing_zyx_mm, plane)
    dr = (float(end_px[0]) - float(start_px[0])) * row_mm
    dc = (float(end_px[1]) - float(start_px[1])) * col_mm
    return Ruler(plane, int(slice_index), _point(start_px), _point(end_px), math.hypot(dr, dc))


def ellipse_mask(
    shape_rc: tuple[int, int], corner_a_px: PointPx, corner_b_px: PointPx
) -> np.ndarray:
    """Bool (rows, columns): pixels whose centre is inside the ellipse inscribed in the box."""
    r0, r1 = sorted((corner_a_px[0], corner_b_px[0]))
    c0, c1 = sorted((corner_a_px[1], corner_b_px[1]))
    half_r, half_c = (r1 - r0) / 2.0, (c1 - c0) / 2.0
    rows, cols = shape_rc
    if half_r <= 0 or half_c <= 0:
        return np.zeros((rows, cols), dtype=bool)
    rr = (np.arange(rows) + 0.5 - (r0 + half_r)) / half_r
    cc = (np.arange(cols) + 0.5 - (c0 + half_c)) / half_c
    return rr[:, None] ** 2 + cc[None, :] ** 2 <= 1.0


def ellipse_axes_px(
    roi: EllipseRoi, spacing_zyx_mm: tuple[float, float, float]
) -> tuple[PointPx, PointPx, PointPx, PointPx]:
    """The end points (pixel coordinates) of the ellipse's major axis, then of its minor axis:
    the ellipse is inscribed in an axis-aligned box, so its axes run along the rows and the
    columns; which is the major one is decided in mm (pixels need not be square)."""
    r0, r1 = sorted((roi.corner_a_px[0], roi.corner_b_px[0]))
    c0, c1 = sorted((roi.corner_a_px[1], roi.corner_b_px[1]))
    rc, cc = (r0 + r1) / 2.0, (c0 + c1) / 2.0
    along_rows = ((r0, cc), (r1, cc))
    along_cols = ((rc, c0), (rc, c1))
    row_mm, col_mm = plane_spacing_mm(spacing_zyx_mm, roi.plane)
    if (r1 - r0) * row_mm >= (c1 - c0) * col_mm:
        return (*along_rows, *along_cols)
    return (*along_cols, *along_rows)


def measure_ellipse(
    volume: Volume, plane: Plane, slice_index: int, corner_a_px: PointPx, corner_b_px: PointPx
) -> EllipseRoi:
    """HU mean / SD (population) / min / max and area of the voxels inside the ellipse.

    Raises :class:`AnnotationError` when no voxel centre lies inside (a box thinner than a
    voxel, or drawn off the image)."""
    image = plane_image(volume.hu, plane, int(slice_index))
    inside = ellipse_mask(image.shape, corner_a_px, corner_b_px)
    values = image[inside].astype(np.float64)
    if values.size == 0:
        raise AnnotationError(
            "the ellipse holds no voxel centre: drag a larger box on the image"
        )
    row_mm, col_mm = plane_spacing_mm(volume.spacing_mm, plane)
    height_px = abs(corner_b_px[0] - corner_a_px[0])
    width_px = abs(corner_b_px[1] - corner_a_px[1])
    return EllipseRoi(
        plane=plane,
        slice_index=int(slice_index),
        corner_a_px=_point(corner_a_px),
        corner_b_px=_point(corner_b_px),
        n_voxels=int(values.size),
        area_mm2=float(values.size * row_mm * col_mm),
        ellipse_area_mm2=float(math.pi * (height_px * row_mm / 2) * (width_px * col_mm / 2)),
        mean_hu=float(values.mean()),
        sd_hu=float(values.std()),
        min_hu=float(values.min()),
        max_hu=float(values.max()),
    )


def _point(p: PointPx) -> PointPx:
    return (float(p[0]), float(p[1]))
