"""Checkpoints: bit-exact round trip, integrity and config checks, pickle refusal, model choice."""

from __future__ import annotations

import json
import struct
import sys
import types

import pytest
import torch

from ichmodel import active_model
from ichmodel import checkpoint as ckpt
from ichmodel.active_model import untrained_model
from ichmodel.checkpoint import (
    load_checkpoint,
    read_document,
    save_checkpoint,
    sidecar_path,
)
from ichmodel.errors import (
    CheckpointError,
    CheckpointIntegrityError,
    InputError,
    PickleCheckpointError,
)
from ichmodel.model_card import ModelCard
from ichmodel.nets import ICHNet, NetConfig
from ichmodel.preprocess import PreprocessConfig

torch.set_num_threads(1)
TINY = NetConfig(depth=10, base_width=2)
PRE = PreprocessConfig(output_shape=(8, 32, 32))


def _net(seed=0, config=TINY):
    torch.manual_seed(seed)
    net = ICHNet(config)
    for m in net.modules():  # non-trivial BN statistics so they are really saved
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(7)
    return net.eval()


def _save(path, net=None, **kw):
    return save_checkpoint(
        path,
        net or _net(),
        net_config=TINY,
        preprocess_config=PRE,
        card=ModelCard(name="tiny", summary="test model", banner="synthetic, not for clinics"),
        training={"seed": 3, "epochs": 2},
        metrics={"mae_ml": 1.5},
        **kw,
    )


def _rewrite_metadata(path, edit):
    """Rewrite the ichmodel document inside a safetensors header (simulates an edit)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    doc = json.loads(header["__metadata__"]["ichmodel"])
    edit(doc)
    header["__metadata__"]["ichmodel"] = json.dumps(doc)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def test_save_and_reload_bit_exactly_with_all_metadata(tmp_path):
    net = _net()
    path = _save(tmp_path / "m.safetensors", net)
    model = load_checkpoint(path)
    for key, value in net.state_dict().items():
        loaded = model.net.state_dict()[key]
        assert loaded.dtype == value.dtype and torch.equal(loaded, value), key
    x = torch.rand(1, 1, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.net(x).logits, net(x).logits)
    assert model.name == "tiny" and len(model.sha256) == 64
    assert model.net_config == TINY and model.preprocess_config == PRE
    assert model.metrics == {"mae_ml": 1.5} and model.training["seed"] == 3
    assert model.card.banner and "synthetic" in model.warnings[0]
    assert not model.net.training and not model.is_untrained
    side = json.loads(sidecar_path(path).read_text())
    assert side["weights_sha256"] == model.sha256 == read_document(path)["weights_sha256"]
    assert side["schema_version"] == 2 and "card" in side and "label_transform" in side
    assert load_checkpoint(path).sha256 == model.sha256  # stable


def test_fp16_save_is_half_the_size_and_reloads_the_rounded_weights(tmp_path):
    net = _net()
    p32 = _save(tmp_path / "a.safetensors", net)
    p16 = _save(tmp_path / "b.safetensors", net, dtype="float16")
    assert p16.stat().st_size < 0.65 * p32.stat().st_size
    model = load_checkpoint(p16)
    for key, value in net.state_dict().items():
        expected = value.half().float() if value.is_floating_point() else value
        assert torch.equal(model.net.state_dict()[key], expected), key
    assert model.weights_dtype == "float16"


def test_demo_topology_at_width_16_fits_25_mb_in_fp16(tmp_path):
    cfg = NetConfig(depth=34, base_width=16)
    path = save_checkpoint(
        tmp_path / "demo.safetensors",
        ICHNet(cfg),
        net_config=cfg,
        preprocess_config=PreprocessConfig(),
        card="demo",
        dtype="float16",
    )
    assert path.stat().st_size <= 25 * 2**20


def test_tampered_weights_are_refused(tmp_path):
    path = _save(tmp_path / "m.safetensors")
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x40  # flip a bit in the last tensor's data
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointIntegrityError, match="SHA-256"):
        load_checkpoint(path)


def test_edited_config_is_refused_even_when_its_hash_is_recomputed(tmp_path):
    path = _save(tmp_path / "m.safetensors")
    sidecar_path(path).unlink()

    def bump_depth(doc):
        doc["net_config"]["depth"] = 18

    _rewrite_metadata(path, bump_depth)
    with pytest.raises(CheckpointIntegrityError, match="configuration was edited"):
        load_checkpoint(path)

    def rehash(doc):
        doc["config_sha256"] = ckpt._config_sha256(doc)

    _rewrite_metadata(path, rehash)
    with pytest.raises(CheckpointError, match="do not fit the recorded architecture"):
        load_checkpoint(path)


def test_sidecar_of_another_model_is_refused(tmp_path):
    a = _save(tmp_path / "a.safetensors", _net(0))
    b = _save(tmp_path / "b.safetensors", _net(1))
    sidecar_path(a).write_text(sidecar_path(b).read_text())
    with pytest.raises(CheckpointError, match="other weights"):
        load_checkpoint(a)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt", ".pkl"])
def test_pickle_files_are_refused_with_a_conversion_hint(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    torch.save(_net().state_dict(), path)
    with pytest.raises(PickleCheckpointError, match="Convert it once"):
        load_checkpoint(path)


def test_pickle_archive_disguised_as_safetensors_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(PickleCheckpointError, match="despite its name"):
        load_checkpoint(path)


def test_legacy_pickle_disguised_as_safetensors_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b"\x80"
    with pytest.raises(PickleCheckpointError, match="despite its name"):
        load_checkpoint(path)


def test_safetensors_whose_header_length_starts_with_0x80_loads(tmp_path):
    """A header of 0x..80 bytes makes the file's first byte pickle's PROTO opcode (0x80);
    found when a demo model's card text happened to have that length."""
    path = tmp_path / "model.safetensors"
    for extra in range(300):
        save_checkpoint(path, _net(), net_config=TINY, preprocess_config=PRE,
                        card=ModelCard(name="tiny", summary="x" * extra))
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no padding gave a header length ending in 0x80")
    assert load_checkpoint(path).net_config == TINY


