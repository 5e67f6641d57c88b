"""The trainer dialog, driven without exec(): validation report, defaults, live curves, cancel,
final metrics + ROC, use this model / rollback. A scripted backend keeps these fast; the
manifest validation is the real ``ichmodel.train.manifest``."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ichmodel.errors import ManifestError  # noqa: E402
from ichmodel.progress import Progress  # noqa: E402
from ichmodel.train.config import TrainConfig  # noqa: E402
from ichmodel.train.fine_tune import ActiveModel  # noqa: E402
from ichmodel.train.manifest import RowProblem, read_manifest  # noqa: E402
from ichmodel.train.manifest_build import build_manifest  # noqa: E402
from ichmodel.train.run_files import TrainResult  # noqa: E402
from ichviewer.dialogs.trainer_backend import ModelSwitch, TrainOutcome  # noqa: E402
from ichviewer.dialogs.trainer_data import TrainingCurves, format_eta  # noqa: E402

pytestmark = pytest.mark.timeout(60)


class ScriptedBackend:
    """Yields the loop's event shapes; ``step_s`` slows it down for the cancel test."""

    def __init__(self, epochs_events: int = 3, steps_per_epoch: int = 2, step_s: float = 0.0):
        self.epochs_events = epochs_events
        self.steps_per_epoch = steps_per_epoch
        self.step_s = step_s
        self.requests = []
        self.active = "demo"
        self.closed = threading.Event()
        self.fail_with: Exception | None = None

    def validate(self, manifest, exclude_rows=()):
        return read_manifest(manifest, exclude_rows=exclude_rows)

    def check_studies(self, manifest, exclude_rows, start):
        report = read_manifest(manifest, exclude_rows=exclude_rows)
        yield Progress("cache", 1, 2, "row 2: cached")
        return report.with_load_results(
            [r for r in report.rows if r.row != 4], [RowProblem(4, "study", "does not load: x")]
        )

    def run(self, request):
        self.requests.append(request)
        total = self.epochs_events * self.steps_per_epoch
        step = 0
        try:
            yield Progress("cache", 1, 1, "row 2: cached")
            if self.fail_with is not None:
                raise self.fail_with
            for epoch in range(1, self.epochs_events + 1):
                for _ in range(self.steps_per_epoch):
                    step += 1
                    time.sleep(self.step_s)
                    yield Progress(
                        "train",
                        step,
                        total,
                        f"epoch {epoch} step {step}",
                        {"step": step, "epoch": epoch, "batch_loss": 10.0 / step,
                         "train_loss": 10.0 / step, "eta_s": 2.0 * (total - step)},
                    )  # fmt: skip
                yield Progress(
                    "validate",
                    step,
                    total,
                    f"epoch {epoch}",
                    {"epoch": epoch, "train_loss": 9.0 / epoch, "val_loss": 8.0 / epoch,
                     "val_mae_ml": 5.0 / epoch, "val_auc": 0.6 + 0.1 * epoch, "eta_s": 1.0},
                )  # fmt: skip
        except GeneratorExit:
            self.closed.set()
            raise
        checkpoints = Path(request.run_dir) / "checkpoints"
        result = TrainResult(
            run_dir=Path(request.run_dir), best_checkpoint=checkpoints / "best.safetensors",
            last_checkpoint=checkpoints / "last.safetensors", best_epoch=self.epochs_events,
            best_val_loss=8.0 / self.epochs_events, steps=total, epochs_done=self.epochs_events,
            stopped="completed", elapsed_s=0.1, history=(),
        )
        return TrainOutcome(
            result=result,
            checkpoint=Path(request.run_dir) / "checkpoints" / "best.safetensors",
            metrics={"n_val": 4, "mae_ml": 1.25, "auc": 0.75, "best_epoch": 3},
            roc_fpr=np.array([0.0, 0.5, 1.0]),
            roc_tpr=np.array([0.0, 1.0, 1.0]),
        )

    def use_model(self, outcome):
        self.active = outcome.checkpoint.parent.parent.name
        return ModelSwitch(f"{self.active} is now the active model", outcome.checkpoint)

    def rollback(self):
        self.active = "demo"
        return ModelSwitch("rolled back: the active model is demo", None)

    def active_model_name(self):
        return self.active


