"""The report's content and slice rendering: Qt-free, so plain pytest (no Qt imported)."""

from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pytest

from ichmodel.volume import SeriesMeta, Volume
from ichviewer.report.content import (
    ReportOptions,
    build_report_content,
    choose_key_slices,
)
from ichviewer.report.render import (
    A_SEGMENT_RGB,
    CONTOUR_RGB,
    apply_colormap,
    mask_outline,
    render_slice,
    window_to_unit,
)
from tests.conftest import REPO_ROOT

META = SeriesMeta(
    patient_name="Doe^Jane",
    patient_id="PID-4711",
    patient_birth_date="19500102",
    patient_sex="F",
    study_date="20240131",
    study_time="101500",
    study_description="CT head",
    series_number="3",
    series_description="Axial 5mm",
)


@dataclass(frozen=True)
class FakeABC2:
    a_mm: float = 30.0
    b_mm: float = 20.0
    c_mm: float = 25.0
    volume_ml: float = 7.5
    slice_index: int | None = 4
    a_segment_zyx: tuple | None = ((4, 10, 8), (4, 10, 22))
    b_segment_zyx: tuple | None = ((4, 6, 15), (4, 14, 15))


@dataclass(frozen=True, eq=False)
class FakeMeasurement:
    hematoma_mask: np.ndarray
    hematoma_volume_ml: float = 8.4
    abc2: FakeABC2 = field(default_factory=FakeABC2)
    location: str = "deep"
    location_description: str = "right deep (basal ganglia), best effort"
    ivh: bool = True
    ivh_volume_ml: float = 1.5
    status: str = "hematoma measured"
    warnings: tuple[str, ...] = ("one measurement warning",)


@dataclass(frozen=True, eq=False)
class FakePrediction:
    cam: np.ndarray
    predicted_volume_ml: float = 9.75
    size_mm: float = 26.5
    poor_outcome_probability: float = 0.37
    model_name: str = "demo-resnet34-w16"
    model_sha256: str = "ab" * 32
    device: str = "cpu"
    timings_s: dict = field(default_factory=lambda: {"forward": 0.03, "gradcam": 0.05})
    warnings: tuple[str, ...] = ()


def make_case(n_z: int = 9, n_yx: tuple[int, int] = (30, 40), spacing=(5.0, 0.8, 0.5)):
    """A tiny head-like volume (brain 30 HU in air) with a 60 HU blob centred on slice 4."""
    z, y, x = np.mgrid[0:n_z, 0 : n_yx[0], 0 : n_yx[1]]
    hu = np.full((n_z, *n_yx), -1000.0, dtype=np.float32)
    head = ((y - n_yx[0] / 2) / (n_yx[0] * 0.45)) ** 2 + ((x - n_yx[1] / 2) / (n_yx[1] * 0.45)) ** 2
    hu[head < 1] = 30.0
    blob = ((z - 4) / 2.2) ** 2 + ((y - 10) / 4.0) ** 2 + ((x - 15) / 7.0) ** 2 < 1
    hu[blob] = 65.0
    volume = Volume(
        hu=hu,
        spacing_mm=spacing,
        meta=META,
        warnings=("gantry tilt of 12 degrees corrected",),
    )
    cam = np.exp(-(((z - 4) / 2.0) ** 2 + ((y - 10) / 5.0) ** 2 + ((x - 15) / 6.0) ** 2))
    measurement = FakeMeasurement(hematoma_mask=blob)
    prediction = FakePrediction(cam=cam.astype(np.float32))
    return volume, measurement, prediction


CARD = {
    "name": "demo-resnet34-w16",
    "version": "1",
    "architecture": "ResNet34, base width 16",
    "training_data": "synthetic head-CT phantoms",
    "metrics": {"mae_ml": 1.7, "auc": 0.93},
    "intended_use": "research only",
}


