"""Turning what the user points at (folder, .zip, DICOMDIR, list of files) into files to read.

* A folder is walked recursively taking regular files only: named pipes, sockets and devices
  are skipped (opening one would block or read forever), symlinks are followed only to regular
  files inside the folder (loops, dangling links and links out of the tree are skipped), and
  each kind of skip is counted in a notice.
* A ``.zip`` is extracted into a private temporary folder under the limits of
  :mod:`ichmodel.io.limits` (entries, inflated size per entry and in total, ratio); encrypted
  members and unsupported compressions are skipped by name. The folder belongs to a
  :class:`Workspace` that the caller closes (``with``); it is also removed when the scan that
  holds it is garbage-collected, and at once when extraction fails.
* A DICOMDIR (or a Philips-style nested ``DIRFILE``) is followed record by record; file IDs
  that leave the DICOMDIR's folder (``..``, absolute, too long) are refused and counted, the
  files it lists that exist are read, the missing ones are reported per series.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ichmodel import notices
from ichmodel.errors import ArchiveError, MissingFilesError, NoDicomFoundError
from ichmodel.io import limits
from ichmodel.io.archive import Workspace, extract_zip
from ichmodel.io.walk import regular_file_problem, walk_folder
from ichmodel.notices import Notice, Source

__all__ = ["CollectedFiles", "MissingSeries", "Workspace", "collect_files"]

log = logging.getLogger(__name__)

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
    #: Where extracted archives live; close it when the files are no longer needed.
    workspace: Workspace = field(default_factory=Workspace)


def _missing_notice(series: list[MissingSeries], n_missing: int) -> Notice:
    return notices.warning(
        "scan.dicomdir_files_missing", _describe_missing(series, n_missing), Source.SCAN
    )


def _is_dicomdir_name(path: Path) -> bool:
    return path.name.upper() in ("DICOMDIR", "DIRFILE")


def _shown(names: Sequence[str], n: int = 5) -> str:
    text = ", ".join(names[:n]) + (" ..." if len(names) > n else "")
    return text if len(text) < 400 else text[:400] + " ..."


def _referenced(root: Path, file_id: object) -> Path | None:
    """The file a ReferencedFileID names, or None when it would leave ``root``."""
    parts = [file_id] if isinstance(file_id, str) else list(file_id)  # type: ignore[call-overload]
    texts = [str(p) for p in parts]
    if sum(len(t) for t in texts) > limits.MAX_FILE_ID_CHARS or any("\0" in t for t in texts):
        return None
    pieces = [piece for t in texts for piece in t.replace("\\", "/").split("/")]
    if texts[0].startswith(("/", "\\")) or any(p in ("..", "") for p in pieces):
        return None
    texts = pieces
    target = root.joinpath(*texts)
    real_root = os.path.realpath(root)
    try:
        real = os.path.realpath(target)
    except (OSError, ValueError):
        return None
    if os.path.commonpath([real_root, real]) != real_root:
        return None
    return target


class _DicomdirWalker:
    """Follows DICOMDIR records (and nested DIRFILEs) collecting present and missing files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.present: list[Path] = []
        self.missing: list[Path] = []
        self.refused: list[str] = []
        self.series: dict[str, dict] = {}
        self._visited: set[str] = set()

    def walk(self, path: Path, depth: int = 0) -> None:
        import pydicom

        real = os.path.realpath(path)
        if depth > 4 or real in self._visited:
            return
        self._visited.add(real)
        try:
            if regular_file_problem(path) or path.stat().st_size > limits.MAX_HEADER_BYTES:
                raise ValueError("not a regular file of a plausible size")
            ds = pydicom.dcmread(path, force=True)
            records = list(ds.get("DirectoryRecordSequence", []) or [])
        except Exception as exc:  # noqa: BLE001 - a broken DICOMDIR is reported, not fatal
            log.warning("cannot read directory file %s: %s", path.name, type(exc).__name__)
            return
        current = {"uid": "", "description": "", "modality": "", "number": ""}
        for record in records:
            try:
                self._record(record, current, depth)
            except Exception as exc:  # noqa: BLE001 - one odd record does not spoil the rest
                log.warning("skipped a malformed DICOMDIR record (%s)", type(exc).__name__)

    def _record(self, record, current: dict, depth: int) -> None:
        kind = str(record.get("DirectoryRecordType", "")).upper()
        if kind == "SERIES":
            current.update(
                uid=str(record.get("SeriesInstanceUID", "") or ""),
                description=str(record.get("SeriesDescription", "") or ""),
                modality=str(record.get("Modality", "") or ""),
                number=str(record.get("SeriesNumber", "") or ""),
            )
        file_id = record.get("ReferencedFileID")
        if not file_id:
            return
        target = _referenced(self.root, file_id)
        if target is None:
            self.refused.append(str(file_id)[:60])
            return
        entry = self.series.setdefault(
            current["uid"], {**current, "missing": 0, "present": 0, "example": ""}
        )
        try:
            present = target.is_file()
        except OSError:
            present = False
        if not present:
            self.missing.append(target)
            entry["missing"] += 1
            entry["example"] = entry["example"] or str(target)
            return
        if _is_dicomdir_name(target) or kind in ("STUDY", "SERIES", "PATIENT"):
            self.walk(target, depth + 1)  # Philips: nested directory files per level
        else:
            self.present.append(target)
            entry["present"] += 1

    def refused_notice(self) -> Notice | None:
        if not self.refused:
            return None
        return notices.warning(
            "scan.dicomdir_reference_refused",
            f"the DICOMDIR names {len(self.refused)} file(s) outside its folder or with an "
            f"invalid file ID, which were not read: {_shown(self.refused, 3)}",
            Source.SCAN,
        )

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


