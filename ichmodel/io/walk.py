"""Walking a study folder: regular files only, symlinks followed only inside the tree.

Named pipes, sockets and devices are skipped (opening one blocks or reads forever), as are
dangling or looping symlinks and links out of the folder; each kind is counted in a notice.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ichmodel import notices
from ichmodel.errors import NoDicomFoundError
from ichmodel.io import limits
from ichmodel.notices import Notice, Source
from ichmodel.progress import raise_if_cancelled


def _shown(names: Sequence[str], n: int = 5) -> str:
    text = ", ".join(names[:n]) + (" ..." if len(names) > n else "")
    return text if len(text) < 400 else text[:400] + " ..."


@dataclass
class FolderWalk:
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


def walk_folder(folder: Path) -> FolderWalk:
    """Regular files under ``folder`` (sorted), following symlinks only inside the tree."""
    out = FolderWalk()
    root = os.path.realpath(folder)
    seen: set[object] = set()  # (device, inode): a file reached twice is read once
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
                    info = os.stat(real)
                    mode = info.st_mode
                    if stat.S_ISDIR(mode):
                        continue  # its target lies in the tree and is walked there
                else:
                    real = entry.path
                    info = entry.stat(follow_symlinks=False)
                    mode = info.st_mode
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
            # some file systems report no inode numbers (0): then the path is the key
            key = (info.st_dev, info.st_ino) if info.st_ino else entry.path
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


def regular_file_problem(path: Path) -> str:
    """'' for a regular file (after symlinks), else what it is."""
    try:
        mode = path.stat().st_mode
    except (OSError, RuntimeError) as exc:
        return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return ""
    return f"is not a regular file but a {_special_kind(mode).replace('(s)', '')}"
