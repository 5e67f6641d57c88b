"""scan_study: inputs (folder, zip, DICOMDIR, files), grouping, classification and ranking."""

from __future__ import annotations

import time
import zipfile
from dataclasses import replace

import pydicom
import pytest

from ichmodel.cli import main
from ichmodel.io import classify as cl
from ichmodel.io.scan import scan_study
from tests.model import dicom_factory as f


def _series(scan, description):
    return next(s for s in scan.series if s.description == description)


@pytest.fixture
def study(tmp_path):
    """A realistic mix: soft 2.5 mm, bone 2.5 mm, thin 0.6 mm, localizer, summary, dose SR."""
    root = tmp_path / "study"
    f.write(root / "a" / "soft", f.make_volume((6, 16, 20), seed=1))
    f.write(
        root / "a" / "bone",
        f.make_volume((8, 16, 20), seed=2, description="HEAD BONE 2.5mm", kernel="BONE"),
    )
    f.write(
        root / "thin",
        f.make_volume((12, 16, 20), (0.6, 0.6, 0.5), seed=3, description="HEAD 0.6mm"),
    )
    f.make_localizer(root / "loc")
    f.make_derived(root / "summary")
    sr = f.write(root / "sr", f.make_volume((1, 16, 20), seed=4, description="Dose Report"))
    f.retag(sr, SOPClassUID="1.2.840.10008.5.1.4.1.1.88.67", Rows=None, Columns=None)
    (root / "notes.txt").write_text("not dicom")
    return root


def test_ranking_reasons_and_pick(study):
    scan = scan_study(study)
    assert scan.picked is not None
    assert scan.picked.description == "HEAD STD 2.5mm"
    assert scan.picked.picked and scan.picked is scan.series[0]
    assert scan.picked.reason.startswith("picked:")
    assert "soft-tissue" in scan.picked.reason
    assert sum(s.picked for s in scan.series) == 1
    bone = _series(scan, "HEAD BONE 2.5mm")
    thin = _series(scan, "HEAD 0.6mm")
    # soft kernel beats bone although bone has more slices; 2-5 mm beats 0.6 mm
    assert [s.description for s in scan.series[:3]] == [
        "HEAD STD 2.5mm",
        "HEAD 0.6mm",
        "HEAD BONE 2.5mm",
    ]
    assert "bone kernel" in bone.reason and "candidate #3" in bone.reason
    assert "0.6 mm" in thin.reason
    assert _series(scan, "Topogram").category == cl.LOCALIZER
    assert _series(scan, "Exam Summary").category == cl.DERIVED
    assert _series(scan, "Dose Report").category == cl.NON_IMAGE
    for s in scan.series:
        assert s.reason
        if not s.is_candidate:
            assert not s.picked
    assert scan.n_skipped_files == 1 and "notes.txt" in scan.skipped[0][0]
    assert any("notes.txt" in w for w in scan.warnings)


