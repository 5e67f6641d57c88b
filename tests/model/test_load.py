"""load_series / load_study: HU, padding, ordering, bit depths, compressed syntaxes, progress."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEGLosslessSV1

from ichmodel.cli import main
from ichmodel.io.load import PADDING_FLOOR_HU, iter_load_study, load_study
from ichmodel.progress import Progress
from ichmodel.volume import AIR_HU
from tests.model import dicom_factory as f


def test_hu_from_rescale_slope_and_intercept(tmp_path):
    vol = f.make_volume((4, 16, 20))
    paths = f.write(tmp_path, vol, shuffle_names=False)
    f.retag(paths, RescaleSlope="2", RescaleIntercept="-1024")
    stored = np.stack([pydicom.dcmread(p).pixel_array for p in paths]).astype(np.float32)
    expected = stored * 2 - 1024
    expected[expected < PADDING_FLOOR_HU] = AIR_HU  # below -1400 HU is padding, not tissue
    np.testing.assert_array_equal(load_study(tmp_path).hu, expected)


def test_padding_value_and_out_of_field_become_air(tmp_path):
    vol = f.make_volume((4, 16, 20))
    hu = vol.hu.copy()
    hu[:, :3, :] = -2000  # padding outside the reconstruction circle
    hu[:, -2:, :] = -3024  # outside the field, no padding tag covers it
    paths = f.write(tmp_path, vol.with_hu(hu), shuffle_names=False)
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.add_new(0x00280120, "SS", -2000)  # PixelPaddingValue
        ds.save_as(p)
    loaded = load_study(tmp_path)
    assert (loaded.hu[:, :3, :] == AIR_HU).all()
    assert (loaded.hu[:, -2:, :] == AIR_HU).all()
    np.testing.assert_array_equal(loaded.hu[:, 3:-2], vol.hu[:, 3:-2])


def test_order_from_positions_not_instance_number_or_slice_location(tmp_path):
    vol = f.make_volume((6, 16, 20))
    paths = f.write(tmp_path, vol, shuffle_names=False)
    for k, p in enumerate(paths):
        f.retag([p], InstanceNumber=str(6 - k), SliceLocation=str(100 - 7 * (k % 3)))
        p.rename(tmp_path / f"{k % 2}_{6 - k}.dcm")
    np.testing.assert_array_equal(load_study(tmp_path).hu, vol.hu)


def test_feet_first_descending_positions(tmp_path):
    """Slices stacked towards -z: the array still follows the normal, origin is the lowest."""
    flipped = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # row -x, normal -z
    vol = f.make_volume((5, 16, 20), direction=flipped)
    f.write(tmp_path, vol)
    loaded = load_study(tmp_path)
    np.testing.assert_array_equal(loaded.hu, vol.hu)
    assert loaded.direction == pytest.approx(flipped)


def test_unsigned_12_bit_with_garbage_high_bits(tmp_path):
    vol = f.make_volume((3, 16, 20))
    paths = f.write(tmp_path, vol, shuffle_names=False)
    for k, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        stored = (vol.hu[k] + 1024).astype(np.uint16) | np.uint16(1 << 13)  # overlay bit
        ds.PixelRepresentation = 0
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.RescaleIntercept = "-1024"
        ds.PixelData = stored.tobytes()
        ds.save_as(p)
    np.testing.assert_array_equal(load_study(tmp_path).hu, vol.hu)


def test_jpeg_lossless_decodes(tmp_path):
    """JPEG Lossless (process 14) as PACS send it; the stream is encoded by SimpleITK/GDCM."""
    import SimpleITK as sitk

    vol = f.make_volume((3, 16, 20))
    paths = f.write(tmp_path / "s", vol, shuffle_names=False)
    for k, p in enumerate(paths):
        jpeg = tmp_path / f"j{k}.dcm"
        writer = sitk.ImageFileWriter()
        writer.SetFileName(str(jpeg))
        writer.SetImageIO("GDCMImageIO")
        writer.UseCompressionOn()
        writer.SetCompressor("JPEG")
        writer.Execute(sitk.GetImageFromArray(vol.hu[k : k + 1].astype(np.int16)))
        encoded = pydicom.dcmread(jpeg)
        assert encoded.file_meta.TransferSyntaxUID == JPEGLosslessSV1
        ds = pydicom.dcmread(p)
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.PixelData = encoded.PixelData
        ds["PixelData"].VR = "OB"
        ds.save_as(p)
        jpeg.unlink()
    np.testing.assert_array_equal(load_study(tmp_path / "s").hu, vol.hu)


def test_progress_events_and_cancel(tmp_path):
    f.write(tmp_path, f.make_volume((20, 8, 8), (1.0, 0.5, 0.5)))
    events = []
    gen = iter_load_study(tmp_path)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        volume = stop.value
    assert volume.shape == (20, 8, 8)
    assert all(isinstance(e, Progress) for e in events)
    assert {e.stage for e in events} >= {"scan", "load"}
    loads = [e.current for e in events if e.stage == "load"]
    assert loads == sorted(loads) and loads[-1] == 20
    gen = iter_load_study(tmp_path)
    while next(gen).stage != "load":
        pass
    gen.close()  # cancel mid-load: no exception, no result


def test_meta_and_cli_nifti_out(tmp_path, capsys):
    import SimpleITK as sitk

    vol = f.make_volume(
        (4, 16, 20),
        patient_sex="M",
        study_description="CT HEAD",
        manufacturer="ACME",
        window_center_hu=40.0,
        window_width_hu=80.0,
    )
    f.write(tmp_path / "s", vol)
    loaded = load_study(tmp_path / "s")
    meta = loaded.meta
    assert (meta.patient_sex, meta.study_description, meta.manufacturer) == ("M", "CT HEAD", "ACME")
    assert (meta.window_center_hu, meta.window_width_hu) == (40.0, 80.0)
    assert meta.slice_thickness_mm == 2.5 and meta.modality == "CT"
    assert "shape(z,y,x)=(4, 16, 20)" in repr(loaded)
    out = tmp_path / "vol.nii.gz"
    assert main(["load", str(tmp_path / "s"), "--json", "--nifti-out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["shape_zyx"] == [4, 16, 20]
    assert result["spacing_mm_zyx"] == pytest.approx([2.5, 0.6, 0.5])
    assert result["origin_mm"] == pytest.approx([-5.0, -4.0, 30.0])
    assert result["series_uid"] == meta.series_uid and result["warnings"] == []
    image = sitk.ReadImage(str(out))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), vol.hu)
    assert image.GetSpacing() == pytest.approx((0.5, 0.6, 2.5))
    assert image.GetOrigin() == pytest.approx((-5.0, -4.0, 30.0))
    assert main(["load", str(tmp_path / "s")]) == 0
    assert "spacing mm" in capsys.readouterr().out


def _shift_slice_sitk(image, offset_mm, origin_mm, size_xy, spacing_yx):
    """The reference: SimpleITK's linear ``Resample`` of the slice onto the grid."""
    import SimpleITK as sitk

    dy, dx = spacing_yx
    src = sitk.GetImageFromArray(np.ascontiguousarray(image, dtype=np.float32))
    src.SetSpacing((dx, dy))
    src.SetOrigin((offset_mm[0], offset_mm[1]))
    out = sitk.Resample(
        src,
        [int(size_xy[0]), int(size_xy[1])],
        sitk.Transform(),
        sitk.sitkLinear,
        (float(origin_mm[0]), float(origin_mm[1])),
        (dx, dy),
        (1.0, 0.0, 0.0, 1.0),
        float(AIR_HU),
        sitk.sitkFloat32,
    )
    return sitk.GetArrayViewFromImage(out).copy()


@pytest.mark.parametrize(
    "offset_mm", [(0.0, 3.37), (1.2, 7.9), (-0.3, 0.1), (2.0, 4.0), (-1.1, -2.3)]
)
def test_slice_shift_equals_simpleitk_linear_resampling(offset_mm):
    from ichmodel.io.resample import shift_slice

    image = np.random.default_rng(0).normal(0, 500, (40, 50)).astype(np.float32)
    args = (image, offset_mm, (-3.0, -1.0), (56, 70), (0.5, 0.6))
    np.testing.assert_allclose(shift_slice(*args), _shift_slice_sitk(*args), atol=1e-3)
