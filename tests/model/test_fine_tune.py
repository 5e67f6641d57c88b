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
    FineTuneRequest,
    InitCheckpoint,
    ScratchModel,
    resolve_start,
    resumed_config,
    start_preprocess_config,
)

SMALL = NetConfig(depth=10, base_width=2)


def test_the_request_states_a_training_provenance(tmp_path):
    request = FineTuneRequest(tmp_path / "m.csv", tmp_path / "run", provenance="synthetic")
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
