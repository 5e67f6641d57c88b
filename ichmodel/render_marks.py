"""Draw the reader's rulers and elliptical ROIs on a rendered slice (numpy and Pillow, no Qt).

Shared by the PDF report (:mod:`ichviewer.report`) and the DICOM key images
(:mod:`ichmodel.dicom_out`), so a key image sent to PACS carries the marks the PDF shows.

A :class:`PictureFrame` says where a picture's pixels lie in its plane's own pixel grid, the
grid the annotations' coordinates are in: the crop's corner, the plane's pixel spacing, the
picture's square pixel and whether its rows were flipped (a reformat shows the head's top up,
as the viewer does). A ruler is drawn as a line with end ticks and "number: length mm", an
ROI as its ellipse and its number, in the viewer's colours. Labels sit on a dark backing (as
on screen) beside their mark and move to another side when they would cover an earlier one.

:func:`render_marked_slice` renders any plane's slice in a window with its marks (the report's
pictures of slices that are not key images); :func:`cover_key_marks` and
:func:`draw_axial_marks` add the marks to axial pictures made by
:func:`ichmodel.render.render_slice` (the key images of both the PDF and the SC series).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ichmodel.annotations import (
    Plane,
    PointPx,
    ReaderMeasurement,
    Ruler,
    plane_image,
    plane_spacing_mm,
)

# the key slices' own resampling, so a picture of an axial slice and its key image match
from ichmodel.render import (
    A_SEGMENT_RGB,
    B_SEGMENT_RGB,
    ROI_RGB,
    RULER_RGB,
    RenderedSlice,
    resample_grid,
    sample_image,
    window_to_unit,
)
from ichmodel.volume import Volume

if TYPE_CHECKING:
    from ichmodel.measure.types import Measurement, Segment

__all__ = [
    "CropRC",
    "abc2_segments",
    "PictureFrame",
    "cover_key_marks",
    "cover_marks",
    "draw_axial_marks",
    "draw_reader_marks",
    "marks_on",
    "plane_crop",
    "render_marked_slice",
]

#: Under every line, a pixel wider on each side: the marks stay visible on any grey.
HALO_RGB = (0, 0, 0)

#: (left, top, right, bottom) in picture pixels.
Box = tuple[float, float, float, float]

#: Plane pixel box (row start, row stop, column start, column stop).
CropRC = tuple[int, int, int, int]


@dataclass(frozen=True)
class PictureFrame:
    """How a picture maps onto its plane's pixel grid."""

    plane: Plane
    slice_index: int
    #: The plane pixel (row, column) at the picture's top-left corner: the crop's start.
    origin_px: tuple[int, int]
    #: The plane's (row, column) pixel spacing (mm).
    spacing_rc_mm: tuple[float, float]
    #: The picture's square pixel (mm).
    pixel_mm: float
    #: The picture's (rows, columns).
    shape_px: tuple[int, int]
    #: The picture's rows run the other way from the plane's (superior up on a reformat).
    flip_rows: bool = False

    def to_picture(self, point_px: PointPx) -> tuple[float, float]:
        """(x, y) of a plane point in the picture, in Pillow's convention (pixel centres at
        whole numbers; the plane's pixel coordinates have them at .5)."""
        row = (point_px[0] - self.origin_px[0]) * self.spacing_rc_mm[0] / self.pixel_mm
        col = (point_px[1] - self.origin_px[1]) * self.spacing_rc_mm[1] / self.pixel_mm
        if self.flip_rows:
            row = self.shape_px[0] - row
        return col - 0.5, row - 0.5


def marks_on(
    measurements: Sequence[ReaderMeasurement], plane: Plane, slice_index: int
) -> tuple[ReaderMeasurement, ...]:
    """The measurements made on that slice of that plane."""
    return tuple(
        m for m in measurements
        if m.annotation.plane is plane and m.annotation.slice_index == slice_index
    )


def plane_crop(volume: Volume, plane: Plane, crop_yx: CropRC | None) -> CropRC:
    """The in-plane box of ``plane`` that an axial (y, x) box gives: reformats keep every
    slice (z) and crop their columns (x for coronal, y for sagittal)."""
    nz, ny, nx = volume.shape
    y0, y1, x0, x1 = crop_yx if crop_yx is not None else (0, ny, 0, nx)
    if plane is Plane.AXIAL:
        return (y0, y1, x0, x1)
    if plane is Plane.CORONAL:
        return (0, nz, x0, x1)
    return (0, nz, y0, y1)


