"""The PDF report a clinician can file: File → Export report.

Public API::

    export_report(path, reading, options=ReportOptions()) -> Path

No Qt here: :mod:`~ichviewer.report.content` decides what the report says from the
:class:`~ichmodel.reading.StudyReading`, :mod:`~ichviewer.report.render` draws the key slices in
numpy, :mod:`~ichviewer.report.pdf` lays them out with reportlab. Call it from a worker thread
for large volumes (it takes well under a second for a typical head CT).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ichmodel.reading import KeySlice, StudyReading
from ichmodel.render_marks import (
    abc2_segments,
    cover_key_marks,
    draw_axial_marks,
    render_marked_slice,
)
from ichviewer.report.content import (
    RESEARCH_USE_STATEMENT,
    ReportContent,
    ReportExtras,
    ReportOptions,
    build_report_content,
)
from ichviewer.report.pdf import ReportExportError, write_pdf
from ichviewer.report.render import (
    RenderedSlice,
    head_bbox_yx,
    render_slice,
)

__all__ = [
    "RESEARCH_USE_STATEMENT",
    "KeySlice",
    "RenderedSlice",
    "ReportContent",
    "ReportExportError",
    "ReportExtras",
    "ReportOptions",
    "build_report_content",
    "export_report",
    "ReportPictures",
    "render_report_pictures",
]


@dataclass(frozen=True)
class ReportPictures:
    """What the PDF shows as images: the key slices (with the reader's marks made on them)
    and the compact pictures of the other slices that carry reader's measurements, in the
    order of ``content.reader_images``."""

    key_slices: list[RenderedSlice]
    reader_images: list[RenderedSlice]


def render_report_pictures(
    content: ReportContent,
    reading: StudyReading,
    options: ReportOptions | None = None,
    max_side_px: int = 512,
) -> ReportPictures:
    """Render the content's key slices with the options' window, contour and heatmap, and the
    reader's rulers and ROIs: on the key slices, and on their own pictures elsewhere."""
    options = options or ReportOptions()
    volume, measurement = reading.volume, reading.measurement
    window_hu = (options.window_center_hu, options.window_width_hu)
    mask = measurement.hematoma_mask if options.show_contour and measurement else None
    excluded = measurement.excluded_mask if options.show_contour and measurement else None
    ivh = measurement.drawn_ivh_mask if options.show_contour and measurement else None
    cam = reading.shown_cam if options.show_heatmap else None
    segments = abc2_segments(measurement) if options.show_abc2_segments else []
    head_crop = head_bbox_yx(volume) if options.crop_to_head else None
    # the key slices' crop widens to take in the marks made on them
    crop = cover_key_marks(volume, head_crop, content.reader_annotations,
                           [key.index for key in content.key_slices])
    key_slices = []
    for key in content.key_slices:
        picture = render_slice(
            volume,
            key.index,
            hematoma_mask=mask,
            excluded_mask=excluded,
            ivh_mask=ivh,
            cam=cam,
            heatmap_opacity=options.heatmap_opacity,
            window_hu=window_hu,
            colormap=options.colormap,
            segments_zyx=segments,
            max_side_px=max_side_px,
            crop_yx=crop,
        )
        key_slices.append(draw_axial_marks(picture, volume, crop, content.reader_annotations))
    reader_images = [
        render_marked_slice(volume, image.plane, image.slice_index, content.reader_annotations,
                            window_hu=window_hu, crop_yx=head_crop, max_side_px=max_side_px)
        for image in content.reader_images if not image.on_key_slice
    ]
    return ReportPictures(key_slices, reader_images)


def export_report(
    path: str | os.PathLike[str], reading: StudyReading, options: ReportOptions | None = None,
    extras: ReportExtras | None = None,
) -> Path:
    """Write the PDF report of ``reading`` (with the viewer's ``extras``) to ``path``; return
    the path.

    A reading without a measurement or prediction gives a report that says "not available"
    for what they would give. Raises :class:`ReportExportError` when the file cannot be written.
    """
    options = options or ReportOptions()
    content = build_report_content(reading, options, extras)
    pictures = render_report_pictures(content, reading, options)
    return write_pdf(path, content, pictures.key_slices, pictures.reader_images)
