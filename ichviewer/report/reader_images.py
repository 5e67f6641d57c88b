"""Which slices the report draws the reader's rulers and ROIs on, and their pictures (no Qt).

A measurement on one of the report's key slices is drawn on that key image. The others get a
compact "Reader's measurements" picture each, one per slice that carries any, at most
:data:`MAX_READER_IMAGES`; the report says which measurements were left undrawn. Axial,
coronal and sagittal slices are rendered in the report's brain window on square pixels, so a
reformat has its true aspect from the slice spacing, with the head's top up as in the viewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ichmodel.annotations import (
    Plane,
    ReaderMeasurement,
    Ruler,
    plane_image,
    plane_spacing_mm,
)

# the key slices' own resampling, so a reader picture of an axial slice and its key image match
from ichmodel.render import RenderedSlice, resample_grid, sample_image, window_to_unit
from ichmodel.volume import Volume
from ichviewer.report.reader_marks import PictureFrame, draw_reader_marks

__all__ = [
    "MAX_READER_IMAGES",
    "ReaderImage",
    "cover_marks",
    "plan_reader_images",
    "plane_crop",
    "render_reader_image",
]

#: At most this many extra pictures: a row of the page.
MAX_READER_IMAGES = 4

#: Plane pixel box (row start, row stop, column start, column stop).
CropRC = tuple[int, int, int, int]


@dataclass(frozen=True)
class ReaderImage:
    """One slice carrying the reader's measurements ``numbers``; ``on_key_slice`` when it is
    one of the report's key images (drawn there, not again)."""

    plane: Plane
    slice_index: int
    numbers: tuple[int, ...]
    on_key_slice: bool = False

    @property
    def where(self) -> str:
        return f"{self.plane.value} {self.slice_index + 1}"

    @property
    def marks_text(self) -> str:
        return ", ".join(f"#{n}" for n in self.numbers)

    @property
    def caption(self) -> str:
        return f"{self.where} · {self.marks_text}"


def plan_reader_images(
    measurements: Sequence[ReaderMeasurement],
    key_slice_indices: Sequence[int],
    max_images: int = MAX_READER_IMAGES,
) -> tuple[tuple[ReaderImage, ...], str]:
    """The slices to draw measurements on (key-slice ones first flagged, then at most
    ``max_images`` others, in the order of their first measurement) and the sentence that
    says where they are drawn and which were left out."""
    groups: dict[tuple[Plane, int], list[int]] = {}
    for m in sorted(measurements, key=lambda m: m.number):
        groups.setdefault((m.annotation.plane, m.annotation.slice_index), []).append(m.number)
    keys = set(key_slice_indices)
    on_key, others = [], []
    for (plane, index), numbers in groups.items():
        image = ReaderImage(plane, index, tuple(numbers),
                            on_key_slice=plane is Plane.AXIAL and index in keys)
        (on_key if image.on_key_slice else others).append(image)
    shown, left_out = others[:max_images], others[max_images:]
    sentences = []
    if on_key:
        sentences.append("Drawn on the key slices above: "
                         + "; ".join(f"{i.marks_text} ({i.where})" for i in on_key) + ".")
    if left_out:
        n = len(left_out)
        sentences.append(
            f"{n} more slice{'s' if n != 1 else ''} carr{'y' if n != 1 else 'ies'} "
            "measurements not drawn here (only the first "
            f"{max_images} are): " + "; ".join(f"{i.marks_text} ({i.where})" for i in left_out)
            + "; see the table.")
    if any(i.plane is not Plane.AXIAL for i in shown):
        sentences.append("Coronal and sagittal reformats are shown at their true aspect "
                         "(slice spacing), the head's top up.")
    return tuple(on_key + shown), " ".join(sentences)


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


def render_reader_image(
    volume: Volume,
    image: ReaderImage,
    measurements: Sequence[ReaderMeasurement],
    *,
    window_hu: tuple[float, float],
    crop_yx: CropRC | None = None,
    max_side_px: int = 512,
) -> RenderedSlice:
    """The slice in the brain window with its measurements drawn on it."""
    plane, index = image.plane, image.slice_index
    hu = plane_image(volume.hu, plane, index)
    spacing = plane_spacing_mm(volume.spacing_mm, plane)
    mine = [m for m in measurements if m.number in image.numbers]
    r0, r1, c0, c1 = cover_marks(plane_crop(volume, plane, crop_yx), mine, hu.shape)
    src_r, src_c, pixel_mm = resample_grid((r1 - r0, c1 - c0), spacing, max_side_px)
    grey = window_to_unit(sample_image(hu[r0:r1, c0:c1], src_r, src_c, 1), *window_hu)
    # the viewer's reformats put the head's top up: rows are z, flipped when z runs upwards
    flip = plane is not Plane.AXIAL and volume.orientation_code[2] == "S"
    if flip:
        grey = grey[::-1]
    rgb = np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)
    picture = RenderedSlice(rgb=np.repeat(rgb[..., None], 3, axis=-1), slice_index=index,
                            pixel_mm=float(pixel_mm))
    frame = PictureFrame(plane, index, (r0, c0), spacing, float(pixel_mm), rgb.shape[:2],
                         flip_rows=flip)
    return draw_reader_marks(picture, frame, mine)
