"""Model trust: the out-of-distribution gate and temperature scaling, on tiny models (CPU)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ichmodel.checkpoint import load_checkpoint, read_document, save_checkpoint
from ichmodel.errors import CheckpointIntegrityError
from ichmodel.ood_gate import FeatureGate, fit_gate
from ichmodel.progress import run_to_completion
from ichmodel.train.metrics import expected_calibration_error, fit_temperature
from tests.readings import phantom_reading, tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _features(n, d=16, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + shift


def test_the_gate_flags_far_features_and_passes_its_own_held_out_cases():
    train, held, fresh = _features(300), _features(100, seed=1), _features(400, seed=2)
    labels = (np.arange(300) % 2).astype(int)
    gate = fit_gate(train, labels, held, quantile=0.99)
    assert gate.class_means.shape == (2, 16) and gate.n_fit == 300
    assert np.mean(gate.scores(held) > gate.threshold) <= 0.011  # by construction
    assert np.mean(gate.scores(fresh) > gate.threshold) < 0.05  # new in-distribution cases
    assert np.all(gate.scores(_features(50, shift=4.0, seed=3)) > gate.threshold)
    same = FeatureGate.from_doc(gate.to_doc())
    np.testing.assert_allclose(same.scores(fresh), gate.scores(fresh), rtol=1e-5)
    with pytest.raises(ValueError, match="at least 3"):
        fit_gate(train[:2], None, held)


def test_temperature_scaling_lowers_the_ece_of_an_over_confident_model():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, size=8000)
    true_logit = np.where(y == 1, 1.0, -1.0) * 0.8 + rng.normal(scale=1.2, size=y.size)
    logits = np.stack([np.zeros_like(true_logit), 4.0 * true_logit], axis=1)  # 4x too sure

    def p(temperature):
        return 1 / (1 + np.exp(-(logits[:, 1] - logits[:, 0]) / temperature))

    t = fit_temperature(logits[:4000], y[:4000])
    assert 3.0 < t < 5.5
    before = expected_calibration_error(y[4000:], p(1.0)[4000:])
    after = expected_calibration_error(y[4000:], p(t)[4000:])
    assert before > 0.1 and after < 0.05 and after < before / 3
    assert fit_temperature(logits[:10], np.zeros(10)) == 1.0  # one class: nothing to fit


def _gated(model, *, far: bool):
    """The tiny model with a gate fitted on the phantom's own features (or far from them)."""
    from ichmodel.predict import get_predictor
    from ichmodel.preprocess import preprocess

    reading = phantom_reading()
    x = preprocess(reading.volume, model.preprocess_config).tensor()
    _, _, pooled = get_predictor(model, "cpu").forward_with_features(x)
    centre = pooled.numpy()[0] + (50.0 if far else 0.0)
    rng = np.random.default_rng(0)
    spread = 0.05 * (np.abs(centre).mean() + 1e-3)
    train = centre + rng.normal(scale=spread, size=(40, centre.size))
    held = centre + rng.normal(scale=spread, size=(20, centre.size))
    return dataclasses.replace(model, gate=fit_gate(train, None, held, fitted_on="test"))


def test_predict_reports_the_score_and_an_out_of_distribution_prediction_says_so(tmp_path):
    from ichmodel.reading import ModelIdentity, predict_reading

    reading = phantom_reading()
    for far in (False, True):
        model = _gated(tiny_model(seed=int(far)), far=far)
        prediction = run_to_completion(predict_reading(reading, model, device="cpu"))
        assert prediction.ood_score is not None and prediction.ood_threshold is not None
        assert prediction.in_distribution is (not far)
        read = reading.with_prediction(prediction, ModelIdentity.of(model))
        assert read.model_trusted is (not far)
        codes = {n.code for n in read.notices}
        assert ("model.out_of_distribution" in codes) is far
        assert prediction.to_dict()["in_distribution"] is (not far)
    # out of distribution, the disagreement rule speaks of the measurement alone
    from ichmodel.reading import rules

    m = reading.measurement
    huge = dataclasses.replace(prediction, predicted_volume_ml=500.0)
    assert reading.with_prediction(huge, ModelIdentity.of(model)).volumes_disagree == (
        rules.volumes_disagree((m.hematoma_volume_ml, m.abc2.volume_ml)))
    trusted = dataclasses.replace(huge, in_distribution=True)
    assert reading.with_prediction(trusted, ModelIdentity.of(model)).volumes_disagree


