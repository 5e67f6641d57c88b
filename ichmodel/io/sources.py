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
import shutil
import stat
import tempfile
import weakref
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ichmodel import notices
from ichmodel.errors import ArchiveError, InputError, MissingFilesError, NoDicomFoundError
from ichmodel.io import limits
from ichmodel.notices import Notice, Source
from ichmodel.progress import raise_if_cancelled

log = logging.getLogger(__name__)

#: zip compression methods the standard library inflates (stored, deflate, bzip2, lzma).
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ZIP_METHOD_NAMES = {9: "Deflate64", 99: "AES encryption", 93: "Zstandard", 95: "xz", 98: "PPMd"}


class Workspace:
    """Temporary folders holding extracted archives; ``close()`` (or ``with``) removes them."""

    def __init__(self) -> None:
        self.folders: list[str] = []
        self._finalizers: list[weakref.finalize] = []

    def new_folder(self) -> Path:
        folder = tempfile.mkdtemp(prefix="ichmodel-zip-")
        self.folders.append(folder)
        # removed when this workspace is garbage-collected, if nobody closed it
        self._finalizers.append(weakref.finalize(self, shutil.rmtree, folder, True))
        return Path(folder)

    def close(self) -> None:
        for finalizer in self._finalizers:
            finalizer()  # runs rmtree once
        self._finalizers.clear()
        self.folders.clear()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def _zip_member_problem(member: zipfile.ZipInfo) -> str:
    if member.flag_bits & 0x1:
        return "is encrypted (password-protected)"
    if member.compress_type not in _ZIP_METHODS:
        name = _ZIP_METHOD_NAMES.get(member.compress_type, f"method {member.compress_type}")
        return f"is compressed with {name}, which cannot be unpacked here"
    if member.file_size > limits.MAX_ZIP_ENTRY_BYTES:
        return (
            f"inflates to {limits.human_bytes(member.file_size)}, more than the "
            f"{limits.human_bytes(limits.MAX_ZIP_ENTRY_BYTES)} a DICOM image can need"
        )
    ratio = member.file_size / max(1, member.compress_size)
    if member.file_size > limits.ZIP_RATIO_MIN_BYTES and ratio > limits.MAX_ZIP_RATIO:
        return f"inflates {ratio:.0f}-fold (a zip bomb, not an image)"
    return ""


def _extract_zip(path: Path, workspace: Workspace) -> tuple[Path, list[Notice]]:
    """Extract ``path`` under the zip limits; (folder, notices about skipped members)."""
    found: list[Notice] = []
    bad: list[tuple[str, str]] = []
    target = workspace.new_folder()
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > limits.MAX_ZIP_ENTRIES:
                raise ArchiveError(
                    f"the archive {path.name} holds {len(members)} entries, more than the "
                    f"{limits.MAX_ZIP_ENTRIES} a study may have; extract it and point at the "
                    "folder of the series"
                )
            total = 0
            n_good = 0
            for member in members:
                raise_if_cancelled()
                problem = _zip_member_problem(member)
                if not problem and total + member.file_size > limits.MAX_ZIP_TOTAL_BYTES:
                    raise ArchiveError(
                        f"the archive {path.name} inflates to more than "
                        f"{limits.human_bytes(limits.MAX_ZIP_TOTAL_BYTES)}; extract it "
                        "yourself and point at the folder of the series"
                    )
                if not problem:
                    try:
                        # extract() sanitizes names (no absolute paths, no '..'), so a hostile
                        # archive cannot write outside the target folder; it stops at the
                        # declared size, which was checked above.
                        archive.extract(member, target)
                        total += member.file_size
                        n_good += 1
                        continue
                    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError,
                            ValueError, EOFError) as exc:  # fmt: skip
                        problem = f"cannot be unpacked ({type(exc).__name__}: {str(exc)[:120]})"
                bad.append((member.filename[:120], problem))
    except InputError:
        workspace.close()
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        workspace.close()
        raise ArchiveError(
            f"{path.name} is not a readable .zip archive ({type(exc).__name__}: "
            f"{str(exc)[:160]}); re-create the archive or extract it and point at the folder"
        ) from exc
    if bad:
        if not n_good:
            workspace.close()
            raise ArchiveError(
                f"no member of the archive {path.name} can be unpacked: {bad[0][0]} "
                f"{bad[0][1]}; re-create the archive (no password, ordinary deflate "
                "compression) or extract it and point at the folder"
            )
        found.append(notices.warning(
            "scan.archive_members_skipped",
            f"skipped {len(bad)} member(s) of {path.name}: "
            + _shown([f"{name} ({why})" for name, why in bad], 3),
            Source.SCAN,
        ))
    return target, found


