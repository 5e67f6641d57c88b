"""Loading a scanned series into a :class:`~ichmodel.volume.Volume` in Hounsfield units.

* HU = stored value x RescaleSlope + RescaleIntercept (per slice, PS3.3 C.11.1.1.2);
  PixelPaddingValue pixels and values below -1400 HU (outside the scan field) become air.
* Slice order and spacing come from ImagePositionPatient projected on the slice normal
  (:mod:`ichmodel.io.geometry`); gantry tilt and uneven spacing are resampled onto a regular
  orthogonal grid keeping the physical extent, with a notice in ``Volume.notices``.
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
from dataclasses import replace
from pathlib import Path

import numpy as np

from ichmodel import notices
from ichmodel.errors import (
    InconsistentSeriesError,
    InputError,
    MissingFilesError,
    MixedIdentityError,
    NoUsableSeriesError,
    PixelDataError,
    SeriesNotFoundError,
    SingleSliceError,
    UnsupportedModalityError,
)
from ichmodel.io import classify as cl
from ichmodel.io.dicom_tags import HeaderRecord, series_meta
from ichmodel.io.geometry import regularize
from ichmodel.io.pixels import read_stored_pixels
from ichmodel.io.sanity import (
    check_voxels,
    consistent_slices,
    plausibility_notices,
    stack_geometry,
)
from ichmodel.io.scan import SeriesInfo, StudyScan, iter_scan_study, read_header
from ichmodel.notices import Notice, Source
from ichmodel.progress import Progress, raise_if_cancelled, run_to_completion
from ichmodel.volume import AIR_HU, SeriesMeta, Volume

log = logging.getLogger(__name__)

#: HU below this are not tissue or air but padding / outside the reconstruction circle.
PADDING_FLOOR_HU = -1400.0
#: Threads for reading and decoding slices (I/O and the decoders release the GIL).
MAX_WORKERS = min(8, (os.cpu_count() or 2) + 2)


def _read_into(record: HeaderRecord, out: np.ndarray) -> None:
    """Read one slice and write its HU into ``out`` (y, x) float32 (runs in a worker)."""
    if not record.is_image:
        raise PixelDataError(f"{record.path.name} is not an image")
    stored = read_stored_pixels(record)
    if stored.shape != out.shape:
        raise PixelDataError(
            f"{record.path.name}: image is {stored.shape[0]}x{stored.shape[1]}, the series "
            f"{out.shape[0]}x{out.shape[1]}"
        )
    to_hu(stored, record, out)


def to_hu(stored: np.ndarray, record: HeaderRecord, out: np.ndarray) -> None:
    """HU = stored x RescaleSlope + RescaleIntercept, padding and < -1400 HU as air."""
    if record.rescale_slope == 1.0:
        out[...] = stored
    else:
        np.multiply(stored, np.float32(record.rescale_slope), out=out, casting="unsafe")
    if record.rescale_intercept:
        out += np.float32(record.rescale_intercept)
    if record.padding is not None:
        low, high = record.padding
        out[(stored >= low) & (stored <= high)] = AIR_HU
    out[out < PADDING_FLOOR_HU] = AIR_HU


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


def _meta(records: list[HeaderRecord]) -> SeriesMeta:
    """The series' facts from the first slice whose full header pydicom can read."""
    import pydicom

    for record in records[:8]:
        try:
            ds = pydicom.dcmread(
                record.path, stop_before_pixels=True, defer_size=4096, force=True
            )
            return series_meta(ds)
        except Exception as exc:  # noqa: BLE001 - a malformed header; try the next slice
            log.debug("cannot read the full header of a slice: %s", type(exc).__name__)
    first = records[0]
    return SeriesMeta(
        study_uid=first.study_uid,
        series_uid=first.series_uid,
        series_number=first.series_number,
        series_description=first.series_description,
        modality=first.modality or "CT",
        kernel=first.kernel,
        slice_thickness_mm=first.slice_thickness_mm,
        body_part=first.body_part,
        contrast_agent=first.contrast_agent,
    )


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
    if series.category == cl.MIXED_IDENTITY:
        raise MixedIdentityError(f"{what} cannot be loaded: {series.reason}")
    if series.category == cl.NO_GEOMETRY:
        raise InconsistentSeriesError(f"{what} cannot be loaded: {series.reason}")
    if series.n_images < 2:
        raise SingleSliceError(
            f"{what} has a single image: a volume needs at least two slices; "
            "choose the axial series of the head"
        )


def _geometry(records: list[HeaderRecord], name: str, found: list[Notice]):
    records, geo = stack_geometry(records, found)
    if len(geo.order) < 2:
        raise SingleSliceError(
            f"series {name!r} has all its images at one position; a volume needs at least "
            "two slices"
        )
    return records, geo


