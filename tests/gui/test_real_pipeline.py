"""The window on the real ichmodel pipeline: a phantom written as DICOM, scanned, loaded,
measured and run through a tiny untrained net; the report exported; the smoke-test CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def phantom_study(tmp_path_factory):
    import ichmodel.io.write as write
    import ichmodel.phantom as phantom_mod

    config = phantom_mod.PhantomConfig(
        size=96, slice_thickness_mm=5.0, site="lobar", volume_ml=20.0, ivh=False
    )
    phantom = phantom_mod.make_phantom(3, config)
    folder = tmp_path_factory.mktemp("phantom_dicom")
    write.write_dicom_series(phantom.volume, folder)
    return folder, phantom


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny untrained ResNet10 (width 4) on a 16×64×64 grid: inference in well under 1 s."""
    import torch

    import ichmodel.checkpoint as checkpoint
    from ichmodel.model_card import ModelCard, Provenance
    from ichmodel.nets.resnet3d import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig

    torch.manual_seed(0)
    torch.set_num_threads(1)
    net_config = NetConfig(depth=10, base_width=4)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    checkpoint.save_checkpoint(
        path,
        ICHNet(net_config).eval(),
        net_config=net_config,
        preprocess_config=PreprocessConfig(output_shape=(16, 64, 64)),
        card=ModelCard(
            name="tiny-test",
            training_data="none: random weights",
            banner="untrained test network — not for clinical use",
            provenance=Provenance.UNTRAINED,
        ),
    )
    return path


def test_open_real_study_shows_slice_and_all_results(
    qtbot, window, phantom_study, tiny_model, tmp_path
):
    folder, phantom = phantom_study
    window.use_model(tiny_model)
    with qtbot.waitSignal(window.controller.sig_ready, timeout=120_000):
        window.open_path(folder)
    study = window.controller.study
    view = window.slice_view
    assert view.volume is not None and view.volume.shape == phantom.volume.shape
    assert view.ct_item.image.shape == phantom.volume.shape[1:]
    m, p = study.measurement, study.prediction
    assert m.hematoma_volume_ml == pytest.approx(phantom.hematoma_volume_ml, rel=0.35)
    assert p.cam is not None and p.cam.shape == view.volume.shape
    assert window.results.model_volume.text() == f"{p.predicted_volume_ml:.1f} ml"
    assert window.results.planimetric_volume.text() == f"{m.hematoma_volume_ml:.1f} ml"
    assert "not for clinical use" in window.results.banner.text()
    assert window.results.banner.isVisibleTo(window.results)
    assert window.model.name == "tiny-test"
    window.jump_to_largest()
    assert view.contour_item.isVisible()
    assert study.milestones_s["first_slice"] < study.milestones_s["results"]

    # live HU range: the fast path re-measures
    with qtbot.waitSignal(window.controller.sig_measurement, timeout=30_000):
        window.results.hu_high.setValue(70)
    assert study.measurement.params.hu_max == 70.0

    # the report holds the volumes
    out = window.export_report(tmp_path / "report.pdf")
    assert out is not None and out.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert f"{study.measurement.hematoma_volume_ml:.1f}" in text
        assert f"{p.predicted_volume_ml:.1f}" in text


def test_a_folder_without_dicom_shows_the_real_error(qtbot, window, tmp_path):
    (tmp_path / "notes.txt").write_text("not a scan")
    with qtbot.waitSignal(window.sig_error_shown, timeout=30_000) as blocker:
        window.open_path(tmp_path)
    dialog = blocker.args[0]
    assert dialog.title == "Could not open the study"
    assert "bug" not in dialog.message  # a known input problem, said plainly
    dialog.accept()


