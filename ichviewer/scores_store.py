"""The reader's score entries, saved with the study in the user's data folder, keyed by the
SeriesInstanceUID (one small JSON file per series; no patient identifiers in the file)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ichmodel.scores import ClinicalInputs, ScoreInputError
from ichviewer.series_files import series_file, user_data_folder, write_atomically

log = logging.getLogger(__name__)


class ScoreStore:
    """``load(series_uid)`` / ``save(series_uid, inputs)``; a damaged file reads as empty."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else user_data_folder("scores")

    def path(self, series_uid: str) -> Path:
        return series_file(self.root, series_uid)

    def load(self, series_uid: str) -> ClinicalInputs:
        path = self.path(series_uid)
        if not series_uid or not path.is_file():
            return ClinicalInputs()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("series_uid") != series_uid:
                return ClinicalInputs()
            return ClinicalInputs.from_dict(data["clinical"])
        except (OSError, ValueError, KeyError, TypeError, ScoreInputError) as exc:
            log.warning("score entries in %s could not be read (%s); starting empty", path, exc)
            return ClinicalInputs()

    def save(self, series_uid: str, inputs: ClinicalInputs) -> Path | None:
        if not series_uid:
            return None
        path = self.path(series_uid)
        try:
            write_atomically(path, json.dumps({"series_uid": series_uid,
                                               "clinical": inputs.to_dict()}, indent=1))
        except OSError as exc:
            log.warning("score entries could not be saved to %s: %s", path, exc)
            return None
        return path
