"""Loading a scanned series into a :class:`~ichmodel.volume.Volume` in Hounsfield units.

* HU = stored value x RescaleSlope + RescaleIntercept (per slice, PS3.3 C.11.1.1.2);
  PixelPaddingValue pixels and values below -1400 HU (outside the scan field) become air.
* Slice order and spacing come from ImagePositionPatient projected on the slice normal
  (:mod:`ichmodel.io.geometry`); gantry tilt and uneven spacing are resampled onto a regular
  orthogonal grid keeping the physical extent, with a warning in ``Volume.warnings``.
* Compressed transfer syntaxes (JPEG lossless, JPEG-LS, JPEG 2000, RLE, deflate) decode
  through pydicom's pixel handlers with the pylibjpeg plugins; files are read and decoded in
  a small thread pool.
* Files that cannot be read or decoded are skipped with a warning naming them, as long as at
  least two good slices remain.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichmodel.errors import (
    InconsistentSeriesError,
    InputError,
    MissingFilesError,
    NoUsableSeriesError,
    PixelDataError,
    SeriesNotFoundError,
    SingleSliceError,
    UnsupportedModalityError,
)
from ichmodel.io import classify as cl
from ichmodel.io.dicom_tags import HeaderRecord, series_meta
from ichmodel.io.geometry import analyze_stack, regularize
from ichmodel.io.pixels import read_stored_pixels
from ichmodel.io.scan import SeriesInfo, StudyScan, iter_scan_study, read_header
from ichmodel.progress import Progress, run_to_completion
from ichmodel.volume import AIR_HU, SeriesMeta, Volume

log = logging.getLogger(__name__)

#: HU below this are not tissue or air but padding / outside the reconstruction circle.
PADDING_FLOOR_HU = -1400.0
#: Threads for reading and decoding slices (I/O and the decoders release the GIL).
MAX_WORKERS = min(8, (os.cpu_count() or 2) + 2)


@dataclass
class _Slice:
    """One successfully read slice: stored values plus its header record."""

    index: int
    stored: np.ndarray
    record: HeaderRecord


def _read_slice(index: int, record: HeaderRecord) -> _Slice:
    if not record.is_image:
        raise PixelDataError(f"{record.path.name} is not an image")
    return _Slice(index=index, stored=read_stored_pixels(record), record=record)


def _records(series: SeriesInfo, bad: list[tuple[str, str]]) -> list[HeaderRecord]:
    """Header records of the series' files (from the scan, or read now)."""
    if len(series.headers) == len(series.files):
        return list(series.headers)
    records = []
    for path in series.files:
        record, why = read_header(Path(path))
        if record is None:
            bad.append((Path(path).name, why))
        else:
            records.append(record)
    return records


def _meta(path: Path) -> SeriesMeta:
    import pydicom

    return series_meta(pydicom.dcmread(path, stop_before_pixels=True))


def _to_hu(s: _Slice, out: np.ndarray) -> None:
    """Write the HU of slice ``s`` into ``out`` (y, x) float32."""
    r = s.record
    if r.rescale_slope == 1.0:
        out[...] = s.stored
    else:
        np.multiply(s.stored, np.float32(r.rescale_slope), out=out, casting="unsafe")
    if r.rescale_intercept:
        out += np.float32(r.rescale_intercept)
    if r.padding is not None:
        low, high = r.padding
        pad = (s.stored >= low) & (s.stored <= high)
        out[pad] = AIR_HU
    out[out < PADDING_FLOOR_HU] = AIR_HU


def _check_loadable(series: SeriesInfo) -> None:
    what = f"series {series.description or series.key!r}"
    if series.n_images == 0:
        raise MissingFilesError(
            f"{what} is listed in the DICOMDIR but none of its files are on disk; "
            "copy the complete export"
        )
    if series.category == cl.NON_CT:
        raise UnsupportedModalityError(
            f"{what} is {series.modality}, not CT: Hounsfield units do not apply; "
            "choose a CT series"
        )
    if series.category in (cl.NON_IMAGE, cl.MULTI_FRAME):
        raise NoUsableSeriesError(f"{what} cannot be loaded: {series.reason}")
    if series.category == cl.NO_GEOMETRY:
        raise InconsistentSeriesError(f"{what} cannot be loaded: {series.reason}")
    if series.n_images < 2:
        raise SingleSliceError(
            f"{what} has a single image: a volume needs at least two slices; "
            "choose the axial series of the head"
        )