def test_smoke_test_cli_writes_the_report(phantom_study, tiny_model, tmp_path, capsys):
    from ichviewer.__main__ import main

    folder, _ = phantom_study
    out = tmp_path / "smoke.pdf"
    shot = tmp_path / "shot.png"
    rc = main(
        [
            "--smoke-test",
            str(folder),
            "--report-out",
            str(out),
            "--model",
            str(tiny_model),
            "--screenshot",
            str(shot),
            "--timeout",
            "150",
        ]
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    assert printed[-1] == str(out)
    assert out.read_bytes().startswith(b"%PDF")
    assert shot.stat().st_size > 10_000
    # the midline shift, measured after the results, is waited for and in the report
    import subprocess

    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    assert "Midline shift" in text


def test_smoke_test_cli_fails_on_a_bad_folder(tmp_path, capsys):
    from ichviewer.__main__ import main

    rc = main(
        ["--smoke-test", str(tmp_path), "--report-out", str(tmp_path / "x.pdf"), "--timeout", "60"]
    )
    assert rc == 1
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()


def test_cam_is_on_the_volume_grid(qtbot, window, phantom_study, tiny_model):
    folder, _ = phantom_study
    window.use_model(tiny_model)
    with qtbot.waitSignal(window.controller.sig_ready, timeout=120_000):
        window.open_path(folder)
    cam = window.controller.study.prediction.cam
    assert cam.dtype == np.float32 and 0.0 <= cam.min() and cam.max() <= 1.0
    with qtbot.waitSignal(window.controller.sig_prediction, timeout=60_000):
        window.results.cam_head.setCurrentIndex(1)
    assert set(window.controller.study.cams) == {"volume", "prognosis"}
    assert Path(window.model.path).name == "tiny.safetensors"


@pytest.mark.parametrize("kind", ["zip", "files"])
def test_dropping_a_zip_or_loose_files_opens_the_study(
    qtbot, window, phantom_study, tmp_path, tiny_model, kind
):
    import zipfile

    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    folder, phantom = phantom_study
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if kind == "zip":
        archive = tmp_path / "study.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for path in files:
                zf.write(path, f"CT/{path.name}")
        urls = [QUrl.fromLocalFile(str(archive))]
    else:
        urls = [QUrl.fromLocalFile(str(p)) for p in files]
    mime = QMimeData()
    mime.setUrls(urls)
    event = QDropEvent(
        QPointF(300, 300),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.use_model(tiny_model)
    with qtbot.waitSignal(window.controller.sig_volume, timeout=60_000):
        window.dropEvent(event)
    assert window.slice_view.volume.shape == phantom.volume.shape
    qtbot.waitUntil(lambda: not window.controller.runner.busy, timeout=60_000)


def test_provenance_decides_the_banner_not_names_or_card_text(
    qtbot, window, phantom_study, tmp_path, monkeypatch
):
    """A registered site model named "demo…" whose card mentions a phantom shows no synthetic
    banner in the window or the PDF; the bundled demo (provenance synthetic) still does."""
    import torch

    from ichmodel import registry, resources
    from ichmodel.checkpoint import save_checkpoint
    from ichmodel.model_card import ModelCard, Provenance
    from ichmodel.nets.resnet3d import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig

    monkeypatch.setenv(registry.ENV_DATA_DIR, str(tmp_path / "data"))
    torch.manual_seed(0)
    net_config = NetConfig(depth=10, base_width=2)
    card = ModelCard(name="demography-adjusted-demo", summary="QA against a water phantom",
                     training_data="212 cases of our stroke unit", provenance=Provenance.SITE)
    path = save_checkpoint(tmp_path / "site.safetensors", ICHNet(net_config).eval(),
                           net_config=net_config,
                           preprocess_config=PreprocessConfig(output_shape=(16, 64, 64)),
                           card=card)
    entry = registry.register_model(path, "demo-site", activate=True)
    folder, _ = phantom_study
    window.use_model(None)  # the registry's active model
    with qtbot.waitSignal(window.controller.sig_ready, timeout=120_000):
        window.open_path(folder)
    assert window.model.path == entry.path and window.model.provenance == "site"
    assert not window.results.banner.isVisibleTo(window.results)
    out = window.export_report(tmp_path / "site.pdf")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "demography-adjusted-demo" in text
        assert "Trained on synthetic data" not in text

    with qtbot.waitSignal(window.controller.sig_prediction, timeout=120_000):
        window.use_model(resources.demo_model_path())
    assert window.model.provenance == "synthetic"
    assert window.results.banner.isVisibleTo(window.results)
    assert "Trained on synthetic data" in window.results.banner.text()