def cover_marks(
    crop: CropRC, measurements: Sequence[ReaderMeasurement], shape_rc: tuple[int, int],
    margin_px: int = 2,
) -> CropRC:
    """``crop`` grown to hold every point of ``measurements`` (a ruler drawn off the head),
    within the plane's ``shape_rc``."""
    r0, r1, c0, c1 = crop
    for m in measurements:
        a = m.annotation
        points = ((a.start_px, a.end_px) if isinstance(a, Ruler)
                  else (a.corner_a_px, a.corner_b_px))
        for row, col in points:
            r0, r1 = min(r0, int(np.floor(row)) - margin_px), max(r1, int(np.ceil(row)) + margin_px)
            c0, c1 = min(c0, int(np.floor(col)) - margin_px), max(c1, int(np.ceil(col)) + margin_px)
    return (max(0, r0), min(shape_rc[0], r1), max(0, c0), min(shape_rc[1], c1))


def cover_key_marks(
    volume: Volume, crop_yx: CropRC | None, measurements: Sequence[ReaderMeasurement],
    slice_indices: Sequence[int],
) -> CropRC | None:
    """The axial crop of a set of key images grown to hold the marks made on any of those
    slices: one box for all of them, so they keep one scale and a ruler off the head shows.
    No crop (None: the whole slice) already holds every mark."""
    marked = [m for index in slice_indices for m in marks_on(measurements, Plane.AXIAL, index)]
    if crop_yx is None or not marked:
        return crop_yx
    return cover_marks(crop_yx, marked, volume.shape[1:])


def draw_axial_marks(
    picture: RenderedSlice, volume: Volume, crop_yx: CropRC | None,
    measurements: Sequence[ReaderMeasurement],
) -> RenderedSlice:
    """An axial picture of :func:`ichmodel.render.render_slice` (of ``volume``, cropped to
    ``crop_yx``) with the rulers and ROIs made on its slice drawn on it."""
    r0, _, c0, _ = crop_yx if crop_yx is not None else (0, 0, 0, 0)
    frame = PictureFrame(Plane.AXIAL, picture.slice_index, (r0, c0),
                         plane_spacing_mm(volume.spacing_mm, Plane.AXIAL), picture.pixel_mm,
                         picture.rgb.shape[:2])
    return draw_reader_marks(picture, frame, measurements)


def render_marked_slice(
    volume: Volume,
    plane: Plane,
    slice_index: int,
    measurements: Sequence[ReaderMeasurement],
    *,
    window_hu: tuple[float, float],
    crop_yx: CropRC | None = None,
    max_side_px: int = 512,
) -> RenderedSlice:
    """Slice ``slice_index`` of ``plane`` in the window ``window_hu`` (centre, width) with the
    ``measurements`` made on it drawn, cropped to ``crop_yx`` (an axial box) grown to hold
    them. A reformat has its true aspect (square pixels) with the head's top up."""
    hu = plane_image(volume.hu, plane, slice_index)
    spacing = plane_spacing_mm(volume.spacing_mm, plane)
    mine = marks_on(measurements, plane, slice_index)
    r0, r1, c0, c1 = cover_marks(plane_crop(volume, plane, crop_yx), mine, hu.shape)
    src_r, src_c, pixel_mm = resample_grid((r1 - r0, c1 - c0), spacing, max_side_px)
    grey = window_to_unit(sample_image(hu[r0:r1, c0:c1], src_r, src_c, 1), *window_hu)
    # the viewer's reformats put the head's top up: rows are z, flipped when z runs upwards
    flip = plane is not Plane.AXIAL and volume.orientation_code[2] == "S"
    if flip:
        grey = grey[::-1]
    rgb = np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)
    picture = RenderedSlice(rgb=np.repeat(rgb[..., None], 3, axis=-1), slice_index=slice_index,
                            pixel_mm=float(pixel_mm))
    frame = PictureFrame(plane, slice_index, (r0, c0), spacing, float(pixel_mm), rgb.shape[:2],
                         flip_rows=flip)
    return draw_reader_marks(picture, frame, mine)


@dataclass(frozen=True)
class _Style:
    line_px: int
    tick_px: int
    font_px: int
    pad_px: int

    @classmethod
    def for_picture(cls, shape_px: tuple[int, int]) -> _Style:
        # Sizes follow the picture's long side: the PDF prints a 512-px picture 40-50 mm wide,
        # so a 32-px font is ~3 mm (8-9 pt) on paper and a 4-px line ~0.4 mm, what still
        # reads on a page rendered at 80 dpi (smaller labels were a blur there).
        side = max(shape_px)
        return cls(line_px=max(2, round(side / 128)), tick_px=max(4, round(side / 50)),
                   font_px=max(11, round(side / 16)), pad_px=max(2, round(side / 128)))


