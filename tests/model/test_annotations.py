"""The ruler and the elliptical ROI (ichmodel.annotations) on volumes of known geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ichmodel.annotations import (
    AnnotationError,
    Plane,
    ellipse_axes_px,
    ellipse_mask,
    measure_ellipse,
    measure_ruler,
    n_slices,
    plane_image,
    plane_point_index,
    plane_spacing_mm,
)
from ichmodel.volume import Volume

SPACING = (5.0, 0.6, 0.9)  # (z, y, x) mm: anisotropic in plane and thick slices


def checker_volume(shape=(8, 100, 90)) -> Volume:
    """40 and 60 HU in a checkerboard: mean 50, SD 10, min 40, max 60 everywhere."""
    z, y, x = np.indices(shape)
    hu = np.where((y + x + z) % 2 == 0, 40.0, 60.0).astype(np.float32)
    return Volume(hu, SPACING)


def test_plane_spacing_and_images_follow_the_table():
    assert plane_spacing_mm(SPACING, Plane.AXIAL) == (0.6, 0.9)
    assert plane_spacing_mm(SPACING, Plane.CORONAL) == (5.0, 0.9)
    assert plane_spacing_mm(SPACING, Plane.SAGITTAL) == (5.0, 0.6)
    hu = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    assert plane_image(hu, Plane.CORONAL, 1).shape == (2, 4)
    assert plane_image(hu, Plane.SAGITTAL, 3).shape == (2, 3)
    assert plane_image(hu, Plane.SAGITTAL, 3)[1, 2] == hu[1, 2, 3]
    assert [n_slices(hu.shape, p) for p in Plane] == [2, 3, 4]
    with pytest.raises(AnnotationError, match="outside the volume"):
        plane_image(hu, Plane.AXIAL, 2)


def test_ruler_length_uses_row_and_column_spacing():
    # 24 mm down the rows and 32 mm along the columns: a 3-4-5 triangle of 40 mm
    start = (10.0, 10.0)
    end = (10.0 + 24 / 0.6, 10.0 + 32 / 0.9)
    ruler = measure_ruler(SPACING, Plane.AXIAL, 3, start, end)
    assert ruler.length_mm == pytest.approx(40.0, abs=1e-9)
    assert ruler.label == "40.0 mm"
    # the same pixels on a coronal reformat: rows are 5 mm slices
    coronal = measure_ruler(SPACING, Plane.CORONAL, 3, (0.0, 0.0), (2.0, 0.0))
    assert coronal.length_mm == pytest.approx(10.0)


def test_ellipse_mask_holds_the_voxel_centres_inside():
    mask = ellipse_mask((10, 10), (0.0, 0.0), (10.0, 10.0))
    assert mask[5, 5] and mask[0, 5] and mask[5, 0] and not mask[0, 0]
    assert mask.sum() == pytest.approx(math.pi * 25, rel=0.08)
    assert not ellipse_mask((10, 10), (2.0, 2.0), (2.0, 8.0)).any()  # a flat box


def test_ellipse_statistics_in_a_known_region():
    volume = checker_volume()
    roi = measure_ellipse(volume, Plane.AXIAL, 4, (20.0, 15.0), (80.0, 75.0))
    assert roi.mean_hu == pytest.approx(50.0, abs=0.5)
    assert roi.sd_hu == pytest.approx(10.0, abs=0.1)
    assert (roi.min_hu, roi.max_hu) == (40.0, 60.0)
    # the drawn ellipse: semi-axes 30 px * 0.6 mm and 30 px * 0.9 mm
    assert roi.ellipse_area_mm2 == pytest.approx(math.pi * 18.0 * 27.0)
    assert roi.area_mm2 == pytest.approx(roi.ellipse_area_mm2, rel=0.02)
    assert roi.area_mm2 == pytest.approx(roi.n_voxels * 0.6 * 0.9)
    # corners in any order give the same ellipse
    again = measure_ellipse(volume, Plane.AXIAL, 4, (80.0, 75.0), (20.0, 15.0))
    assert again.n_voxels == roi.n_voxels


def test_uniform_region_and_reformat_planes():
    hu = np.full((8, 100, 90), 35.0, np.float32)
    hu[:, 40:60, 30:60] = 72.0
    volume = Volume(hu, SPACING)
    roi = measure_ellipse(volume, Plane.AXIAL, 2, (42.0, 32.0), (58.0, 58.0))
    assert (roi.mean_hu, roi.sd_hu, roi.min_hu, roi.max_hu) == (72.0, 0.0, 72.0, 72.0)
    sag = measure_ellipse(volume, Plane.SAGITTAL, 45, (1.0, 41.0), (7.0, 59.0))
    assert sag.mean_hu == 72.0
    assert sag.area_mm2 == pytest.approx(sag.n_voxels * 5.0 * 0.6)


def test_an_ellipse_without_voxels_is_a_clear_error():
    with pytest.raises(AnnotationError, match="larger box"):
        measure_ellipse(checker_volume(), Plane.AXIAL, 0, (5.2, 5.2), (5.4, 5.4))
    with pytest.raises(AnnotationError, match="outside"):
        measure_ellipse(checker_volume(), Plane.CORONAL, 500, (0.0, 0.0), (4.0, 4.0))


def test_numbered_measurements_become_report_rows():
    from datetime import datetime

    from ichmodel.annotations import ReaderMeasurement
    from ichmodel.reading import StudyReading
    from ichviewer.report import ReportExtras, ReportOptions, build_report_content

    volume = checker_volume()
    ruler = measure_ruler(SPACING, Plane.CORONAL, 11, (1.0, 10.0), (9.0, 10.0))
    roi = measure_ellipse(volume, Plane.AXIAL, 4, (20.0, 15.0), (80.0, 75.0))
    marks = (ReaderMeasurement(1, ruler), ReaderMeasurement(3, roi))
    assert [m.kind for m in marks] == ["Ruler", "Ellipse ROI"]
    assert marks[0].where == "coronal 12" and marks[0].value_text == "40.0 mm"
    assert marks[1].value_text.startswith("50.0 ± 10.0 HU (min 40, max 60), ")
    reading = StudyReading(volume=volume, source_label="test")
    options = ReportOptions(created=datetime(2026, 1, 1), app_version="0")
    content = build_report_content(reading, options, ReportExtras(annotations=tuple(marks)))
    assert content.reader_measurements == (
        ("1", "Ruler", "coronal 12", "40.0 mm"),
        ("3", "Ellipse ROI", "axial 5", marks[1].value_text),
    )
    assert build_report_content(reading, options).reader_measurements == ()


@pytest.mark.parametrize("plane", list(Plane))
def test_plane_point_index_is_the_voxel_plane_image_shows_there(plane):
    """A pixel centre on slice k of any plane is the voxel whose HU plane_image shows there."""
    hu = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    k = n_slices(hu.shape, plane) - 2
    image = plane_image(hu, plane, k)
    r, c = image.shape[0] - 1, 1
    zyx = plane_point_index(plane, k, (r + 0.5, c + 0.5))
    assert all(float(v).is_integer() for v in zyx)
    assert hu[tuple(int(v) for v in zyx)] == image[r, c]


def test_ellipse_axes_put_the_longer_axis_in_mm_first():
    """Which axis is the major one is decided in mm, not px: axial 50 rows x 40 columns of
    0.6 x 0.9 mm is 30 x 36 mm (the columns); sagittal 30 rows x 40 columns of 5 x 0.6 mm is
    150 x 24 mm (the rows)."""
    volume = Volume(np.zeros((10, 200, 200), np.float32), SPACING)
    roi = measure_ellipse(volume, Plane.AXIAL, 3, (100.0, 50.0), (150.0, 90.0))
    assert ellipse_axes_px(roi, SPACING) == ((125.0, 50.0), (125.0, 90.0),
                                             (100.0, 70.0), (150.0, 70.0))
    sag = measure_ellipse(Volume(np.zeros((40, 200, 200), np.float32), SPACING),
                          Plane.SAGITTAL, 3, (30.0, 50.0), (0.0, 90.0))
    assert ellipse_axes_px(sag, SPACING) == ((0.0, 70.0), (30.0, 70.0),
                                             (15.0, 50.0), (15.0, 90.0))
