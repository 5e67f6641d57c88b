"""The reader's rulers and ROIs drawn on the report's slices (issue 18): Qt-free, plain pytest.

Geometry is checked on the rendered picture arrays: the pixels along a ruler of known length
are the ruler's colour and span its length in mm, an ROI's outline is where its ellipse is,
a reformat has its true aspect with the head's top up.
"""

from __future__ import annotations

import numpy as np
import pytest

from ichmodel.annotations import (
    Plane,
    ReaderMeasurement,
    measure_ellipse,
    measure_ruler,
)
from ichmodel.reading import StudyReading
from ichmodel.render import ROI_RGB, RULER_RGB
from ichmodel.volume import Volume
from ichviewer.report import render_report_pictures
from ichviewer.report.content import ReportExtras, ReportOptions, build_report_content
from ichviewer.report.reader_images import MAX_READER_IMAGES
from ichviewer.report.render import head_bbox_yx
from tests.drawn_marks import is_colour, ruler_offsets_px
from tests.model.test_report_content import META

SPACING = (5.0, 0.8, 0.5)  # anisotropic in-plane pixels: the picture resamples to square ones


def _volume() -> Volume:
    """9 slices of air with a 30 HU block (rows 10-39, columns 20-59): the head crop starts
    off the corner, so a wrong crop offset moves the marks."""
    hu = np.full((9, 50, 80), -1000.0, dtype=np.float32)
    hu[:, 10:40, 20:60] = 30.0
    hu[:, 20:30, 30:40] = 60.0  # something to put an ROI on
    return Volume(hu=hu, spacing_mm=SPACING, meta=META)


def _content(reading, annotations):
    return build_report_content(reading, ReportOptions(app_version="t"),
                                ReportExtras(annotations=tuple(annotations)))


def _picture_point(point_px, crop, pixel_mm):
    """Where a plane point lands in an axial picture (pixel index coordinates, row, col)."""
    r0, _, c0, _ = crop
    return ((point_px[0] - r0) * SPACING[1] / pixel_mm - 0.5,
            (point_px[1] - c0) * SPACING[2] / pixel_mm - 0.5)


def test_a_ruler_on_a_key_slice_is_drawn_along_its_length_in_its_colour():
    volume = _volume()
    reading = StudyReading(volume=volume)
    start, end = (14.5, 24.5), (34.5, 54.5)  # 20 rows x 0.8 mm, 30 columns x 0.5 mm
    ruler = measure_ruler(volume.spacing_mm, Plane.AXIAL, 4, start, end)
    assert ruler.length_mm == pytest.approx(np.hypot(16.0, 15.0))
    content = _content(reading, [ReaderMeasurement(1, ruler)])
    assert [k.index for k in content.key_slices] == [3, 4, 5]
    assert [(i.slice_index, i.on_key_slice) for i in content.reader_images] == [(4, True)]
    plain = render_report_pictures(_content(reading, []), reading).key_slices
    pictures = render_report_pictures(content, reading).key_slices
    crop = head_bbox_yx(volume)
    assert crop is not None and crop[0] > 0 and crop[2] > 0
    marked = pictures[1]
    (ra, ca), (rb, cb) = (_picture_point(p, crop, marked.pixel_mm) for p in (start, end))
    # every pixel along the line (away from the label) is the ruler's colour, and was not before
    for t in np.linspace(0.05, 0.95, 40):
        r, c = round(ra + t * (rb - ra)), round(ca + t * (cb - ca))
        assert tuple(marked.rgb[r, c]) == RULER_RGB, (t, r, c)
        assert tuple(plain[1].rgb[r, c]) != RULER_RGB
    # the drawn line (the pink piece through its middle: the label stands apart) spans the
    # ruler's length in mm
    along, across = ruler_offsets_px(marked.rgb, RULER_RGB, (ra, ca), (rb, cb))
    near = along[across <= 3]
    assert (near.max() - near.min()) * marked.pixel_mm == pytest.approx(ruler.length_mm, abs=0.5)
    # the end ticks stand across the line at both ends
    ticks = (across > 4) & (across < 8)
    assert np.any(ticks & (np.abs(along) < 3)) and np.any(ticks & (np.abs(along - along.max()) < 3))
    # the other key slices carry no mark: they are the plain pictures
    assert np.array_equal(pictures[0].rgb, plain[0].rgb)
    assert np.array_equal(pictures[2].rgb, plain[2].rgb)
    # drawn on the key image, not again
    assert not render_report_pictures(content, reading).reader_images