@lru_cache(maxsize=8)
def _font(size_px: int):
    """Bitstream Vera Bold, which ships with reportlab: the same label on every machine."""
    import reportlab
    from PIL import ImageFont

    path = os.path.join(os.path.dirname(reportlab.__file__), "fonts", "VeraBd.ttf")
    try:
        return ImageFont.truetype(path, size_px)
    except OSError:
        return ImageFont.load_default(size=size_px)


def draw_reader_marks(
    picture: RenderedSlice, frame: PictureFrame, measurements: Sequence[ReaderMeasurement]
) -> RenderedSlice:
    """The picture with the frame's slice's rulers and ROIs drawn on it (a new picture; the
    same one when none is on this slice)."""
    mine = marks_on(measurements, frame.plane, frame.slice_index)
    if not mine:
        return picture
    from PIL import Image, ImageDraw

    if picture.rgb.shape[:2] != frame.shape_px:
        raise ValueError(f"the frame is for a {frame.shape_px} picture, not "
                         f"{picture.rgb.shape[:2]}")
    style = _Style.for_picture(frame.shape_px)
    image = Image.fromarray(np.ascontiguousarray(picture.rgb), mode="RGB")
    draw = ImageDraw.Draw(image)
    labels: list[tuple[str, tuple[int, int, int], list[tuple[float, float, float, float]]]] = []
    taken: list[Box] = []  # the ROIs' boxes and the labels placed: what a label must not cover
    lines: list[tuple[tuple[float, float], ...]] = []
    # Every mark first, then the labels over them: a label is never crossed by a later line.
    for m in mine:
        a = m.annotation
        if isinstance(a, Ruler):
            labels.append((f"{m.number}: {a.label}", RULER_RGB,
                           _draw_ruler(draw, frame, a.start_px, a.end_px, style)))
            lines.append((frame.to_picture(a.start_px), frame.to_picture(a.end_px)))
        else:
            labels.append((str(m.number), ROI_RGB,
                           _draw_ellipse(draw, frame, a.corner_a_px, a.corner_b_px, style)))
            (xa, ya), (xb, yb) = (frame.to_picture(a.corner_a_px),
                                  frame.to_picture(a.corner_b_px))
            taken.append((min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)))
    font = _font(style.font_px)
    for text, colour, anchors in labels:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        size = (right - left + 2 * style.pad_px, bottom - top + 2 * style.pad_px)
        box = _place(anchors, size, image.size, taken, lines)
        taken.append(box)
        image = _backing(image, box)
        draw = ImageDraw.Draw(image)
        draw.text((box[0] + style.pad_px - left, box[1] + style.pad_px - top), text,
                  font=font, fill=colour)
    return RenderedSlice(rgb=np.asarray(image).copy(), slice_index=picture.slice_index,
                         pixel_mm=picture.pixel_mm)


def _draw_ruler(draw, frame: PictureFrame, start_px: PointPx, end_px: PointPx,
                style: _Style) -> list[tuple[float, float, float, float]]:
    """The line and its end ticks; returns label anchors (x, y, dx, dy): a point and the
    direction the label moves away from it in, best first."""
    (x0, y0), (x1, y1) = frame.to_picture(start_px), frame.to_picture(end_px)
    if (y1, x1) < (y0, x0):  # the upper end first: where the viewer puts the label
        (x0, y0), (x1, y1) = (x1, y1), (x0, y0)
    length = math.hypot(x1 - x0, y1 - y0)
    mid = ((x0 + x1) / 2, (y0 + y1) / 2)
    if length < 1e-6:
        _line(draw, [(x0, y0), (x1, y1)], RULER_RGB, style)
        return [(mid[0], mid[1], 0.0, -1.0)]
    dx, dy = (x1 - x0) / length, (y1 - y0) / length
    nx, ny = -dy, dx  # perpendicular
    if ny > 0 or (ny == 0 and nx < 0):  # the side above (or right of a vertical ruler) first
        nx, ny = -nx, -ny
    t = style.tick_px
    segments = [[(x0, y0), (x1, y1)]] + [
        [(x - nx * t, y - ny * t), (x + nx * t, y + ny * t)] for x, y in ((x0, y0), (x1, y1))]
    for segment in segments:  # the dark halo of all three first, so no halo cuts a line
        _line(draw, segment, None, style)
    for segment in segments:
        _line(draw, segment, RULER_RGB, style)
    gap = t + style.pad_px
    # Beyond an end first (the upper one), then beside the ends, then beside the middle: the
    # structure measured lies between the ends, and a label beside the middle would hide it.
    beyond = [(x0 - dx * gap, y0 - dy * gap, -dx, -dy), (x1 + dx * gap, y1 + dy * gap, dx, dy)]
    beside = [(px + sign * nx * gap, py + sign * ny * gap, sign * nx, sign * ny)
              for px, py in ((x0, y0), (x1, y1), mid) for sign in (1.0, -1.0)]
    return beyond + beside