def test_missing_garbage_and_foreign_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"hello, this is not a model at all")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(junk)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(CheckpointError, match="no 'ichmodel' metadata"):
        load_checkpoint(foreign)
    assert issubclass(CheckpointError, InputError)  # the CLI maps it to exit 3
    with pytest.raises(CheckpointError, match=".safetensors"):
        _save(tmp_path / "m.pt")


def test_newer_schema_is_refused(tmp_path):
    path = _save(tmp_path / "m.safetensors", write_sidecar=False)
    _rewrite_metadata(path, lambda doc: doc.update(schema_version=99))
    with pytest.raises(CheckpointError, match="schema 99"):
        load_checkpoint(path)


def test_untrained_model_is_deterministic_and_loud(monkeypatch):
    first = untrained_model()
    assert first.name == "untrained" and first.is_untrained
    assert "UNTRAINED" in first.warnings[0] and "meaningless" in first.warnings[0]
    assert first.card.warning_banner
    monkeypatch.setattr(active_model, "_cache", {})
    again = untrained_model()
    assert again is not first and again.sha256 == first.sha256
    state = torch.get_rng_state()
    monkeypatch.setattr(active_model, "_cache", {})
    untrained_model()
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched


def test_default_model_prefers_active_then_demo_then_untrained(tmp_path, monkeypatch):
    import ichmodel.resources

    demo = tmp_path / "models" / "demo.safetensors"
    monkeypatch.setattr(ichmodel.resources, "demo_model_path", lambda: demo)
    registry = types.ModuleType("ichmodel.registry")
    registry.active_model_path = lambda: None
    monkeypatch.setitem(sys.modules, "ichmodel.registry", registry)
    assert active_model.default_model().is_untrained

    _save(demo)
    assert active_model.default_model().name == "tiny"

    active = tmp_path / "active.safetensors"
    save_checkpoint(active, _net(5), net_config=TINY, preprocess_config=PRE, card="site model")
    registry.active_model_path = lambda: active
    chosen = active_model.default_model()
    assert chosen.name == "active" and chosen.card.summary == "site model"
    assert not chosen.load_warnings
    assert active_model.default_model() is chosen  # cached on (path, size, mtime)

    active.write_bytes(b"broken")
    fallback = active_model.default_model()
    assert fallback.name == "tiny"
    assert any("active model" in w and "could not be loaded" in w for w in fallback.warnings)


def test_provenance_is_recorded_and_covered_by_the_config_digest(tmp_path):
    net = _net()
    path = tmp_path / "site.safetensors"
    card = ModelCard(name="demography-adjusted", summary="QA against a water phantom",
                     recommended_cam_flip_axes=("y", "z", "y"))
    save_checkpoint(path, net, net_config=TINY, preprocess_config=PRE, card=card)
    loaded = load_checkpoint(path)
    assert loaded.provenance == "site" and not loaded.card.warning_banner
    assert loaded.card.recommended_cam_flip_axes == ("z", "y")  # validated, (z, y, x) order
    assert read_document(path)["schema_version"] == 2
    sidecar_path(path).unlink()

    def claim_synthetic(doc):
        doc["card"]["provenance"] = "synthetic"

    _rewrite_metadata(path, claim_synthetic)
    with pytest.raises(CheckpointIntegrityError, match="configuration was edited"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="provenance"):
        ModelCard(name="x", provenance="guessed")
    with pytest.raises(ValueError, match="cam flip axes"):
        ModelCard(name="x", recommended_cam_flip_axes=("ap",))


def test_a_schema_1_file_still_loads_with_its_flips_in_the_card(tmp_path):
    """Files written before schema 2 (today's demo until it was re-saved): flip axes were a
    field of the model and hashed where set; provenance was not recorded."""
    path = _save(tmp_path / "old.safetensors")
    sidecar_path(path).unlink()

    def as_schema_1(doc):
        doc["schema_version"] = 1
        doc["cam_flip_axes"] = ["z", "y"]
        for key in ("provenance", "recommended_cam_flip_axes"):
            doc["card"].pop(key)
        doc["config_sha256"] = ckpt._config_sha256(doc)

    _rewrite_metadata(path, as_schema_1)
    loaded = load_checkpoint(path)
    assert loaded.provenance == "unrecorded" and "not recorded" in loaded.card.warning_banner
    assert loaded.card.recommended_cam_flip_axes == ("z", "y")
