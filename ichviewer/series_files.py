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