def _line(draw, points, colour: tuple[int, int, int] | None, style: _Style) -> None:
    """A line in ``colour``, or (None) its dark halo a pixel wider on each side, which keeps
    a pink line visible over the bright bleed and bone."""
    if colour is None:
        draw.line(points, fill=HALO_RGB, width=style.line_px + 2)
    else:
        draw.line(points, fill=colour, width=style.line_px)


def _draw_ellipse(draw, frame: PictureFrame, corner_a_px: PointPx, corner_b_px: PointPx,
                  style: _Style) -> list[tuple[float, float, float, float]]:
    (xa, ya), (xb, yb) = frame.to_picture(corner_a_px), frame.to_picture(corner_b_px)
    left, right = sorted((xa, xb))
    top, bottom = sorted((ya, yb))
    # Pillow's box holds the outermost pixel centres; the plane's corners are pixel edges
    box = [left + 0.5, top + 0.5, max(left + 0.5, right - 0.5), max(top + 0.5, bottom - 0.5)]
    draw.ellipse([box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1], outline=HALO_RGB,
                 width=style.line_px + 2)
    draw.ellipse(box, outline=ROI_RGB, width=style.line_px)
    cx, cy, gap = (left + right) / 2, (top + bottom) / 2, style.pad_px
    return [(cx, top - gap, 0.0, -1.0), (right + gap, cy, 1.0, 0.0),
            (cx, bottom + gap, 0.0, 1.0), (left - gap, cy, -1.0, 0.0)]


def _place(anchors, size: tuple[float, float], image_size: tuple[int, int],
           taken: Sequence[Box], lines: Sequence[tuple[tuple[float, float], ...]]) -> Box:
    """The first anchor's box (inside the picture) that covers no earlier label, ROI and no
    ruler's line, else the one that covers least."""
    w, h = size
    best: tuple[float, Box] | None = None
    for x, y, dx, dy in anchors:
        # the box's centre moved along (dx, dy) by its own extent in that direction: the whole
        # box lies beyond the anchor (a label beside a slanted ruler does not cross it)
        reach = abs(dx) * w / 2 + abs(dy) * h / 2
        cx, cy = x + dx * reach, y + dy * reach
        left = max(0.0, min(cx - w / 2, image_size[0] - w))
        top = max(0.0, min(cy - h / 2, image_size[1] - h))
        box = (left, top, left + w, top + h)
        covered = sum(_overlap(box, other) for other in taken)
        covered += w * h * sum(_crosses(box, line) for line in lines)
        if covered == 0:
            return box
        if best is None or covered < best[0]:
            best = (covered, box)
    assert best is not None
    return best[1]


def _crosses(box: Box, line: tuple[tuple[float, float], ...]) -> bool:
    """Whether a ruler's line (its two ends) passes through the box (sampled every pixel)."""
    (x0, y0), (x1, y1) = line
    n = max(2, int(math.hypot(x1 - x0, y1 - y0)) + 1)
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    inside = (xs >= box[0]) & (xs <= box[2]) & (ys >= box[1]) & (ys <= box[3])
    return bool(inside.any())


def _overlap(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, width) * max(0.0, height)


def _backing(image, box: Box):
    """The image with a dark translucent box (the viewer's label backing, alpha 170/255)."""
    from PIL import Image, ImageDraw

    veil = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(veil).rectangle([round(box[0]), round(box[1]), round(box[2]) - 1,
                                    round(box[3]) - 1], fill=(0, 0, 0, 170))
    return Image.alpha_composite(image.convert("RGBA"), veil).convert("RGB")


def abc2_segments(measurement: Measurement | None) -> list[tuple[Segment, tuple[int, int, int]]]:
    """The measurement's ABC/2 A and B diameters with their colours, as ``render_slice``'s
    ``segments_zyx`` (the report's and the DICOM key images' alike); none when not measured."""
    if measurement is None:
        return []
    pairs = ((measurement.abc2.a_segment_zyx, A_SEGMENT_RGB),
             (measurement.abc2.b_segment_zyx, B_SEGMENT_RGB))
    return [(segment, colour) for segment, colour in pairs if segment is not None]
