"""The reader's segmentation edits, saved beside the score entries in the user's data folder,
keyed by the SeriesInstanceUID (one small JSON edit record per series; the record holds voxel
positions and HU, no patient identifiers). See :mod:`ichmodel.edits.record` for the format."""

from __future__ import annotations

import logging
from pathlib import Path

from ichmodel.edits.record import EditRecord, EditRecordError, load_record
from ichviewer.series_files import series_file, user_data_folder, write_atomically

log = logging.getLogger(__name__)


class EditStore:
    """``load(series_uid)`` / ``save(record)`` / ``discard(series_uid)``; a damaged or foreign
    file reads as no edits (and is said so in the log), never as an error dialog."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else user_data_folder("edits")

    def path(self, series_uid: str) -> Path:
        return series_file(self.root, series_uid)

    def load(self, series_uid: str) -> EditRecord | None:
        path = self.path(series_uid)
        if not series_uid or not path.is_file():
            return None
        try:
            record = load_record(path)
        except EditRecordError as exc:
            log.warning("saved edits in %s could not be read (%s); starting without", path, exc)
            return None
        if record.series_uid != series_uid:
            return None
        return record if record.edits else None

    def save(self, record: EditRecord) -> Path | None:
        """Write the record (an empty one removes the file); None when it could not be."""
        if not record.series_uid:
            return None
        if not record.edits:
            self.discard(record.series_uid)
            return None
        path = self.path(record.series_uid)
        try:
            write_atomically(path, record.to_json())
        except OSError as exc:
            log.warning("edits could not be saved to %s: %s", path, exc)
            return None
        return path

    def discard(self, series_uid: str) -> None:
        try:
            self.path(series_uid).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("saved edits could not be removed: %s", exc)
