"""Model registry in a temporary data folder ($ICHVIEWER_DATA_DIR)."""

from __future__ import annotations

import pytest
import torch

from ichmodel import registry
from ichmodel.checkpoint import load_checkpoint, save_checkpoint
from ichmodel.cli import main
from ichmodel.nets import ICHNet, NetConfig
from ichmodel.preprocess import PreprocessConfig


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ENV_DATA_DIR, str(tmp_path / "data"))
    # No bundled demo in this test: point the resources at an empty folder.
    monkeypatch.setattr(registry, "demo_model_path", lambda: tmp_path / "none.safetensors")
    return tmp_path / "data"


def _checkpoint(tmp_path, name="toy", seed=0):
    torch.manual_seed(seed)
    cfg = NetConfig(depth=10, base_width=4)
    path = tmp_path / f"{name}.safetensors"
    save_checkpoint(path, ICHNet(cfg), net_config=cfg,
                    preprocess_config=PreprocessConfig(output_shape=(8, 32, 32)),
                    card={"name": name, "summary": "toy"}, metrics={"val_mae_ml": 1.5})
    return path


def test_empty_registry_has_no_active_model(data_dir):
    assert registry.data_dir() == data_dir
    assert registry.list_models() == []
    assert registry.active_model_path() is None
    assert registry.active_name() == "demo"


def test_register_use_rollback_remove(data_dir, tmp_path):
    ckpt = _checkpoint(tmp_path)
    entry = registry.register_model(ckpt, "site-a")
    assert entry.path == data_dir / "models" / "site-a" / "model.safetensors"
    assert (data_dir / "models" / "site-a" / "model.json").is_file()  # sidecar copied
    assert entry.metrics["val_mae_ml"] == 1.5 and entry.card["name"] == "toy"
    assert not entry.active and registry.active_model_path() is None
    registry.set_active("site-a")
    assert registry.active_model_path() == entry.path
    assert load_checkpoint(registry.active_model_path()).name == "toy"
    registry.rollback()
    assert registry.active_model_path() is None and registry.active_name() == "demo"
    registry.set_active("site-a")
    registry.remove_model("site-a")
    assert registry.active_name() == "demo" and registry.list_models() == []


def test_bad_names_and_tampered_checkpoints_are_refused(data_dir, tmp_path):
    ckpt = _checkpoint(tmp_path)
    with pytest.raises(registry.RegistryError):
        registry.register_model(ckpt, "demo")
    with pytest.raises(registry.RegistryError):
        registry.register_model(ckpt, "../evil")
    registry.register_model(ckpt, "a")
    with pytest.raises(registry.RegistryError, match="already"):
        registry.register_model(ckpt, "a")
    with pytest.raises(registry.RegistryError, match="no model named"):
        registry.set_active("nope")
    data = bytearray(ckpt.read_bytes())
    data[-10] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    with pytest.raises(Exception, match="SHA-256"):
        registry.register_model(ckpt, "b")


def test_missing_active_model_falls_back(data_dir, tmp_path):
    registry.register_model(_checkpoint(tmp_path), "gone", activate=True)
    import shutil

    shutil.rmtree(data_dir / "models" / "gone")
    assert registry.active_name() == "demo"


def test_bundled_demo_is_listed_and_active_by_default(data_dir, tmp_path, monkeypatch):
    demo = _checkpoint(tmp_path, "demo-bundled")
    monkeypatch.setattr(registry, "demo_model_path", lambda: demo)
    entries = registry.list_models()
    assert [(e.name, e.bundled, e.active) for e in entries] == [("demo", True, True)]
    assert registry.active_model_path() == demo


def test_models_cli(data_dir, tmp_path, capsys):
    ckpt = _checkpoint(tmp_path)
    assert main(["models", "register", str(ckpt), "--name", "m1", "--use"]) == 0
    assert main(["models", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"active": "m1"' in out
    assert main(["models", "rollback"]) == 0
    assert main(["models", "use", "nope"]) == 3
    assert "no model named" in capsys.readouterr().err
    assert main(["models", "use", "m1"]) == 0
    assert main(["models", "list"]) == 0
    assert "m1" in capsys.readouterr().out


def _as_schema_1(path):
    """Rewrite a checkpoint as a file from before provenance was recorded (schema 1)."""
    from ichmodel import checkpoint as ckpt
    from tests.model.test_checkpoint import _rewrite_metadata

    ckpt.sidecar_path(path).unlink()

    def edit(doc):
        doc["schema_version"] = 1
        for key in ("provenance", "recommended_cam_flip_axes"):
            doc["card"].pop(key)
        doc["config_sha256"] = ckpt._config_sha256(doc)

    _rewrite_metadata(path, edit)
    return path


def test_register_keeps_the_recorded_provenance(data_dir, tmp_path, capsys):
    torch.manual_seed(0)
    cfg = NetConfig(depth=10, base_width=4)
    path = save_checkpoint(tmp_path / "syn.safetensors", ICHNet(cfg), net_config=cfg,
                           preprocess_config=PreprocessConfig(output_shape=(8, 32, 32)),
                           card={"name": "syn", "provenance": "synthetic"})
    assert main(["models", "register", str(path), "syn", "--provenance", "site"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "records provenance 'synthetic'" in err[0]
    assert main(["models", "register", str(path), "syn"]) == 0
    assert "(synthetic)" in capsys.readouterr().out
    assert load_checkpoint(data_dir / "models" / "syn" / "model.safetensors").provenance == (
        "synthetic"
    )


def test_an_unrecorded_provenance_must_be_stated_when_registering(data_dir, tmp_path, capsys):
    old = _as_schema_1(_checkpoint(tmp_path, "old"))
    assert load_checkpoint(old).provenance == "unrecorded"
    assert main(["models", "register", str(old), "old"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--provenance site" in err[0]
    assert not (data_dir / "models" / "old").exists()
    assert main(["models", "register", str(old), "old", "--provenance", "site"]) == 0
    registered = load_checkpoint(data_dir / "models" / "old" / "model.safetensors")
    assert registered.provenance == "site" and registered.sha256 == load_checkpoint(old).sha256
    assert registered.metrics["val_mae_ml"] == 1.5  # the rest of the card and metrics kept
