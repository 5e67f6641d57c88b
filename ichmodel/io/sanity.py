"""Per-slice validation and the size/geometry sanity layer, run before any pixel is allocated.

* Slices whose rescale, size, orientation or pixel spacing disagree with the series' majority
  are set aside with a warning naming them (the first file does not decide for the others);
  a slice whose RescaleIntercept is missing or not a number is never read as 0.
* Image sizes, spacings, extents and the voxel count of the volume (and of its resampled grid)
  are checked against :mod:`ichmodel.io.limits`; what no CT can have is refused with an
  :class:`~ichmodel.errors.ImplausibleInputError` naming the tag and value, what a head CT
  should not have (voxels outside 0.1-10 mm, a head larger than 300 mm) is warned about.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ichmodel import notices
from ichmodel.errors import ImplausibleInputError, InconsistentSeriesError, PixelDataError
from ichmodel.io import limits
from ichmodel.io.dicom_tags import HeaderRecord
from ichmodel.io.geometry import StackGeometry, analyze_stack, regularized_shape
from ichmodel.notices import Notice, Source

log = logging.getLogger(__name__)

#: An end slice this many median gaps (and at least OUTLIER_MIN_MM) beyond its neighbour is not
#: part of the stack (a corrupt position, a stray slice from elsewhere).
OUTLIER_GAPS = 10.0
OUTLIER_MIN_MM = 20.0
#: Images smaller than this (px) are thumbnails or test phantoms: their extent says nothing.
EXTENT_CHECK_MIN_PX = 128


def _names(records: Sequence[HeaderRecord]) -> str:
    shown = ", ".join(r.path.name for r in records[:5])
    return shown + (" ..." if len(records) > 5 else "")


def _set_aside(
    records: list[HeaderRecord], odd: list[HeaderRecord], code: str, what: str, found: list[Notice]
) -> list[HeaderRecord]:
    found.append(notices.warning(
        code, f"set aside {len(odd)} slice(s) {what}: {_names(odd)}", Source.LOAD
    ))
    log.warning("set aside %d slice(s) %s", len(odd), what)
    gone = {id(r) for r in odd}
    return [r for r in records if id(r) not in gone]


def _set_aside_minority(
    records: list[HeaderRecord], odd: list[HeaderRecord], code: str, what: str,
    found: list[Notice], *, too_many: str,
) -> list[HeaderRecord]:
    """:func:`_set_aside` when ``odd`` is at most a fifth of the series; more is refused with
    ``too_many`` (the series is then not one series)."""
    if len(odd) * 5 > len(records):
        raise InconsistentSeriesError(too_many)
    return _set_aside(records, odd, code, what, found)


def check_image_size(record: HeaderRecord) -> None:
    rows, cols = record.size
    for tag, value in (("Rows (0028,0010)", rows), ("Columns (0028,0011)", cols)):
        if value > limits.MAX_IMAGE_SIDE:
            raise ImplausibleInputError(
                f"{tag} is {value}, more than the {limits.MAX_IMAGE_SIDE} a CT image has "
                f"({record.path.name}); the header is corrupt: re-export the series"
            )


def _majority_orientation(records: list[HeaderRecord]) -> np.ndarray:
    vectors = [np.asarray(r.orientation, dtype=float) for r in records]
    counts = [
        sum(float(np.abs(v - w).max()) <= limits.ORIENTATION_TOLERANCE for w in vectors[:64])
        for v in vectors[:64]
    ]
    return vectors[int(np.argmax(counts))]


def consistent_slices(records: list[HeaderRecord], found: list[Notice]) -> list[HeaderRecord]:
    """The slices that agree with the series' majority; the others set aside (warned), or raise
    when fewer than two remain or the disagreement is not a small minority."""
    if not records:
        raise PixelDataError("none of the images of this series can be read; re-export it")
    total = len(records)
    bad_rescale = [r for r in records if r.rescale_problem]
    if bad_rescale:
        if total - len(bad_rescale) < 2:
            raise PixelDataError(
                f"{len(bad_rescale)} of {total} slices cannot be converted to HU: "
                f"{bad_rescale[0].rescale_problem} (e.g. {bad_rescale[0].path.name}); "
                "re-export the series from the scanner or PACS"
            )
        why = Counter(r.rescale_problem for r in bad_rescale).most_common(1)[0][0]
        records = _set_aside(
            records, bad_rescale, "load.bad_rescale_slices_set_aside",
            f"whose stored values cannot be converted to HU ({why})", found,
        )  # fmt: skip
    no_geo = [r for r in records if r.position_mm is None or r.orientation is None]
    if no_geo:
        if len(records) - len(no_geo) < 2:
            raise InconsistentSeriesError(
                "the images lack a valid ImagePositionPatient (0020,0032) or "
                "ImageOrientationPatient (0020,0037), so their order and spacing are unknown; "
                "export the series with full geometry"
            )
        records = _set_aside(
            records, no_geo, "load.images_without_geometry_skipped",
            "without a valid ImagePositionPatient/ImageOrientationPatient", found,
        )  # fmt: skip
    size = Counter(r.size for r in records).most_common(1)[0][0]
    odd = [r for r in records if r.size != size]
    if odd:
        records = _set_aside_minority(
            records, odd, "load.odd_size_images_skipped", "of a different image size", found,
            too_many=f"the images of this series have different sizes ({len(odd)} of "
            f"{len(records)} differ from {size[0]}x{size[1]}); choose another series",
        )
    ref = _majority_orientation(records)
    turned = [
        r for r in records
        if float(np.abs(np.asarray(r.orientation) - ref).max()) > limits.ORIENTATION_TOLERANCE
    ]  # fmt: skip
    if turned:
        records = _set_aside_minority(
            records, turned, "load.turned_slices_set_aside", "with another orientation", found,
            too_many=f"{len(turned)} image(s) of this series have another orientation; "
            "choose one part of the series",
        )
    with_spacing = [r for r in records if r.pixel_spacing_mm is not None]
    if not with_spacing:
        raise InconsistentSeriesError(
            "the images have no valid PixelSpacing (0028,0030), so sizes in mm are unknown; "
            "export with geometry"
        )
    spacing = Counter(r.pixel_spacing_mm for r in with_spacing).most_common(1)[0][0]
    assert spacing is not None
    off = [
        r for r in records
        if r.pixel_spacing_mm is None
        or max(abs(a - b) / b for a, b in zip(r.pixel_spacing_mm, spacing, strict=True))
        > limits.SPACING_TOLERANCE
    ]  # fmt: skip
    if off:
        records = _set_aside_minority(
            records, off, "load.odd_spacing_slices_set_aside", "with another PixelSpacing",
            found, too_many=f"{len(off)} of {len(records)} images of this series have another "
            "PixelSpacing (0028,0030); choose another series",
        )
    for value in spacing:
        if limits.refused_spacing(value):
            raise ImplausibleInputError(
                f"PixelSpacing (0028,0030) is {value:g} mm, outside the "
                f"{limits.SPACING_REFUSE_MM[0]:g}-{limits.SPACING_REFUSE_MM[1]:g} mm any CT "
                "has; the header is corrupt: re-export the series"
            )
    check_image_size(records[0])
    return records


def stack_geometry(
    records: list[HeaderRecord], found: list[Notice]
) -> tuple[list[HeaderRecord], StackGeometry]:
    """Geometry of the consistent slices, end slices far off the stack set aside; refuses a
    slice spacing or extent no CT has and a volume larger than the limits."""
    while True:
        geo = analyze_stack(
            [r.position_mm for r in records],  # type: ignore[misc]
            _majority_orientation(records),  # type: ignore[arg-type]
            records[0].pixel_spacing_mm,  # type: ignore[arg-type]
            tagged_tilt_deg=next((r.gantry_tilt_deg for r in records if r.gantry_tilt_deg), None),
        )
        outliers = _outlying_ends(geo)
        if not outliers:
            break
        odd = [records[i] for i in outliers]
        records = _set_aside(
            records, odd, "load.outlying_slices_set_aside",
            f"lying more than {OUTLIER_GAPS:g} slice gaps beyond the rest of the stack", found,
        )  # fmt: skip
    if len(geo.order) >= 2:
        gap = geo.median_gap_mm
        if limits.refused_spacing(gap):
            raise ImplausibleInputError(
                f"the slices are {gap:.4g} mm apart (from ImagePositionPatient (0020,0032)), "
                f"outside the {limits.SPACING_REFUSE_MM[0]:g}-{limits.SPACING_REFUSE_MM[1]:g} "
                "mm any CT has; the positions are corrupt: re-export the series"
            )
        extent = float(geo.heights_mm[-1] - geo.heights_mm[0])
        if extent > limits.MAX_EXTENT_MM:
            raise ImplausibleInputError(
                f"the slices span {extent:.4g} mm (ImagePositionPatient (0020,0032)), more "
                f"than the {limits.MAX_EXTENT_MM:g} mm of a whole body; re-export the series"
            )
    ny, nx = records[0].size
    n_in = len(geo.order)
    check_voxels((n_in, ny, nx), "the series")
    check_voxels(regularized_shape(geo, (ny, nx)), "the series resampled onto a regular grid")
    return records, geo


def _outlying_ends(geo: StackGeometry) -> list[int]:
    """Caller indices of end slices far beyond their neighbours (at most one per end)."""
    gaps = geo.gaps_mm
    if gaps.size < 3:
        return []
    inner = float(np.median(gaps))
    limit = max(OUTLIER_GAPS * inner, OUTLIER_MIN_MM)
    out = []
    if gaps[0] > limit:
        out.append(geo.order[0])
    if gaps[-1] > limit:
        out.append(geo.order[-1])
    return out


def check_voxels(shape: tuple[int, int, int], what: str) -> None:
    nz, ny, nx = shape
    n = int(nz) * int(ny) * int(nx)
    if nz > limits.MAX_SLICES or n > limits.MAX_VOXELS:
        raise ImplausibleInputError(
            f"{what} would be {nz} x {ny} x {nx} voxels "
            f"({limits.human_bytes(4 * n)}), beyond the {limits.MAX_SLICES} slices and "
            f"{limits.MAX_VOXELS:,} voxels a head CT needs; its positions or spacing are "
            "corrupt: re-export the series"
        )


def plausibility_notices(
    spacing_mm: tuple[float, float, float], shape: tuple[int, int, int]
) -> list[Notice]:
    """Warnings for a volume a head cannot have (voxel size, extent); nothing when plausible."""
    out: list[Notice] = []
    odd = [
        f"{axis} {value:.3g} mm"
        for axis, value in zip(("z", "y", "x"), spacing_mm, strict=True)
        if not limits.plausible_spacing(value)
    ]
    if odd:
        low, high = limits.SPACING_PLAUSIBLE_MM
        out.append(notices.warning(
            "load.implausible_voxel_size",
            f"voxel size outside the {low:g}-{high:g} mm of a head CT ({', '.join(odd)}): "
            "check the volumes in ml against the images",
            Source.LOAD,
        ))
    if min(shape[1:]) >= EXTENT_CHECK_MIN_PX:
        extents = [n * s for n, s in zip(shape, spacing_mm, strict=True)]
        low, high = limits.HEAD_EXTENT_PLAUSIBLE_MM
        inplane = max(extents[1:])
        if inplane < low or inplane > high or extents[0] > high:
            out.append(notices.warning(
                "load.implausible_head_extent",
                f"the volume spans {' x '.join(f'{e:.0f}' for e in extents)} mm (z, y, x), "
                f"not the {low:g}-{high:g} mm of a head CT: check PixelSpacing and positions",
                Source.LOAD,
            ))
    return out
