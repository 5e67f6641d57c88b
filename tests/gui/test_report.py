"""The PDF report: written atomically, its text (pdftotext) holds volumes and identification."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from ichviewer.report import ReportExportError, ReportOptions, export_report
from tests.model.test_report_content import CARD, make_case, real_case

pytestmark = pytest.mark.timeout(60)


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_report_text_holds_volumes_identification_and_statements(tmp_path):
    volume, measurement, prediction, model = real_case()
    options = ReportOptions(created=datetime(2024, 2, 1, 12, 0), app_version="9.9.9")
    out = export_report(
        tmp_path / "report.pdf",
        volume=volume,
        measurement=measurement,
        prediction=prediction,
        model_card=model.card,
        options=options,
    )
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


def test_anonymized_report_has_no_name_id_or_birth_date(tmp_path):
    volume, measurement, prediction = make_case()  # stand-in meta with a known birth date
    out = export_report(
        tmp_path / "anon.pdf",
        volume=volume,
        measurement=measurement,
        prediction=prediction,
        model_card=CARD,
        options=ReportOptions(anonymize=True),
    )
    text = pdf_text(out)
    for secret in ("Doe", "Jane", "PID-4711", "1950"):
        assert secret not in text, secret
    assert "anonymized" in text.lower()
    assert "8.4 ml" in text and "CT head" in text
    real_volume, m, p, model = real_case()
    out = export_report(
        tmp_path / "anon_real.pdf",
        volume=real_volume,
        measurement=m,
        prediction=p,
        model_card=model,
        options=ReportOptions(anonymize=True),
    )
    text = pdf_text(out)
    assert real_volume.meta.patient_id not in text
    assert real_volume.meta.patient_name.split("^")[0] not in text
    assert f"{m.hematoma_volume_ml:.1f} ml" in text


def test_report_without_results_and_bad_folder(tmp_path):
    volume, _, _ = make_case()
    out = export_report(tmp_path / "bare.pdf", volume=volume)
    text = pdf_text(out)
    assert "not available" in text and "Research use only" in text
    assert "Trained on synthetic data" not in text  # no model was used at all
    with pytest.raises(ReportExportError, match="does not exist"):
        export_report(tmp_path / "missing" / "r.pdf", volume=volume)


def test_report_pages_render(tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    volume, measurement, prediction, model = real_case()
    out = export_report(
        tmp_path / "r.pdf",
        volume=volume,
        measurement=measurement,
        prediction=prediction,
        model_card=model,
    )
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert 1 <= len(pages) <= 3
