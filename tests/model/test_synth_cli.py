"""``ichmodel synth`` and the dataset writer: manifest, DICOM round trip, masks, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ichmodel.cli import main
from ichmodel.phantom import PhantomConfig, case_seed, iter_write_synth_dataset, make_phantom
from ichmodel.progress import Progress

TINY = ["--size", "128", "--slice-thickness", "5"]


def _rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_synth_writes_a_manifest_and_series_that_load_back_identically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ichmodel.io.load import load_study
    from ichmodel.io.sitk_bridge import read_nifti

    out = tmp_path / "synth"
    code = main(["synth", str(out), "--cases", "2", "--seed", "3", *TINY, "--masks", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_cases"] == 2 and Path(summary["manifest"]) == out / "manifest.csv"
    rows = _rows(out / "manifest.csv")
    assert list(rows[0])[:4] == ["study", "volume_ml", "poor_outcome", "site"]
    assert [r["study"] for r in rows] == ["case_000", "case_001"]
    config = PhantomConfig(size=128, slice_thickness_mm=5.0)
    for i, row in enumerate(rows):
        phantom = make_phantom(case_seed(3, i), config)
        assert int(row["phantom_seed"]) == phantom.seed
        assert float(row["volume_ml"]) == pytest.approx(phantom.hematoma_volume_ml, abs=1e-3)
        assert int(row["poor_outcome"]) == phantom.poor_outcome
        assert row["site"] == phantom.site
        volume = load_study(out / row["study"])  # study is relative to the manifest
        np.testing.assert_array_equal(volume.hu, phantom.volume.hu)
        np.testing.assert_allclose(volume.spacing_mm, phantom.volume.spacing_mm, atol=1e-4)
        np.testing.assert_allclose(volume.origin_mm, phantom.volume.origin_mm, atol=1e-3)
        assert volume.meta.patient_name == "PHANTOM^SYNTHETIC"
        assert volume.meta.series_description == "Synthetic head NCCT (phantom)"
        mask = read_nifti(out / row["mask"])
        assert mask.shape == phantom.volume.shape
        np.testing.assert_array_equal(mask.hu > 0.5, phantom.hematoma_mask)
        # the truth survives the round trip: a voxel is a voxel of the same size
        assert phantom.hematoma_mask.sum() * volume.voxel_volume_ml == pytest.approx(
            phantom.hematoma_mask.sum() * phantom.volume.voxel_volume_ml, rel=1e-6
        )


def test_synth_table_output_and_refusing_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d"
    assert main(["synth", str(out), "--cases", "1", *TINY, "--site", "none"]) == 0
    text = capsys.readouterr().out
    assert "manifest" in text and "none 1" in text
    assert _rows(out / "manifest.csv")[0]["volume_ml"] == "0.000"
    assert main(["synth", str(out), "--cases", "1", *TINY]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--overwrite" in err[0]
    assert main(["synth", str(out), "--cases", "1", *TINY, "--overwrite", "--json"]) == 0


def test_synth_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["synth", str(tmp_path / "x"), "--cases", "0"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["synth", str(tmp_path / "x"), "--cases", "1", "--site", "subdural"])
    assert exc.value.code == 2
    assert main(["synth", str(tmp_path / "x"), "--cases", "1", "--slice-thickness", "40"]) == 3
    assert "slice_thickness" in capsys.readouterr().err
    afile = tmp_path / "file.txt"
    afile.write_text("not a folder")
    assert main(["synth", str(afile), "--cases", "1", *TINY]) == 3


def test_dataset_generator_reports_progress_and_cancel_leaves_no_manifest(tmp_path: Path) -> None:
    config = PhantomConfig(size=96, slice_thickness_mm=5.0)
    gen = iter_write_synth_dataset(tmp_path / "a", 3, seed=1, config=config)
    first = next(gen)
    assert isinstance(first, Progress) and first.total == 3 and first.current == 1
    gen.close()  # cancel
    assert not (tmp_path / "a" / "manifest.csv").exists()
    assert case_seed(1, 0) != case_seed(2, 0) and case_seed(1, 0) != case_seed(1, 1)


def test_bundled_sample_study_is_the_phantom_its_truth_describes() -> None:
    from ichmodel.io.load import load_study
    from ichmodel.phantom.config import PHANTOM_VERSIONS
    from ichmodel.resources import sample_study_dir

    folder = sample_study_dir()
    truth = json.loads((folder / "TRUTH.json").read_text())
    # made with generator v5 (tools/make_sample_study.py pins it); v6 keeps v5 reproducible
    assert truth["phantom_version"] in PHANTOM_VERSIONS, "rerun tools/make_sample_study.py"
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size <= 5 * 1000 * 1000
    assert truth["site"] == "deep" and 25 <= truth["hematoma_volume_ml"] <= 40
    assert truth["poor_outcome_is_proxy"] is True
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in truth["phantom_config"].items()}
    cfg.setdefault("version", truth["phantom_version"])
    phantom = make_phantom(truth["seed"], PhantomConfig(**cfg))
    assert phantom.hematoma_volume_ml == pytest.approx(truth["hematoma_volume_ml"], abs=1e-3)
    volume = load_study(folder)
    np.testing.assert_array_equal(volume.hu, phantom.volume.hu)
    assert volume.meta.series_uid == truth["series_uid"]
