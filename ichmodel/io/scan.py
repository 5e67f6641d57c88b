"""Scanning a study: read headers only, group into series, classify and rank them.

``scan_study(path)`` accepts a folder (recursive), a ``.zip``, a DICOMDIR or a list of files.
Headers are read with ``stop_before_pixels`` so a 300-file study scans in well under a second.
Series are grouped by SeriesInstanceUID and split where orientation or image size changes
within one UID; each :class:`SeriesInfo` says whether it was picked and why (see
:mod:`ichmodel.io.classify` for the rules).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ichmodel import notices
from ichmodel.errors import NoDicomFoundError, UnreadableDicomError
from ichmodel.io import classify as cl
from ichmodel.io.dicom_tags import HeaderRecord
from ichmodel.io.grouping import majority, mixed_identity, orientation_groups
from ichmodel.io.header import BROKEN_DICOM, read_header
from ichmodel.io.sources import Workspace, collect_files
from ichmodel.notices import Notice, Source, texts
from ichmodel.progress import Progress, raise_if_cancelled, run_to_completion

log = logging.getLogger(__name__)

#: A series UID whose largest same-size part holds at least this share keeps that part.
DOMINANT_SHARE = 0.8


@dataclass(frozen=True)
class SeriesInfo:
    """One series (or one part of a split series) of a scanned study."""

    series_uid: str
    #: Unique within the scan: the UID, or ``UID#k`` when one UID was split into parts.
    key: str
    description: str
    modality: str
    n_images: int
    picked: bool
    reason: str
    notices: tuple[Notice, ...]
    #: File paths of the images (unordered; the loader sorts by position).
    files: tuple[Path, ...]
    category: str = cl.CANDIDATE
    series_number: str = ""
    kernel: str = ""
    slice_thickness_mm: float | None = None
    #: (rows, columns) of the images.
    image_size: tuple[int, int] = (0, 0)
    study_uid: str = ""
    #: Files a DICOMDIR lists for this series that are not on disk.
    n_missing_files: int = 0
    #: The scanned header of each file (same order as ``files``); lets the loader read the
    #: pixels without parsing headers again. Empty when built by hand.
    headers: tuple[HeaderRecord, ...] = field(default=(), repr=False, compare=False)

    @property
    def is_candidate(self) -> bool:
        """True when the series could be picked automatically."""
        return self.category == cl.CANDIDATE

    @property
    def warnings(self) -> tuple[str, ...]:
        return texts(self.notices)


@dataclass(frozen=True)
class StudyScan:
    """The result of :func:`scan_study`: series ranked best first."""

    series: tuple[SeriesInfo, ...]
    picked: SeriesInfo | None
    n_files: int
    n_skipped_files: int
    #: (path, why) for each skipped file (non-DICOM, unreadable, directory files excluded).
    skipped: tuple[tuple[str, str], ...]
    notices: tuple[Notice, ...]
    #: Temporary folders of extracted archives the series' files live in (None: none).
    workspace: Workspace | None = field(default=None, repr=False, compare=False)

    @property
    def warnings(self) -> tuple[str, ...]:
        return texts(self.notices)

    def close(self) -> None:
        """Remove extracted archives (the series' files there are gone afterwards)."""
        if self.workspace is not None:
            self.workspace.close()

    def __enter__(self) -> StudyScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def find(self, uid_or_key: str) -> list[SeriesInfo]:
        """Series whose key equals ``uid_or_key``, else all parts with that series UID."""
        exact = [s for s in self.series if s.key == uid_or_key]
        return exact or [s for s in self.series if s.series_uid == uid_or_key]


def _looks_like_dicom_name(path: Path) -> bool:
    return path.suffix.lower() in (".dcm", ".dicom", ".ima", ".dic")


def _split(
    uid: str, records: list[HeaderRecord]
) -> list[tuple[list[HeaderRecord], str, Notice | None]]:
    """Parts of one UID: (records, mixed-sizes reason or "", notice or None)."""
    parts: list[tuple[list[HeaderRecord], str, Notice | None]] = []
    for group in sorted(orientation_groups(records), key=len, reverse=True):
        by_size: dict[tuple[int, int], list[HeaderRecord]] = defaultdict(list)
        for r in group:
            by_size[r.size].append(r)
        sizes = sorted(by_size.values(), key=len, reverse=True)
        if len(sizes) == 1:
            parts.append((sizes[0], "", None))
            continue
        counts = ", ".join(f"{len(s)} of {s[0].size[0]}x{s[0].size[1]}" for s in sizes)
        dominant = len(sizes[0]) >= DOMINANT_SHARE * len(group) and len(sizes[0]) >= 2
        if dominant:
            left_out = [r.path.name for s in sizes[1:] for r in s]
            shown = ", ".join(left_out[:5]) + (" ..." if len(left_out) > 5 else "")
            parts.append(
                (
                    sizes[0],
                    "",
                    notices.warning(
                        "scan.odd_size_images_left_out",
                        f"left out {len(left_out)} image(s) of a different size ({counts}): "
                        f"{shown}",
                        Source.SCAN,
                    ),
                )
            )
            for s in sizes[1:]:
                parts.append((s, "", notices.warning(
                    "scan.image_size_differs",
                    f"image size differs from the rest of series {uid}",
                    Source.SCAN,
                )))
        else:
            reason = f"series mixes image sizes ({counts}); choose one part explicitly by its key"
            for s in sizes:
                parts.append((s, reason, None))
    return parts


def _build_series(
    uid: str, records: list[HeaderRecord]
) -> list[tuple[SeriesInfo, cl.Classification]]:
    identity = mixed_identity(records)
    records, set_aside = majority(uid, records)
    parts = _split(uid, records)
    groups = sorted(orientation_groups(records), key=len, reverse=True)
    n_turned = sum(len(g) for g in groups[1:])
    out: list[tuple[SeriesInfo, cl.Classification]] = []
    for index, (part, mixed, warning) in enumerate(parts):
        first = part[0]
        cls = cl.classify(part, mixed_sizes=mixed, mixed_identity=identity)
        extra = (set_aside,) if set_aside is not None and index == 0 else ()
        if index == 0 and n_turned:
            extra += (notices.warning(
                "scan.other_orientation_images_left_out",
                f"{n_turned} image(s) of this series have another orientation; they are "
                "listed as separate part(s) and not loaded with it",
                Source.SCAN,
            ),)
        key = uid if len(parts) == 1 else f"{uid}#{index + 1}"
        thickness = first.slice_thickness_mm
        thickness_counts = Counter(r.slice_thickness_mm for r in part)
        if len(thickness_counts) > 1:
            thickness = thickness_counts.most_common(1)[0][0]
        info = SeriesInfo(
            series_uid=uid,
            key=key,
            description=first.series_description,
            modality=first.modality,
            n_images=len(part),
            picked=False,
            reason=cls.reason,
            notices=((warning,) if warning else ()) + extra,
            files=tuple(r.path for r in part),
            headers=tuple(part),
            category=cls.category,
            series_number=first.series_number,
            kernel=first.kernel,
            slice_thickness_mm=thickness,
            image_size=first.size,
            study_uid=first.study_uid,
        )
        out.append((info, cls))
    return out


def _rank(series: list[SeriesInfo], classes: dict[str, cl.Classification]) -> list[SeriesInfo]:
    candidates = [s for s in series if s.is_candidate]
    others = [s for s in series if not s.is_candidate]
    candidates.sort(key=lambda s: cl.rank_key(classes[s.key], s.slice_thickness_mm, s.n_images))
    ranked: list[SeriesInfo] = []
    for rank, s in enumerate(candidates):
        detail = cl.describe_candidate(classes[s.key], s.kernel, s.slice_thickness_mm, s.n_images)
        if rank == 0:
            ranked.append(replace(s, picked=True, reason=f"picked: {detail}"))
        else:
            best = candidates[0].description or candidates[0].key
            ranked.append(
                replace(s, reason=f"candidate #{rank + 1} ({detail}); ranked after {best!r}")
            )
    order = {cl.CONTRAST: 0, cl.MIXED_SIZES: 1, cl.MIXED_IDENTITY: 2, cl.SINGLE_SLICE: 3}
    others.sort(key=lambda s: (order.get(s.category, 9), -s.n_images))
    return ranked + others


def iter_scan_study(
    path_or_paths: str | Path | Iterable[str | Path],
) -> Generator[Progress, None, StudyScan]:
    """Scan a study (headers only), yielding progress; returns the :class:`StudyScan`.

    Raises:
        NoDicomFoundError: nothing DICOM was found (empty folder, only other files).
        UnreadableDicomError: files named/marked as DICOM exist but none can be parsed.
        MissingFilesError: a DICOMDIR whose listed files are all missing.
    """
    collected = collect_files(path_or_paths)
    try:
        scan = yield from _scan_files(path_or_paths, collected)
    except BaseException:  # an error, or the generator closed (cancel): nothing stays in /tmp
        collected.workspace.close()
        raise
    return scan


def _scan_files(
    path_or_paths: str | Path | Iterable[str | Path], collected
) -> Generator[Progress, None, StudyScan]:
    files = collected.files
    total = len(files)
    yield Progress("scan", 0, total, f"reading {total} file headers")
    records: list[HeaderRecord] = []
    skipped: list[tuple[str, str]] = []
    n_directories = 0
    for i, path in enumerate(files):
        raise_if_cancelled()
        record, why = read_header(path)
        if record is not None:
            records.append(record)
        elif why == "directory":
            n_directories += 1
        else:
            skipped.append((str(path), why))
        if (i + 1) % 10 == 0:  # each yield is a cancel point
            yield Progress("scan", i + 1, total, f"read {i + 1}/{total} headers")
    found = list(collected.notices)
    if not records:
        dicom_named = [p for p, _ in skipped if _looks_like_dicom_name(Path(p))]
        malformed = [
            p for p, why in skipped if why.startswith(("malformed", "unreadable", BROKEN_DICOM))
        ]
        if malformed or dicom_named:
            example = (malformed or dicom_named)[0]
            why = dict(skipped)[example]
            raise UnreadableDicomError(
                f"{len(skipped)} file(s) found but none is a readable DICOM image; e.g. "
                f"{Path(example).name}: {why}. Re-export the study from the PACS or scanner"
            )
        if collected.missing_files:
            from ichmodel.errors import MissingFilesError

            raise MissingFilesError(
                f"{found[0].text if found else 'files listed by a DICOMDIR are missing'}; "
                "copy the whole disc or export folder"
            )
        raise NoDicomFoundError(
            f"no DICOM files among {total - n_directories} file(s) in {path_or_paths}; "
            "point at the folder, .zip or DICOMDIR that holds the CT images"
        )
    if skipped:
        names = ", ".join(Path(p).name for p, _ in skipped[:5]) + (
            " ..." if len(skipped) > 5 else ""
        )
        found.append(notices.warning(
            "scan.files_skipped",
            f"skipped {len(skipped)} non-DICOM or unreadable file(s): {names}",
            Source.SCAN,
        ))

    by_uid: dict[str, list[HeaderRecord]] = defaultdict(list)
    for r in records:
        by_uid[r.series_uid].append(r)
    series: list[SeriesInfo] = []
    classes: dict[str, cl.Classification] = {}
    for uid, group in by_uid.items():
        for info, cls in _build_series(uid, group):
            series.append(info)
            classes[info.key] = cls
    present = {s.series_uid for s in series}
    for missing in collected.missing_series:
        if missing.series_uid in present:
            series = [
                replace(
                    s,
                    n_missing_files=missing.n_missing,
                    notices=s.notices
                    + (notices.warning(
                        "scan.series_files_missing",
                        f"{missing.n_missing} file(s) listed in DICOMDIR are missing",
                        Source.SCAN,
                    ),),
                )
                if s.series_uid == missing.series_uid
                else s
                for s in series
            ]
            continue
        series.append(
            SeriesInfo(
                series_uid=missing.series_uid,
                key=missing.series_uid or f"missing:{missing.example}",
                description=missing.description,
                modality=missing.modality,
                n_images=0,
                picked=False,
                reason=f"listed in the DICOMDIR but its files are missing (e.g. {missing.example})",
                notices=(),
                files=(),
                category=cl.MISSING_FILES,
                series_number=missing.series_number,
                n_missing_files=missing.n_missing,
            )
        )
    ranked = _rank(series, classes)
    picked = next((s for s in ranked if s.picked), None)
    yield Progress("scan", total, total, f"{len(ranked)} series")
    log.info("scanned %d files: %d series, %d skipped", total, len(ranked), len(skipped))
    return StudyScan(
        series=tuple(ranked),
        picked=picked,
        n_files=total,
        n_skipped_files=len(skipped),
        skipped=tuple(skipped),
        notices=tuple(found),
        workspace=collected.workspace if collected.workspace.folders else None,
    )


def scan_study(path_or_paths: str | Path | Iterable[str | Path]) -> StudyScan:
    """Scan a study and return the ranked series (see :func:`iter_scan_study`)."""
    return run_to_completion(iter_scan_study(path_or_paths))
