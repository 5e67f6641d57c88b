"""Turning what the user points at (folder, .zip, DICOMDIR, list of files) into files to read.

* A folder is walked recursively; DICOMDIR files found in it are read only to report the files
  they list that are not on disk.
* A ``.zip`` is extracted into a private temporary folder (removed when the process exits).
* A DICOMDIR (or a Philips-style nested ``DIRFILE``) is followed record by record; the files it
  lists that exist are read, the missing ones are reported per series.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ichmodel import notices
from ichmodel.errors import MissingFilesError, NoDicomFoundError
from ichmodel.notices import Notice, Source

log = logging.getLogger(__name__)

_TEMP_DIRS: list[str] = []


def _cleanup_temp_dirs() -> None:
    for folder in _TEMP_DIRS:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_cleanup_temp_dirs)


@dataclass(frozen=True)
class MissingSeries:
    """A series a DICOMDIR lists whose files are (partly) absent."""

    series_uid: str
    description: str
    modality: str
    series_number: str
    n_missing: int
    n_present: int
    example: str


@dataclass
class CollectedFiles:
    files: list[Path] = field(default_factory=list)
    missing_files: list[Path] = field(default_factory=list)
    missing_series: list[MissingSeries] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def _missing_notice(series: list[MissingSeries], n_missing: int) -> Notice:
    return notices.warning(
        "scan.dicomdir_files_missing", _describe_missing(series, n_missing), Source.SCAN
    )


def _is_dicomdir_name(path: Path) -> bool:
    return path.name.upper() in ("DICOMDIR", "DIRFILE")


def _extract_zip(path: Path) -> Path:
    target = tempfile.mkdtemp(prefix="ichmodel-zip-")
    _TEMP_DIRS.append(target)
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                # extract() sanitizes names (no absolute paths, no '..'), so a hostile
                # archive cannot write outside the target folder.
                if not member.is_dir():
                    archive.extract(member, target)
    except (zipfile.BadZipFile, OSError) as exc:
        raise NoDicomFoundError(
            f"{path} is not a readable .zip archive ({exc}); re-create the archive or "
            "extract it and point at the folder"
        ) from exc
    return Path(target)


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            found.append(Path(root) / name)
    return found


def _referenced(root: Path, file_id: object) -> Path:
    parts = [file_id] if isinstance(file_id, str) else list(file_id)  # type: ignore[call-overload]
    return root.joinpath(*[str(p) for p in parts])


class _DicomdirWalker:
    """Follows DICOMDIR records (and nested DIRFILEs) collecting present and missing files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.present: list[Path] = []
        self.missing: list[Path] = []
        self.series: dict[str, dict] = {}
        self._visited: set[Path] = set()

    def walk(self, path: Path, depth: int = 0) -> None:
        import pydicom

        if depth > 4 or path.resolve() in self._visited:
            return
        self._visited.add(path.resolve())
        try:
            ds = pydicom.dcmread(path, force=True)
            records = list(ds.get("DirectoryRecordSequence", []) or [])
        except Exception as exc:  # noqa: BLE001 - a broken DICOMDIR is reported, not fatal
            log.warning("cannot read directory file %s: %s", path, exc)
            return
        current = {"uid": "", "description": "", "modality": "", "number": ""}
        for record in records:
            kind = str(record.get("DirectoryRecordType", "")).upper()
            if kind == "SERIES":
                current = {
                    "uid": str(record.get("SeriesInstanceUID", "") or ""),
                    "description": str(record.get("SeriesDescription", "") or ""),
                    "modality": str(record.get("Modality", "") or ""),
                    "number": str(record.get("SeriesNumber", "") or ""),
                }
            file_id = record.get("ReferencedFileID")
            if not file_id:
                continue
            target = _referenced(self.root, file_id)
            entry = self.series.setdefault(
                current["uid"], {**current, "missing": 0, "present": 0, "example": ""}
            )
            if not target.is_file():
                self.missing.append(target)
                entry["missing"] += 1
                entry["example"] = entry["example"] or str(target)
                continue
            if _is_dicomdir_name(target) or kind in ("STUDY", "SERIES", "PATIENT"):
                self.walk(target, depth + 1)  # Philips: nested directory files per level
            else:
                self.present.append(target)
                entry["present"] += 1

    def missing_series(self) -> list[MissingSeries]:
        return [
            MissingSeries(
                series_uid=s["uid"],
                description=s["description"],
                modality=s["modality"],
                series_number=s["number"],
                n_missing=s["missing"],
                n_present=s["present"],
                example=s["example"],
            )
            for s in self.series.values()
            if s["missing"]
        ]


def _describe_missing(missing: Sequence[MissingSeries], n_files: int) -> str:
    names = ", ".join(
        f"{m.description or m.series_uid or 'unnamed series'}"
        + (f" ({m.n_missing} files)" if m.n_missing > 1 else "")
        for m in missing
    )
    n_series = len(missing)
    what = f"{n_files} file(s)" if n_series <= 1 else f"{n_series} series ({n_files} entries)"
    return f"the DICOMDIR lists {what} that are not on disk: {names}"


def collect_files(path_or_paths: str | Path | Iterable[str | Path]) -> CollectedFiles:
    """All candidate files under ``path_or_paths`` (see the module docstring).

    Raises:
        NoDicomFoundError: a path does not exist, or a folder is empty.
        MissingFilesError: a DICOMDIR was given and none of the files it lists exist.
    """
    if isinstance(path_or_paths, str | Path):
        inputs = [Path(path_or_paths)]
    else:
        inputs = [Path(p) for p in path_or_paths]
    if not inputs:
        raise NoDicomFoundError("no path was given; pass a folder, a .zip, a DICOMDIR or files")
    out = CollectedFiles()
    seen: set[Path] = set()

    def add(paths: Iterable[Path]) -> None:
        for p in paths:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                out.files.append(p)

    for path in inputs:
        if not path.exists():
            raise NoDicomFoundError(f"{path} does not exist; check the path")
        if path.is_dir():
            files = _walk(path)
            if not files and len(inputs) == 1:
                raise NoDicomFoundError(f"the folder {path} is empty; point at a DICOM study")
            dirs = [f for f in files if f.name.upper() == "DICOMDIR"]
            for dicomdir in dirs:  # only to report what it lists but is missing
                walker = _DicomdirWalker(dicomdir.parent)
                walker.walk(dicomdir)
                if walker.missing:
                    out.missing_files += walker.missing
                    out.missing_series += walker.missing_series()
                    out.notices.append(
                        _missing_notice(walker.missing_series(), len(walker.missing))
                    )
            add(files)
        elif path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            folder = _extract_zip(path)
            files = _walk(folder)
            if not files:
                raise NoDicomFoundError(f"the archive {path} is empty; point at a DICOM study")
            add(files)
        elif _is_dicomdir_name(path):
            walker = _DicomdirWalker(path.parent)
            walker.walk(path)
            if walker.missing:
                out.missing_files += walker.missing
                out.missing_series += walker.missing_series()
                out.notices.append(_missing_notice(walker.missing_series(), len(walker.missing)))
            if not walker.present:
                if walker.missing:
                    raise MissingFilesError(
                        f"{_describe_missing(walker.missing_series(), len(walker.missing))}, "
                        "and none of the files it lists are present; copy the whole disc or "
                        "export folder, not just the DICOMDIR"
                    )
                raise NoDicomFoundError(
                    f"the DICOMDIR {path} lists no image files; point at the study folder instead"
                )
            add(walker.present)
        else:
            add([path])
    return out
