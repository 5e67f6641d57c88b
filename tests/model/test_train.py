"""The training loop at toy size (depth 10, width 4, 8x32x32 inputs, CPU): seconds in all."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ichmodel.errors import NonFiniteLossError, TrainingError
from ichmodel.nets import ICHNet, NetConfig
from ichmodel.preprocess import PreprocessConfig
from ichmodel.progress import run_to_completion
from ichmodel.train.augment import NO_AUGMENTATION
from ichmodel.train.cache import CaseCache
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import Case
from ichmodel.train.loop import StartModel, TrainData, train
from ichmodel.train.state import load_train_state
from ichmodel.train.steps import compute_loss

SHAPE = (8, 32, 32)
NET = NetConfig(depth=10, base_width=4)
PRE = PreprocessConfig(output_shape=SHAPE)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _toy_data(tmp_path, n=12, *, outcomes=True, nan_case=False):
    """Inputs with a bright cube whose size encodes the volume (learnable)."""
    cache = CaseCache(tmp_path / "cache", PRE)
    rng = np.random.default_rng(0)
    cases = []
    for i in range(n):
        volume_ml = float(i * 4)
        arr = rng.uniform(0, 0.2, size=(1, *SHAPE)).astype(np.float32)
        r = 1 + i % 6
        arr[0, 2:2 + min(r, 6), 8:8 + 2 * r, 8:8 + 2 * r] = 0.9
        if nan_case and i == 0:
            arr[:] = np.nan
        key = cache.key(f"toy{i}")
        cache.put(key, arr, {"toy": i})
        outcome = (1 if volume_ml >= 24 else 0) if outcomes else None
        cases.append(Case(f"toy{i:02d}", key, volume_ml, outcome))
    return TrainData(cache, tuple(cases))


def _start(seed=0):
    torch.manual_seed(seed)
    return StartModel(ICHNet(NET), NET, PRE, "scratch")


def _config(**kw):
    base = dict(epochs=2, batch_size=4, optimizer="adamw", lr=3e-3, weight_decay=0.0,
                precision="fp32", augment=NO_AUGMENTATION, val_fraction=0.25, seed=1)
    base.update(kw)
    return TrainConfig(**base)


def test_loss_falls_over_a_few_steps(tmp_path):
    data = _toy_data(tmp_path)
    events = []
    # 12 cases, 25 % validation stratified per outcome (2 + 2) -> 8 training cases: one full
    # batch per epoch, so successive losses are on the same cases.
    cfg = _config(epochs=6, batch_size=8, lr=1e-2)
    result = run_to_completion(train(data, _start(), tmp_path / "run", cfg), events.append)
    losses = [e.metrics["batch_loss"] for e in events if e.stage == "train"]
    assert len(losses) == 6
    assert losses[-1] < 0.7 * losses[0]
    assert sum(b < a for a, b in zip(losses, losses[1:], strict=False)) >= 4
    val = [e for e in events if e.stage == "validate"]
    assert len(val) == 6
    assert {"val_loss", "val_mae_ml", "train_loss", "eta_s"} <= set(val[0].metrics)
    assert result.stopped == "completed" and result.steps == 6 and result.epochs_done == 6
    run = tmp_path / "run"
    assert (run / "config.json").is_file() and (run / "split.json").is_file()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 6
    assert (run / "metrics.csv").read_text().startswith("epoch,step,lr,train_loss")


def test_checkpoints_reload(tmp_path):
    from ichmodel.checkpoint import load_checkpoint

    data = _toy_data(tmp_path)
    result = run_to_completion(train(data, _start(), tmp_path / "run", _config(epochs=1)))
    assert result.best_checkpoint and result.last_checkpoint
    loaded = load_checkpoint(result.last_checkpoint)
    state = load_train_state(tmp_path / "run" / "checkpoints" / "state.safetensors")
    for name, tensor in loaded.net.state_dict().items():
        assert torch.equal(tensor, state.model[name]), name
    assert loaded.net_config == NET and loaded.preprocess_config == PRE
    assert loaded.card.recommended_cam_flip_axes == ()
    assert loaded.provenance == "site"


def test_a_fine_tune_keeps_the_start_models_cam_flips(tmp_path):
    from ichmodel.checkpoint import load_checkpoint

    data = _toy_data(tmp_path)
    start = dataclasses.replace(_start(), source="checkpoint demo", cam_flip_axes=("z", "y"))
    result = run_to_completion(train(data, start, tmp_path / "run", _config(epochs=1)))
    assert load_checkpoint(result.last_checkpoint).card.recommended_cam_flip_axes == ("z", "y")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["cam_flip_axes"] == ["z", "y"]  # so a resumed run keeps them too


def _weights(path):
    return load_train_state(path).model


def test_resume_continues_exactly_from_the_saved_step(tmp_path):
    data = _toy_data(tmp_path)
    cfg = _config(epochs=2, augment=dataclasses.replace(NO_AUGMENTATION, flip_lr_probability=0.5,
                                                        max_rotation_deg=5.0))
    full = run_to_completion(train(data, _start(), tmp_path / "full", cfg))
    # Interrupted run: stops after step 3 (mid epoch 2), then resumes.
    part = run_to_completion(
        train(data, _start(), tmp_path / "part", dataclasses.replace(cfg, max_steps=3))
    )
    assert part.stopped == "max_steps" and part.steps == 3
    assert load_train_state(tmp_path / "part/checkpoints/state.safetensors").info["step"] == 3
    events = []
    resumed = run_to_completion(
        train(data, _start(seed=99), tmp_path / "part", cfg, resume=True), events.append
    )
    assert events[0].stage == "train" and events[0].metrics["step"] == 4
    assert resumed.steps == full.steps == 4
    a = _weights(tmp_path / "full/checkpoints/state.safetensors")
    b = _weights(tmp_path / "part/checkpoints/state.safetensors")
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in full.history]


def test_cancel_saves_state_and_stops(tmp_path):
    data = _toy_data(tmp_path)
    gen = train(data, _start(), tmp_path / "run", _config(epochs=3))
    seen = [next(gen) for _ in range(2)]
    gen.close()
    assert [e.metrics["step"] for e in seen] == [1.0, 2.0]
    state = load_train_state(tmp_path / "run/checkpoints/state.safetensors")
    assert state.info["step"] == 2 and state.info["batch_in_epoch"] == 2
    with pytest.raises(TrainingError, match="--resume"):
        run_to_completion(train(data, _start(), tmp_path / "run", _config(epochs=3)))
    result = run_to_completion(
        train(data, _start(), tmp_path / "run", _config(epochs=3), resume=True)
    )
    assert result.steps == 6


def test_rows_without_outcome_train_only_the_volume_head(tmp_path):
    data = _toy_data(tmp_path, outcomes=False)
    start = _start()
    head_before = {k: v.clone() for k, v in start.net.outcome_head.state_dict().items()}
    enc_before = start.net.layer1[0].conv1.weight.detach().clone()
    result = run_to_completion(train(data, start, tmp_path / "run", _config(epochs=1)))
    for k, v in start.net.outcome_head.state_dict().items():
        assert torch.equal(v, head_before[k]), k
    assert not torch.equal(start.net.layer1[0].conv1.weight.detach(), enc_before)
    assert result.history[0]["val_auc"] is None


def test_masked_outcome_loss_gives_zero_gradient_to_outcome_head():
    torch.manual_seed(0)
    net = ICHNet(NET)
    out = net(torch.rand(2, 1, *SHAPE))
    labels = torch.tensor([-1, -1])
    parts = compute_loss(out.size_mm, out.logits, torch.tensor([3.0, 4.0]), labels,
                         outcome_weight=1.0)
    parts.total.backward()
    assert parts.n_labelled == 0 and float(parts.outcome.detach()) == 0.0
    assert torch.count_nonzero(net.outcome_head.fc.weight.grad) == 0
    assert torch.count_nonzero(net.volume_head.fc.weight.grad) > 0
    # One labelled case: the CE is that case's alone.
    net.zero_grad()
    out = net(torch.rand(2, 1, *SHAPE))
    mixed = compute_loss(out.size_mm, out.logits, torch.tensor([3.0, 4.0]),
                         torch.tensor([1, -1]), outcome_weight=1.0)
    expected = torch.nn.functional.cross_entropy(out.logits[:1], torch.tensor([1]))
    assert torch.allclose(mixed.outcome, expected)


def test_nonfinite_loss_stops_with_a_clear_message(tmp_path):
    data = _toy_data(tmp_path, nan_case=True)
    cfg = _config(epochs=2, val_fraction=0.0, nonfinite_patience=0)
    with pytest.raises(NonFiniteLossError, match="loss became nan.*stopped.*learning rate"):
        run_to_completion(train(data, _start(), tmp_path / "run", cfg))


def test_isolated_nonfinite_steps_are_skipped_without_touching_the_weights(tmp_path):
    data = _toy_data(tmp_path, nan_case=True)  # one NaN case: one bad batch per epoch
    start = _start()
    events = []
    cfg = _config(epochs=2, val_fraction=0.0, nonfinite_patience=1)
    result = run_to_completion(train(data, start, tmp_path / "run", cfg), events.append)
    skipped = [e for e in events if e.stage == "train" and np.isnan(e.metrics["batch_loss"])]
    assert len(skipped) == 2 and events[-1].metrics.get("skipped_steps", 0) >= 0
    for name, t in start.net.state_dict().items():
        assert torch.isfinite(t.float()).all(), name  # weights and BN statistics stay finite
    assert np.isfinite(result.history[-1]["train_loss"])


def test_freeze_encoder_and_paper_defaults(tmp_path):
    assert TrainConfig().optimizer == "sgd" and TrainConfig().lr == 1e-4
    assert TrainConfig().momentum == 0.9 and TrainConfig().weight_decay == 5e-4
    assert TrainConfig().batch_size == 8 and TrainConfig().epochs == 300
    data = _toy_data(tmp_path)
    start = _start()
    enc = {k: v.clone() for k, v in start.net.state_dict().items() if k.startswith("stem.")}
    run_to_completion(train(data, start, tmp_path / "run", _config(epochs=1, freeze_encoder=True)))
    for k, v in start.net.state_dict().items():
        if k.startswith("stem."):
            assert torch.equal(v, enc[k]), k  # weights and BatchNorm statistics unchanged
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["train"]["freeze_encoder"] is True


def test_out_of_memory_message_suggests_a_smaller_batch():
    from ichmodel.train.loop import _oom_error

    err = _oom_error(torch.OutOfMemoryError("CUDA out of memory"), 8)
    assert "--batch-size 4" in str(err)


def test_nonfinite_validation_outputs_stop_with_a_clear_message(tmp_path):
    from ichmodel.train.split import Split

    data = _toy_data(tmp_path, nan_case=True)
    ids = [c.case_id for c in data.cases]
    split = Split(train=tuple(ids[1:]), val=(ids[0],))  # the NaN case only in validation
    data = dataclasses.replace(data, split=split)
    with pytest.raises(NonFiniteLossError, match="validation outputs are NaN"):
        run_to_completion(train(data, _start(), tmp_path / "run", _config(epochs=1)))


def test_absurd_gradients_count_as_corrupt():
    from ichmodel.train.guarded_step import grads_sane

    assert grads_sane([torch.ones(3), torch.full((2,), -5e3)])
    assert not grads_sane([torch.ones(3), torch.tensor([1e37])])  # seen from bf16 CPU backward
    assert not grads_sane([torch.tensor([float("nan")])])


class _SizeShrinkage:
    """A research term the loop knows nothing about: the mean squared predicted size."""

    name = "size_l2"
    needs_hematoma = False
    needs_features = False

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def check(self, net, dataset) -> None:
        pass

    def compute(self, batch, forward):
        from ichmodel.train.loss_terms import TermValue

        return TermValue(forward.output.size_mm.float().pow(2).mean(), int(batch.x.shape[0]))


def test_an_extra_loss_term_plugs_in_without_touching_the_loop(tmp_path):
    from ichmodel.train.loss_terms import LocalizationTerm

    data = _toy_data(tmp_path)
    plain = run_to_completion(train(data, _start(), tmp_path / "plain", _config(epochs=2)))
    events = []
    zero = run_to_completion(train(data, _start(), tmp_path / "zero", _config(epochs=2),
                                   extra_loss_terms=[_SizeShrinkage(0.0)]), events.append)
    # the term is logged per epoch (and its running sum saved for a resume) ...
    assert all(r["train_size_l2_loss"] > 0 for r in zero.history)
    assert "epoch_size_l2_loss_sum" in load_train_state(
        tmp_path / "zero/checkpoints/state.safetensors").info
    # ... and at weight 0 changes nothing: the loop adds it, never branches on it
    a, b = _weights(tmp_path / "plain/checkpoints/state.safetensors"), _weights(
        tmp_path / "zero/checkpoints/state.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_loss"] for r in plain.history] == [r["val_loss"] for r in zero.history]
    pulled = run_to_completion(train(data, _start(), tmp_path / "pulled", _config(epochs=2),
                                     extra_loss_terms=[_SizeShrinkage(10.0)]))
    assert pulled.history[-1]["train_size_l2_loss"] < zero.history[-1]["train_size_l2_loss"]
    with pytest.raises(TrainingError, match="distinct names"):
        run_to_completion(train(data, _start(), tmp_path / "dup",
                                _config(localization_loss_weight=1.0),
                                extra_loss_terms=[LocalizationTerm(2.0)]))
