"""``ichmodel manifest build``: a folder of studies + a label CSV -> a checked manifest, with
every problem a (row, column, problem) record."""

from __future__ import annotations

import json

import pytest

from ichmodel.cli import main
from ichmodel.errors import ManifestError
from ichmodel.train.manifest import RowProblem, read_manifest
from ichmodel.train.manifest_build import build_manifest


@pytest.fixture()
def studies(tmp_path):
    folder = tmp_path / "studies"
    folder.mkdir()
    for name in ("case1", "case2", "case3"):
        (folder / name).mkdir()
    (folder / "case4.zip").write_bytes(b"PK")
    return folder


def _labels(tmp_path, text, name="labels.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_build_pairs_studies_and_labels_and_reports_strays_by_row(studies, tmp_path):
    labels = _labels(tmp_path, "Case,volume_ml,poor_outcome,split\ncase1,12,0,train\n"
                               "ghost,1,0,\n\ncase4.zip,5,,val\n")
    out = tmp_path / "out" / "m.csv"
    build = build_manifest(studies, labels, out)
    assert build.path == out and build.n_rows == 2
    assert build.unmatched_studies == ("case2", "case3")
    assert build.label_problems == (
        RowProblem(3, "case", f"'ghost' names no sub-folder or zip in {studies}"),
    )
    report = build.validate()
    assert report.ok and [r.split for r in report.rows] == ["train", "val"]
    assert [r.study for r in report.rows] == [studies / "case1", studies / "case4.zip"]
    with pytest.raises(ManifestError, match="no row of"):
        build_manifest(studies, _labels(tmp_path, "case,volume_ml\nnope,1\n", "none.csv"))


def test_cli_builds_a_manifest_and_reports_json(studies, tmp_path, capsys):
    labels = _labels(tmp_path, "study,volume_ml,poor_outcome\ncase1,12,0\ncase2,30,1\nx,3,0\n")
    assert main(["manifest", "build", str(studies), "--volumes", str(labels), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["manifest"] == str(studies / "manifest.csv") and out["n_usable"] == 2
    assert out["unmatched_labels"] == [
        {"row": 4, "column": "study", "problem": f"'x' names no sub-folder or zip in {studies}"}
    ]
    assert out["problems"] == [] and out["unmatched_studies"] == ["case3", "case4.zip"]
    assert read_manifest(studies / "manifest.csv").ok


def test_cli_exit_codes_for_bad_rows_bad_input_and_bad_usage(studies, tmp_path, capsys):
    labels = _labels(tmp_path, "case,volume_ml,poor_outcome\ncase1,12,0\ncase2,lots,7\n")
    out = tmp_path / "m.csv"
    assert main(["manifest", "build", str(studies), "--volumes", str(labels), "--out", str(out),
                 "--json"]) == 3
    captured = capsys.readouterr()
    problems = json.loads(captured.out)["problems"]
    assert {(p["row"], p["column"]) for p in problems} == {(3, "volume_ml"), (3, "poor_outcome")}
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--exclude-rows 3" in err[0]
    assert out.is_file()  # written, so the rows can be fixed or excluded
    # unusable label file: one error line, nothing written
    bad = _labels(tmp_path, "who,when\nx,y\n", "bad.csv")
    assert main(["manifest", "build", str(studies), "--volumes", str(bad), "--out",
                 str(tmp_path / "n.csv")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "volume_ml" in err[0] and not (tmp_path / "n.csv").exists()
    with pytest.raises(SystemExit) as usage:
        main(["manifest", "build", str(studies)])  # --volumes is required
    assert usage.value.code == 2