def write_manifest(folder: Path, rows: list[str]) -> Path:
    for name in ("a", "b", "c", "d"):
        (folder / name).mkdir(exist_ok=True)
    path = folder / "manifest.csv"
    path.write_text("study,volume_ml,poor_outcome,split\n" + "\n".join(rows) + "\n")
    return path


GOOD_ROWS = ["a,10,0,train", "b,25,1,train", "c,3,0,val", "d,40,1,val"]


@pytest.fixture
def make_dialog(qtbot, tmp_path):
    from ichviewer.dialogs.trainer_dialog import TrainerDialog

    made = []

    def make(backend=None):
        dialog = TrainerDialog(backend=backend or ScriptedBackend(), run_root=tmp_path / "runs")
        qtbot.addWidget(dialog)
        made.append(dialog)
        return dialog

    yield make
    for dialog in made:
        dialog.shutdown()


def test_defaults_are_the_papers(make_dialog):
    dialog = make_dialog()
    form = dialog.form
    assert form.lr_spin.value() == pytest.approx(1e-4)
    assert form.momentum_spin.value() == pytest.approx(0.9)
    assert form.wd_spin.value() == pytest.approx(5e-4)
    assert form.batch_spin.value() == 8
    assert form.epochs_spin.value() == 300
    assert dialog.train_config() == TrainConfig(device="auto")
    assert not dialog.start_button.isEnabled()  # no manifest yet
    form.freeze_check.setChecked(True)
    form.lambda_spin.setValue(2.5)
    form.patience_spin.setValue(5)
    config = dialog.train_config()
    assert config.freeze_encoder and config.outcome_loss_weight == 2.5
    assert config.early_stopping_patience == 5


def test_validation_report_lists_every_bad_row_and_exclusion_unlocks_start(make_dialog, tmp_path):
    dialog = make_dialog()
    manifest = write_manifest(tmp_path, [*GOOD_ROWS, "missing,5,0,", "a,abc,2,"])
    dialog.set_manifest(manifest)
    text = dialog.report_view.toPlainText()
    assert "row 6" in text and "row 7" in text and "does not exist" in text
    assert "'abc' is not a number" in text
    assert not dialog.start_button.isEnabled()
    dialog.exclude_check.setChecked(True)
    assert dialog.start_button.isEnabled()
    assert dialog.request().exclude_rows == (6, 7)
    assert "Excluded rows: 6, 7" in dialog.report_view.toPlainText()


def test_training_run_shows_curves_metrics_roc_then_use_and_rollback(make_dialog, tmp_path):
    backend = ScriptedBackend()
    dialog = make_dialog(backend)
    dialog.set_manifest(write_manifest(tmp_path, GOOD_ROWS))
    assert dialog.start_button.isEnabled()
    dialog.form.epochs_spin.setValue(3)
    job = dialog.start()
    assert job is not None and job.lane == "model"
    assert dialog.running and not dialog.start_button.isEnabled()
    assert dialog.wait_idle(20)
    request = backend.requests[0]
    assert request.config.epochs == 3 and request.start == ActiveModel()
    assert request.provenance == "site"  # the user's own manifest
    series = dialog.plots.series()
    assert len(series["batch"][0]) == 6 and series["batch"][0][-1] == pytest.approx(3.0)
    assert series["val"][1].tolist() == pytest.approx([8.0, 4.0, 8.0 / 3])
    assert series["val_auc"][1].tolist() == pytest.approx([0.7, 0.8, 0.9])
    shown = dialog.metrics_shown()
    assert shown["volume MAE (ml)"] == "1.25" and shown["outcome AUC"] == "0.75"
    x, y = dialog.final_panel.roc.curve.getData()
    assert list(x) == [0.0, 0.5, 1.0]
    assert dialog.eta_label.text().startswith("finished in")
    assert dialog.use_button.isEnabled()
    switched = []
    dialog.sig_use_model.connect(switched.append)
    message = dialog.use_trained_model()
    assert message and request.run_dir.name in dialog.active_label.text()
    assert switched == [request.run_dir / "checkpoints" / "best.safetensors"]
    assert dialog.rollback() and "demo" in dialog.active_label.text()
    assert switched[-1] is None


