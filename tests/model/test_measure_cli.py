"""The ``ichmodel measure`` contract, in process, on a DICOM series of a synthetic head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ichmodel.cli import main
from tests.model._measure_heads import Blob, make_head

BLOB = Blob((2.5, 10.0, 25.0), (22.0, 18.0, 12.0))
KEYS = {"hematoma_volume_ml", "abc2_ml", "abc2_axes_mm", "location", "ivh", "ivh_volume_ml"}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    from ichmodel.io.write import write_dicom_series

    folder = tmp_path_factory.mktemp("measure_study")
    write_dicom_series(make_head(blood=BLOB, seed=11), folder)
    return folder


@pytest.fixture(scope="module")
def headless_study(tmp_path_factory) -> Path:
    from ichmodel.io.write import write_dicom_series

    folder = tmp_path_factory.mktemp("no_skull_study")
    write_dicom_series(make_head(blood=BLOB, skull=False, seed=12), folder)
    return folder


def _run_json(capsys, *argv) -> dict:
    assert main(["measure", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_measure_json_contract_and_mask(study, tmp_path, capsys):
    mask_path = tmp_path / "out" / "mask.nii.gz"
    out = _run_json(capsys, study, "--mask-out", mask_path)
    assert KEYS | {"warnings"} <= set(out)
    assert set(out["abc2_axes_mm"]) == {"a", "b", "c"}
    assert out["hematoma_volume_ml"] == pytest.approx(BLOB.volume_ml, rel=0.05)
    assert out["abc2_ml"] == pytest.approx(
        out["abc2_axes_mm"]["a"] * out["abc2_axes_mm"]["b"] * out["abc2_axes_mm"]["c"] / 2000,
        rel=0.01,
    )
    assert out["location"] == "deep" and out["ivh"] is False and out["ivh_volume_ml"] == 0
    assert isinstance(out["warnings"], list)

    from ichmodel.io.load import load_study
    from ichmodel.io.sitk_bridge import read_nifti

    mask = read_nifti(mask_path)
    volume = load_study(study)
    assert mask.shape == volume.shape
    assert mask.spacing_mm == pytest.approx(volume.spacing_mm)
    assert mask.origin_mm == pytest.approx(volume.origin_mm)
    n_voxels = int(np.count_nonzero(mask.hu == 1))
    # the mask is what is counted: its voxels are the threshold figure, and the headline
    # (partial volume) is the same bleeds, edge voxels weighted by their blood fraction
    assert n_voxels * volume.voxel_volume_ml == pytest.approx(out["threshold_volume_ml"], abs=1e-3)
    assert out["hematoma_volume_ml"] == pytest.approx(out["threshold_volume_ml"], rel=0.05)


def test_measure_hu_range_options(study, capsys):
    default = _run_json(capsys, study)
    narrow = _run_json(capsys, study, "--hu-min", "60", "--hu-max", "90")
    assert narrow["params"]["hu_min"] == 60
    assert narrow["hematoma_volume_ml"] < default["hematoma_volume_ml"]
    assert main(["measure", str(study), "--hu-min", "80", "--hu-max", "60"]) == 3
    assert "must be below" in capsys.readouterr().err


def test_measure_table_output(study, capsys):
    assert main(["measure", str(study)]) == 0
    text = capsys.readouterr().out
    assert "planimetric volume" in text and "ABC/2" in text and "A, B, C" in text


def test_measure_without_skull_reports_the_status_not_an_error(headless_study, capsys):
    out = _run_json(capsys, headless_study)
    assert out["hematoma_volume_ml"] == 0
    assert out["status"] == "no intracranial region found — is this a head CT?"


def test_measure_bad_path_is_an_input_error(tmp_path, capsys):
    assert main(["measure", str(tmp_path / "nothing-here")]) == 3
    assert capsys.readouterr().err.startswith("error: ")