def tiny_model(name: str = "tiny-test", training_data: str = "synthetic head-CT phantoms"):
    """A width-2 ResNet10 on a 16x64x64 input: real predict + Grad-CAM in well under a second."""
    import torch

    from ichmodel.checkpoint import LoadedModel, weights_sha256
    from ichmodel.model_card import ModelCard
    from ichmodel.nets.resnet3d import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig

    torch.manual_seed(0)
    config = NetConfig(depth=10, base_width=2)
    net = ICHNet(config).eval()
    return LoadedModel(
        name=name,
        sha256=weights_sha256(net.state_dict()),
        net=net,
        net_config=config,
        preprocess_config=PreprocessConfig(output_shape=(16, 64, 64)),
        card=ModelCard(name=name, summary="test network", training_data=training_data),
        metrics={"mae_ml": 1.5},
    )


@functools.lru_cache(maxsize=2)
def real_case(seed: int = 3):
    """A phantom (64 px, 5 mm slices, 25 ml deep bleed), its real measurement and prediction."""
    import torch

    from ichmodel.measure import measure
    from ichmodel.phantom import PhantomConfig, make_phantom
    from ichmodel.predict import predict
    from ichmodel.progress import run_to_completion

    torch.set_num_threads(1)
    phantom = make_phantom(
        seed, PhantomConfig(size=64, slice_thickness_mm=5.0, site="deep", volume_ml=25.0)
    )
    volume = phantom.volume.with_warnings("gantry tilt of 12 degrees corrected")
    measurement = measure(volume)
    model = tiny_model()
    prediction = run_to_completion(predict(volume, model, device="cpu"))
    return volume, measurement, prediction, model


def test_real_pipeline_content():
    volume, m, p, model = real_case()
    content = build_report_content(
        volume, m, p, model, ReportOptions(created=datetime(2024, 2, 1, 12, 0))
    )
    assert content.planimetric_volume_ml == pytest.approx(m.hematoma_volume_ml)
    assert content.abc2_volume_ml == pytest.approx(m.abc2.volume_ml)
    assert content.abc2_mm == pytest.approx((m.abc2.a_mm, m.abc2.b_mm, m.abc2.c_mm))
    assert content.model_volume_ml == pytest.approx(p.predicted_volume_ml)
    assert content.poor_outcome_probability == pytest.approx(p.poor_outcome_probability)
    assert m.hematoma_volume_ml > 10  # the phantom's 25 ml bleed was found
    areas = m.hematoma_mask.sum(axis=(1, 2))
    largest = [s for s in content.key_slices if s.is_largest]
    assert len(largest) == 1 and largest[0].index == int(np.argmax(areas))
    assert len(content.key_slices) == 3
    ident = dict(content.identification)
    assert ident["Patient ID"] == volume.meta.patient_id and volume.meta.patient_id
    assert content.synthetic_model  # the card says synthetic phantoms
    assert dict(content.model_card_summary)["Metrics"] == "mae_ml 1.5"  # a LoadedModel works
    assert "gantry tilt of 12 degrees corrected" in content.loader_warnings
    anonymous = build_report_content(volume, m, p, model.card, ReportOptions(anonymize=True))
    assert volume.meta.patient_id not in repr(anonymous)


def test_untrained_model_banner_is_carried():
    from ichmodel.active_model import untrained_model

    volume, m, p, _ = real_case()
    content = build_report_content(volume, m, p, untrained_model().card)
    assert content.synthetic_model
    assert "UNTRAINED" in content.model_banner


def test_content_numbers_identification_and_statements():
    volume, measurement, prediction = make_case()
    options = ReportOptions(created=datetime(2024, 2, 1, 12, 0), app_version="9.9.9")
    content = build_report_content(volume, measurement, prediction, CARD, options)
    assert content.model_volume_ml == pytest.approx(9.75)
    assert content.planimetric_volume_ml == pytest.approx(8.4)
    assert content.abc2_volume_ml == pytest.approx(7.5)
    assert content.abc2_mm == (30.0, 20.0, 25.0)
    assert content.poor_outcome_probability == pytest.approx(0.37)
    values = {label: value for label, value, _ in content.results}
    assert values["Hematoma volume, model (ml)"] == "9.8 ml"
    assert values["Hematoma volume, planimetric (ml)"] == "8.4 ml"
    assert values["Intraventricular hemorrhage"] == "yes (1.5 ml)"
    assert values["Location"] == "deep"
    ident = dict(content.identification)
    assert ident["Patient name"] == "Doe, Jane"
    assert ident["Patient ID"] == "PID-4711"
    assert ident["Birth date"] == "1950-01-02"
    assert content.loader_warnings == ("gantry tilt of 12 degrees corrected",)
    assert "measurement: one measurement warning" in content.analysis_warnings
    assert content.synthetic_model  # card says synthetic phantoms
    assert "research use only" in content.research_statement.lower()
    assert content.created.startswith("2024-02-01 12:00")
    assert dict(content.software)["Application"] == "ICH Viewer 9.9.9"
    summary = dict(content.model_card_summary)
    assert "mae_ml 1.7" in summary["Metrics"]


