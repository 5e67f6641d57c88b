"""The report's content and slice rendering: Qt-free, so plain pytest (no Qt imported)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, replace
from datetime import datetime

import numpy as np
import pytest

from ichmodel.model_card import Provenance
from ichmodel.progress import run_to_completion
from ichmodel.reading import (
    ModelIdentity,
    StudyReading,
    choose_key_slices,
    predict_reading,
    rules,
)
from ichmodel.volume import SeriesMeta, Volume
from ichviewer.report.content import ReportOptions, build_report_content
from ichviewer.report.render import (
    A_SEGMENT_RGB,
    CONTOUR_RGB,
    IVH_RGB,
    apply_colormap,
    mask_outline,
    render_slice,
    window_to_unit,
)
from tests.conftest import REPO_ROOT
from tests.readings import phantom_reading, tiny_model, with_model_volume

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


def make_case(n_z: int = 9, n_yx: tuple[int, int] = (30, 40), spacing=(5.0, 0.8, 0.5)):
    """A tiny head-like volume (brain 30 HU in air) with a 60 HU blob centred on slice 4."""
    z, y, x = np.mgrid[0:n_z, 0 : n_yx[0], 0 : n_yx[1]]
    hu = np.full((n_z, *n_yx), -1000.0, dtype=np.float32)
    head = ((y - n_yx[0] / 2) / (n_yx[0] * 0.45)) ** 2 + ((x - n_yx[1] / 2) / (n_yx[1] * 0.45)) ** 2
    hu[head < 1] = 30.0
    blob = ((z - 4) / 2.2) ** 2 + ((y - 10) / 4.0) ** 2 + ((x - 15) / 7.0) ** 2 < 1
    hu[blob] = 65.0
    volume = Volume(hu=hu, spacing_mm=spacing, meta=META)
    cam = np.exp(-(((z - 4) / 2.0) ** 2 + ((y - 10) / 5.0) ** 2 + ((x - 15) / 6.0) ** 2))
    return volume, blob, cam.astype(np.float32)


#: The A diameter of make_case's blob on its slice 4, (z, y, x) voxel coordinates.
A_SEGMENT = ((4, 10, 8), (4, 10, 22))


def _content(reading, **options):
    return build_report_content(reading, ReportOptions(**options))


def test_real_pipeline_content():
    reading = phantom_reading()
    m, p = reading.measurement, reading.prediction
    content = _content(reading, created=datetime(2024, 2, 1, 12, 0), app_version="9.9.9")
    assert content.planimetric_volume_ml == pytest.approx(m.hematoma_volume_ml)
    assert content.abc2_volume_ml == pytest.approx(m.abc2.volume_ml)
    assert content.abc2_mm == pytest.approx((m.abc2.a_mm, m.abc2.b_mm, m.abc2.c_mm))
    assert content.model_volume_ml == pytest.approx(p.predicted_volume_ml)
    assert content.poor_outcome_probability == pytest.approx(p.poor_outcome_probability)
    assert m.hematoma_volume_ml > 10  # the phantom's 25 ml bleed was found
    largest = [s for s in content.key_slices if s.is_largest]
    assert len(largest) == 1 and largest[0].index == reading.largest_hematoma_slice
    assert largest[0].index == m.abc2.slice_index  # the one rule: ABC/2's slice
    assert len(content.key_slices) == 3
    values = {label: value for label, value, _ in content.results}
    assert values["Hematoma volume, planimetric (ml)"] == f"{m.hematoma_volume_ml:.1f} ml"
    assert values["Hematoma volume, model (ml)"] == f"{p.predicted_volume_ml:.1f} ml"
    assert values["Location"] == m.location == "deep"
    assert values["Intraventricular hemorrhage"] in ("no", f"yes ({m.ivh_volume_ml:.1f} ml)")
    assert content.synthetic_model  # its recorded provenance
    assert content.provenance_statement == Provenance.SYNTHETIC.banner
    assert dict(content.model_card_summary)["Metrics"] == "mae_ml 1.5"
    assert dict(content.model_card_summary)["Provenance"] == "synthetic"
    assert "gantry tilt of 12 degrees corrected" in content.loader_warnings
    assert dict(content.software)["Application"] == "ICH Viewer 9.9.9"
    assert content.created.startswith("2024-02-01 12:00")
    assert "research use only" in content.research_statement.lower()


def test_identification_and_anonymize():
    reading = phantom_reading()
    meta = replace(reading.volume.meta, **{f.name: getattr(META, f.name)
                                           for f in fields(META) if getattr(META, f.name)})
    named = replace(reading, volume=replace(reading.volume, meta=meta))
    ident = dict(_content(named).identification)
    assert ident["Patient name"] == "Doe, Jane"
    assert ident["Patient ID"] == "PID-4711"
    assert ident["Birth date"] == "1950-01-02"
    anonymous = _content(named, anonymize=True)
    flat = repr(anonymous)
    for secret in ("Doe", "Jane", "PID-4711", "1950"):
        assert secret not in flat
    labels = dict(anonymous.identification)
    assert not {"Patient name", "Patient ID", "Birth date"} & set(labels)
    assert labels["Study"] == "CT head"


def test_untrained_model_banner_is_carried():
    reading = phantom_reading(provenance=Provenance.UNTRAINED)
    content = _content(reading)
    assert content.synthetic_model
    assert "UNTRAINED" in content.provenance_statement


def test_provenance_not_names_or_card_text_decides_synthetic():
    """A site model whose card mentions phantoms and whose name says demo is a site model."""
    reading = phantom_reading()
    site = tiny_model("demography-adjusted-demo", provenance=Provenance.SITE,
                      summary="QA against a water phantom", training_data="212 site cases")
    prediction = run_to_completion(predict_reading(reading, site, device="cpu"))
    as_site = reading.with_prediction(prediction, ModelIdentity.of(site))
    content = _content(as_site)
    assert not content.synthetic_model and content.provenance_statement == ""
    said = content.analysis_warnings + content.software + content.model_card_summary
    assert "synthetic" not in repr(said).lower()  # (the phantom patient's name says it)


def test_missing_results_say_not_available():
    volume, _, _ = make_case()
    content = _content(StudyReading(volume=volume))
    values = {label: value for label, value, _ in content.results}
    assert values["Hematoma volume, model (ml)"] == "not available"
    assert values["Poor-outcome probability"] == "not available"
    assert values["Location"] == "not available"
    assert not content.synthetic_model and not content.provenance_statement


def test_disagreement_flag():
    reading = phantom_reading()
    m = reading.measurement
    agreeing = with_model_volume(reading, m.hematoma_volume_ml)
    assert agreeing.volumes_disagree == rules.volumes_disagree(
        (m.hematoma_volume_ml, m.abc2.volume_ml)
    )
    far = with_model_volume(reading, m.hematoma_volume_ml + 40.0)
    flagged = _content(far)
    assert flagged.volumes_disagree and far.volumes_disagree
    assert any(row[0] == "Volumes disagree" for row in flagged.results)
    assert any(n.code == "reading.volumes_disagree" for n in far.notices)


def test_volumes_disagree_rule_needs_both_limits():
    assert not rules.volumes_disagree([80.0, 86.0])  # 6 ml but only 7 %
    assert not rules.volumes_disagree([2.0, 6.0])  # 200 % but only 4 ml
    assert rules.volumes_disagree([10.0, 16.0, None])
    assert not rules.volumes_disagree([10.0, None])


def test_key_slices_are_largest_area_and_neighbours():
    volume, mask, _ = make_case(n_z=20, spacing=(2.5, 0.8, 0.5))
    slices, note = choose_key_slices(volume, mask, None, neighbour_spacing_mm=5.0)
    assert [s.index for s in slices] == [2, 4, 6]  # 5 mm apart on 2.5 mm slices
    assert slices[1].is_largest and "largest" in note
    assert slices[1].hematoma_area_mm2 == pytest.approx(mask[4].sum() * 0.4)
    assert slices[1].position_mm == pytest.approx(10.0)
    # no mask: centred on the heatmap peak; clipped at the volume's edge
    empty = np.zeros_like(mask)
    cam = np.zeros(volume.shape, np.float32)
    cam[19, 5, 5] = 1.0
    slices, note = choose_key_slices(volume, empty, cam)
    assert [s.index for s in slices] == [17, 19] and "heatmap" in note
    # no hematoma but intraventricular blood: centred on it, before the heatmap
    ivh = np.zeros_like(mask)
    ivh[8, 3:6, 3:6] = True
    slices, note = choose_key_slices(volume, empty, cam, ivh_mask=ivh)
    assert [s.index for s in slices] == [6, 8, 10] and "intraventricular" in note
    assert not any(s.is_largest for s in slices)


def test_a_card_banner_is_printed_beside_the_provenance_statement():
    reading = phantom_reading()
    own = tiny_model(banner="outcome head is a proxy")
    prediction = run_to_completion(predict_reading(reading, own, device="cpu"))
    content = _content(reading.with_prediction(prediction, ModelIdentity.of(own)))
    assert content.provenance_statement == Provenance.SYNTHETIC.banner
    assert content.model_banner == "outcome head is a proxy"


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
    volume, mask, cam = make_case()  # 30 x 40 pixels of 0.8 x 0.5 mm: 24 mm tall, 20 mm wide
    plain = render_slice(volume, 4, max_side_px=240)
    assert plain.rgb.dtype == np.uint8
    assert plain.height_mm == pytest.approx(24.0, abs=0.2)
    assert plain.width_mm == pytest.approx(20.0, abs=0.2)
    assert plain.rgb.shape[0] > plain.rgb.shape[1]
    grey = plain.rgb
    assert np.all(grey[..., 0] == grey[..., 1])  # no overlay: grey
    contoured = render_slice(volume, 4, hematoma_mask=mask, max_side_px=240)
    assert np.all(contoured.rgb == CONTOUR_RGB, axis=-1).sum() > 20
    ivh = render_slice(volume, 4, ivh_mask=mask, max_side_px=240)  # blood counted as IVH
    assert np.all(ivh.rgb == IVH_RGB, axis=-1).sum() > 20
    assert not np.all(ivh.rgb == CONTOUR_RGB, axis=-1).any()
    none = render_slice(volume, 4, cam=cam, heatmap_opacity=0.0, max_side_px=240)
    assert np.array_equal(none.rgb, plain.rgb)
    half = render_slice(volume, 4, cam=cam, heatmap_opacity=0.5, max_side_px=240)
    full = render_slice(volume, 4, cam=cam, heatmap_opacity=1.0, max_side_px=240)
    d_half = np.abs(half.rgb.astype(int) - plain.rgb).sum()
    d_full = np.abs(full.rgb.astype(int) - plain.rgb).sum()
    assert 0 < d_half < d_full
    a_line = ((A_SEGMENT, A_SEGMENT_RGB),)
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

    volume, mask, _ = make_case()  # head ellipse inside a 30 x 40 field, 0.8 x 0.5 mm pixels
    box = head_bbox_yx(volume, margin_mm=0.0)
    rows = np.flatnonzero((volume.hu > -300).any(axis=(0, 2)))
    cols = np.flatnonzero((volume.hu > -300).any(axis=(0, 1)))
    assert box == (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)
    full = render_slice(volume, 4, hematoma_mask=mask, max_side_px=300)
    cropped = render_slice(volume, 4, hematoma_mask=mask, max_side_px=300, crop_yx=box)
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
