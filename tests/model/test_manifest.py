"""Manifest reading/validation, the preprocessing cache's load check, and the split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ichmodel.errors import ManifestError, NoDicomFoundError
from ichmodel.progress import run_to_completion
from ichmodel.train.cache import CaseCache, build_cache, study_fingerprint
from ichmodel.train.manifest import read_manifest, write_manifest
from ichmodel.train.split import Split, make_split, reconcile_split


def _study(root: Path, name: str) -> str:
    d = root / name
    d.mkdir()
    (d / "img.dcm").write_bytes(name.encode())
    return name


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_validator_reports_every_bad_row(tmp_path):
    for name in ("a", "b", "c", "d"):
        _study(tmp_path, name)
    manifest = _write(
        tmp_path / "m.csv",
        "study,volume_ml,poor_outcome,split,site\n"
        "a,12.5,0,train,deep\n"  # row 2 ok
        "missing,3,1,,\n"  # row 3 study missing
        "b,abc,1,,\n"  # row 4 volume not a number
        "c,-4,2,,\n"  # row 5 negative volume AND bad outcome
        "d,7,,holdout,\n"  # row 6 bad split
        "a,1,0,,\n"  # row 7 duplicate study
        ",5,0,,\n",  # row 8 empty study
    )
    report = read_manifest(manifest)
    assert [r.row for r in report.rows] == [2]
    assert report.bad_rows == (3, 4, 5, 6, 7, 8)
    cols = {(p.row, p.column) for p in report.problems}
    assert {(3, "study"), (4, "volume_ml"), (5, "volume_ml"), (5, "poor_outcome"),
            (6, "split"), (7, "study"), (8, "study")} <= cols
    with pytest.raises(ManifestError) as info:
        report.raise_for_problems()
    message = str(info.value)
    for row in (3, 4, 5, 6, 7, 8):
        assert f"row {row}" in message
    assert "--exclude-rows 3,4,5,6,7,8" in message
    assert info.value.problems == report.problems  # structured, never flattened to text


def test_excluded_rows_are_skipped_explicitly(tmp_path):
    _study(tmp_path, "a")
    manifest = _write(tmp_path / "m.csv", "study,volume_ml\na,1\nnope,2\n")
    report = read_manifest(manifest, exclude_rows=[3])
    assert report.ok and report.excluded_rows == (3,)
    report.raise_for_problems()
    assert report.rows[0].poor_outcome is None  # empty outcome -> volume head only


def test_missing_columns_and_missing_file(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "none.csv")
    bad = _write(tmp_path / "m.csv", "path,volume\nx,1\n")
    with pytest.raises(ManifestError, match="study"):
        read_manifest(bad)


def test_build_cache_adds_load_failures_and_resumes(tmp_path):
    for name in ("a", "b", "c"):
        _study(tmp_path, name)
    manifest = _write(tmp_path / "m.csv", "study,volume_ml,poor_outcome\na,1,0\nb,2,1\nc,3,\n")
    report = read_manifest(manifest)
    calls = []

    def loader(path):
        calls.append(path.name)
        if path.name == "b":
            raise NoDicomFoundError(f"{path} holds no DICOM")
        return path.name

    def prep(volume, config):
        return np.full((1, 2, 3, 3), 0.5, dtype=np.float32)

    cache = CaseCache(tmp_path / "cache", {"shape": [2, 3, 3]})
    events = []
    gen = build_cache(report, cache, loader=loader, preprocessor=prep)
    checked = run_to_completion(gen, events.append)
    assert [r.row for r in checked.rows] == [2, 4]
    assert [p.row for p in checked.problems] == [3] and "does not load" in str(checked.problems[0])
    assert events[-1].stage == "cache" and events[-1].total == 3
    key = checked.rows[0].cache_key
    arr = cache.get(key)
    assert arr.dtype == np.float16 and arr.shape == (1, 2, 3, 3)
    # Second build: cached rows are not loaded again (resume), the failing one is retried.
    calls.clear()
    run_to_completion(build_cache(report, cache, loader=loader, preprocessor=prep))
    assert calls == ["b"]
    # A changed config is a different key.
    other = CaseCache(tmp_path / "cache", {"shape": [4, 3, 3]})
    assert other.key("x") != cache.key("x")


def test_fingerprint_changes_when_files_change(tmp_path):
    _study(tmp_path, "a")
    before = study_fingerprint(tmp_path / "a")
    (tmp_path / "a" / "img2.dcm").write_bytes(b"more")
    assert study_fingerprint(tmp_path / "a") != before
    assert study_fingerprint(tmp_path / "a", content_hash=True) != before


def test_write_manifest_round_trips(tmp_path):
    _study(tmp_path, "a")
    src = _write(tmp_path / "m.csv", "study,volume_ml,poor_outcome,split\na,1.5,1,val\n")
    rows = read_manifest(src).rows
    out = write_manifest(tmp_path / "copy.csv", rows)
    again = read_manifest(out).rows
    assert again[0].volume_ml == 1.5 and again[0].poor_outcome == 1 and again[0].split == "val"


def test_split_is_stratified_seeded_and_saved(tmp_path):
    ids = [f"s{i:02d}" for i in range(40)]
    outcomes = [1 if i % 4 == 0 else 0 for i in range(40)]  # 10 poor, 30 good
    split = make_split(ids, outcomes, val_fraction=0.2, seed=3)
    assert len(split.val) == 8 and len(split.train) == 32
    poor_val = sum(1 for i in split.val if outcomes[ids.index(i)] == 1)
    assert poor_val == 2  # 20 % of 10
    assert set(split.train).isdisjoint(split.val)
    assert make_split(ids, outcomes, val_fraction=0.2, seed=3) == split
    assert make_split(ids, outcomes, val_fraction=0.2, seed=4) != split
    path = split.save(tmp_path / "split.json")
    assert Split.load(path) == split


def test_split_honours_fixed_parts_and_reconciles():
    ids = ["a", "b", "c", "d", "e"]
    split = make_split(ids, [0, 1, None, 0, 1], val_fraction=0.4, fixed={"a": "test"})
    assert split.test == ("a",)
    grown = reconcile_split(split, ids + ["f"])
    assert "f" in grown.train and grown.val == split.val
    with pytest.raises(Exception, match="not in this manifest"):
        reconcile_split(split, ["b", "c"])