def test_cancel_stops_the_run_and_offers_resume(make_dialog, tmp_path, qtbot):
    backend = ScriptedBackend(epochs_events=50, steps_per_epoch=10, step_s=0.02)
    dialog = make_dialog(backend)
    dialog.set_manifest(write_manifest(tmp_path, GOOD_ROWS))
    dialog.start()
    qtbot.waitUntil(lambda: len(dialog.curves.step_x) >= 3, timeout=10_000)
    assert "ETA" in dialog.eta_label.text() and "elapsed" in dialog.eta_label.text()
    # the GUI thread stays free while the worker trains
    t0 = time.perf_counter()
    qtbot.wait(50)
    assert time.perf_counter() - t0 < 1.0
    dialog.cancel()
    assert dialog.wait_idle(10)
    assert backend.closed.is_set()  # the generator was closed: the loop saves its state
    assert dialog.outcome is None
    assert "Cancelled" in dialog.status_label.text()
    assert dialog.form.resume_check.isChecked()
    assert dialog.start_button.isEnabled()


def test_refused_run_shows_the_problems_and_they_can_be_excluded(make_dialog, tmp_path):
    backend = ScriptedBackend()
    backend.fail_with = ManifestError(
        "1 study does not load", [RowProblem(3, "study", "does not load: boom")]
    )
    dialog = make_dialog(backend)
    dialog.set_manifest(write_manifest(tmp_path, GOOD_ROWS))
    dialog.start()
    assert dialog.wait_idle(10)
    assert "row 3, column 'study': does not load: boom" in dialog.report_view.toPlainText()
    assert "Training failed" in dialog.status_label.text()
    assert not dialog.start_button.isEnabled()  # refused until fixed or excluded
    dialog.exclude_check.setChecked(True)
    assert dialog.start_button.isEnabled()
    assert dialog.request().exclude_rows == (3,)
    assert "Excluded rows: 3" in dialog.report_view.toPlainText()


def test_study_check_lists_studies_that_do_not_load(make_dialog, tmp_path):
    backend = ScriptedBackend()
    dialog = make_dialog(backend)
    dialog.set_manifest(write_manifest(tmp_path, GOOD_ROWS))
    assert dialog.check_studies() is not None
    assert dialog.wait_idle(10)
    assert "row 4" in dialog.report_view.toPlainText()
    assert "1 study does not load" in dialog.status_label.text()
    assert not dialog.start_button.isEnabled()
    dialog.exclude_check.setChecked(True)
    assert dialog.request().exclude_rows == (4,) and dialog.start_button.isEnabled()