def load_series(series: SeriesInfo) -> Generator[Progress, None, Volume]:
    """Read, order and convert one series to a :class:`Volume` (HU), yielding progress.

    Raises:
        SingleSliceError, UnsupportedModalityError, InconsistentSeriesError, PixelDataError,
        MissingFilesError, NoUsableSeriesError: see the messages.
    """
    _check_loadable(series)
    total = len(series.files)
    yield Progress("load", 0, total, f"reading {total} slices")
    slices: list[_Slice] = []
    bad: list[tuple[str, str]] = []
    records = _records(series, bad)
    pool = ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(records))))
    try:
        futures = [pool.submit(_read_slice, i, r) for i, r in enumerate(records)]
        for done, (record, future) in enumerate(zip(records, futures, strict=True), start=1):
            try:
                slices.append(future.result())
            except InputError as exc:
                bad.append((record.path.name, str(exc)))
            if done % 8 == 0 or done == total:
                yield Progress("load", done, total, f"read {done}/{total} slices")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    warnings: list[str] = list(series.warnings)
    if bad:
        names = ", ".join(n for n, _ in bad[:5]) + (" ..." if len(bad) > 5 else "")
        if len(slices) < 2:
            raise PixelDataError(
                f"{len(bad)} of {total} images of {series.description or series.key!r} cannot "
                f"be read (e.g. {bad[0][1]}); re-export the series from the PACS or scanner"
            )
        warnings.append(f"skipped {len(bad)} unreadable or truncated image(s): {names}")
        log.warning("skipped %d bad files: %s", len(bad), bad[:5])

    slices = _consistent(slices, warnings)
    geo = analyze_stack(
        [s.record.position_mm for s in slices],  # type: ignore[misc]
        slices[0].record.orientation,  # type: ignore[arg-type]
        slices[0].record.pixel_spacing_mm,  # type: ignore[arg-type]
        tagged_tilt_deg=next(
            (s.record.gantry_tilt_deg for s in slices if s.record.gantry_tilt_deg), None
        ),
    )
    ordered = [slices[i] for i in geo.order]
    if len(ordered) < 2:
        raise SingleSliceError(
            f"series {series.description or series.key!r} has all its images at one position; "
            "a volume needs at least two slices"
        )
    ny, nx = ordered[0].stored.shape
    stack = np.empty((len(ordered), ny, nx), dtype=np.float32)
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(ordered))) as convert:
        list(convert.map(lambda k: _to_hu(ordered[k], stack[k]), range(len(ordered))))
    for s in ordered:
        s.stored = np.empty(0)  # free the raw buffers early
    if geo.needs_resampling:
        yield Progress("resample", 0, 1, "correcting tilt / uneven spacing")
    grid = regularize(stack, geo)
    meta = _meta(ordered[0].record.path)
    thickness = Counter(
        s.record.slice_thickness_mm for s in ordered if s.record.slice_thickness_mm
    ).most_common(1)
    if thickness:
        from dataclasses import replace

        meta = replace(meta, slice_thickness_mm=float(thickness[0][0]))
    if series.category == cl.CONTRAST:
        warnings.append(f"this series may be contrast-enhanced: {series.reason}")
    elif series.category not in (cl.CANDIDATE,):
        warnings.append(f"loaded on request although {series.reason}")
    volume = Volume(
        hu=grid.hu,
        spacing_mm=grid.spacing_mm,
        origin_mm=grid.origin_mm,
        direction=grid.direction,
        meta=meta,
        warnings=tuple(warnings) + grid.warnings,
    )
    yield Progress("load", total, total, "done")
    log.info("loaded %r", volume)
    return volume