def load_series(series: SeriesInfo) -> Generator[Progress, None, Volume]:
    """Read, order and convert one series to a :class:`Volume` (HU), yielding progress.

    The slice order comes from the scanned headers, so each worker thread reads its file
    and writes HU straight into its place in the output array.

    Raises:
        SingleSliceError, UnsupportedModalityError, InconsistentSeriesError, PixelDataError,
        MissingFilesError, NoUsableSeriesError: see the messages.
    """
    _check_loadable(series)
    name = series.description or series.key
    total = len(series.files)
    yield Progress("load", 0, total, f"reading {total} slices")
    bad: list[tuple[str, str]] = []
    found: list[Notice] = list(series.notices)
    records = consistent_slices(_records(series, bad), found)
    records, geo = _geometry(records, name, found)
    ordered = [records[i] for i in geo.order]
    ny, nx = ordered[0].size
    check_voxels((len(ordered), ny, nx), f"series {name!r}")  # before the allocation
    stack = np.empty((len(ordered), ny, nx), dtype=np.float32)
    failed: list[int] = []
    pool = ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(ordered))))
    try:
        futures = [pool.submit(_read_into, r, stack[k]) for k, r in enumerate(ordered)]
        for k, future in enumerate(futures):
            raise_if_cancelled()  # the pool's shutdown below drops the slices not started
            try:
                future.result()
            except InputError as exc:
                failed.append(k)
                bad.append((ordered[k].path.name, str(exc)))
            if (k + 1) % 16 == 0 or k + 1 == len(futures):
                yield Progress("load", k + 1, total, f"read {k + 1}/{total} slices")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if bad:
        names = ", ".join(n for n, _ in bad[:5]) + (" ..." if len(bad) > 5 else "")
        if len(ordered) - len(failed) < 2:
            raise PixelDataError(
                f"{len(bad)} of {total} images of {name!r} cannot be read (e.g. {bad[0][1]}); "
                "re-export the series from the PACS or scanner"
            )
        found.append(notices.warning(
            "load.unreadable_images_skipped",
            f"skipped {len(bad)} unreadable or truncated image(s): {names}",
            Source.LOAD,
        ))
        log.warning("skipped %d bad files: %s", len(bad), bad[:5])
    if failed:
        keep = [k for k in range(len(ordered)) if k not in set(failed)]
        stack = stack[keep]
        ordered = [ordered[k] for k in keep]
        kept, geo = _geometry(ordered, name, found)  # may set aside more (outlying ends)
        index = {id(r): k for k, r in enumerate(ordered)}
        chosen = [index[id(kept[i])] for i in geo.order]
        stack = stack[chosen]
        ordered = [ordered[k] for k in chosen]
    if geo.needs_resampling:
        yield Progress("resample", 0, 1, "correcting tilt / uneven spacing")
    grid = regularize(stack, geo)
    meta = _meta(ordered)
    thickness = Counter(r.slice_thickness_mm for r in ordered if r.slice_thickness_mm)
    if thickness:
        meta = replace(meta, slice_thickness_mm=float(thickness.most_common(1)[0][0]))
    if series.category == cl.CONTRAST:
        found.append(notices.warning(
            "load.maybe_contrast_enhanced",
            f"this series may be contrast-enhanced: {series.reason}",
            Source.LOAD,
        ))
    elif series.category not in (cl.CANDIDATE,):
        found.append(notices.warning(
            "load.not_an_automatic_choice",
            f"loaded on request although {series.reason}",
            Source.LOAD,
        ))
    volume = Volume(
        hu=grid.hu,
        spacing_mm=grid.spacing_mm,
        origin_mm=grid.origin_mm,
        direction=grid.direction,
        meta=meta,
        notices=tuple(found) + grid.notices
        + tuple(plausibility_notices(grid.spacing_mm, grid.hu.shape)),
    )
    yield Progress("load", total, total, "done")
    log.info("loaded %r", volume)
    return volume


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
    if cl.MIXED_IDENTITY in categories:
        reason = next(s.reason for s in scan.series if s.category == cl.MIXED_IDENTITY)
        raise MixedIdentityError(f"the CT series cannot be loaded: {reason}")
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
    with scan:  # extracted archives are removed once the volume is in memory
        series = select_series(scan, series_uid)
        volume = yield from load_series(series)
    extra = tuple(n for n in scan.notices if n not in volume.notices)
    return volume.with_notices(*extra) if extra else volume


def load_study(path: str | Path | Iterable[str | Path], series_uid: str | None = None) -> Volume:
    """Scan and load in one call (see :func:`iter_load_study`)."""
    return run_to_completion(iter_load_study(path, series_uid))
