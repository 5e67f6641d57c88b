"""predict(): progress, cancel, the CAM on the Volume grid, threads, device plans, and the
``ichmodel predict`` CLI on a synthetic DICOM series and on dcm_qa_ct."""

from __future__ import annotations

import json
import sys
import threading
import types

import numpy as np
import pytest
import torch

import ichmodel.predict as predict_module
from ichmodel.checkpoint import LoadedModel, save_checkpoint
from ichmodel.cli import main
from ichmodel.device import PROBABILITY_ATOL, SIZE_MM_RTOL, plan_for
from ichmodel.errors import InputError
from ichmodel.model_card import ModelCard
from ichmodel.nets import ICHNet, NetConfig
from ichmodel.predict import Prediction, predict
from ichmodel.preprocess import PreprocessConfig
from ichmodel.progress import run_to_completion
from ichmodel.volume import Volume
from tests.model.test_gradcam import BRIGHT_CONFIG, brightness_net

torch.set_num_threads(1)
PRE = PreprocessConfig(output_shape=(16, 64, 64))
BLOB_CENTRE = (9, 34, 62)


def _study(blob_centre=BLOB_CENTRE) -> tuple[Volume, np.ndarray]:
    shape = (18, 96, 96)
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]

    def ellipsoid(c, r):
        return ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 < 1

    hu = np.full(shape, -1000.0, np.float32)
    hu[ellipsoid((9, 48, 48), (8, 40, 36))] = 30.0
    blob = ellipsoid(blob_centre, (3, 9, 9))
    hu[blob] = 75.0
    volume = Volume(hu=hu, spacing_mm=(5.0, 0.9, 0.9), origin_mm=(-40.0, -45.0, 10.0))
    return volume, blob


def _model(net: ICHNet | None = None, config: NetConfig = BRIGHT_CONFIG) -> LoadedModel:
    return LoadedModel(
        name="bright",
        sha256="0" * 64,
        net=net if net is not None else brightness_net(),
        net_config=config,
        preprocess_config=PRE,
        card=ModelCard(name="bright", banner="test model"),
    )


def test_predict_yields_stages_and_returns_a_prediction_on_the_volume_grid():
    volume, _ = _study()
    gen = predict(volume, _model(), device="cpu")
    events = []
    result = run_to_completion(gen, events.append)
    assert [e.stage for e in events] == ["preprocess", "forward", "explain", "done"]
    assert events[-1].fraction == 1.0
    assert isinstance(result, Prediction)
    assert result.cam.shape == volume.shape and result.cam.dtype == np.float32
    assert float(result.cam.min()) >= 0.0 and float(result.cam.max()) == pytest.approx(1.0)
    assert result.predicted_volume_ml == pytest.approx(result.size_mm**3 / 1000)
    assert 0.0 <= result.poor_outcome_probability <= 1.0
    assert set(result.timings_s) == {"prepare_model", "preprocess", "forward", "explain", "total"}
    assert result.model_name == "bright" and result.device.startswith("cpu")
    assert any("test model" in w for w in result.warnings)
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["model"] == {"name": "bright", "sha256": "0" * 64}


@pytest.mark.parametrize("layer", ["layer4", "layer3"])
@pytest.mark.parametrize("head", ["volume", "prognosis"])
def test_cam_lands_on_the_bright_region_of_the_study(layer, head):
    from ichmodel.gradcam import capture_activation
    from ichmodel.preprocess import preprocess

    net = brightness_net()
    for centre in (BLOB_CENTRE, (10, 64, 34)):
        volume, blob = _study(centre)
        result = run_to_completion(predict(volume, _model(net), cam_head=head, cam_layer=layer))
        # one feature cell of the target layer, in mm: the map's resolution
        model_input = preprocess(volume, PRE)
        with capture_activation(net, layer) as cap, torch.no_grad():
            net(model_input.tensor())
        cell_mm = (
            np.array(model_input.crop_shape)
            * np.array(volume.spacing_mm)
            / np.array(cap.activation.shape[2:])
        )
        peak = np.unravel_index(int(np.argmax(result.cam)), volume.shape)
        distance = np.abs(np.array(peak) - np.array(centre)) * np.array(volume.spacing_mm)
        assert (distance <= cell_mm).all(), (centre, peak, cell_mm)
        assert result.cam[blob].mean() > 2 * result.cam[~blob & (volume.hu > 0)].mean()


