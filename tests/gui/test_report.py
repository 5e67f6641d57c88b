"""The PDF report: written atomically, its text (pdftotext) holds volumes and identification."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from ichmodel.model_card import Provenance
from ichmodel.progress import run_to_completion
from ichmodel.reading import ModelIdentity, StudyReading, predict_reading
from ichviewer.report import ReportExportError, ReportExtras, ReportOptions, export_report
from tests.model.test_report_content import META, make_case
from tests.readings import phantom_reading, tiny_model

pytestmark = pytest.mark.timeout(60)


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_report_text_holds_volumes_identification_and_statements(tmp_path):
    reading = phantom_reading()
    measurement, prediction, volume = reading.measurement, reading.prediction, reading.volume
    options = ReportOptions(created=datetime(2024, 2, 1, 12, 0), app_version="9.9.9")
    out = export_report(tmp_path / "report.pdf", reading, options)
    assert out == tmp_path / "report.pdf"
    assert out.read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]  # no temp file left
    text = pdf_text(out)
    abc2 = measurement.abc2
    meta = volume.meta
    for expected in (
        f"{prediction.predicted_volume_ml:.1f} ml",
        f"{measurement.hematoma_volume_ml:.1f} ml",
        f"{abc2.volume_ml:.1f} ml",
        f"A = {abc2.a_mm:.1f} mm, B = {abc2.b_mm:.1f} mm, C = {abc2.c_mm:.1f} mm",
        f"{prediction.poor_outcome_probability:.2f}",
        meta.patient_id,
        meta.series_uid,
        "gantry tilt of 12 degrees corrected",
        "Research use only",
        "Trained on synthetic data",
        "ICH Viewer 9.9.9",
        "tiny-test",
        "2024-02-01",
    ):
        assert expected and expected in text, expected
    family = meta.patient_name.split("^")[0]
    assert family and family in text
    assert "Hematoma volume, model (ml)" in text
    assert "planimetric" in text and "ABC/2 (ml)" in text


def test_a_site_model_named_demo_with_phantom_in_its_card_is_not_called_synthetic(tmp_path):
    reading = phantom_reading()
    site = tiny_model("demo-site", provenance=Provenance.SITE, summary="QA against a phantom",
                      training_data="212 site cases")
    prediction = run_to_completion(predict_reading(reading, site, device="cpu"))
    named = replace(reading.volume, meta=replace(  # the phantom's own names say "synthetic"
        reading.volume.meta, patient_name="Doe^Jane", study_description="CT head",
        series_description="Axial 5mm", model="scanner"))
    site_reading = replace(reading, volume=named).with_prediction(
        prediction, ModelIdentity.of(site)
    )
    text = pdf_text(export_report(tmp_path / "site.pdf", site_reading))
    assert "demo-site" in text and "site" in text
    assert "synthetic" not in text.lower()


def test_anonymized_report_has_no_name_id_or_birth_date(tmp_path):
    reading = phantom_reading()
    named = replace(reading.volume, meta=replace(
        reading.volume.meta, patient_name=META.patient_name, patient_id=META.patient_id,
        patient_birth_date=META.patient_birth_date, study_description="CT head"))
    out = export_report(tmp_path / "anon.pdf", replace(reading, volume=named),
                        ReportOptions(anonymize=True))
    text = pdf_text(out)
    for secret in ("Doe", "Jane", "PID-4711", "1950"):
        assert secret not in text, secret
    assert "anonymized" in text.lower()
    assert f"{reading.measurement.hematoma_volume_ml:.1f} ml" in text and "CT head" in text


def test_report_without_results_and_bad_folder(tmp_path):
    volume, _, _ = make_case()
    bare = StudyReading(volume=volume)
    out = export_report(tmp_path / "bare.pdf", bare)
    text = pdf_text(out)
    assert "not available" in text and "Research use only" in text
    assert "Trained on synthetic data" not in text  # no model was used at all
    with pytest.raises(ReportExportError, match="does not exist"):
        export_report(tmp_path / "missing" / "r.pdf", bare)


def test_report_pages_render(tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    out = export_report(tmp_path / "r.pdf", phantom_reading())
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert 1 <= len(pages) <= 3


def test_reader_marks_are_drawn_in_the_pdf(tmp_path):
    """A phantom's report with a ruler and an ROI on a key slice and a coronal ruler builds;
    its text says where they are drawn; its pages render with the marks' colours on them."""
    import numpy as np

    from ichmodel.annotations import Plane, ReaderMeasurement, measure_ellipse, measure_ruler
    from ichmodel.render import RULER_RGB

    reading = phantom_reading()
    volume = reading.volume
    key, _ = reading.key_slices()
    z = key[len(key) // 2].index
    marks = [
        ReaderMeasurement(1, measure_ruler(volume.spacing_mm, Plane.AXIAL, z, (20.5, 18.5),
                                           (20.5, 44.5))),
        ReaderMeasurement(2, measure_ellipse(volume, Plane.AXIAL, z, (30, 22), (40, 34))),
        ReaderMeasurement(3, measure_ruler(volume.spacing_mm, Plane.CORONAL, 32, (1.0, 20.5),
                                           (volume.shape[0] - 1.0, 20.5))),
    ]
    out = export_report(tmp_path / "marks.pdf", reading,
                        extras=ReportExtras(annotations=tuple(marks)))
    text = " ".join(pdf_text(out).split())
    assert "reader #1, #2" in text and "coronal 33 · #3" in text
    assert f"Drawn on the key slices above: #1, #2 (axial {z + 1})" in text
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run(["pdftoppm", "-png", "-r", "100", str(out), str(tmp_path / "page")],
                   check=True)
    from PIL import Image

    pink = 0
    for page in sorted(tmp_path.glob("page*.png")):
        rgb = np.asarray(Image.open(page).convert("RGB")).astype(int)
        pink += int((np.abs(rgb - np.asarray(RULER_RGB)).max(axis=-1) <= 12).sum())
    assert pink > 100  # the rulers are on the pages, not only in the table