@dataclass
class _Walk:
    files: list[Path] = field(default_factory=list)
    #: kind of skipped entry -> names
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, kind: str, name: str) -> None:
        self.skipped.setdefault(kind, []).append(name)

    def notice(self) -> Notice | None:
        if not self.skipped:
            return None
        parts = [f"{len(v)} {k} ({_shown(v, 3)})" for k, v in self.skipped.items()]
        return notices.warning(
            "scan.special_files_skipped",
            "skipped entries that are not regular files in the study: " + "; ".join(parts),
            Source.SCAN,
        )


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe(s)"
    if stat.S_ISSOCK(mode):
        return "socket(s)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device(s)"
    return "special file(s)"


def _walk(folder: Path) -> _Walk:
    """Regular files under ``folder`` (sorted), following symlinks only inside the tree."""
    out = _Walk()
    root = os.path.realpath(folder)
    seen: set[str] = set()
    stack: list[tuple[str, int]] = [(str(folder), 0)]
    while stack:
        raise_if_cancelled()
        current, depth = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            out.skip("unreadable folder(s)", f"{Path(current).name} ({exc.strerror})")
            continue
        subdirs: list[str] = []
        for entry in entries:
            try:
                if entry.is_symlink():
                    try:
                        real = os.path.realpath(entry.path, strict=True)
                    except (OSError, RuntimeError):
                        out.skip("broken or looping symlink(s)", entry.name)
                        continue
                    if os.path.commonpath([root, real]) != root:
                        out.skip("symlink(s) pointing outside the folder", entry.name)
                        continue
                    mode = os.stat(real).st_mode
                    if stat.S_ISDIR(mode):
                        continue  # its target lies in the tree and is walked there
                else:
                    real = entry.path
                    mode = entry.stat(follow_symlinks=False).st_mode
                    if stat.S_ISDIR(mode):
                        if depth + 1 > limits.MAX_FOLDER_DEPTH:
                            out.skip("folder(s) nested too deep", entry.name)
                        else:
                            subdirs.append(entry.path)
                        continue
            except OSError as exc:
                out.skip("unreadable entr(ies)", f"{entry.name} ({exc.strerror})")
                continue
            if not stat.S_ISREG(mode):
                out.skip(_special_kind(mode), entry.name)
                continue
            key = os.path.realpath(real)
            if key in seen:
                continue
            seen.add(key)
            out.files.append(Path(entry.path))
            if len(out.files) > limits.MAX_FILES:
                raise NoDicomFoundError(
                    f"the folder {folder.name} holds more than {limits.MAX_FILES} files; "
                    "point at the folder of one study"
                )
        stack.extend((d, depth + 1) for d in reversed(subdirs))
    return out


def _regular_file_problem(path: Path) -> str:
    """'' for a regular file (after symlinks), else what it is."""
    try:
        mode = path.stat().st_mode
    except (OSError, RuntimeError) as exc:
        return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return ""
    return f"is not a regular file but a {_special_kind(mode).replace('(s)', '')}"


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
            if _regular_file_problem(path) or path.stat().st_size > limits.MAX_HEADER_BYTES:
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
    seen: set[str] = set()

    def add(paths: Iterable[Path]) -> None:
        for p in paths:
            key = os.path.realpath(p)
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
    problem = _regular_file_problem(path)
    if problem:
        if n_inputs == 1:
            raise NoDicomFoundError(f"{path} {problem}; point at a DICOM folder, .zip or file")
        out.notices.append(notices.warning(
            "scan.special_files_skipped", f"skipped {path.name}: it {problem}", Source.SCAN
        ))
        return
    if path.is_dir():
        walked = _walk(path)
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
        folder, found = _extract_zip(path, out.workspace)
        out.notices += found
        files = _walk(folder).files
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
