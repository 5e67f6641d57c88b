"""Every bad input gives a specific exception, and exit 3 with one ``error:`` line on the CLI."""

from __future__ import annotations

import pydicom
import pytest

from ichmodel import errors
from ichmodel.cli import main
from ichmodel.io.load import load_study
from ichmodel.io.scan import scan_study
from tests.model import dicom_factory as f


def _cli_fails_cleanly(capsys, *argv: str) -> str:
    """Run the CLI; assert exit 3 and exactly one ``error:`` line, no traceback."""
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 3, captured
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def _empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _no_dicom(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    return folder


def _only_localizers_and_derived(tmp_path):
    f.make_localizer(tmp_path / "s" / "loc")
    f.make_derived(tmp_path / "s" / "summary")
    return tmp_path / "s"


def _random_bytes(tmp_path):
    for i in range(3):
        f.random_bytes_file(tmp_path / "r" / f"IM{i}.dcm", seed=i)
    return tmp_path / "r"


def _truncated_headers(tmp_path):
    paths = f.write(tmp_path / "t", f.make_volume((3, 16, 20)))
    for p in paths:
        f.truncate(p, 0.02)  # cut inside the header
    return tmp_path / "t"


def _truncated_pixels(tmp_path):
    paths = f.write(tmp_path / "t", f.make_volume((3, 16, 20)))
    for p in paths:
        f.truncate(p, 0.8)  # cut inside the pixel data
    return tmp_path / "t"


def _short_pixel_data(tmp_path):
    paths = f.write(tmp_path / "p", f.make_volume((3, 16, 20)))
    for p in paths:
        f.shorten_pixel_data(p)
    return tmp_path / "p"


def _mixed_sizes(tmp_path):
    a = f.write(tmp_path / "m" / "a", f.make_volume((3, 16, 20), seed=1))
    b = f.write(tmp_path / "m" / "b", f.make_volume((3, 24, 24), seed=2))
    first = pydicom.dcmread(a[0])
    f.retag(b, SeriesInstanceUID=first.SeriesInstanceUID, StudyInstanceUID=first.StudyInstanceUID)
    return tmp_path / "m"


def _single_slice(tmp_path):
    f.write(tmp_path / "one", f.make_volume((1, 16, 20)))
    return tmp_path / "one"


def _mr(tmp_path):
    f.make_mr(tmp_path / "mr")
    return tmp_path / "mr"


def _dicomdir_all_missing(tmp_path):
    paths = f.write(tmp_path / "src", f.make_volume((3, 16, 20)))
    dicomdir, images = f.make_dicomdir(tmp_path / "disc", paths)
    for image in images:
        image.unlink()
    return dicomdir


def _missing_path(tmp_path):
    return tmp_path / "does-not-exist"


CASES = [
    (_empty, errors.NoDicomFoundError, "empty"),
    (_no_dicom, errors.NoDicomFoundError, "no DICOM files"),
    (_only_localizers_and_derived, errors.NoUsableSeriesError, "localizer"),
    (_random_bytes, errors.UnreadableDicomError, "IM"),
    (_truncated_headers, errors.UnreadableDicomError, "readable DICOM"),
    (_truncated_pixels, errors.PixelDataError, "truncated"),
    (_short_pixel_data, errors.PixelDataError, "Rows x Columns"),
    (_mixed_sizes, errors.InconsistentSeriesError, "image sizes"),
    (_single_slice, errors.SingleSliceError, "single image"),
    (_mr, errors.UnsupportedModalityError, "MR"),
    (_dicomdir_all_missing, errors.MissingFilesError, "not on disk"),
    (_missing_path, errors.NoDicomFoundError, "does not exist"),
]


@pytest.mark.parametrize(("make", "error", "words"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_input_raises_specific_error(tmp_path, capsys, make, error, words):
    path = make(tmp_path)
    with pytest.raises(error) as info:
        load_study(path)
    assert words in str(info.value)
    assert isinstance(info.value, errors.InputError)
    line = _cli_fails_cleanly(capsys, "load", str(path))
    assert words in line


def test_series_command_lists_then_fails_when_nothing_is_usable(tmp_path, capsys):
    path = _only_localizers_and_derived(tmp_path)
    code = main(["series", str(path)])
    captured = capsys.readouterr()
    assert code == 3
    assert "Topogram" in captured.out and "localizer" in captured.out
    assert captured.err.count("error:") == 1


def test_unknown_series_uid(tmp_path, capsys):
    f.write(tmp_path, f.make_volume((3, 16, 20)))
    with pytest.raises(errors.SeriesNotFoundError, match="not in this study"):
        load_study(tmp_path, series_uid="1.2.3.4")
    _cli_fails_cleanly(capsys, "load", str(tmp_path), "--series", "1.2.3.4")


def test_good_files_beside_bad_ones_still_load(tmp_path):
    vol = f.make_volume((6, 16, 20))
    paths = f.write(tmp_path, vol, shuffle_names=False)
    f.random_bytes_file(tmp_path / "junk.dcm")
    (tmp_path / "notes.txt").write_text("x")
    f.truncate(paths[0], 0.8)  # pixel data cut: skipped at load time
    f.truncate(paths[5], 0.02)  # header cut: skipped at scan time
    loaded = load_study(tmp_path)
    assert loaded.shape == (4, 16, 20)
    assert (loaded.hu == vol.hu[1:5]).all()
    text = " ".join(loaded.warnings)
    assert paths[0].name in text and "truncated" in text
    assert "junk.dcm" in text and "notes.txt" in text and paths[5].name in text


def test_dicomdir_with_some_missing_files_loads_and_reports(tmp_path):
    paths = f.write(tmp_path / "src", f.make_volume((5, 16, 20)))
    dicomdir, images = f.make_dicomdir(tmp_path / "disc", paths)
    images[2].unlink()
    assert scan_study(dicomdir).picked.n_images == 4
    loaded = load_study(dicomdir)
    assert any("not on disk" in w for w in loaded.warnings)
    assert any("missing" in w and "interpolation" in w for w in loaded.warnings)


def test_mixed_sizes_with_a_clear_majority_loads_with_warning(tmp_path):
    a = f.write(tmp_path / "a", f.make_volume((9, 16, 20), seed=1))
    b = f.write(tmp_path / "b", f.make_volume((1, 24, 24), seed=2))
    first = pydicom.dcmread(a[0])
    f.retag(b, SeriesInstanceUID=first.SeriesInstanceUID, StudyInstanceUID=first.StudyInstanceUID)
    loaded = load_study(tmp_path)
    assert loaded.shape == (9, 16, 20)
    assert any("different size" in w and b[0].name in w for w in loaded.warnings)


def test_mixed_sizes_parts_can_be_chosen_by_key(tmp_path):
    path = _mixed_sizes(tmp_path)
    keys = [s.key for s in scan_study(path).series]
    assert len(keys) == 2 and all("#" in k for k in keys)
    assert load_study(path, series_uid=keys[0]).shape[0] == 3
    uid = keys[0].split("#")[0]
    with pytest.raises(errors.InconsistentSeriesError, match="choose one of"):
        load_study(path, series_uid=uid)
