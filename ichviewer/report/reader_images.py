"""Which slices the report draws the reader's rulers and ROIs on (no Qt).

A measurement on one of the report's key slices is drawn on that key image. The others get a
compact "Reader's measurements" picture each, one per slice that carries any, at most
:data:`MAX_READER_IMAGES`; the report says which measurements were left undrawn. The pictures
themselves are drawn by :mod:`ichmodel.render_marks` (shared with the DICOM key images): axial,
coronal and sagittal slices in the report's brain window on square pixels, so a reformat has
its true aspect from the slice spacing, with the head's top up as in the viewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ichmodel.annotations import Plane, ReaderMeasurement

__all__ = [
    "MAX_READER_IMAGES",
    "ReaderImage",
    "plan_reader_images",
]

#: At most this many extra pictures: a row of the page.
MAX_READER_IMAGES = 4


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
