"""The reader's per-series files (score entries, edits) are written atomically: a write that
fails half-way leaves the earlier file whole, and the store says it could not save."""

from __future__ import annotations

from pathlib import Path

import pytest

from ichmodel.scores import ClinicalInputs
from ichviewer.scores_store import ScoreStore


def test_a_failed_save_keeps_the_earlier_entries_whole(tmp_path, monkeypatch):
    store = ScoreStore(tmp_path)
    uid = "1.2.826.0.1.3680043.2.1125.99"
    first = ClinicalInputs(gcs=14, age_years=70)
    assert store.save(uid, first) is not None
    before = store.path(uid).read_bytes()

    def dies_mid_write(self, data, *args, **kwargs):  # the disk fills after a few bytes
        with open(self, "w", encoding="utf-8") as f:
            f.write(data[:5])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", dies_mid_write)
    assert store.save(uid, ClinicalInputs(gcs=3, age_years=90)) is None
    monkeypatch.undo()
    assert store.path(uid).read_bytes() == before
    assert store.load(uid) == first


@pytest.mark.parametrize("name", ["scores", "edits"])
def test_the_temporary_file_sits_beside_the_file(tmp_path, name):
    from ichviewer.series_files import series_file, write_atomically

    path = series_file(tmp_path / name, "1.2.3")
    write_atomically(path, "{}")
    assert path.read_text() == "{}" and sorted(p.name for p in path.parent.iterdir()) == [
        path.name]
