"""Where the reader's per-series files live (score entries, segmentation edits): one small JSON
file per SeriesInstanceUID in a folder of the user's data location."""

from __future__ import annotations

import hashlib
from pathlib import Path


def user_data_folder(name: str) -> Path:
    """``name`` inside the app's writable data location (``~/.ichviewer`` when Qt has none)."""
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".ichviewer") / name


def series_file(root: Path, series_uid: str) -> Path:
    """The JSON file of a series in ``root``. The UID is hashed: it is not secret, but file
    names stay short and filesystem-safe."""
    return root / (hashlib.sha256(series_uid.encode()).hexdigest()[:24] + ".json")


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: a reader of the file
    sees the old or the new content, never half of it, even when the app dies mid-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