def test_anonymize_removes_name_id_birth_date():
    volume, measurement, prediction = make_case()
    content = build_report_content(
        volume, measurement, prediction, CARD, ReportOptions(anonymize=True)
    )
    flat = repr(content)
    for secret in ("Doe", "Jane", "PID-4711", "1950"):
        assert secret not in flat
    labels = dict(content.identification)
    assert not {"Patient name", "Patient ID", "Birth date"} & set(labels)
    assert dict(content.identification)["Study"] == "CT head"


def test_missing_results_say_not_available_and_site_model_is_not_flagged():
    volume, _, _ = make_case()
    content = build_report_content(volume, None, None, None)
    values = {label: value for label, value, _ in content.results}
    assert values["Hematoma volume, model (ml)"] == "not available"
    assert values["Poor-outcome probability"] == "not available"
    assert not content.synthetic_model
    site_card = {"name": "site-finetune-2024", "training_data": "St. Elsewhere, 212 cases"}
    _, m, p = make_case()
    p = FakePrediction(cam=p.cam, model_name="site-finetune-2024")
    assert not build_report_content(volume, m, p, site_card).synthetic_model
    forced = build_report_content(volume, m, p, site_card, ReportOptions(synthetic_model=True))
    assert forced.synthetic_model


def test_disagreement_flag():
    volume, m, p = make_case()
    ok = build_report_content(volume, m, p, CARD)
    assert not ok.volumes_disagree
    far = FakePrediction(cam=p.cam, predicted_volume_ml=40.0)
    flagged = build_report_content(volume, m, far, CARD)
    assert flagged.volumes_disagree
    assert any(row[0] == "Volumes disagree" for row in flagged.results)


def test_key_slices_are_largest_area_and_neighbours():
    volume, m, p = make_case(n_z=20, spacing=(2.5, 0.8, 0.5))
    slices, note = choose_key_slices(volume, m.hematoma_mask, None, ReportOptions())
    assert [s.index for s in slices] == [2, 4, 6]  # 5 mm apart on 2.5 mm slices
    assert slices[1].is_largest and "largest" in note
    assert slices[1].hematoma_area_mm2 == pytest.approx(m.hematoma_mask[4].sum() * 0.4)
    assert slices[1].position_mm == pytest.approx(10.0)
    # no mask: centred on the heatmap peak; clipped at the volume's edge
    empty = np.zeros_like(m.hematoma_mask)
    cam = np.zeros(volume.shape, np.float32)
    cam[19, 5, 5] = 1.0
    slices, note = choose_key_slices(volume, empty, cam, ReportOptions())
    assert [s.index for s in slices] == [17, 19] and "heatmap" in note


def test_window_and_colormap():
    assert window_to_unit(np.array([0.0, 40.0, 80.0, 1000.0]), 40, 80).tolist() == [
        0.0,
        0.5,
        1.0,
        1.0,
    ]
    rgb = apply_colormap(np.array([0.0, 1.0]), "inferno")
    assert rgb.shape == (2, 3) and rgb[1].sum() > rgb[0].sum()
    with pytest.raises(ValueError, match="unknown colormap"):
        apply_colormap(np.zeros(2), "nope")
    ring = mask_outline(np.pad(np.ones((5, 5), bool), 2))
    assert ring.sum() == 16


