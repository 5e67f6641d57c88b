"""The optional localization term: hematoma masks on the input grid, carried through the cache,
the augmentation and the loss, and trained at toy size (depth 10, width 4, 8x32x32, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ichmodel.errors import TrainingError
from ichmodel.nets import ICHNet, NetConfig
from ichmodel.preprocess import PreprocessConfig, preprocess
from ichmodel.progress import run_to_completion
from ichmodel.train.augment import AugmentConfig, augment_batch
from ichmodel.train.cache import CaseCache
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import NO_HEMATOMA_MAP, Case, CaseDataset
from ichmodel.train.guarded_step import forward_pass
from ichmodel.train.loop import StartModel, TrainData, train
from ichmodel.train.loss_terms import LocalizationTerm, TrainBatch, config_loss_terms
from ichmodel.train.steps import (
    CENTRE_SHARE,
    compute_loss,
    contribution_map,
    localization_loss,
    localization_target,
    with_terms,
)
from ichmodel.volume import Volume

SHAPE = (8, 32, 32)
# strides that leave a 4x4x4 last-stage map at 8x32x32 (the defaults leave one cell)
NET = NetConfig(depth=10, base_width=4, size_head="additive", stage_z_strides=(1, 1, 1, 1),
                stage_xy_strides=(1, 2, 1, 1))
PRE = PreprocessConfig(output_shape=SHAPE)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ball(shape, centre, radius):
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 < radius**2


# --- the mask on the model grid ---------------------------------------------------------------
def test_a_mask_is_resampled_like_the_input_and_keeps_its_volume():
    shape, spacing = (24, 96, 96), (4.0, 1.0, 1.0)
    hu = np.full(shape, -1000.0, np.float32)
    hu[_ball(shape, (12, 48, 48), 40) & _ball(shape, (12, 48, 48), 40)] = 30.0
    hu[2:22] = np.where(hu[2:22] > -1000, 30.0, -1000.0)
    mask = np.zeros(shape, bool)
    mask[8:14, 30:46, 50:66] = True  # 6 x 16 x 16 voxels = 6.144 ml
    hu[mask] = 70.0
    mi = preprocess(Volume(hu=hu, spacing_mm=spacing), PreprocessConfig(output_shape=(8, 48, 48)))
    share = mi.to_model_grid(mask)
    assert share.shape == mi.array.shape and share.dtype == np.float32
    assert 0.0 <= share.min() and share.max() <= 1.0
    voxel_ml = np.prod(mi.model_spacing_mm) / 1000.0
    assert share.sum() * voxel_ml == pytest.approx(mask.sum() * np.prod(spacing) / 1000, rel=0.05)
    # the blood on the model grid is where the bright voxels of the input are
    bright = mi.array[0] > 0.35
    assert (share[0][bright] > 0.5).mean() > 0.8
    with pytest.raises(ValueError, match="not the volume's"):
        mi.to_model_grid(mask[:-1])


# --- augmentation moves maps with the input ----------------------------------------------------
def test_maps_get_the_inputs_geometry_but_no_jitter_and_do_not_change_the_draws():
    gen = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    x = torch.zeros(3, 1, *SHAPE)
    x[:, 0, 2:5, 4:12, 3:9] = 0.8  # a bright block, asymmetric in every axis
    maps = (x > 0).float()
    cfg = AugmentConfig(flip_ap_probability=0.5, flip_si_probability=0.5, max_gain=0.1,
                        max_offset=0.05, rotation_probability=0.5)
    plain = augment_batch(x, cfg, gen(7))
    moved_x, moved_maps = augment_batch(x, cfg, gen(7), maps=maps)
    assert torch.equal(plain, moved_x)
    # same geometry: the map is where the block went (jitter changes values, never zeros)
    assert torch.equal(moved_maps > 0.5, moved_x > 0.4)
    assert set(torch.unique(moved_maps[moved_maps > 0.99]).tolist()) <= {1.0}
    with pytest.raises(ValueError, match="do not match"):
        augment_batch(x, cfg, gen(7), maps=maps[:, :, :-1])


# --- the loss -------------------------------------------------------------------------------------
def test_localization_loss_prefers_contributions_on_the_blood_and_skips_unknown_cases():
    hematoma = torch.zeros(3, 1, 8, 16, 16)
    hematoma[0, 0, 0:4, 0:8, 0:8] = 1.0  # cell (0, 0, 0) of a 2x2x2 map
    hematoma[1] = NO_HEMATOMA_MAP  # unknown
    # case 2: no blood at all
    on = torch.zeros(3, 2, 2, 2)
    on[:, 0, 0, 0] = 5.0
    off = torch.zeros(3, 2, 2, 2)
    off[:, 1, 1, 1] = 5.0
    loss_on, n = localization_loss(on, hematoma)
    loss_off, _ = localization_loss(off, hematoma)
    assert n == 1 and float(loss_on) < float(loss_off)
    # scale-free: the volume lives in the contributions' level and scale, not in this term
    rescaled, _ = localization_loss(on * 10 + 3, hematoma)
    assert float(rescaled) == pytest.approx(float(loss_on), rel=1e-3)
    none, n0 = localization_loss(on.requires_grad_(), hematoma[1:])
    assert n0 == 0 and float(none.detach()) == 0.0 and none.requires_grad


def test_the_target_favours_cells_whose_centre_is_blood():
    share = torch.zeros(2, 1, 4, 16, 16)  # 1x2x2 cells of 4x8x8 voxels
    share[0, 0, 1:3, 3:5, 3:5] = 1.0  # small: on the centre of cell (0, 0, 0)
    share[0, 0, :, 8:16, 13:16] = 1.0  # larger, but off the centre of cell (0, 1, 1)
    share[1, 0, :, 0:2, 0:2] = 1.0  # a corner only: no centre is blood
    t = localization_target(share, (1, 2, 2))
    torch.testing.assert_close(t.sum(1), torch.ones(2))
    assert t[0, 0] > CENTRE_SHARE > t[0, 3] > 0  # (0,0,0) first, (0,1,1) keeps its area share
    assert t[1, 0] == 1.0  # without a blood centre the area share is the whole target


def test_the_localization_term_adds_its_weighted_value_only_when_asked():
    from ichmodel.device import plan_for

    torch.manual_seed(0)
    net = ICHNet(NET).eval()
    x = torch.rand(2, 1, *SHAPE)
    hematoma = torch.zeros(2, 1, *SHAPE)
    hematoma[:, 0, 2:4, 4:12, 4:12] = 1.0
    features = net.encode(x)
    out = net.heads(features)
    c = contribution_map(features, net.volume_head)
    assert c.shape == (2, *features.shape[2:])
    # the map averages to the volume head's linear output less its bias
    pooled = net.volume_head.fc(features.mean(dim=(2, 3, 4)))[:, 0]
    torch.testing.assert_close(c.flatten(1).mean(1) + net.volume_head.fc.bias, pooled)
    args = (out.size_mm, out.logits, torch.tensor([3.0, 4.0]), torch.tensor([0, 1]))
    base = compute_loss(*args, outcome_weight=1.0)
    assert base.terms == {} and with_terms(base, []) is base
    assert config_loss_terms(TrainConfig()) == ()
    term, = config_loss_terms(TrainConfig(localization_loss_weight=0.5))
    assert term == LocalizationTerm(0.5) and term.name == "localization"
    batch = TrainBatch(x, torch.tensor([3.0, 4.0]), torch.tensor([0, 1]), hematoma)
    forward = forward_pass(net, batch, plan_for("cpu", precision="fp32"), keep_features=True)
    value = term.compute(batch, forward)
    assert value.n_cases == 2
    with_term = with_terms(base, [(term, value)])
    assert with_term.terms == {"localization": value}
    expected = base.total + 0.5 * localization_loss(c, hematoma)[0]
    torch.testing.assert_close(with_term.total, expected)


# --- cache, dataset and the loop ---------------------------------------------------------------
def _blob_data(tmp_path, n=8, *, maps=True):
    """Inputs with a bright cube at a case-dependent place; its mask stored when ``maps``."""
    cache = CaseCache(tmp_path / "cache", PRE)
    rng = np.random.default_rng(0)
    cases = []
    for i in range(n):
        arr = rng.uniform(0, 0.2, size=(1, *SHAPE)).astype(np.float32)
        share = np.zeros_like(arr)
        z, y = 1 + i % 5, 4 + 3 * (i % 6)
        share[0, z:z + 2, y:y + 6, 6:14] = 1.0
        arr[share > 0] = 0.9
        key = cache.key(f"blob{i}")
        cache.put(key, arr, {"blob": i}, hematoma=share if maps else None)
        cases.append(Case(f"blob{i:02d}", key, float(share.sum() * 0.05), int(i % 2)))
    return TrainData(cache, tuple(cases))


def test_cache_and_dataset_carry_the_mask_or_say_it_is_unknown(tmp_path):
    data = _blob_data(tmp_path, n=2)
    key = data.cases[0].cache_key
    share = data.cache.hematoma(key)
    assert share.dtype == np.float32 and share.shape == (1, *SHAPE) and share.max() == 1.0
    assert data.cache.meta(key)["hematoma_map"] is True
    # storing the case again without a mask drops the stale one
    data.cache.put(key, data.cache.get(key, mmap=False), {"blob": 0})
    assert data.cache.hematoma(key) is None
    ds = CaseDataset(data.cache, data.cases, with_hematoma=True)
    assert torch.all(ds[0][4] == NO_HEMATOMA_MAP) and ds[1][4].max() == 1.0
    assert len(CaseDataset(data.cache, data.cases)[0]) == 4


def _config(**kw):
    base = dict(epochs=2, batch_size=4, optimizer="adamw", lr=3e-3, weight_decay=0.0,
                precision="fp32", val_fraction=0.25, seed=1, localization_loss_weight=1.0,
                augment=AugmentConfig(rotation_probability=0.5))
    base.update(kw)
    return TrainConfig(**base)


def test_training_with_the_localization_term_logs_it_and_lowers_it(tmp_path):
    data = _blob_data(tmp_path, n=12)
    torch.manual_seed(0)
    start = StartModel(ICHNet(NET), NET, PRE, "scratch")
    events = []
    cfg = _config(epochs=8, batch_size=9, lr=1e-2, augment=AugmentConfig(
        flip_lr_probability=0.0, max_rotation_deg=0.0, rotation_probability=0.0,
        max_shift_fraction=(0.0, 0.0, 0.0), max_gain=0.0, max_offset=0.0))
    run_to_completion(train(data, start, tmp_path / "run", cfg), events.append)
    rows = [e.metrics for e in events if e.stage == "validate"]
    loc = [r["train_localization_loss"] for r in rows]
    assert all(v > 0 for v in loc)
    assert loc[-1] < 0.9 * loc[0]


def test_the_term_refuses_a_cache_without_masks(tmp_path):
    data = _blob_data(tmp_path, maps=False)
    start = StartModel(ICHNet(NET), NET, PRE, "scratch")
    with pytest.raises(TrainingError, match="no training case has a hematoma mask"):
        run_to_completion(train(data, start, tmp_path / "run", _config()))
    with pytest.raises(ValueError, match="localization_loss_weight"):
        TrainConfig(localization_loss_weight=-1.0)