def test_the_gate_and_temperature_survive_save_and_load_and_join_the_digest(tmp_path):
    model = _gated(tiny_model(), far=False)
    path = save_checkpoint(tmp_path / "m.safetensors", model.net, net_config=model.net_config,
                           preprocess_config=model.preprocess_config, card=model.card,
                           gate=model.gate, outcome_temperature=2.5)
    loaded = load_checkpoint(path)
    assert loaded.outcome_temperature == 2.5 and loaded.gate is not None
    np.testing.assert_allclose(loaded.gate.precision, model.gate.precision, rtol=1e-6)
    assert loaded.gate.threshold == pytest.approx(model.gate.threshold, rel=1e-6)
    assert read_document(path)["ood_gate"]["method"].startswith("mahalanobis")

    from tests.model.test_checkpoint import _rewrite_metadata

    path.with_suffix(".json").unlink()

    def loosen(doc):
        doc["ood_gate"]["threshold"] *= 10

    _rewrite_metadata(path, loosen)
    with pytest.raises(CheckpointIntegrityError, match="edited"):
        load_checkpoint(path)


def test_fine_tuning_refits_the_gate_on_the_sites_cases(tmp_path):
    """A run's checkpoints carry a gate fitted on the run's own cases (and a temperature)."""
    from ichmodel.nets import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig
    from ichmodel.train.augment import NO_AUGMENTATION
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.config import TrainConfig
    from ichmodel.train.dataset import Case
    from ichmodel.train.fine_tune import CachedCases, FineTuneRequest, ScratchModel, fine_tune

    pre = PreprocessConfig(output_shape=(8, 32, 32))
    cache = CaseCache(tmp_path / "cache", pre)
    rng = np.random.default_rng(0)
    cases = []
    for i in range(16):
        arr = rng.uniform(0, 0.2, size=(1, 8, 32, 32)).astype(np.float32)
        arr[0, 2:5, 8:8 + 2 + i % 5, 8:16] = 0.9
        key = cache.key(f"c{i}")
        cache.put(key, arr, {"model_voxel_mm3": 1.0})
        cases.append(Case(f"c{i:02d}", key, float(i), int(i >= 8)))
    net = NetConfig(depth=10, base_width=4)
    request = FineTuneRequest(
        data=CachedCases(cache, tuple(cases)), run_dir=tmp_path / "run",
        start=ScratchModel(net_config=net, preprocess_config=pre),
        config=TrainConfig(epochs=1, batch_size=4, precision="fp32", augment=NO_AUGMENTATION,
                           val_fraction=0.25, device="cpu"),
    )
    session = run_to_completion(fine_tune(request))
    model = load_checkpoint(session.run.model_checkpoint)
    assert model.gate is not None and model.gate.n_fit == 12 and model.gate.n_threshold == 4
    assert model.gate.stages == ("layer2", "layer4")  # a site's gate pools as new gates do
    assert model.training["trust_fit"]["ood_threshold"] == pytest.approx(model.gate.threshold,
                                                                         rel=1e-3)
    assert isinstance(ICHNet(net), torch.nn.Module)


def test_a_new_gate_pools_layer2_and_layer4_and_an_old_one_layer4():
    """New gates score the layer2 and layer4 pooled features (docs/gate_layers_2026-12-03.md:
    layer2 keeps real anatomy outside a phantom-trained model's range, layer4 alone lets an
    inserted bleed pull a real head in); a gate written before the stages were recorded reads
    as layer4, and predict pools what its gate scores."""
    from ichmodel.ood_gate import GATE_STAGES, LEGACY_STAGES
    from ichmodel.predict import get_predictor
    from ichmodel.preprocess import preprocess
    from ichmodel.reading import predict_reading

    model = _gated(tiny_model(), far=False)
    assert model.gate.stages == GATE_STAGES == ("layer2", "layer4")
    x = preprocess(phantom_reading().volume, model.preprocess_config).tensor()
    predictor = get_predictor(model, "cpu")
    widths = [predictor.forward_with_features(x, stages=(s,))[2].shape[1] for s in GATE_STAGES]
    assert model.gate.n_features == sum(widths) and widths[0] < widths[1]
    doc = model.gate.to_doc()
    assert doc["stages"] == ["layer2", "layer4"]
    del doc["stages"]
    assert FeatureGate.from_doc(doc).stages == LEGACY_STAGES
    prediction = run_to_completion(predict_reading(phantom_reading(), model, device="cpu"))
    assert prediction.in_distribution is True
