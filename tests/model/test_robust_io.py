"""Issue 16, one behaviour per test: the walker, bounded reads, zip limits and cleanup, DICOMDIR
confinement, majority decisions and the sanity layer (codes and error classes, not wording)."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import pydicom
import pytest

from ichmodel import errors
from ichmodel.io import limits
from ichmodel.io.fastheader import MalformedHeader, read_raw_header
from ichmodel.io.load import load_study
from ichmodel.io.scan import iter_scan_study, scan_study
from ichmodel.io.sources import collect_files
from ichmodel.progress import Cancelled, cancel_scope, run_to_completion
from tests.fuzz import raw
from tests.fuzz.corpus import series
from tests.model import dicom_factory as f


def _codes(volume_or_scan) -> set[str]:
    return {n.code for n in volume_or_scan.notices}


def test_walker_takes_regular_files_only(tmp_path):
    paths = series(tmp_path / "s", 4)
    folder = paths[0].parent
    raw.make_fifo(folder / "pipe.dcm")
    os.symlink("/dev/zero", folder / "zero.dcm")
    os.symlink("/etc/hostname", folder / "outside.dcm")
    os.symlink(folder / "loop_a", folder / "loop_b")
    os.symlink(folder / "loop_b", folder / "loop_a")
    collected = collect_files(folder)
    assert sorted(p.name for p in collected.files) == sorted(p.name for p in paths)
    (notice,) = [n for n in collected.notices if n.code == "scan.special_files_skipped"]
    for what in ("named pipe", "outside the folder", "looping"):
        assert what in notice.text
    volume = load_study(folder)
    assert "scan.special_files_skipped" in _codes(volume)


def test_a_pipe_given_directly_is_an_input_error(tmp_path):
    raw.make_fifo(tmp_path / "p")
    with pytest.raises(errors.NoDicomFoundError, match="named pipe"):
        scan_study(tmp_path / "p")


def test_header_lengths_and_depth_are_bounded(tmp_path):
    (path,) = series(tmp_path / "s", 1)
    raw.insert_before_pixels(path, raw.nested_sequence(10_000))
    with pytest.raises(MalformedHeader, match="nested deeper"):
        read_raw_header(path, frozenset())
    (other,) = series(tmp_path / "t", 1, seed=2)
    raw.declare_huge_value(other, 0x0008, 0x103E, 50 << 20, sparse=False)
    with pytest.raises(MalformedHeader, match="remain in the file"):
        read_raw_header(other, frozenset())


def test_zip_limits_and_named_bad_members(tmp_path):
    folder = tmp_path / "s"
    series(folder, 4)
    archive = raw.zip_folder(folder, tmp_path / "s.zip")
    raw.patch_zip_members(archive, flag_bits=1, only_first=True)
    scan = scan_study(archive)
    assert "scan.archive_members_skipped" in _codes(scan)
    bomb = raw.zip_bomb(tmp_path / "bomb.zip", 4 * limits.ZIP_RATIO_MIN_BYTES)
    with pytest.raises(errors.ArchiveError, match="fold"):
        scan_study(bomb)


def test_extracted_archives_are_removed_on_every_exit(tmp_path, monkeypatch):
    series(tmp_path / "s", 4)
    archive = raw.zip_folder(tmp_path / "s", tmp_path / "s.zip")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    load_study(archive)  # success
    assert not list(private_tmp.iterdir())
    with pytest.raises(errors.SeriesNotFoundError):  # an error after unpacking
        load_study(archive, series_uid="1.2.3")
    assert not list(private_tmp.iterdir())
    gen = iter_scan_study(archive)  # cancelled mid-scan
    next(gen)
    gen.close()
    assert not list(private_tmp.iterdir())
    with scan_study(archive) as scan:  # a scan the caller keeps, then closes
        assert scan.workspace is not None and list(private_tmp.iterdir())
    assert not list(private_tmp.iterdir())


def test_dicomdir_file_ids_stay_in_its_folder(tmp_path):
    paths = series(tmp_path / "src", 3)
    dicomdir, _ = f.make_dicomdir(tmp_path / "disc", paths)
    ds = pydicom.dcmread(dicomdir)
    for record in ds.DirectoryRecordSequence:
        if "ReferencedFileID" in record:
            record.ReferencedFileID = ["..", "src", paths[0].name]
    ds.save_as(dicomdir)
    with pytest.raises(errors.NoDicomFoundError, match="outside its folder"):
        scan_study(dicomdir)


def test_the_majority_decides_not_the_first_file(tmp_path):
    paths = series(tmp_path / "s")
    first = sorted(paths, key=lambda p: p.name)[0]
    f.retag([first], Modality="MR", ImagePositionPatient=None)
    assert scan_study(tmp_path / "s").picked.n_images == len(paths) - 1
    volume = load_study(tmp_path / "s")
    assert "scan.disagreeing_images_set_aside" in _codes(volume)


def test_missing_rescale_intercept_is_never_zero(tmp_path):
    paths = series(tmp_path / "s")
    f.retag(paths[3:5], RescaleIntercept=None)
    volume = load_study(tmp_path / "s")
    assert "load.bad_rescale_slices_set_aside" in _codes(volume)
    f.retag(paths, RescaleIntercept=None)
    with pytest.raises(errors.PixelDataError, match="RescaleIntercept"):
        load_study(tmp_path / "s")


def test_orientation_is_compared_with_a_tolerance(tmp_path):
    paths = series(tmp_path / "s")
    for k, p in enumerate(paths):  # 0.0005 +- 2e-7: rounding to 3 decimals would split
        s = 0.0005 + (2e-7 if k % 2 else -2e-7)
        f.retag([p], ImageOrientationPatient=[1, 0, 0, 0, (1 - s * s) ** 0.5, s])
    scan = scan_study(tmp_path / "s")
    assert len(scan.series) == 1 and scan.picked.n_images == len(paths)


def test_two_patients_under_one_series_uid_are_refused(tmp_path):
    paths = series(tmp_path / "s")
    f.retag(paths[:3], PatientID="SOMEONE_ELSE")
    with pytest.raises(errors.MixedIdentityError, match="PatientID"):
        load_study(tmp_path / "s")


@pytest.mark.parametrize(
    ("tags", "words"),
    [
        ({"PixelSpacing": ["1e30", "1e30"]}, "PixelSpacing"),
        ({"PixelSpacing": ["1e-7", "1e-7"]}, "PixelSpacing"),
    ],
)
def test_absurd_geometry_is_refused_before_allocation(tmp_path, tags, words):
    paths = series(tmp_path / "s")
    f.retag(paths, **tags)
    with pytest.raises(errors.ImplausibleInputError, match=words):
        load_study(tmp_path / "s")


def test_slice_positions_no_ct_has(tmp_path):
    paths = series(tmp_path / "s")
    for k, p in enumerate(paths):
        f.retag([p], ImagePositionPatient=[0, 0, 0.0015 * k])
    with pytest.raises(errors.ImplausibleInputError, match="apart"):
        load_study(tmp_path / "s")
    f.retag(paths[-1:], ImagePositionPatient=[0, 0, 1e9])
    for k, p in enumerate(paths[:-1]):
        f.retag([p], ImagePositionPatient=[0, 0, 2.5 * k])
    volume = load_study(tmp_path / "s")  # the stray slice is set aside, the rest loads
    assert "load.outlying_slices_set_aside" in _codes(volume)
    assert volume.shape[0] == len(paths) - 1


def test_implausible_voxel_size_is_warned(tmp_path):
    volume = f.make_volume((4, 16, 20), spacing_mm=(2.5, 12.0, 12.0))
    f.write(tmp_path / "s", volume)
    assert "load.implausible_voxel_size" in _codes(load_study(tmp_path / "s"))


def test_a_cancel_scope_stops_a_scan_between_files(tmp_path):
    import threading

    series(tmp_path / "s", 30)
    event = threading.Event()
    event.set()
    with cancel_scope(event), pytest.raises(Cancelled):
        run_to_completion(iter_scan_study(tmp_path / "s"))
    assert run_to_completion(iter_scan_study(tmp_path / "s")).picked is not None


def test_non_finite_numbers_never_reach_json(tmp_path, capsys):
    import json

    from ichmodel.cli._output import print_json

    print_json({"a": float("inf"), "b": [float("nan"), 1.0]})
    assert json.loads(capsys.readouterr().out) == {"a": None, "b": [None, 1.0]}


def test_zip_with_members_escaping_the_folder_writes_nothing_outside(tmp_path):
    paths = series(tmp_path / "s", 3)
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as archive:
        for k, p in enumerate(paths):
            archive.write(p, f"../../escape{k}.dcm")
    before = set(Path(tmp_path).rglob("*"))
    assert load_study(tmp_path / "evil.zip").shape[0] == 3
    assert set(Path(tmp_path).rglob("*")) == before