def _follow_dicomdir(path: Path, out: CollectedFiles) -> _DicomdirWalker:
    walker = _DicomdirWalker(path.parent)
    walker.walk(path)
    if walker.missing:
        out.missing_files += walker.missing
        out.missing_series += walker.missing_series()
        out.notices.append(_missing_notice(walker.missing_series(), len(walker.missing)))
    refused = walker.refused_notice()
    if refused is not None:
        out.notices.append(refused)
    return walker


def collect_files(path_or_paths: str | Path | Iterable[str | Path]) -> CollectedFiles:
    """All candidate files under ``path_or_paths`` (see the module docstring).

    Close ``result.workspace`` when done with the files (it holds extracted archives).

    Raises:
        NoDicomFoundError: a path does not exist, is not a regular file, or a folder is empty.
        ArchiveError: a .zip cannot be unpacked within the limits.
        MissingFilesError: a DICOMDIR was given and none of the files it lists exist.
    """
    if isinstance(path_or_paths, str | Path):
        inputs = [Path(path_or_paths)]
    else:
        inputs = [Path(p) for p in path_or_paths]
    if not inputs:
        raise NoDicomFoundError("no path was given; pass a folder, a .zip, a DICOMDIR or files")
    out = CollectedFiles()
    seen: set[object] = set()

    def add(paths: Iterable[Path]) -> None:
        for p in paths:
            try:  # (device, inode): one syscall, where realpath needs one per component
                info = os.stat(p)
                key: object = (info.st_dev, info.st_ino) if info.st_ino else os.path.abspath(p)
            except OSError:
                key = os.path.abspath(p)
            if key not in seen:
                seen.add(key)
                out.files.append(p)

    try:
        for path in inputs:
            _collect_one(path, len(inputs), out, add)
    except BaseException:
        out.workspace.close()
        raise
    return out


def _collect_one(path: Path, n_inputs: int, out: CollectedFiles, add) -> None:
    try:
        exists = path.exists()
    except (OSError, ValueError):
        exists = False
    if not exists:
        raise NoDicomFoundError(f"{path} does not exist; check the path")
    problem = regular_file_problem(path)
    if problem:
        if n_inputs == 1:
            raise NoDicomFoundError(f"{path} {problem}; point at a DICOM folder, .zip or file")
        out.notices.append(notices.warning(
            "scan.special_files_skipped", f"skipped {path.name}: it {problem}", Source.SCAN
        ))
        return
    if path.is_dir():
        walked = walk_folder(path)
        skipped = walked.notice()
        if skipped is not None:
            out.notices.append(skipped)
        if not walked.files and n_inputs == 1:
            raise NoDicomFoundError(
                f"the folder {path} holds no regular files; point at a DICOM study"
            )
        for dicomdir in [f for f in walked.files if f.name.upper() == "DICOMDIR"]:
            walker = _follow_dicomdir(dicomdir, out)  # only to report what is missing
            del walker
        add(walked.files)
    elif path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        folder, found = extract_zip(path, out.workspace)
        out.notices += found
        files = walk_folder(folder).files
        if not files:
            raise ArchiveError(f"the archive {path.name} is empty; point at a DICOM study")
        add(files)
    elif _is_dicomdir_name(path):
        walker = _follow_dicomdir(path, out)
        if not walker.present:
            if walker.missing:
                raise MissingFilesError(
                    f"{_describe_missing(walker.missing_series(), len(walker.missing))}, "
                    "and none of the files it lists are present; copy the whole disc or "
                    "export folder, not just the DICOMDIR"
                )
            refused = " (its file IDs point outside its folder)" if walker.refused else ""
            raise NoDicomFoundError(
                f"the DICOMDIR {path} lists no image files{refused}; point at the study "
                "folder instead"
            )
        add(walker.present)
    else:
        add([path])