def test_render_true_aspect_contour_heatmap_and_segments():
    volume, m, p = make_case()  # 30 x 40 pixels of 0.8 x 0.5 mm: 24 mm tall, 20 mm wide
    plain = render_slice(volume, 4, max_side_px=240)
    assert plain.rgb.dtype == np.uint8
    assert plain.height_mm == pytest.approx(24.0, abs=0.2)
    assert plain.width_mm == pytest.approx(20.0, abs=0.2)
    assert plain.rgb.shape[0] > plain.rgb.shape[1]
    grey = plain.rgb
    assert np.all(grey[..., 0] == grey[..., 1])  # no overlay: grey
    contoured = render_slice(volume, 4, hematoma_mask=m.hematoma_mask, max_side_px=240)
    assert np.all(contoured.rgb == CONTOUR_RGB, axis=-1).sum() > 20
    none = render_slice(volume, 4, cam=p.cam, heatmap_opacity=0.0, max_side_px=240)
    assert np.array_equal(none.rgb, plain.rgb)
    half = render_slice(volume, 4, cam=p.cam, heatmap_opacity=0.5, max_side_px=240)
    full = render_slice(volume, 4, cam=p.cam, heatmap_opacity=1.0, max_side_px=240)
    d_half = np.abs(half.rgb.astype(int) - plain.rgb).sum()
    d_full = np.abs(full.rgb.astype(int) - plain.rgb).sum()
    assert 0 < d_half < d_full
    a_line = ((m.abc2.a_segment_zyx, A_SEGMENT_RGB),)
    lines = render_slice(volume, 4, segments_zyx=a_line, max_side_px=240)
    assert np.all(lines.rgb == A_SEGMENT_RGB, axis=-1).sum() > 20
    other = render_slice(volume, 2, segments_zyx=a_line, max_side_px=240)
    assert not np.all(other.rgb == A_SEGMENT_RGB, axis=-1).any()
    with pytest.raises(ValueError):
        render_slice(volume, 99)


def test_content_and_render_import_no_qt():
    code = (
        "import sys, ichviewer.report; "
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_head_crop_keeps_aspect_and_overlays_aligned():
    from ichviewer.report.render import head_bbox_yx

    volume, m, p = make_case()  # head ellipse inside a 30 x 40 field, 0.8 x 0.5 mm pixels
    box = head_bbox_yx(volume, margin_mm=0.0)
    rows = np.flatnonzero((volume.hu > -300).any(axis=(0, 2)))
    cols = np.flatnonzero((volume.hu > -300).any(axis=(0, 1)))
    assert box == (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)
    full = render_slice(volume, 4, hematoma_mask=m.hematoma_mask, max_side_px=300)
    cropped = render_slice(volume, 4, hematoma_mask=m.hematoma_mask, max_side_px=300, crop_yx=box)
    assert cropped.height_mm == pytest.approx((box[1] - box[0]) * 0.8, abs=0.2)
    assert cropped.width_mm == pytest.approx((box[3] - box[2]) * 0.5, abs=0.2)

    # the contour sits on the same anatomy: its centre in mm from the box's corner agrees
    def centre_mm(picture, offset_mm):
        rr, cc = np.nonzero(np.all(picture.rgb == CONTOUR_RGB, axis=-1))
        return np.array([rr.mean(), cc.mean()]) * picture.pixel_mm + offset_mm

    assert centre_mm(cropped, np.array([box[0] * 0.8, box[2] * 0.5])) == pytest.approx(
        centre_mm(full, np.zeros(2)), abs=0.5
    )
    empty = Volume(hu=np.full((2, 4, 4), -1000.0, np.float32), spacing_mm=(1.0, 1.0, 1.0))
    assert head_bbox_yx(empty) is None
    with pytest.raises(ValueError, match="outside"):
        render_slice(volume, 4, crop_yx=(0, 99, 0, 5))


def test_a_card_banner_repeating_the_synthetic_statement_is_printed_once():
    volume, m, p, _ = real_case()
    card = {"name": "demo", "training_data": "synthetic phantoms",
            "banner": "Trained on synthetic data - not for clinical use"}
    content = build_report_content(volume, m, p, card)
    assert content.synthetic_model and content.model_banner == ""
    card["banner"] = "Trained on synthetic data only; outcome head is a proxy"
    assert build_report_content(volume, m, p, card).model_banner == card["banner"]