def test_cancel_stops_before_the_forward(monkeypatch):
    calls = []
    original = predict_module.Predictor.forward
    monkeypatch.setattr(
        predict_module.Predictor,
        "forward",
        lambda self, *a, **k: calls.append(1) or original(self, *a, **k),
    )
    volume, _ = _study()
    gen = predict(volume, _model())
    assert next(gen).stage == "preprocess"
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)
    assert calls == []
    gen = predict(volume, _model())
    assert [next(gen).stage, next(gen).stage] == ["preprocess", "forward"]
    gen.close()  # cancel before Grad-CAM
    assert len(calls) == 0  # the forward runs after the "forward" event, on the next step


def test_without_a_model_the_untrained_one_is_used_and_says_so(tmp_path, monkeypatch):
    import ichmodel.resources

    monkeypatch.setattr(ichmodel.resources, "demo_model_path", lambda: tmp_path / "none")
    registry = types.ModuleType("ichmodel.registry")
    registry.active_model_path = lambda: None
    monkeypatch.setitem(sys.modules, "ichmodel.registry", registry)
    volume, _ = _study()
    result = run_to_completion(predict(volume, cam_head=None))
    assert result.model_name == "untrained" and result.cam is None
    assert "UNTRAINED" in result.warnings[0]


def test_runs_in_a_worker_thread_whatever_the_callers_grad_mode():
    volume, _ = _study()
    out: dict = {}

    def work():
        with torch.no_grad():
            out["p"] = run_to_completion(predict(volume, _model(), cam_layer="layer3"))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert out["p"].cam.max() == pytest.approx(1.0)


def test_negative_evidence_gives_an_empty_cam_with_a_warning():
    net = brightness_net()
    with torch.no_grad():
        net.volume_head.fc.weight.mul_(-1.0)
    volume, _ = _study()
    result = run_to_completion(predict(volume, _model(net)))
    assert not result.cam.any()
    assert any("Grad-CAM of the volume head is empty" in w for w in result.warnings)


def test_reduced_precision_stays_within_the_documented_tolerance():
    torch.manual_seed(3)
    config = NetConfig(depth=18, base_width=8)
    net = ICHNet(config).eval()
    volume, _ = _study()
    model = _model(net, config)
    fp32 = run_to_completion(predict(volume, model, precision="fp32", cam_head=None))
    bf16 = run_to_completion(predict(volume, model, precision="bf16", cam_head=None))
    assert "fp32" in fp32.device and "bf16" in bf16.device
    assert bf16.size_mm == pytest.approx(fp32.size_mm, rel=SIZE_MM_RTOL)
    assert abs(bf16.poor_outcome_probability - fp32.poor_outcome_probability) <= PROBABILITY_ATOL


def test_bad_arguments_are_refused():
    volume, _ = _study()
    with pytest.raises(ValueError, match="cam_head"):
        next(predict(volume, _model(), cam_head="mortality"))
    with pytest.raises(ValueError, match="cam_layer"):
        next(predict(volume, _model(), cam_layer="stem"))
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            plan_for("cuda")
    with pytest.raises(InputError):
        plan_for("tpu")


# --- CLI ------------------------------------------------------------------------------------
@pytest.fixture()
def dicom_study(tmp_path):
    from ichmodel.io.write import write_dicom_series

    volume, _ = _study()
    folder = tmp_path / "study"
    write_dicom_series(volume, folder)
    return folder


@pytest.fixture()
def checkpoint_file(tmp_path):
    return save_checkpoint(
        tmp_path / "bright.safetensors",
        brightness_net(),
        net_config=BRIGHT_CONFIG,
        preprocess_config=PRE,
        card=ModelCard(name="bright", banner="test model"),
    )


