"""The demo-model pipeline (research/demo_model) end to end at toy size: make phantoms, train,
choose, finalize, pointing game, fine-tune with the localization term, calibrate (~10 s)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ichmodel.checkpoint import load_checkpoint
from ichmodel.model_card import Provenance
from ichmodel.resources import demo_model_path
from research.demo_model.cli import main
from research.demo_model.tiny import commands

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def test_the_tiny_pipeline_runs_every_stage_and_ships_each_model(tmp_path, capsys):
    shipped_before = demo_model_path().read_bytes()
    t = time.perf_counter()
    assert main(["tiny", "--work", str(tmp_path)]) == 0
    elapsed_s = time.perf_counter() - t
    assert all(str(tmp_path) in " ".join(argv) for argv in commands(tmp_path))

    demo = load_checkpoint(tmp_path / "demo.safetensors")
    assert demo.provenance is Provenance.SYNTHETIC
    assert demo.card.recommended_cam_flip_axes == ("z", "y")  # --cam-flips z,y
    assert "head-foot and front-back flips" in demo.card.summary
    assert "research.demo_model" in demo.card.training_data
    assert demo.weights_dtype == "float16" and demo.net_config.depth == 10
    for key in ("pointing_game_layer4_argmax", "pointing_game_layer3_near_10mm",
                "pointing_game_layer4_slice"):
        assert 0.0 <= demo.metrics[key] <= 1.0
    assert demo.metrics["pointing_game_n_bleeds"] >= 1
    report = json.loads((tmp_path / "train" / "demo_report.json").read_text())
    assert report["metrics"]["heldout_n"] == 3
    # the pointing stage prints the rates of the shipped (here: tiny) model per layer
    assert '"layer4": {"n_bleeds"' in capsys.readouterr().out

    tuned = load_checkpoint(tmp_path / "finetuned.safetensors")
    record = tuned.training["v6_finetune"]  # the generator's default, v6
    assert record["data"]["phantom_version"] == "6"
    assert record["data"]["subdural_negative_phantom_seeds"] == [5_300_000, 5_300_000]
    assert record["data"]["no_bleed_phantom_seeds"] == [5_200_000, 5_200_000]
    assert record["stopped_at_deadline"] is False
    assert record["script"] == "python -m research.demo_model finetune"
    assert record["from_sha256"] == demo.sha256
    assert record["config"]["localization_loss_weight"] == 0.5
    assert tuned.provenance is Provenance.SYNTHETIC
    assert tuned.card.recommended_cam_flip_axes == ("z", "y")

    calibrated = load_checkpoint(tmp_path / "calibrated.safetensors")
    assert calibrated.training["voxel_scale_calibration"]["from_sha256"] == tuned.sha256
    assert calibrated.label_transform != tuned.label_transform
    assert calibrated.provenance is Provenance.SYNTHETIC

    assert demo_model_path().read_bytes() == shipped_before  # --out kept it out of resources/
    assert elapsed_s < 60, f"the tiny pipeline took {elapsed_s:.0f} s"


def test_a_demo_run_refuses_to_start_from_a_site_model(tmp_path):
    from ichmodel.checkpoint import save_checkpoint
    from ichmodel.nets import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig

    net_config = NetConfig(depth=10, base_width=4)
    site = save_checkpoint(tmp_path / "site.safetensors", ICHNet(net_config),
                           net_config=net_config,
                           preprocess_config=PreprocessConfig(output_shape=(8, 32, 32)),
                           card={"name": "site", "provenance": "site"})
    with pytest.raises(SystemExit, match="provenance site"):
        main(["finetune", "--scale", "tiny", "--work", str(tmp_path / "w"), "--start", str(site),
              "--n-train", "2", "--n-tail", "0"])


def test_the_make_target_runs_the_tiny_command():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "-m research.demo_model tiny" in makefile


def test_finetune_groups_give_bleed_free_heads_and_subdural_negatives():
    import argparse

    from ichmodel.phantom import make_phantom
    from research.demo_model.finetune import _phantom_groups, add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    a = p.parse_args(["--scale", "tiny", "--n-train", "2", "--n-tail", "1", "--n-no-bleed", "1",
                      "--no-bleed-seed0", "7", "--n-subdural", "1", "--subdural-seed0", "9"])
    groups = _phantom_groups(a)
    assert groups["no_bleed"][0] == range(7, 8) and groups["subdural_negative"][0] == range(9, 10)
    assert all(config.version == "6" for _, config in groups.values())
    negative = make_phantom(9, groups["subdural_negative"][1])
    assert negative.hematoma_volume_ml == 0.0 and negative.subdural_volume_ml > 0
    assert negative.poor_outcome == 0
    assert make_phantom(7, groups["no_bleed"][1]).hematoma_volume_ml == 0.0
    with pytest.raises(SystemExit, match="--subdural-seed0"):
        _phantom_groups(p.parse_args(["--scale", "tiny", "--n-subdural", "1"]))
    with pytest.raises(SystemExit, match="needs --phantom-version 6"):
        _phantom_groups(p.parse_args(["--scale", "tiny", "--n-subdural", "1",
                                      "--subdural-seed0", "9", "--phantom-version", "5"]))


def test_finetune_deadline_closes_training_so_its_state_is_saved():
    import argparse
    import datetime as dt

    from ichmodel.progress import Progress
    from research.demo_model.finetune import _train_until, _utc_time

    closed = []

    def training():
        try:
            for step in range(1, 4):
                yield Progress("train", step, 3, "")
        except GeneratorExit:
            closed.append(True)
            raise
        return "done"

    assert _train_until(training(), None) == "done" and not closed
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    gen = training()
    next(gen)  # started: the loop has a state to save
    assert _train_until(gen, past) is None and closed == [True]
    at = _utc_time("02:40")
    assert (at.hour, at.minute) == (2, 40) and at > dt.datetime.now(dt.UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="HH:MM"):
        _utc_time("2:40pm")


def test_amend_rewrites_card_and_metrics_but_keeps_weights_gate_and_temperature(tmp_path):
    import numpy as np

    from ichmodel.checkpoint import save_checkpoint
    from ichmodel.nets import ICHNet, NetConfig
    from ichmodel.ood_gate import FeatureGate
    from ichmodel.preprocess import PreprocessConfig

    net_config = NetConfig(depth=10, base_width=4)
    net = ICHNet(net_config)
    d = 4 * 8  # layer4 width of base 4
    gate = FeatureGate(np.zeros((2, d)), np.eye(d), threshold=3.0, quantile=0.99, n_fit=10,
                       n_threshold=5, fitted_on="test")
    src = save_checkpoint(tmp_path / "m.safetensors", net, net_config=net_config,
                          preprocess_config=PreprocessConfig(output_shape=(8, 32, 32)),
                          card={"name": "m", "summary": "old", "provenance": "synthetic"},
                          metrics={"old_mae": 1.0, "keep": 2}, dtype="float16", gate=gate,
                          outcome_temperature=1.25)
    (tmp_path / "s.txt").write_text("new summary\n")
    (tmp_path / "metrics.json").write_text('{"v6_mae": 0.5}')
    assert main(["amend", "--model", str(src), "--out", str(tmp_path / "a.safetensors"),
                 "--summary", str(tmp_path / "s.txt"), "--metrics", str(tmp_path / "metrics.json"),
                 "--drop-metric", "old_mae"]) == 0
    before, after = load_checkpoint(src), load_checkpoint(tmp_path / "a.safetensors")
    assert after.card.summary == "new summary" and after.card.provenance is Provenance.SYNTHETIC
    assert after.metrics == {"keep": 2, "v6_mae": 0.5}
    assert after.sha256 == before.sha256 and after.outcome_temperature == 1.25
    assert after.gate is not None and after.gate.threshold == 3.0