def test_an_roi_is_outlined_where_its_ellipseis_colour():
    volume = _volume()
    reading = StudyReading(volume=volume)
    roi = measure_ellipse(volume, Plane.AXIAL, 4, (18.0, 28.0), (32.0, 44.0))
    assert roi.mean_hu > 30  # over the 60 HU block
    pictures = render_report_pictures(
        _content(reading, [ReaderMeasurement(2, roi)]), reading).key_slices
    rgb = pictures[1].rgb
    violet = is_colour(rgb, ROI_RGB)
    crop = head_bbox_yx(volume)
    (r0, c0), (r1, c1) = (_picture_point(p, crop, pictures[1].pixel_mm)
                          for p in ((18.0, 28.0), (32.0, 44.0)))
    cr, cc, hr, hc = (r0 + r1) / 2, (c0 + c1) / 2, (r1 - r0) / 2, (c1 - c0) / 2
    hits = 0
    for angle in np.linspace(0, 2 * np.pi, 36, endpoint=False):
        r, c = round(cr + (hr - 1.5) * np.sin(angle)), round(cc + (hc - 1.5) * np.cos(angle))
        hits += bool(violet[r - 2:r + 3, c - 2:c + 3].any())
    assert hits == 36
    inside = violet[round(cr - hr / 2):round(cr + hr / 2), round(cc - hc / 2):round(cc + hc / 2)]
    assert not inside.any()  # an outline, not a fill: the HU under it stays readable
    # its number is written beside it in its colour (text pixels above the ellipse)
    assert violet[: max(0, round(cr - hr - 2))].any()


def test_marks_off_the_key_slices_get_pictures_at_most_four_and_the_rest_is_said():
    volume = _volume()
    reading = StudyReading(volume=volume)
    marks = [ReaderMeasurement(n, measure_ruler(volume.spacing_mm, Plane.AXIAL, z,
                                                (15.5, 25.5), (15.5, 55.5)))
             for n, z in enumerate((0, 1, 2, 6, 7, 8), start=1)]
    content = _content(reading, marks)
    extra = [i for i in content.reader_images if not i.on_key_slice]
    assert [i.slice_index for i in extra] == [0, 1, 2, 6][:MAX_READER_IMAGES]
    assert "2 more slices carry measurements" in content.reader_images_note
    assert "#5 (axial 8); #6 (axial 9)" in content.reader_images_note
    pictures = render_report_pictures(content, reading).reader_images
    assert len(pictures) == len(extra)
    for picture, image in zip(pictures, extra, strict=True):
        assert picture.slice_index == image.slice_index
        row = round((15.5 - head_bbox_yx(volume)[0]) * SPACING[1] / picture.pixel_mm - 0.5)
        drawn_px = is_colour(picture.rgb[row], RULER_RGB).sum()
        assert drawn_px > 0.5 * 30 * SPACING[2] / picture.pixel_mm


def test_a_coronal_ruler_is_drawn_on_a_reformat_of_true_aspect_head_top_up():
    volume = _volume()
    reading = StudyReading(volume=volume)
    # along z on coronal slice y = 25, column x = 40: rows 0.5 to 4.5 are the lower slices
    ruler = measure_ruler(volume.spacing_mm, Plane.CORONAL, 25, (0.5, 40.5), (4.5, 40.5))
    assert ruler.length_mm == pytest.approx(20.0)
    content = _content(reading, [ReaderMeasurement(1, ruler)])
    assert "true aspect" in content.reader_images_note
    (picture,) = render_report_pictures(content, reading).reader_images
    crop = head_bbox_yx(volume)
    assert picture.height_mm == pytest.approx(9 * SPACING[0], abs=picture.pixel_mm)
    assert picture.width_mm == pytest.approx((crop[3] - crop[2]) * SPACING[2],
                                             abs=picture.pixel_mm)
    pink = is_colour(picture.rgb, RULER_RGB)
    column = round((40.5 - crop[2]) * SPACING[2] / picture.pixel_mm - 0.5)
    rows = np.flatnonzero(pink[:, column])
    # z runs towards the head's top (LPS), so slice 0 is at the bottom of the picture
    top, bottom = ((9 - z) * SPACING[0] / picture.pixel_mm - 0.5 for z in (4.5, 0.5))
    assert rows.min() == pytest.approx(top, abs=6) and rows.max() == pytest.approx(bottom, abs=6)
    assert (rows.max() - rows.min()) * picture.pixel_mm == pytest.approx(20.0, abs=0.6)
