"""``ichmodel train|evaluate`` end to end on a few tiny phantom DICOM studies (manifest path)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ichmodel import registry
from ichmodel.checkpoint import load_checkpoint, save_checkpoint
from ichmodel.cli import main
from ichmodel.nets import ICHNet, NetConfig
from ichmodel.preprocess import PreprocessConfig
from ichmodel.progress import run_to_completion

TINY_NET = NetConfig(depth=10, base_width=4)
TINY_PRE = PreprocessConfig(output_shape=(8, 32, 32))


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """Six 64x64 phantom studies (seeds 7000+) and their manifest."""
    from ichmodel.phantom import PhantomConfig
    from ichmodel.phantom.dataset import write_synth_dataset

    out = tmp_path_factory.mktemp("synth")
    config = PhantomConfig(size=64, slice_thickness_mm=5.0, p_no_bleed=0.0)
    return write_synth_dataset(out, 6, seed=7000, config=config)


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ENV_DATA_DIR, str(tmp_path / "data"))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    init = tmp_path / "init.safetensors"
    save_checkpoint(init, ICHNet(TINY_NET), net_config=TINY_NET, preprocess_config=TINY_PRE,
                    card={"name": "tiny"})
    return init


def _train(synth, out, init, *extra):
    return main([
        "train", str(synth), "--out", str(out), "--init", str(init), "--epochs", "2",
        "--batch-size", "2", "--optimizer", "adamw", "--lr", "1e-3", "--device", "cpu",
        "--val-fraction", "0.34", "--json", *extra,
    ])


def test_train_resume_evaluate_register(synth, env, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(synth, run, env, "--max-steps", "3") == 0
    first = json.loads(capsys.readouterr().out)
    assert first["stopped"] == "max_steps" and first["steps"] == 3
    # --resume continues from step 3 to the end of epoch 2 (4 training cases / batch 2 = 2/epoch)
    assert _train(synth, run, env, "--resume", "--register", "site-1") == 0
    done = json.loads(capsys.readouterr().out)
    assert done["stopped"] == "completed" and done["steps"] == 4 and done["epochs"] == 2
    assert done["registered"] == "site-1"
    assert registry.active_name() == "site-1"
    split = json.loads((run / "split.json").read_text())
    assert len(split["val"]) == 2 and len(split["train"]) == 4
    # Resume refuses a changed learning rate.
    assert _train(synth, run, env, "--resume", "--lr", "0.5") == 3
    assert "cannot change" in capsys.readouterr().err

    plots = tmp_path / "plots"
    best = done["best_checkpoint"]
    rc = main(["evaluate", str(synth), "--checkpoint", best, "--json", "--plots", str(plots),
               "--device", "cpu", "--cases"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert {"n", "mae_ml", "mse_ml2", "mape_pct", "accuracy", "auc"} <= set(res)
    assert res["n"] == 6
    assert (plots / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ref = np.array([c["reference_ml"] for c in res["cases"]])
    pred = np.array([c["predicted_ml"] for c in res["cases"]])
    assert res["mae_ml"] == pytest.approx(np.mean(np.abs(pred - ref)))
    # Without --checkpoint the active (registered) model is used.
    assert main(["evaluate", str(synth), "--json", "--device", "cpu"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["model"]["sha256"] == load_checkpoint(best).sha256


def test_train_refuses_a_manifest_with_bad_rows(synth, env, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    lines = synth.read_text().splitlines()
    root = synth.parent
    rows = [lines[0]]
    for line in lines[1:4]:
        study, rest = line.split(",", 1)
        rows.append(f"{(root / study).as_posix()},{rest}")
    rows.append("/nonexistent/study,5,0,deep")
    rows.append(f"{(root / lines[4].split(',')[0]).as_posix()},lots,0,deep")
    bad.write_text("\n".join(rows) + "\n")
    rc = main(["train", str(bad), "--out", str(tmp_path / "r"), "--init", str(env)])
    assert rc == 3
    err = capsys.readouterr().err
    assert "row 5" in err and "row 6" in err and "--exclude-rows 5,6" in err
    # Excluding them explicitly lets the run start (smoke: one step).
    rc = main(["train", str(bad), "--out", str(tmp_path / "r"), "--init", str(env),
               "--exclude-rows", "5-6", "--max-steps", "1", "--batch-size", "2",
               "--val-fraction", "0.34", "--json"])
    assert rc == 0


def test_evaluate_matches_a_hand_computation(tmp_path):
    """A fixed 'network' (size = 10 * mean input, p = input mean) on constant inputs."""
    from ichmodel.labels import LabelTransform
    from ichmodel.nets.resnet3d import NetOutput
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.dataset import Case
    from ichmodel.train.evaluate import evaluate_cases
    from tests.model._fake_nets import PassThroughEncoder

    class Fixed(PassThroughEncoder):
        """Its 'encoder' passes the input through; its heads read the mean."""

        def heads(self, features):
            m = features.mean(dim=(1, 2, 3, 4))
            p = m.clamp(1e-6, 1 - 1e-6)
            return NetOutput(10.0 * m, torch.stack([torch.log1p(-p), torch.log(p)], 1))

    class Model:
        net = Fixed()
        name, sha256 = "fixed", "0" * 64
        label_transform = LabelTransform()
        gate, outcome_temperature = None, 1.0

    cache = CaseCache(tmp_path, TINY_PRE)
    values = [0.25, 0.5, 0.75, 0.125]  # exact in float16
    refs = [0.0, 0.2, 0.5, 0.0]
    outcomes = [0, 1, 1, None]
    cases = []
    for i, (v, r, o) in enumerate(zip(values, refs, outcomes, strict=True)):
        key = cache.key(str(i))
        cache.put(key, np.full((1, 8, 32, 32), v, np.float32), {})
        cases.append(Case(f"c{i}", key, r, o))
    res = run_to_completion(evaluate_cases(Model(), cache, cases, device="cpu",
                                           precision="fp32", batch_size=3))
    # size_mm = 2.5, 5, 7.5, 1.25 -> ml = size^3 / 1000
    pred = [2.5**3 / 1000, 5**3 / 1000, 7.5**3 / 1000, 1.25**3 / 1000]
    err = np.array(pred) - np.array(refs)
    m = res.metrics
    assert m.n == 4
    assert m.mae_ml == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
    assert m.mse_ml2 == pytest.approx(np.mean(err**2), rel=1e-5)
    assert m.mape_pct == pytest.approx(100 * (abs(err[1]) / 0.2 + abs(err[2]) / 0.5) / 2, rel=1e-5)
    assert m.n_mape_skipped_zero == 2
    # outcome: p = 0.25 (label 0), 0.5 (1), 0.75 (1); threshold 0.5 -> all right; AUC 1
    assert m.n_outcome == 3 and m.accuracy == pytest.approx(1.0) and m.auc == pytest.approx(1.0)
    assert [c.poor_outcome_probability for c in res.cases] == pytest.approx(values, rel=1e-5)


def test_from_scratch_network_options(tmp_path, capsys):
    from ichmodel.cli import build_parser
    from ichmodel.cli.train import fine_tune_request
    from ichmodel.train.fine_tune import ScratchModel

    def _start_model(args, saved):  # the request's start choice: what the session builds
        start = fine_tune_request(args).start
        assert isinstance(start, ScratchModel)
        return start

    args = build_parser().parse_args([
        "train", "m.csv", "--out", str(tmp_path), "--from-scratch", "--width", "2",
        "--size-head", "additive", "--z-strides", "1,2,1,1", "--xy-strides", "1,2,2,1",
    ])
    start = _start_model(args, None)
    assert start.net_config == NetConfig(depth=34, base_width=2, size_head="additive",
                                         stage_z_strides=(1, 2, 1, 1),
                                         stage_xy_strides=(1, 2, 2, 1))
    paper = _start_model(build_parser().parse_args(
        ["train", "m.csv", "--out", str(tmp_path), "--from-scratch", "--width", "2"]), None)
    assert paper.net_config == NetConfig(depth=34, base_width=2)  # the paper's by default
    assert not paper.label_transform.needs_voxel_volume
    scaled = _start_model(build_parser().parse_args(
        ["train", "m.csv", "--out", str(tmp_path), "--from-scratch", "--width", "2",
         "--voxel-exponent", "1"]), None)
    assert scaled.label_transform.voxel_exponent == 1.0
    for bad in ("nan", "inf", "one"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["train", "m.csv", "--out", "x", "--voxel-exponent", bad])
        assert "--voxel-exponent" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "m.csv", "--out", "x", "--z-strides", "1,3,1,1"])
    assert "1,3,1,1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "m.csv", "--out", "x", "--xy-strides", "2,2"])
    assert "stage_xy_strides" in capsys.readouterr().err


@pytest.fixture(scope="module")
def synth12(tmp_path_factory) -> Path:
    """Twelve 64x64 phantom studies (seeds 7100+): enough to fit a voxel scaling."""
    from ichmodel.phantom import PhantomConfig
    from ichmodel.phantom.dataset import write_synth_dataset

    out = tmp_path_factory.mktemp("synth12")
    config = PhantomConfig(size=64, slice_thickness_mm=5.0, p_no_bleed=0.0)
    return write_synth_dataset(out, 12, seed=7100, config=config)


def test_calibrate_writes_a_model_whose_volumes_evaluate_as_fitted(synth12, env, tmp_path,
                                                                   capsys):
    out = tmp_path / "calibrated.safetensors"
    rc = main(["calibrate", str(synth12), "--checkpoint", str(env), "--out", str(out),
               "--device", "cpu", "--json"])
    assert rc == 0, capsys.readouterr().err
    fit = json.loads(capsys.readouterr().out)
    assert fit["n"] == 12 and fit["mae_ml_after"] <= fit["mae_ml_before"]
    calibrated = load_checkpoint(out)
    assert calibrated.label_transform.voxel_exponent == fit["voxel_exponent"]
    before = load_checkpoint(env)
    for name, tensor in before.net.state_dict().items():  # the weights are untouched
        assert torch.equal(tensor, calibrated.net.state_dict()[name]), name
    assert main(["evaluate", str(synth12), "--checkpoint", str(out), "--json",
                 "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["mae_ml"] == pytest.approx(
        fit["mae_ml_after"], abs=1e-3)


def test_calibrate_reports_bad_input_without_writing(synth, env, tmp_path, capsys):
    out = tmp_path / "c.safetensors"
    assert main(["calibrate", str(synth), "--checkpoint", str(env), "--out",
                 str(tmp_path / "c.pt")]) == 3
    assert ".safetensors" in capsys.readouterr().err
    assert main(["calibrate", str(synth), "--checkpoint", str(env), "--out", str(out),
                 "--device", "cpu"]) == 3  # six cases are too few to fit two numbers
    assert "at least 10" in capsys.readouterr().err and not out.exists()


def test_a_fine_tune_of_the_synthetic_demo_on_a_manifest_is_a_site_model(synth, tmp_path,
                                                                         monkeypatch, capsys):
    """The bundled demo (provenance synthetic) is the active model of a fresh install; one step
    of fine-tuning it on the user's manifest makes a site model (ichmodel train's default)."""
    from ichmodel.resources import demo_model_path

    monkeypatch.setenv(registry.ENV_DATA_DIR, str(tmp_path / "data"))
    torch.set_num_threads(1)
    assert registry.active_model_path() == demo_model_path()
    assert load_checkpoint(demo_model_path()).provenance == "synthetic"
    rc = main(["train", str(synth), "--out", str(tmp_path / "run"), "--max-steps", "1",
               "--batch-size", "2", "--device", "cpu", "--val-fraction", "0.34",
               "--register", "site-from-demo", "--json"])
    assert rc == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["provenance"] == "site" and out["registered"] == "site-from-demo"
    tuned = load_checkpoint(registry.active_model_path())
    assert tuned.provenance == "site" and tuned.training["start"].startswith("checkpoint demo")


def test_train_records_the_provenance_it_is_told(synth, env, tmp_path, capsys):
    assert _train(synth, tmp_path / "run", env, "--max-steps", "1", "--provenance",
                  "synthetic") == 0
    last = json.loads(capsys.readouterr().out)["last_checkpoint"]
    assert load_checkpoint(last).provenance == "synthetic"
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["provenance"] == "synthetic"  # a resumed run keeps it
    with pytest.raises(SystemExit):
        main(["train", str(synth), "--out", str(tmp_path / "r2"), "--provenance", "untrained"])
    assert "--provenance" in capsys.readouterr().err