def test_build_manifest_from_folder_and_csv(tmp_path, make_dialog):
    studies = tmp_path / "studies"
    studies.mkdir()
    for name in ("case1", "case2", "case3"):
        (studies / name).mkdir()
    (studies / "case4.zip").write_bytes(b"PK")
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "Case,volume_ml,poor_outcome\ncase1,12,0\ncase2,30,1\ncase4.zip,5,\nghost,1,0\n"
    )
    build = build_manifest(studies, labels)
    assert build.n_rows == 3
    assert build.unmatched_studies == ("case3",) and build.unmatched_labels == ("ghost",)
    assert build.label_problems == (
        RowProblem(5, "case", f"'ghost' names no sub-folder or zip in {studies}"),
    )
    report = read_manifest(build.path)
    assert report.ok and [r.study_text for r in report.rows] == ["case1", "case2", "case4.zip"]
    assert [r.poor_outcome for r in report.rows] == [0, 1, None]
    dialog = make_dialog()
    assert dialog.build_manifest(studies, labels) == build.path
    assert "3 usable case(s)" in dialog.report_view.toPlainText()
    bad = tmp_path / "bad.csv"
    bad.write_text("who,when\nx,y\n")
    with pytest.raises(ManifestError, match="volume_ml"):
        build_manifest(studies, bad)
    assert dialog.build_manifest(studies, bad) is None
    assert "Could not build" in dialog.report_view.toPlainText()


def test_curves_and_eta_formatting():
    curves = TrainingCurves(epochs=2)
    assert curves.add(Progress("train", 1, 4, "", {"step": 1, "epoch": 1, "batch_loss": 3.0}))
    assert curves.step_x == [0.5]
    assert not curves.add(Progress("cache", 1, 2, "row 2"))
    assert curves.add(Progress("validate", 2, 4, "", {"epoch": 1, "val_loss": 2.0}))
    assert curves.val_x == [1.0] and curves.val_auc == []
    assert format_eta(3725) == "1 h 02 min" and format_eta(65) == "1 min 05 s"
    assert format_eta(None) == ""


def _activate_tiny_model(tmp_path):
    """A width-4 ResNet10 on 8x48x48 inputs, registered as the active model: a real run of the
    loop in seconds on CPU, started the way a user's fine-tune starts."""
    import torch

    from ichmodel import registry
    from ichmodel.checkpoint import save_checkpoint
    from ichmodel.nets.resnet3d import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig

    torch.manual_seed(0)
    config = NetConfig(depth=10, base_width=4)
    path = save_checkpoint(tmp_path / "tiny.safetensors", ICHNet(config), net_config=config,
                           preprocess_config=PreprocessConfig(output_shape=(8, 48, 48)),
                           card={"name": "tiny", "provenance": "synthetic"})
    registry.register_model(path, "tiny", activate=True)


