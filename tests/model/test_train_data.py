"""Augmentation, batch order, learning-rate schedule and the pickle-free training state."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ichmodel.train.augment import NO_AUGMENTATION, AugmentConfig, augment_batch
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import epoch_batches, steps_per_epoch
from ichmodel.train.state import load_train_state, save_train_state
from ichmodel.train.steps import lr_at


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_augmentation_is_seeded_and_bounded():
    x = torch.rand(3, 1, 6, 16, 16)
    a = augment_batch(x, AugmentConfig(), _gen(5))
    b = augment_batch(x, AugmentConfig(), _gen(5))
    c = augment_batch(x, AugmentConfig(), _gen(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert augment_batch(x, NO_AUGMENTATION, _gen(5)) is x


def test_flip_is_left_right_and_geometry_keeps_a_blob():
    x = torch.zeros(1, 1, 4, 16, 16)
    x[..., 6:10, 2:5] = 0.8  # a block near the left edge (x axis = last)
    flip_only = dataclasses.replace(NO_AUGMENTATION, flip_lr_probability=1.0)
    assert torch.equal(augment_batch(x, flip_only, _gen(0)), x.flip(-1))
    small = AugmentConfig(flip_lr_probability=0.0, max_rotation_deg=5.0, rotation_probability=1.0,
                          max_shift_fraction=(0.0, 0.05, 0.05), max_gain=0.0, max_offset=0.0)
    y = augment_batch(x, small, _gen(1))
    # a small rotation/shift keeps the blob's mass roughly (volume labels stay valid)
    assert float(y.sum()) == pytest.approx(float(x.sum()), rel=0.15)


def test_front_back_and_head_foot_flips_are_off_by_default_and_leave_old_draws_alone():
    x = torch.rand(4, 1, 6, 16, 16)
    assert AugmentConfig().flip_ap_probability == 0 and AugmentConfig().flip_si_probability == 0
    ap = dataclasses.replace(NO_AUGMENTATION, flip_ap_probability=1.0)
    si = dataclasses.replace(NO_AUGMENTATION, flip_si_probability=1.0)
    assert torch.equal(augment_batch(x, ap, _gen(0)), x.flip(-2))
    assert torch.equal(augment_batch(x, si, _gen(0)), x.flip(-3))
    old = dataclasses.replace(NO_AUGMENTATION, flip_lr_probability=0.5, max_gain=0.1,
                              max_offset=0.05)
    both = dataclasses.replace(old, flip_ap_probability=0.5, flip_si_probability=0.5)
    y = augment_batch(x, both, _gen(2))
    # the new draws come after the old ones: with the new flips undone, each sample is what
    # the old augmentation makes of it (same LR flip and intensity jitter)
    plain = augment_batch(x, old, _gen(2))
    undone = sum(
        any(torch.equal(y[i].flip(axes), plain[i]) for axes in ([], [-2], [-3], [-3, -2]))
        for i in range(4)
    )
    assert undone == 4


def test_intensity_jitter_leaves_background_zero():
    x = torch.zeros(2, 1, 4, 8, 8)
    x[..., 2:6, 2:6] = 0.5
    jitter = dataclasses.replace(NO_AUGMENTATION, max_gain=0.1, max_offset=0.05)
    y = augment_batch(x, jitter, _gen(3))
    assert torch.all(y[x == 0] == 0)
    assert not torch.equal(y, x)


def test_epoch_batches_are_reproducible_and_cover_every_case():
    a = epoch_batches(10, 4, seed=1, epoch=0)
    assert a == epoch_batches(10, 4, seed=1, epoch=0)
    assert a != epoch_batches(10, 4, seed=1, epoch=1)
    assert sorted(i for b in a for i in b) == list(range(10))
    nine = epoch_batches(9, 4, seed=0, epoch=0)  # 4 + 4 + 1 -> 4 + 5 (no batch of one)
    assert [len(b) for b in nine] == [4, 5] and steps_per_epoch(9, 4) == 2
    assert steps_per_epoch(8, 4) == 2 and steps_per_epoch(1, 4) == 1


def test_learning_rate_warmup_and_cosine():
    cfg = TrainConfig(lr=1.0, warmup_steps=4, schedule="cosine")
    assert [lr_at(s, 104, cfg) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(4, 104, cfg) == pytest.approx(1.0)
    assert lr_at(54, 104, cfg) == pytest.approx(0.5)
    assert lr_at(104, 104, cfg) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(50, 100, TrainConfig()) == 1e-4  # paper: constant


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_training_state_round_trips_without_pickle(tmp_path, kind):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    opt = (torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9) if kind == "sgd"
           else torch.optim.AdamW(net.parameters(), lr=0.1))
    for _ in range(2):
        opt.zero_grad()
        net(torch.rand(5, 3)).sum().backward()
        opt.step()
    info = {"step": 2, "history": [{"epoch": 1, "val_auc": None}]}
    path = save_train_state(tmp_path / "state.safetensors", model=net, optimizer=opt, info=info)
    assert path.read_bytes()[:1] != b"\x80"  # not a pickle
    state = load_train_state(path)
    assert state.info == info
    net2 = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    net2.load_state_dict(state.model)
    opt2 = (torch.optim.SGD(net2.parameters(), lr=0.1, momentum=0.9) if kind == "sgd"
            else torch.optim.AdamW(net2.parameters(), lr=0.1))
    opt2.load_state_dict(state.optimizer)
    x = torch.rand(5, 3)
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        n(x).sum().backward()
        o.step()
    for a, b in zip(net.state_dict().values(), net2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert state.rng["torch"].dtype == torch.uint8 and state.rng["torch"].numel() > 0


def test_recalibrate_batchnorm_matches_population_statistics():
    from ichmodel.device import plan_for
    from ichmodel.train.steps import recalibrate_batchnorm

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 3, 1), torch.nn.BatchNorm3d(3))
    data = [torch.randn(4, 1, 2, 3, 3) * 5 + 2 for _ in range(3)]
    with torch.no_grad():
        net[1].running_mean.fill_(100.0)  # stale statistics
        net[1].running_var.fill_(1e-3)
    loader = [(x, None) for x in data]
    seen = recalibrate_batchnorm(net, loader, plan_for("cpu", precision="fp32"))
    assert seen == 12 and not net.training
    with torch.no_grad():
        feats = torch.cat([net[0](x) for x in data])
    expected_mean = feats.mean(dim=(0, 2, 3, 4))
    assert torch.allclose(net[1].running_mean, expected_mean, atol=1e-5)
    assert net[1].momentum == 0.1  # restored
