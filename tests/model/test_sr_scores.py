"""The clinical scores in the DICOM SR: their inputs (reader, DICOM, measurement), the volume
that fed each score, the item points and totals; dciodvfy still validates the SR."""

from __future__ import annotations

import pydicom
import pytest

from ichmodel.dicom_out import build_results, write_results
from ichmodel.scores import ClinicalInputs, score_sheet
from tests.dicom_tools import dciodvfy_errors, dcmqi_sr
from tests.model.test_dicom_out import sample_reading

CLINICAL = ClinicalInputs(gcs=7, age_years=82, anticoagulated=True, cognitive_impairment=False)


def _groups(ds) -> dict[str, list]:
    """{tracking identifier: every content item under that measurement group}."""
    found: dict[str, list] = {}

    def descendants(item):
        for child in getattr(item, "ContentSequence", []):
            yield child
            yield from descendants(child)

    for item in descendants(ds):
        if item.ValueType == "CONTAINER" and \
                item.ConceptNameCodeSequence[0].CodeMeaning == "Measurement Group":
            inner = list(descendants(item))
            ident = next(c.TextValue for c in inner if c.ValueType == "TEXT" and
                         c.ConceptNameCodeSequence[0].CodeMeaning == "Tracking Identifier")
            found[ident] = inner
    return found


def _nums(items) -> list[tuple[str, float, str]]:
    out = []
    for c in items:
        if c.ValueType == "NUM":
            mv = c.MeasuredValueSequence[0]
            method = [m.ConceptCodeSequence[0].CodeMeaning for m in c.get("ContentSequence", [])
                      if m.ConceptNameCodeSequence[0].CodeMeaning == "Measurement Method"]
            out.append((c.ConceptNameCodeSequence[0].CodeMeaning, float(mv.NumericValue),
                        method[0] if method else ""))
    return out


def _texts(items) -> list[str]:
    return [c.TextValue for c in items if c.ValueType == "TEXT"]


@pytest.fixture(scope="module")
def sr_with_scores(tmp_path_factory):
    reading = sample_reading(with_model=False)
    sheet = score_sheet(reading.measurement, reading.volume.meta, CLINICAL)
    results = build_results(reading.with_scores(sheet))
    folder = tmp_path_factory.mktemp("sr_scores")
    paths = write_results(results, folder)
    sr_path = next(p for p in paths if p.name.startswith("SR_"))
    return sheet, sr_path


def test_sr_with_scores_validates(sr_with_scores):
    _, path = sr_with_scores
    assert dciodvfy_errors(path) == []


def test_dcmqi_still_reads_the_sr_and_the_score_totals(sr_with_scores, tmp_path):
    sheet, path = sr_with_scores
    groups = dcmqi_sr(path, tmp_path / "sr")["Measurements"]
    totals = {i["quantity"]["CodeMeaning"]: float(i["value"])
              for g in groups for i in g.get("measurementItems", [])
              if i["quantity"]["CodeMeaning"].endswith(", total")}
    assert totals == {"ICH score (Hemphill 2001), total": sheet.by_name("ICH score").total,
                      "FUNC score (Rost 2008), total": sheet.by_name("FUNC score").total}


def test_sr_holds_each_score_its_items_and_the_volume_that_fed_it(sr_with_scores):
    sheet, path = sr_with_scores
    groups = _groups(pydicom.dcmread(path))
    assert {"clinical score inputs", "ICH score", "FUNC score", "max-ICH score"} <= set(groups)
    ich = sheet.by_name("ICH score")
    assert ich.complete  # GCS and age were entered; the rest is the measurement
    nums = _nums(groups["ICH score"])
    totals = [v for name, v, _ in nums if name.endswith(", total")]
    assert totals == [ich.total]
    gcs_points = [v for name, v, _ in nums if name == "ICH score item: GCS"]
    assert gcs_points == [1]  # GCS 7 -> 1 point (Hemphill 2001)
    volumes = [(v, m) for name, v, m in nums if name == "Volume"]
    # Hemphill's ABC/2 feeds the ICH score; the group says which method it is
    assert volumes == [(pytest.approx(ich.volume_ml, abs=1e-3),
                        "Volume estimated from two non-coplanar 2D regions")]
    func_volumes = [m for name, _, m in _nums(groups["FUNC score"]) if name == "Volume"]
    assert func_volumes == ["Sum of segmented voxel method for volume"]
    texts = " | ".join(_texts(groups["ICH score"]))
    assert "item GCS: GCS 7 (reader) -> 1 points" in texts
    assert "30-day mortality" in texts


def test_incomplete_score_has_no_total_and_says_what_is_missing(sr_with_scores):
    sheet, path = sr_with_scores
    groups = _groups(pydicom.dcmread(path))
    assert not sheet.by_name("max-ICH score").complete  # NIHSS not entered
    nums = _nums(groups["max-ICH score"])
    assert not [n for n, _, _ in nums if n.endswith(", total")]
    assert "incomplete: missing NIHSS" in " | ".join(_texts(groups["max-ICH score"]))


def test_inputs_group_lists_reader_entries_and_their_sources(sr_with_scores):
    _, path = sr_with_scores
    items = _groups(pydicom.dcmread(path))["clinical score inputs"]
    nums = {name: v for name, v, _ in _nums(items)}
    assert nums["Glasgow coma score total"] == 7 and nums["Subject Age"] == 82
    assert "Total score [NIHSS]" not in nums  # not entered: no value claimed
    texts = " | ".join(_texts(items))
    assert "NIHSS: not entered (reader)" in texts and "age: 82 (reader)" in texts
    coded = {c.ConceptNameCodeSequence[0].CodeMeaning: c.ConceptCodeSequence[0].CodeMeaning
             for c in items if c.ValueType == "CODE"}
    assert coded["Oral anticoagulation at onset"] == "Yes"
    assert coded["Pre-ICH cognitive impairment"] == "No"


def test_no_scores_no_score_groups():
    results = build_results(sample_reading(with_model=False))
    groups = _groups(results.sr)
    assert "ICH score" not in groups and "clinical score inputs" not in groups


def test_cli_export_puts_the_entries_in_the_sr(tmp_path, capsys):
    import json

    from ichmodel.cli import main
    from ichmodel.resources import sample_study_dir

    rc = main(["export", str(sample_study_dir() / "DICOM"), "--dicom-out", str(tmp_path / "o"),
               "--gcs", "4", "--age", "70", "--json"])
    assert rc == 0
    written = json.loads(capsys.readouterr().out)["written"]
    sr = pydicom.dcmread(next(p for p in written if "/SR_" in p))
    groups = _groups(sr)
    gcs_points = [v for n, v, _ in _nums(groups["ICH score"]) if n == "ICH score item: GCS"]
    assert gcs_points == [2]  # GCS 3-4 -> 2 points (Hemphill 2001)
    assert "age: 70 (reader)" in _texts(groups["clinical score inputs"])
    assert main(["export", str(sample_study_dir() / "DICOM"), "--dicom-out", str(tmp_path),
                 "--gcs", "2"]) == 3  # out of range: one error line, nothing read
    assert "GCS must be 3-15" in capsys.readouterr().err
