"""Acceptance test of the one fine-tune session: the same seeded request through
``ichmodel train`` and through the trainer dialog's backend gives bit-identical weights."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from ichmodel import registry  # noqa: E402
from ichmodel.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from ichmodel.cli import main  # noqa: E402
from ichmodel.nets import ICHNet, NetConfig  # noqa: E402
from ichmodel.preprocess import PreprocessConfig  # noqa: E402
from ichmodel.train.fine_tune import ActiveModel  # noqa: E402

pytestmark = pytest.mark.timeout(180)

TINY_NET = NetConfig(depth=10, base_width=4)
TINY_PRE = PreprocessConfig(output_shape=(8, 32, 32))


@pytest.fixture()
def synth(tmp_path) -> Path:
    """Six 64x64 phantom studies and their manifest."""
    from ichmodel.phantom import PhantomConfig
    from ichmodel.phantom.dataset import write_synth_dataset

    config = PhantomConfig(size=64, slice_thickness_mm=5.0, p_no_bleed=0.0)
    return write_synth_dataset(tmp_path / "synth", 6, seed=7000, config=config)


@pytest.fixture()
def active_synthetic_model(tmp_path, monkeypatch):
    """A tiny network trained on nothing but saved as synthetic, registered as active: where
    both a user's `ichmodel train` and the dialog's "the active model" start."""
    monkeypatch.setenv(registry.ENV_DATA_DIR, str(tmp_path / "data"))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "start.safetensors", ICHNet(TINY_NET), net_config=TINY_NET,
                           preprocess_config=TINY_PRE,
                           card={"name": "start", "provenance": "synthetic"})
    registry.register_model(path, "start", activate=True)
    return path


def test_the_cli_and_the_dialog_train_bit_identical_weights(
    synth, active_synthetic_model, tmp_path, qtbot, capsys
):
    from ichviewer.dialogs.trainer_dialog import TrainerDialog

    cli_run = tmp_path / "cli-run"
    rc = main(["train", str(synth), "--out", str(cli_run), "--epochs", "2", "--batch-size", "2",
               "--device", "cpu", "--seed", "3", "--precision", "fp32", "--json"])
    assert rc == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["provenance"] == "site"

    dialog = TrainerDialog(run_root=tmp_path / "runs")
    qtbot.addWidget(dialog)
    try:
        dialog.set_manifest(synth)
        assert dialog.start_button.isEnabled()
        form = dialog.form
        form.epochs_spin.setValue(2)
        form.batch_spin.setValue(2)
        form.device_combo.setCurrentText("cpu")
        form.seed_spin.setValue(3)
        # fp32: bf16 autocast is exact run to run here, but not promised on every CPU
        form.precision_combo.setCurrentText("fp32")
        gui_run = tmp_path / "gui-run"
        form.run_edit.setText(str(gui_run))
        request = dialog.request()
        assert request.start == ActiveModel() and request.provenance == "site"
        assert dialog.start() is not None
        assert dialog.wait_idle(150), dialog.status_label.text()
        assert dialog.outcome is not None, dialog.last_error
    finally:
        dialog.shutdown()

    saved = [json.loads((run / "config.json").read_text()) for run in (cli_run, gui_run)]
    assert saved[0]["train"] == saved[1]["train"]  # same defaults, seed and device
    assert saved[0]["start"] == saved[1]["start"] and saved[0]["start"].startswith("checkpoint")
    assert (cli_run / "split.json").read_text() == (gui_run / "split.json").read_text()
    for which in ("best", "last"):
        a = load_file(str(cli_run / "checkpoints" / f"{which}.safetensors"))
        b = load_file(str(gui_run / "checkpoints" / f"{which}.safetensors"))
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), (which, name)
        start = load_file(str(active_synthetic_model))
        assert any(not torch.equal(a[n], start[n]) for n in a)  # it did train
    for run in (cli_run, gui_run):  # fine-tuned from a synthetic model on a manifest: site
        assert load_checkpoint(run / "checkpoints" / "best.safetensors").provenance == "site"
