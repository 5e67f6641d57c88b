"""The size output scaled by the model input's voxel volume (LabelTransform.voxel_exponent):
preprocessing resizes every head to one grid, so only the voxel size tells a large head from a
small one. Conversions, what the cache records, evaluation and training with it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ichmodel.errors import TrainingError
from ichmodel.labels import LabelTransform, ml_to_size_mm
from ichmodel.nets import ICHNet, NetConfig
from ichmodel.nets.resnet3d import NetOutput
from ichmodel.preprocess import PreprocessConfig, preprocess
from ichmodel.progress import run_to_completion
from ichmodel.train.augment import NO_AUGMENTATION
from ichmodel.train.cache import CaseCache, build_cache
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import Case, CaseDataset
from ichmodel.train.evaluate import evaluate_cases
from ichmodel.train.loop import StartModel, TrainData, train
from ichmodel.train.run_files import start_model_from_run
from ichmodel.volume import Volume
from tests.model._fake_nets import PassThroughEncoder

SHAPE = (8, 32, 32)
PRE = PreprocessConfig(output_shape=SHAPE)
SCALED = LabelTransform(voxel_exponent=1.0, reference_voxel_mm3=4.0)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- the transform ------------------------------------------------------------------------------
def test_conversions_scale_with_the_voxel_volume_and_invert():
    assert SCALED.to_ml(10.0, 4.0) == pytest.approx(1.0)  # at the reference: the plain cube root
    assert SCALED.to_ml(10.0, 8.0) == pytest.approx(2.0)  # twice the voxel, twice the blood
    partial = LabelTransform(voxel_exponent=0.5, reference_voxel_mm3=2.0)
    assert partial.to_ml(10.0, 8.0) == pytest.approx(2.0)
    sizes = np.array([3.0, 20.0, 40.0])
    voxels = np.array([1.5, 4.0, 6.0])
    back = partial.to_size_mm(partial.to_ml(sizes, voxels), voxels)
    assert back == pytest.approx(sizes)
    t = SCALED.to_ml(torch.tensor([10.0, 10.0]), torch.tensor([2.0, 4.0]))
    assert t.tolist() == pytest.approx([0.5, 1.0])
    # the paper's transform ignores the voxel volume and needs none
    assert LabelTransform().to_ml(10.0) == LabelTransform().to_ml(10.0, 123.0) == pytest.approx(1.0)


def test_a_scaled_transform_refuses_to_guess_and_checks_its_numbers():
    with pytest.raises(ValueError, match="voxel volume"):
        SCALED.to_ml(10.0)
    with pytest.raises(ValueError, match="positive"):
        SCALED.to_ml(10.0, 0.0)
    with pytest.raises(ValueError, match="reference_voxel_mm3"):
        LabelTransform(voxel_exponent=1.0, reference_voxel_mm3=-1.0)
    with pytest.raises(ValueError, match="finite"):
        LabelTransform(voxel_exponent=float("nan"))


def test_the_transform_round_trips_and_the_paper_one_keeps_its_old_form():
    assert LabelTransform.from_dict(json.loads(json.dumps(SCALED.to_dict()))) == SCALED
    # checkpoints written before the option hash the old three fields: keep their digest
    assert set(LabelTransform().to_dict()) == {"kind", "unit", "mm3_per_ml"}


def test_a_checkpoint_keeps_its_transform(tmp_path):
    from ichmodel.checkpoint import load_checkpoint, save_checkpoint

    net_config = NetConfig(depth=10, base_width=2)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, ICHNet(net_config), net_config=net_config, preprocess_config=PRE,
                    card={"name": "scaled"}, label_transform=SCALED)
    assert load_checkpoint(path).label_transform == SCALED


# --- where the voxel volume comes from ----------------------------------------------------------
def _head(spacing):
    shape = (20, 64, 64)
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    inside = ((zz - 10) / 9) ** 2 + ((yy - 32) / 28) ** 2 + ((xx - 32) / 28) ** 2 < 1
    return Volume(hu=np.where(inside, 30.0, -1000.0).astype(np.float32), spacing_mm=spacing)


def test_the_model_voxel_volume_follows_the_head_size():
    small = preprocess(_head((5.0, 0.5, 0.5)), PRE)
    large = preprocess(_head((5.0, 1.0, 1.0)), PRE)  # the same voxels, a head twice as wide
    assert np.allclose(small.array, large.array)  # the network sees the very same input ...
    assert small.model_voxel_mm3 == pytest.approx(np.prod(small.model_spacing_mm))
    assert large.model_voxel_mm3 == pytest.approx(4 * small.model_voxel_mm3)  # ... not this


def test_the_cache_records_the_voxel_volume(tmp_path):
    from ichmodel.train.manifest import ManifestReport, ManifestRow

    cache = CaseCache(tmp_path / "cache", PRE)
    rows = (ManifestRow(row=2, study=tmp_path, volume_ml=1.0, poor_outcome=0, study_text="a"),)
    volume = _head((5.0, 1.0, 1.0))
    report = run_to_completion(build_cache(ManifestReport(tmp_path / "m.csv", rows), cache,
                                           loader=lambda _: volume))
    key = report.rows[0].cache_key
    assert cache.voxel_mm3(key) == pytest.approx(preprocess(volume, PRE).model_voxel_mm3)


# --- evaluation and training --------------------------------------------------------------------
class _Fixed(PassThroughEncoder):
    """size_mm = 10 for every input, p = 0.5."""

    def heads(self, features):
        n = features.shape[0]
        return NetOutput(torch.full((n,), 10.0), torch.zeros(n, 2))


def _cases(cache, voxels):
    cases = []
    for i, v in enumerate(voxels):
        key = cache.key(f"case{i}")
        meta = {} if v is None else {"model_voxel_mm3": v}
        cache.put(key, np.zeros((1, *SHAPE), np.float32), meta)
        cases.append(Case(f"c{i}", key, 1.0, i % 2))
    return cases


def test_evaluate_converts_each_case_with_its_own_voxel_volume(tmp_path):
    cache = CaseCache(tmp_path, PRE)
    model = dataclasses.make_dataclass(
        "M", ["net", "name", "sha256", "label_transform", "gate", "outcome_temperature"])(
        _Fixed(), "fixed", "0" * 64, SCALED, None, 1.0)
    res = run_to_completion(evaluate_cases(model, cache, _cases(cache, [2.0, 4.0, 8.0]),
                                           device="cpu", precision="fp32"))
    assert [c.predicted_ml for c in res.cases] == pytest.approx([0.5, 1.0, 2.0])
    assert res.metrics.mae_ml == pytest.approx((0.5 + 0 + 1.0) / 3)
    old = CaseCache(tmp_path / "old", PRE)
    with pytest.raises(TrainingError, match="build the cache again"):
        run_to_completion(evaluate_cases(model, old, _cases(old, [2.0, None]), device="cpu"))


def test_training_targets_are_in_the_networks_units_and_the_run_keeps_the_transform(tmp_path):
    from ichmodel.checkpoint import load_checkpoint

    cache = CaseCache(tmp_path / "cache", PRE)
    rng = np.random.default_rng(0)
    cases = []
    for i in range(8):
        key = cache.key(f"toy{i}")
        arr = rng.uniform(0, 0.2, size=(1, *SHAPE)).astype(np.float32)
        arr[0, 2:5, 8:8 + 2 * (1 + i % 4), 8:16] = 0.9
        cache.put(key, arr, {"model_voxel_mm3": 2.0 + i})
        cases.append(Case(f"toy{i}", key, 4.0 * i, int(i >= 4)))
    ds = CaseDataset(cache, cases, label_transform=SCALED)
    assert ds[3][1].item() == pytest.approx(ml_to_size_mm(12.0 * 4.0 / 5.0), rel=1e-6)
    assert ds.to_ml(np.array([ds[3][1].item()]), np.array([3])) == pytest.approx([12.0])

    net_config = NetConfig(depth=10, base_width=4)
    torch.manual_seed(0)
    start = StartModel(ICHNet(net_config), net_config, PRE, "checkpoint demo",
                       label_transform=SCALED)
    config = TrainConfig(epochs=1, batch_size=3, optimizer="adamw", lr=1e-3, precision="fp32",
                         augment=NO_AUGMENTATION, val_fraction=0.25, seed=1)
    result = run_to_completion(train(TrainData(cache, tuple(cases)), start, tmp_path / "run",
                                     config))
    assert np.isfinite(result.history[-1]["val_mae_ml"])
    assert load_checkpoint(result.last_checkpoint).label_transform == SCALED
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert start_model_from_run(saved).label_transform == SCALED  # a resume keeps it too


def test_training_a_scaled_model_on_cases_without_voxel_sizes_is_refused(tmp_path):
    cache = CaseCache(tmp_path / "cache", PRE)
    cases = _cases(cache, [None] * 4)
    net_config = NetConfig(depth=10, base_width=2)
    start = StartModel(ICHNet(net_config), net_config, PRE, "checkpoint demo",
                       label_transform=SCALED)
    with pytest.raises(TrainingError, match="voxel size"):
        run_to_completion(train(TrainData(cache, tuple(cases)), start, tmp_path / "run",
                                TrainConfig(epochs=1, batch_size=2, val_fraction=0.5)))


def test_the_fit_recovers_a_known_scaling():
    from ichmodel.train.calibrate import fit_voxel_scale

    rng = np.random.default_rng(3)
    voxel = rng.uniform(2.0, 5.0, 200)
    truth = rng.uniform(0.5, 60.0, 200)
    # a network that saw only voxels: its ml is the truth in units of a 3.3 mm^3 voxel, ^0.8
    raw_ml = truth / (voxel / 3.3) ** 0.8 * rng.normal(1.0, 0.03, 200)
    fit = fit_voxel_scale(ml_to_size_mm(raw_ml), voxel, truth)
    assert fit.label_transform.voxel_exponent == pytest.approx(0.8, abs=0.05)
    assert fit.label_transform.reference_voxel_mm3 == pytest.approx(3.3, rel=0.05)
    assert fit.mae_ml_after < 0.3 * fit.mae_ml_before and fit.n == 200
    with pytest.raises(ValueError, match="at least 10"):
        fit_voxel_scale([10.0] * 3, [3.0] * 3, [1.0] * 3)


def test_predict_scales_the_volume_by_the_studys_voxel_volume(tmp_path):
    from ichmodel.checkpoint import load_checkpoint, save_checkpoint
    from ichmodel.predict import predict

    net_config = NetConfig(depth=10, base_width=2)
    torch.manual_seed(0)
    net = ICHNet(net_config)
    net.volume_head.init_bias(20.0)  # an 8 ml start, so the comparison is not 0 == 0
    paths = {}
    for name, transform in (("plain", LabelTransform()), ("scaled", SCALED)):
        paths[name] = tmp_path / f"{name}.safetensors"
        save_checkpoint(paths[name], net, net_config=net_config, preprocess_config=PRE,
                        card={"name": name}, label_transform=transform)
    volume = _head((5.0, 1.0, 1.0))
    plain, scaled = (run_to_completion(predict(volume, load_checkpoint(paths[n]), cam_head=None,
                                               device="cpu"))
                     for n in ("plain", "scaled"))
    factor = preprocess(volume, PRE).model_voxel_mm3 / SCALED.reference_voxel_mm3
    assert plain.predicted_volume_ml > 1.0 and abs(factor - 1.0) > 0.1
    assert scaled.predicted_volume_ml == pytest.approx(plain.predicted_volume_ml * factor,
                                                       rel=1e-4)
    # size_mm stays the paper's "ICH size" of the reported volume
    assert scaled.predicted_volume_ml == pytest.approx(scaled.size_mm**3 / 1000, rel=1e-4)
