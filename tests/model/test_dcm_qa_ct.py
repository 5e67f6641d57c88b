"""Real CT series from dcm2niix's validation suite (../shared/data/dcm_qa_ct; skipped if absent).

Reference geometry (shared README, dcm2niix v1.0.20260724):

* GE head, tilt 18.5°, gaps 1.08/4/7 mm: 512x611x56 at 0.4883x0.4883x2.6198 after tilt
  correction + equidistant resampling.
* Philips S21570/S2010 "STD BRAIN 5MM": 512x512x28 at 0.4512x0.4512x5.0.
* Philips S21610/S2010 "STEREOTAXIS", tilt -18.5°: 512x600x54 at 0.4824x0.4824x2.3708.

"Physical head volume" below is the ml of voxels above -300 HU (tissue and bone, not air).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ichmodel import errors
from ichmodel.io import classify as cl
from ichmodel.io.load import load_series, load_study
from ichmodel.io.scan import scan_study
from ichmodel.progress import run_to_completion

GE = "In/GE"
PHILIPS = "In/Philips"
PH_5MM = "In/Philips/S21570/S2010"
PH_TILT = "In/Philips/S21610/S2010"

_cache: dict[str, object] = {}


def _load(root: Path, rel: str):
    if rel not in _cache:
        _cache[rel] = load_study(root / rel)
    return _cache[rel]


def head_ml(hu: np.ndarray, spacing_mm) -> float:
    return float((hu > -300).sum()) * float(np.prod(spacing_mm)) / 1000.0


def _sitk_series_ml(folder: Path) -> float:
    """What a loader that trusts SimpleITK's ImageSeriesReader alone would measure."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    sitk.ProcessObject_GlobalWarningDisplayOff()
    try:
        image = reader.Execute()
    finally:
        sitk.ProcessObject_GlobalWarningDisplayOn()
    return head_ml(sitk.GetArrayFromImage(image), image.GetSpacing())


def test_ge_tilt_and_uneven_spacing(dcm_qa_ct):
    vol = _load(dcm_qa_ct, GE)
    text = " ".join(vol.warnings)
    assert "gantry tilt of 18.5°" in text
    assert "uneven slice spacing" in text and "1.08" in text and "7.00" in text
    assert "missing" not in text  # 7 mm slices are uneven spacing, not lost slices
    nz, ny, nx = vol.shape
    sz, sy, sx = vol.spacing_mm
    assert (ny, nx) == (611, 512)  # same in-plane grid as dcm2niix
    assert (sy, sx) == pytest.approx((0.4883, 0.4883), abs=1e-4)
    # same extent along the normal as dcm2niix's 56 slices at 2.6198 mm (first to last centre)
    assert (nz - 1) * sz == pytest.approx(55 * 2.6198, rel=1e-3)
    assert np.allclose(np.diff(np.arange(nz) * sz), sz)  # equidistant
    assert vol.orientation_code == "LPS"
    # padding (-1500) became air
    assert vol.hu.min() >= -1024


def test_philips_5mm_untilted(dcm_qa_ct):
    vol = _load(dcm_qa_ct, PH_5MM)
    assert vol.shape == (28, 512, 512)
    assert vol.spacing_mm == pytest.approx((5.0, 0.4512, 0.4512), abs=1e-4)
    assert vol.warnings == ()
    assert vol.meta.series_description == "STD BRAIN 5MM"
    assert vol.meta.kernel == "UB" and vol.meta.manufacturer.startswith("Philips")
    air = vol.hu[:, :8, :8]  # corner outside the phantom, RescaleIntercept -1024
    assert -1030 <= float(air.mean()) <= -990
    assert vol.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1), abs=1e-6)


def test_philips_tilted(dcm_qa_ct):
    vol = _load(dcm_qa_ct, PH_TILT)
    assert any("gantry tilt of 18.5°" in w for w in vol.warnings)
    assert vol.shape == (54, 600, 512)
    assert vol.spacing_mm == pytest.approx((2.3708, 0.4824, 0.4824), abs=1e-4)


