"""The fine-tune session's rules (start model, seeding, provenance, resume) in isolation; the
end-to-end parity of ``ichmodel train`` and the dialog is tests/gui/test_fine_tune_parity.py."""

from __future__ import annotations

import pytest
import torch

from ichmodel.checkpoint import save_checkpoint
from ichmodel.model_card import Provenance
from ichmodel.nets import ICHNet, NetConfig
from ichmodel.preprocess import PreprocessConfig
from ichmodel.train.config import TrainConfig
from ichmodel.train.fine_tune import (
    ActiveModel,
    CachedCases,
    FineTuneRequest,
    InitCheckpoint,
    ScratchModel,
    fine_tune,
    resolve_start,
    resumed_config,
    start_preprocess_config,
)

SMALL = NetConfig(depth=10, base_width=2)


def test_the_request_states_a_training_provenance(tmp_path):
    request = FineTuneRequest(tmp_path / "m.csv", tmp_path / "run", provenance="synthetic")
    assert request.data == tmp_path / "m.csv"
    assert request.provenance is Provenance.SYNTHETIC
    assert FineTuneRequest(tmp_path / "m.csv", tmp_path / "run").provenance is Provenance.SITE
    assert FineTuneRequest(tmp_path / "m.csv", tmp_path / "run").start == ActiveModel()
    for bad in ("untrained", "unrecorded", "lab"):
        with pytest.raises(ValueError, match="site or synthetic"):
            FineTuneRequest(tmp_path / "m.csv", tmp_path / "run", provenance=bad)


def test_scratch_weights_are_drawn_from_the_seed_and_default_to_the_papers_network():
    assert ScratchModel().net_config == NetConfig()  # ResNet34, base width 64
    assert ScratchModel().preprocess_config == PreprocessConfig()
    a = resolve_start(ScratchModel(SMALL), seed=5, provenance=Provenance.SITE)
    torch.manual_seed(123)  # whatever the global RNG was doing before
    b = resolve_start(ScratchModel(SMALL), seed=5, provenance=Provenance.SITE)
    c = resolve_start(ScratchModel(SMALL), seed=6, provenance=Provenance.SYNTHETIC)
    sa, sb, sc = (s.net.state_dict() for s in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.source == "scratch" and c.provenance is Provenance.SYNTHETIC


def test_a_checkpoint_start_is_a_fresh_copy_with_the_requests_provenance(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "syn.safetensors", ICHNet(SMALL), net_config=SMALL,
                           preprocess_config=PreprocessConfig(output_shape=(8, 32, 32)),
                           card={"name": "syn", "provenance": "synthetic",
                                 "recommended_cam_flip_axes": ["z"]})
    one = resolve_start(InitCheckpoint(path), seed=0, provenance=Provenance.SITE)
    two = resolve_start(InitCheckpoint(path), seed=0, provenance=Provenance.SITE)
    assert one.net is not two.net and one.net.training
    assert one.provenance is Provenance.SITE  # the run's data decides, not the start model's
    assert one.cam_flip_axes == ("z",) and one.preprocess_config.output_shape == (8, 32, 32)
    assert one.source.startswith("checkpoint syn (sha256 ")
    # what the dialog's study check caches with, read without loading the weights
    assert start_preprocess_config(InitCheckpoint(path)) == one.preprocess_config
    assert start_preprocess_config(ScratchModel()) == PreprocessConfig()


def test_a_resume_keeps_the_runs_settings_but_the_resumable_ones():
    saved = TrainConfig(epochs=2, lr=1e-3, seed=4, max_steps=3)
    asked = TrainConfig(epochs=5, lr=0.5, seed=9, device="cpu")
    config = resumed_config(saved, asked)
    assert (config.epochs, config.lr, config.seed, config.device) == (5, 1e-3, 4, "cpu")
    assert config.max_steps is None  # a smoke-run limit is not inherited


def test_cached_cases_run_through_the_same_session_as_a_manifest(tmp_path):
    """Research data already in a cache: the session is the loop plus its rules, so it gives
    the weights of the loop driven by hand with the same seeded start."""
    import numpy as np

    from ichmodel.errors import TrainingError
    from ichmodel.progress import run_to_completion
    from ichmodel.train.augment import NO_AUGMENTATION
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.dataset import Case
    from ichmodel.train.loop import train
    from ichmodel.train.run_files import StartModel, TrainData
    from ichmodel.train.state import load_train_state

    torch.set_num_threads(1)
    pre = PreprocessConfig(output_shape=(8, 32, 32))
    cache = CaseCache(tmp_path / "cache", pre)
    rng = np.random.default_rng(0)
    cases = []
    for i in range(6):
        key = cache.key(f"toy{i}")
        cache.put(key, rng.uniform(0, 1, size=(1, 8, 32, 32)).astype(np.float32), {"toy": i})
        cases.append(Case(f"toy{i}", key, float(4 * i), i % 2))
    config = TrainConfig(epochs=1, batch_size=2, optimizer="adamw", lr=1e-3, precision="fp32",
                         augment=NO_AUGMENTATION, val_fraction=0.34, seed=2, device="cpu")
    cached = CachedCases(cache, tuple(cases), {"generator": "toy"})
    request = FineTuneRequest(cached, tmp_path / "session", start=ScratchModel(SMALL, pre),
                              config=config, provenance="synthetic")
    session = run_to_completion(fine_tune(request))
    assert session.report is None and session.provenance is Provenance.SYNTHETIC
    torch.manual_seed(2)
    by_hand = StartModel(ICHNet(SMALL), SMALL, pre, "scratch", provenance=Provenance.SYNTHETIC)
    run_to_completion(train(TrainData(cache, tuple(cases)), by_hand, tmp_path / "hand", config))
    a = load_train_state(tmp_path / "session/checkpoints/state.safetensors").model
    b = load_train_state(tmp_path / "hand/checkpoints/state.safetensors").model
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TrainingError, match="preprocessed with"):
        run_to_completion(fine_tune(FineTuneRequest(cached, tmp_path / "other",
                                                    start=ScratchModel(SMALL), config=config)))
    with pytest.raises(ValueError, match="belong to a manifest"):
        FineTuneRequest(cached, tmp_path / "x", exclude_rows=(3,))
