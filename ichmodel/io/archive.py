"""Unpacking a ``.zip`` study under the limits of :mod:`ichmodel.io.limits`.

Entries, inflated size per entry and in total, and the inflation ratio are checked before a
byte is written; encrypted members and compressions the standard library cannot inflate
(Deflate64, AES, ...) are skipped by name. The temporary folder belongs to a
:class:`Workspace` the caller closes (``with``); it is removed at once when unpacking fails,
and when the workspace is garbage-collected if nobody closed it.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Sequence
from pathlib import Path

from ichmodel import notices
from ichmodel.errors import ArchiveError, InputError
from ichmodel.io import limits
from ichmodel.notices import Notice, Source
from ichmodel.progress import raise_if_cancelled

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


def extract_zip(path: Path, workspace: Workspace) -> tuple[Path, list[Notice]]:
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
