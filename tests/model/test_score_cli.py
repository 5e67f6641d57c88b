"""``ichmodel score``: the JSON contract, reader entries, DICOM age and bad entries."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ichmodel.cli import main
from tests.model._measure_heads import Blob, make_head

BLOB = Blob((2.5, 10.0, 25.0), (22.0, 18.0, 12.0))  # ~20 ml, lobar/deep left


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    from ichmodel.io.write import write_dicom_series

    folder = tmp_path_factory.mktemp("score_study")
    volume = make_head(blood=BLOB, seed=11)
    volume = replace(volume, meta=replace(volume.meta, patient_age="081Y"))
    write_dicom_series(volume, folder)
    return folder


def test_score_json(study, capsys):
    argv = ["score", str(study), "--gcs", "13", "--nihss", "8", "--anticoagulated", "no",
            "--cognitive-impairment", "no", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["age"] == {"years": 81, "source": "DICOM PatientAge"}
    scores = {s["name"]: s for s in out["scores"]}
    assert set(scores) == {"ICH score", "FUNC score", "max-ICH score"}
    ich = scores["ICH score"]
    assert ich["complete"] and ich["volume_method"] == "abc2"
    points = {i["key"]: i["points"] for i in ich["items"]}
    assert points["gcs"] == 0 and points["age"] == 1 and points["volume"] == 0
    assert ich["total"] == sum(points.values())
    assert scores["max-ICH score"]["complete"] and scores["FUNC score"]["complete"]


def test_score_typed_age_wins_and_missing_stays_missing(study, capsys):
    assert main(["score", str(study), "--age", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["age"] == {"years": 50, "source": "reader"}
    ich = next(s for s in out["scores"] if s["name"] == "ICH score")
    assert ich["total"] is None and ich["missing"] == ["GCS"]


def test_score_bad_entry_is_one_line(study, capsys):
    assert main(["score", str(study), "--gcs", "16"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: GCS must be 3-15") and "Traceback" not in err