def test_series_override_and_cli_json(study, capsys):
    scan = scan_study(study)
    bone = _series(scan, "HEAD BONE 2.5mm")
    assert main(["load", str(study), "--series", bone.series_uid, "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["series_uid"] == bone.series_uid
    assert out["shape_zyx"] == [8, 16, 20]
    assert main(["series", str(study), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["series"]
    assert {"series_uid", "description", "n_images", "picked", "reason", "warnings"} <= set(
        listed[0]
    )
    assert listed[0]["picked"] is True
    assert main(["series", str(study)]) == 0
    table = capsys.readouterr().out
    assert "HEAD STD 2.5mm" in table and "picked:" in table


def test_contrast_series_is_not_auto_picked(tmp_path):
    paths = f.write(tmp_path / "cta", f.make_volume(seed=1, description="CTA HEAD C+"))
    f.write(tmp_path / "plain", f.make_volume((3, 16, 20), seed=2, description="HEAD"))
    scan = scan_study(tmp_path)
    assert scan.picked.description == "HEAD"
    cta = _series(scan, "CTA HEAD C+")
    assert cta.category == cl.CONTRAST and "contrast" in cta.reason
    f.retag(paths, SeriesDescription="HEAD 2", ContrastBolusAgent="Omnipaque")
    assert _series(scan_study(tmp_path), "HEAD 2").category == cl.CONTRAST


def test_split_by_orientation_and_size(tmp_path):
    axial = f.write(tmp_path / "ax", f.make_volume((6, 16, 20), seed=1))
    uid = pydicom.dcmread(axial[0]).SeriesInstanceUID
    study = pydicom.dcmread(axial[0]).StudyInstanceUID
    cor = f.write(tmp_path / "cor", f.make_volume((4, 16, 20), seed=2))
    f.retag(
        cor, SeriesInstanceUID=uid, StudyInstanceUID=study,
        ImageOrientationPatient=[1, 0, 0, 0, 0, -1],
    )
    odd = f.write(tmp_path / "odd", f.make_volume((1, 24, 24), seed=3))
    f.retag(odd, SeriesInstanceUID=uid, StudyInstanceUID=study)
    scan = scan_study(tmp_path)
    parts = [s for s in scan.series if s.series_uid == uid]
    assert len(parts) == 3 and len({s.key for s in parts}) == 3
    picked = scan.picked
    assert picked.series_uid == uid and picked.n_images == 6
    assert any("different size" in w for w in picked.warnings)
    assert any(s.category == cl.NOT_AXIAL and "coronal" in s.reason for s in parts)


def test_inputs_zip_files_list_and_dicomdir(tmp_path):
    paths = f.write(tmp_path / "src", f.make_volume((5, 16, 20)))
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in paths:
            z.write(p, f"export/{p.name}")
    assert scan_study(archive).picked.n_images == 5
    assert scan_study(paths[:3]).picked.n_images == 3
    dicomdir, images = f.make_dicomdir(tmp_path / "disc", paths)
    scan = scan_study(dicomdir)
    assert scan.picked.n_images == 5 and scan.warnings == ()
    images[0].unlink()
    scan = scan_study(dicomdir)
    assert scan.picked.n_images == 4
    assert any("not on disk" in w for w in scan.warnings)
    assert scan.picked.n_missing_files == 1


def test_scan_is_fast(tmp_path):
    """300 headers in well under a second (generous bound for a shared 2-core machine)."""
    vol = f.make_volume((300, 8, 8), (1.0, 0.5, 0.5))
    f.write(tmp_path, vol)
    start = time.perf_counter()
    scan = scan_study(tmp_path)
    elapsed = time.perf_counter() - start
    assert scan.picked.n_images == 300
    assert elapsed < 1.5, f"scan of 300 files took {elapsed:.2f} s"


def _equivalent_records(path):
    """The fast raw parser and pydicom agree on every field we use."""
    from ichmodel.io.dicom_tags import WANTED_TAGS, header_record, record_from_raw
    from ichmodel.io.fastheader import read_raw_header

    raw = read_raw_header(path, WANTED_TAGS)
    slow = header_record(pydicom.dcmread(path, stop_before_pixels=True, force=True), path)
    fast = record_from_raw(raw, path) if raw is not None else None
    if fast is not None:  # only the fast parser knows where the pixels start
        fast = replace(fast, pixel_data_offset=None, explicit_vr=True)
    return raw, slow, fast


def test_fast_header_parser_handles_implicit_vr_and_sequences(tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    vol = f.make_volume((3, 16, 20))
    paths = f.write(tmp_path / "s", vol, shuffle_names=False)
    for k, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        inner = Dataset()
        inner.CodeValue = "X"
        inner.CodeMeaning = "nested"
        item = Dataset()
        item.ReferencedSOPInstanceUID = "1.2.3"
        item.PurposeOfReferenceCodeSequence = Sequence([inner])
        ds.ReferencedImageSequence = Sequence([item, item])
        ds.add_new(0x00091010, "LO", "private")  # a private element before the pixels
        if k == 1:  # implicit VR little endian, as old PACS send
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(p)
    for p in paths:
        raw, slow, fast = _equivalent_records(p)
        assert raw is not None and raw.pixel_data_offset is not None
        assert fast == slow
    assert pydicom.dcmread(paths[1]).file_meta.TransferSyntaxUID.is_implicit_VR
    import numpy as np

    np.testing.assert_array_equal(load_study_hu(tmp_path / "s"), vol.hu)


def load_study_hu(path):
    from ichmodel.io.load import load_study

    return load_study(path).hu


def test_files_without_preamble_fall_back_to_pydicom(tmp_path):
    import numpy as np

    vol = f.make_volume((3, 16, 20))
    paths = f.write(tmp_path / "s", vol, shuffle_names=False)
    for p in paths:  # raw dataset: no 128-byte preamble, no 'DICM', no file meta
        ds = pydicom.dcmread(p)
        ds.preamble = None
        del ds.file_meta
        ds.save_as(p, implicit_vr=True, little_endian=True, enforce_file_format=False)
    raw, slow, fast = _equivalent_records(paths[0])
    assert raw is None  # not a Part 10 file: the fast parser declines
    np.testing.assert_array_equal(load_study_hu(tmp_path / "s"), vol.hu)