def test_cli_json_and_cam_nifti_on_the_load_grid(dicom_study, checkpoint_file, tmp_path, capsys):
    import SimpleITK as sitk

    cam_path = tmp_path / "cam.nii.gz"
    rc = main(
        ["predict", str(dicom_study), "--checkpoint", str(checkpoint_file), "--json",
         "--cam-out", str(cam_path), "--cam-head", "prognosis"]
    )  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("predicted_volume_ml", "poor_outcome_probability", "device", "timings_s"):
        assert key in out
    assert out["model"]["name"] == "bright" and len(out["model"]["sha256"]) == 64
    assert out["cam_head"] == "prognosis" and isinstance(out["warnings"], list)
    hu_path = tmp_path / "hu.nii.gz"
    assert main(["load", str(dicom_study), "--nifti-out", str(hu_path), "--json"]) == 0
    cam, hu = sitk.ReadImage(str(cam_path)), sitk.ReadImage(str(hu_path))
    assert cam.GetSize() == hu.GetSize()
    np.testing.assert_allclose(cam.GetSpacing(), hu.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(cam.GetOrigin(), hu.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(cam.GetDirection(), hu.GetDirection(), atol=1e-6)
    arr = sitk.GetArrayFromImage(cam)
    assert 0.0 <= arr.min() and arr.max() == pytest.approx(1.0)


def test_cli_table_output(dicom_study, checkpoint_file, capsys):
    assert main(["predict", str(dicom_study), "--checkpoint", str(checkpoint_file)]) == 0
    text = capsys.readouterr().out
    assert "predicted volume" in text and "warning: model 'bright': test model" in text


def test_cli_refuses_pickle_checkpoints_and_missing_cuda(dicom_study, tmp_path, capsys):
    pt = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(1)}, pt)
    assert main(["predict", str(dicom_study), "--checkpoint", str(pt)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "pickle" in err and "Traceback" not in err
    if not torch.cuda.is_available():
        assert main(["predict", str(dicom_study), "--device", "cuda"]) == 3
        assert "CUDA" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nothing-here")]) == 3


def test_prepare_warms_up_and_is_reused_by_predict():
    model = _model()
    predictor = predict_module.prepare(model, "cpu")
    volume, _ = _study()
    gen = predict(volume, model, device="cpu")
    next(gen)
    next(gen)
    assert predict_module.get_predictor(model, "cpu") is predictor
    gen.close()


def test_cli_on_the_bundled_sample_study(checkpoint_file, capsys):
    from ichmodel.resources import sample_study_dir

    if not sample_study_dir().is_dir():
        pytest.skip("no bundled sample study yet")
    assert main(["predict", str(sample_study_dir()), "--checkpoint", str(checkpoint_file),
                 "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["model"]["name"] == "bright"


@pytest.mark.shared
def test_cli_on_dcm_qa_ct(dcm_qa_ct, checkpoint_file, capsys):
    rc = main(["predict", str(dcm_qa_ct / "In" / "GE"), "--checkpoint", str(checkpoint_file),
               "--json", "--cam-layer", "layer3"])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predicted_volume_ml"] >= 0 and any("tilt" in w for w in out["warnings"])


def test_flip_sets_list_every_combination_identity_first():
    from ichmodel.flip_axes import flip_sets

    assert flip_sets(()) == [()]
    assert flip_sets(("z", "y")) == [(), (-3,), (-2,), (-3, -2)]


def test_flip_averaged_cam_mirrors_with_the_study_and_keeps_the_plain_outputs():
    """Averaged over a flip group, the map is equivariant: the map of a mirrored study is the
    mirrored map (a map not flipped back, or flipped twice, would not be)."""

    torch.manual_seed(1)
    net = ICHNet(NetConfig(base_width=2, stage_z_strides=(1, 2, 1, 1))).eval()
    plain = _model(net, net.config)
    volume, _ = _study((7, 30, 40))
    a = run_to_completion(predict(volume, plain, device="cpu", cam_flip_axes=("y", "z")))
    mirrored = Volume(hu=np.ascontiguousarray(volume.hu[::-1, ::-1]), spacing_mm=volume.spacing_mm)
    b = run_to_completion(predict(mirrored, plain, device="cpu", cam_flip_axes=("z", "y")))
    assert a.cam.any() and a.cam_flip_axes == ("z", "y")
    np.testing.assert_allclose(b.cam[::-1, ::-1], a.cam, atol=1e-4)
    ref = run_to_completion(predict(volume, plain, device="cpu"))
    assert ref.cam_flip_axes == () and not np.allclose(ref.cam, a.cam, atol=1e-3)
    assert a.size_mm == pytest.approx(ref.size_mm, rel=1e-5)  # the volume is the plain input's
    assert a.to_dict()["cam_flip_axes"] == ["z", "y"]