def _consistent(slices: list[_Slice], warnings: list[str]) -> list[_Slice]:
    """Drop slices whose size/orientation/geometry disagrees with the majority (warned)."""
    if not slices:
        return slices
    no_geo = [s for s in slices if s.record.position_mm is None or s.record.orientation is None]
    slices = [s for s in slices if s not in no_geo]
    if no_geo:
        if len(slices) < 2:
            raise InconsistentSeriesError(
                "the images lack ImagePositionPatient/ImageOrientationPatient, so their order "
                "and spacing are unknown; export the series with full geometry"
            )
        warnings.append(f"skipped {len(no_geo)} image(s) without position/orientation")
    size = Counter(s.stored.shape for s in slices).most_common(1)[0][0]
    odd = [s for s in slices if s.stored.shape != size]
    if odd:
        if len(odd) * 5 > len(slices):
            raise InconsistentSeriesError(
                f"the images of this series have different sizes ({len(odd)} of "
                f"{len(slices)} differ from {size[0]}x{size[1]}); choose another series"
            )
        warnings.append(f"skipped {len(odd)} image(s) of a different size")
        slices = [s for s in slices if s.stored.shape == size]
    ref = np.asarray(slices[0].record.orientation)
    tilted = [s for s in slices if np.abs(np.asarray(s.record.orientation) - ref).max() > 1e-3]
    if tilted:
        raise InconsistentSeriesError(
            f"{len(tilted)} image(s) of this series have another orientation; "
            "choose one part of the series"
        )
    if slices[0].record.pixel_spacing_mm is None:
        raise InconsistentSeriesError(
            "the images have no PixelSpacing, so sizes in mm are unknown; export with geometry"
        )
    return slices


def _label(series: SeriesInfo) -> str:
    if series.description:
        return repr(series.description)
    if series.series_number:
        return f"series #{series.series_number}"
    return series.key


def select_series(scan: StudyScan, series_uid: str | None = None) -> SeriesInfo:
    """The series to load: the requested one (by key or UID) or the picked one.

    Raises the most specific :class:`~ichmodel.errors.InputError` when none fits.
    """
    if series_uid:
        matches = scan.find(series_uid)
        if not matches:
            available = ", ".join(
                f"{s.key} ({s.description or 'no description'})" for s in scan.series
            )
            raise SeriesNotFoundError(
                f"series {series_uid} is not in this study; available: {available}"
            )
        if len(matches) > 1 and not matches[0].is_candidate:
            keys = ", ".join(m.key for m in matches)
            raise InconsistentSeriesError(
                f"series {series_uid} has parts with different image sizes or orientations; "
                f"choose one of: {keys}"
            )
        return matches[0]
    if scan.picked is not None:
        return scan.picked
    categories = {s.category for s in scan.series}
    listing = (
        "; ".join(f"{_label(s)}: {s.reason}" for s in scan.series if s.n_images) or "no images"
    )
    if categories == {cl.MISSING_FILES}:
        raise MissingFilesError(
            f"{scan.warnings[0] if scan.warnings else 'the listed files are missing'}; "
            "copy the complete export"
        )
    if cl.MIXED_SIZES in categories:
        raise InconsistentSeriesError(
            f"the CT series mixes image sizes and cannot be stacked ({listing}); "
            "choose one part with --series KEY"
        )
    if cl.CONTRAST in categories:
        raise NoUsableSeriesError(
            f"only contrast-enhanced series were found ({listing}); choose one explicitly "
            "with --series if you accept that contrast mimics blood"
        )
    if cl.SINGLE_SLICE in categories:
        raise SingleSliceError(
            f"the only axial CT series has a single image ({listing}); a volume needs at "
            "least two slices: export the whole series"
        )
    image_series = [s for s in scan.series if s.category not in (cl.MISSING_FILES, cl.NON_IMAGE)]
    if image_series and all(s.category == cl.NON_CT for s in image_series):
        mods = ", ".join(sorted({s.modality or "?" for s in image_series}))
        raise UnsupportedModalityError(
            f"this study holds {mods} images, not CT: Hounsfield units do not apply; "
            "open the head CT study"
        )
    raise NoUsableSeriesError(
        f"no axial CT image series in this study ({listing}); export the axial head CT series"
    )


def iter_load_study(
    path: str | Path | Iterable[str | Path], series_uid: str | None = None
) -> Generator[Progress, None, Volume]:
    """Scan ``path`` and load the picked (or requested) series, yielding progress."""
    scan = yield from iter_scan_study(path)
    series = select_series(scan, series_uid)
    volume = yield from load_series(series)
    extra = tuple(w for w in scan.warnings if w not in volume.warnings)
    return volume.with_warnings(*extra) if extra else volume


def load_study(path: str | Path | Iterable[str | Path], series_uid: str | None = None) -> Volume:
    """Scan and load in one call (see :func:`iter_load_study`)."""
    return run_to_completion(iter_load_study(path, series_uid))