def test_real_backend_trains_registers_and_rolls_back(make_dialog, tmp_path, monkeypatch):
    """Phantom DICOM studies + a label CSV → manifest → cache → loop → evaluate → registry."""
    import torch

    from ichmodel import registry
    from ichmodel.io.write import write_dicom_series
    from ichmodel.phantom import PhantomConfig, make_phantom
    from ichviewer.dialogs.trainer_backend import IchmodelBackend

    torch.set_num_threads(1)
    monkeypatch.setenv(registry.ENV_DATA_DIR, str(tmp_path / "data"))
    studies = tmp_path / "studies"
    lines = ["case,volume_ml,poor_outcome,split"]
    plan = [(11, "deep", 8.0, "train"), (12, "lobar", 40.0, "train"),
            (13, "deep", 35.0, "val"), (14, "lobar", 6.0, "val")]  # fmt: skip
    for seed, site, ml, split in plan:
        phantom = make_phantom(
            seed, PhantomConfig(size=48, slice_thickness_mm=5.0, site=site, volume_ml=ml)
        )
        write_dicom_series(phantom.volume, studies / f"case{seed}")
        lines.append(f"case{seed},{phantom.hematoma_volume_ml:.2f},{phantom.poor_outcome},{split}")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(lines) + "\n")

    _activate_tiny_model(tmp_path)
    dialog = make_dialog(IchmodelBackend())
    assert dialog.active_label.text().endswith("tiny")
    assert dialog.build_manifest(studies, labels) is not None
    assert dialog.report.ok and len(dialog.report.rows) == 4
    form = dialog.form
    form.epochs_spin.setValue(2)
    form.batch_spin.setValue(2)
    form.device_combo.setCurrentText("cpu")
    # fp32: CPU bf16 autocast + channels_last_3d gives non-deterministic, sometimes non-finite
    # gradients with torch 2.13 here (measured; reported to the training/model engineers)
    form.precision_combo.setCurrentText("fp32")
    form.run_edit.setText(str(tmp_path / "run1"))
    assert dialog.start() is not None
    assert dialog.wait_idle(120), dialog.status_label.text()
    assert dialog.outcome is not None, dialog.last_error
    shown = dialog.metrics_shown()
    assert shown["validation cases"] == "2" and shown["epochs run"] == "2"
    assert "volume MAE (ml)" in shown and "scoring error" not in shown
    series = dialog.plots.series()
    assert len(series["val"][0]) == 2 and len(series["batch"][0]) == 2  # 1 step x 2 epochs
    assert (tmp_path / "run1" / "checkpoints" / "best.safetensors").is_file()
    assert dialog.form.run_edit.text() == ""  # the next run gets a new folder ...

    # ... unless the user continues this one: the run's own configs, more epochs
    form.run_edit.setText(str(tmp_path / "run1"))
    form.resume_check.setChecked(True)
    form.epochs_spin.setValue(3)
    form.lambda_spin.setValue(7.0)  # not resumable: the saved run's value is kept
    assert dialog.start() is not None and dialog.wait_idle(120), dialog.status_label.text()
    assert dialog.outcome is not None, dialog.last_error
    assert dialog.metrics_shown()["epochs run"] == "3"
    assert len(dialog.plots.series()["val"][0]) == 1  # only the new epoch was trained
    saved = json.loads((tmp_path / "run1" / "config.json").read_text())
    assert saved["train"]["epochs"] == 3 and saved["train"]["outcome_loss_weight"] == 1.0

    switched = []
    dialog.sig_use_model.connect(switched.append)
    assert dialog.use_trained_model()
    assert registry.active_name() == "finetune-run1"
    from ichmodel.checkpoint import load_checkpoint

    # fine-tuned from a synthetic model on the user's manifest: a site model
    assert load_checkpoint(registry.active_model_path()).provenance == "site"
    assert switched and switched[0] == registry.active_model_path()
    assert dialog.rollback()
    assert registry.active_name() == "demo"


def test_open_for_reuses_the_dialog_and_a_hidden_run_keeps_going(qtbot, tmp_path):
    from PySide6.QtWidgets import QWidget

    from ichviewer.dialogs.trainer_dialog import TrainerDialog

    window = QWidget()
    qtbot.addWidget(window)
    backend = ScriptedBackend(epochs_events=40, steps_per_epoch=10, step_s=0.01)
    dialog = TrainerDialog(window, backend=backend, run_root=tmp_path / "runs")
    try:
        assert TrainerDialog.open_for(window) is dialog
        dialog.set_manifest(write_manifest(tmp_path, GOOD_ROWS))
        dialog.start()
        qtbot.waitUntil(lambda: len(dialog.curves.step_x) >= 2, timeout=10_000)
        dialog.close()  # hides; the run goes on
        n = len(dialog.curves.step_x)
        qtbot.waitUntil(lambda: len(dialog.curves.step_x) > n + 2, timeout=10_000)
        assert dialog.running
        assert TrainerDialog.open_for(window) is dialog and dialog.isVisible()
        dialog.cancel()
        assert dialog.wait_idle(10)
        dialog.close()  # idle: its threads stop ...
        assert dialog._shut_down
        fresh = TrainerDialog.open_for(window)
        assert fresh is not dialog  # ... and Tools → Fine-tune makes a new one
        fresh.shutdown()
        dialog.show()  # a kept reference still works: start() makes new threads
        dialog.form.resume_check.setChecked(False)
        backend.step_s = 0.0
        assert dialog.start() is not None and dialog.wait_idle(20)
    finally:
        dialog.shutdown()