def test_philips_localizer_and_exam_summary_never_picked(dcm_qa_ct):
    scan = scan_study(dcm_qa_ct / PHILIPS)
    assert scan.picked is not None and scan.picked.category == cl.CANDIDATE
    for s in scan.series:
        if s.description == "Exam Summary":
            assert s.category == cl.DERIVED and not s.picked
        if s.n_images == 1 and not s.description:
            assert s.category == cl.LOCALIZER and not s.picked
    with pytest.raises(errors.NoUsableSeriesError):
        load_study(dcm_qa_ct / "In/Philips/S21570/S4010")  # summaries, some without spacing
    with pytest.raises(errors.NoUsableSeriesError, match="localizer"):
        load_study(dcm_qa_ct / "In/Philips/S21570/S1000")


def test_philips_dicomdir_loads_what_exists_and_reports_missing(dcm_qa_ct):
    scan = scan_study(dcm_qa_ct / PHILIPS / "DICOMDIR")
    missing = [s for s in scan.series if s.category == cl.MISSING_FILES]
    assert {s.description for s in missing} == {
        "STEREOTAXIS",
        "BONE BRAIN 1MM",
        "STD BRAIN 1MM, iDose",
    }
    assert any("not on disk" in w for w in scan.warnings)
    loaded = {s.description: s.n_images for s in scan.series if s.is_candidate}
    assert loaded == {"STEREOTAXIS": 54, "STD BRAIN 5MM": 28}
    with pytest.raises(errors.MissingFilesError):
        run_to_completion(load_series(missing[0]))


def test_order_comes_from_positions_not_file_order(dcm_qa_ct):
    files = sorted((dcm_qa_ct / GE).iterdir(), reverse=True)
    vol = load_study(files)
    np.testing.assert_array_equal(vol.hu, _load(dcm_qa_ct, GE).hu)


@pytest.mark.parametrize("rel", [GE, PH_TILT])
def test_plain_simpleitk_gets_the_volume_wrong(dcm_qa_ct, rel):
    """SimpleITK's series reader takes one spacing (5.63 mm for GE, 2.5 mm along the tilt)."""
    vol = _load(dcm_qa_ct, rel)
    ours = head_ml(vol.hu, vol.spacing_mm)
    naive = _sitk_series_ml(dcm_qa_ct / rel)
    assert naive / ours - 1 > (0.08 if rel == GE else 0.04)


def _dcm2niix() -> str | None:
    beside = Path(sys.executable).with_name("dcm2niix")
    return str(beside) if beside.exists() else shutil.which("dcm2niix")


@pytest.fixture(scope="module")
def dcm2niix_outputs(dcm_qa_ct, tmp_path_factory):
    exe = _dcm2niix()
    if exe is None:
        pytest.skip("dcm2niix is not installed (pip install dcm2niix)")
    out: dict[str, Path] = {}
    for rel in (GE, PH_TILT):
        folder = tmp_path_factory.mktemp("dcm2niix")
        subprocess.run(
            [exe, "-z", "n", "-b", "n", "-f", "%s", "-o", str(folder), str(dcm_qa_ct / rel)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        tilted = sorted(folder.glob("*_Tilt*.nii"))
        assert tilted, f"dcm2niix wrote no tilt-corrected file for {rel}"
        out[rel] = tilted[0]
    return out


@pytest.mark.parametrize("rel", [GE, PH_TILT])
def test_head_volume_matches_dcm2niix_within_one_percent(dcm_qa_ct, dcm2niix_outputs, rel):
    import SimpleITK as sitk

    ref = sitk.ReadImage(str(dcm2niix_outputs[rel]))
    ref_ml = head_ml(sitk.GetArrayFromImage(ref), ref.GetSpacing())
    vol = _load(dcm_qa_ct, rel)
    ours = head_ml(vol.hu, vol.spacing_mm)
    assert ours == pytest.approx(ref_ml, rel=0.01)
    # in-plane grid identical to dcm2niix's tilt-corrected output
    assert vol.shape[1:] == tuple(reversed(ref.GetSize()[:2]))
