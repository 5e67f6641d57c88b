"""write_dicom_series -> load_study gives back the same HU and geometry."""

from __future__ import annotations

import numpy as np
import pydicom
import pydicom.config
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from ichmodel.io.load import load_study
from ichmodel.io.write import write_dicom_series
from tests.model import dicom_factory as f


def _oblique(deg: float) -> tuple[float, ...]:
    """An orthonormal direction rotated about x (a scanner that reconstructs obliquely)."""
    t = np.radians(deg)
    m = np.array([[1, 0, 0], [0, np.cos(t), np.sin(t)], [0, -np.sin(t), np.cos(t)]])
    return tuple(float(v) for v in m.ravel())


@pytest.mark.parametrize("direction", [f.AXIAL, _oblique(12.0)])
def test_round_trip_identical_hu_and_geometry(tmp_path, direction):
    vol = f.make_volume(direction=direction, patient_age="067Y", patient_sex="F")
    paths = write_dicom_series(vol, tmp_path)
    assert len(paths) == vol.shape[0]
    loaded = load_study(tmp_path)
    np.testing.assert_array_equal(loaded.hu, vol.hu)
    np.testing.assert_allclose(loaded.spacing_mm, vol.spacing_mm, atol=1e-5)
    np.testing.assert_allclose(loaded.origin_mm, vol.origin_mm, atol=1e-4)
    np.testing.assert_allclose(loaded.direction, vol.direction, atol=1e-5)
    assert loaded.warnings == ()
    assert loaded.meta.patient_name == "Test^Patient"
    assert loaded.meta.patient_age == "067Y"
    assert loaded.meta.series_description == vol.meta.series_description
    assert loaded.meta.kernel == "STANDARD"


def test_written_files_are_valid_ct_image_storage(tmp_path, monkeypatch):
    # strict reading: any value that violates its VR raises
    monkeypatch.setattr(pydicom.config.settings, "reading_validation_mode", pydicom.config.RAISE)
    vol = f.make_volume()
    paths = write_dicom_series(vol, tmp_path, window=(40, 80), series_description="X")
    names_in_slice_order = [p.name for p in paths]
    assert names_in_slice_order != sorted(names_in_slice_order)  # shuffled names
    uids = set()
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
        assert ds.Modality == "CT" and ds.SeriesDescription == "X"
        assert float(ds.WindowCenter) == 40 and float(ds.WindowWidth) == 80
        assert ds.PixelRepresentation == 1 and ds.BitsAllocated == 16
        assert float(ds.ImagePositionPatient[2]) == pytest.approx(30.0 + 2.5 * k)
        assert [float(v) for v in ds.PixelSpacing] == [0.6, 0.5]
        uids.add(ds.SOPInstanceUID)
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, vol.hu[k])
    assert len(uids) == len(paths)
    # deterministic: same seed and volume -> same UIDs
    again = write_dicom_series(vol, tmp_path / "again", window=(40, 80), series_description="X")
    assert pydicom.dcmread(again[0]).SOPInstanceUID == pydicom.dcmread(paths[0]).SOPInstanceUID


def test_distinct_volumes_get_distinct_series_uids(tmp_path):
    a = write_dicom_series(f.make_volume(seed=1), tmp_path / "a")
    b = write_dicom_series(f.make_volume(seed=2), tmp_path / "b")
    assert pydicom.dcmread(a[0]).SeriesInstanceUID != pydicom.dcmread(b[0]).SeriesInstanceUID


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_round_trip_compressed(tmp_path, syntax):
    vol = f.make_volume((3, 64, 64), seed=5)  # openjpeg needs >= 32 px for its levels
    paths = write_dicom_series(vol, tmp_path, transfer_syntax=syntax)
    assert pydicom.dcmread(paths[0]).file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(load_study(tmp_path).hu, vol.hu)


def test_round_trip_deflated(tmp_path):
    vol = f.make_volume((3, 16, 16), seed=6)
    paths = write_dicom_series(vol, tmp_path)
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(path)
    assert pydicom.dcmread(paths[0]).file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    np.testing.assert_array_equal(load_study(tmp_path).hu, vol.hu)


def _ml_above(volume, threshold_hu=30.0) -> float:
    return float((volume.hu >= threshold_hu).sum()) * volume.voxel_volume_ml


def test_sphere_volume_within_one_percent(tmp_path):
    vol, true_ml = f.sphere_volume(radius_mm=15.0)
    write_dicom_series(vol, tmp_path)
    loaded = load_study(tmp_path)
    assert _ml_above(loaded) == pytest.approx(true_ml, rel=0.01)


def test_tilted_sphere_volume_within_one_percent(tmp_path):
    """A gantry-tilted acquisition (sheared stack) is corrected; the ml stays right."""
    vol, true_ml = f.sphere_volume(
        radius_mm=12.0,
        shape=(16, 48, 40),
        spacing_mm=(2.5, 0.8, 0.8),
        direction=f.tilted_direction(20.0),
    )
    write_dicom_series(vol, tmp_path)
    loaded = load_study(tmp_path)
    assert any("gantry tilt of 20.0°" in w for w in loaded.warnings)
    assert loaded.spacing_mm[0] == pytest.approx(2.5 * np.cos(np.radians(20.0)), rel=1e-3)
    assert loaded.shape[1] > 48  # the grid grew to hold the shifted slices
    assert _ml_above(loaded) == pytest.approx(true_ml, rel=0.01)
    # the naive reading (stack spacing 2.5 mm taken as the slice spacing) is ~6% too large
    naive_ml = float((vol.hu >= 30).sum()) * 2.5 * 0.8 * 0.8 / 1000
    assert naive_ml / true_ml > 1.04


def test_missing_and_uneven_slices_keep_the_physical_extent(tmp_path):
    vol, true_ml = f.sphere_volume(radius_mm=12.0, shape=(20, 40, 40), spacing_mm=(1.5, 0.8, 0.8))
    paths = write_dicom_series(vol, tmp_path, shuffle_names=False)
    paths[9].unlink()  # one slice lost in transfer, inside the sphere
    loaded = load_study(tmp_path)
    assert any("missing" in w for w in loaded.warnings)
    assert any("uneven slice spacing" in w for w in loaded.warnings)
    z_extent = (loaded.shape[0] - 1) * loaded.spacing_mm[0]
    assert z_extent == pytest.approx(19 * 1.5, abs=1e-3)
    assert _ml_above(loaded) == pytest.approx(true_ml, rel=0.02)
