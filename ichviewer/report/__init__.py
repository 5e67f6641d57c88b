"""The PDF report a clinician can file: File → Export report.

Public API::

    export_report(path, *, volume, measurement=None, prediction=None, model_card=None,
                  options=ReportOptions()) -> Path

No Qt here: :mod:`~ichviewer.report.content` decides what the report says,
:mod:`~ichviewer.report.render` draws the key slices in numpy, :mod:`~ichviewer.report.pdf`
lays them out with reportlab. Call it from a worker thread for large volumes (it takes well
under a second for a typical head CT).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ichmodel.volume import Volume
from ichviewer.report.content import (
    RESEARCH_USE_STATEMENT,
    SYNTHETIC_MODEL_STATEMENT,
    KeySlice,
    ReportContent,
    ReportOptions,
    build_report_content,
)
from ichviewer.report.fields import get_field
from ichviewer.report.pdf import ReportExportError, write_pdf
from ichviewer.report.render import (
    A_SEGMENT_RGB,
    B_SEGMENT_RGB,
    RenderedSlice,
    head_bbox_yx,
    render_slice,
)

__all__ = [
    "RESEARCH_USE_STATEMENT",
    "SYNTHETIC_MODEL_STATEMENT",
    "KeySlice",
    "RenderedSlice",
    "ReportContent",
    "ReportExportError",
    "ReportOptions",
    "build_report_content",
    "export_report",
    "render_key_slices",
]

log = logging.getLogger(__name__)


def _segments(measurement: Any) -> list:
    """The ABC/2 A and B diameters as (((z, y, x), (z, y, x)), colour) pairs, when usable."""
    abc2 = get_field(measurement, "abc2")
    segments = []
    for name, colour in (("a_segment_zyx", A_SEGMENT_RGB), ("b_segment_zyx", B_SEGMENT_RGB)):
        segment = get_field(abc2, name)
        try:
            (z0, y0, x0), (z1, y1, x1) = segment  # type: ignore[misc]
            start, end = (float(z0), float(y0), float(x0)), (float(z1), float(y1), float(x1))
            segments.append(((start, end), colour))
        except (TypeError, ValueError):
            if segment is not None:
                log.warning("ABC/2 %s %r is not two (z, y, x) points; not drawn", name, segment)
    return segments


def render_key_slices(
    content: ReportContent,
    volume: Volume,
    measurement: Any = None,
    prediction: Any = None,
    options: ReportOptions | None = None,
    max_side_px: int = 512,
) -> list[RenderedSlice]:
    """Render the content's key slices with the options' window, contour and heatmap."""
    options = options or ReportOptions()
    mask = get_field(measurement, "hematoma_mask") if options.show_contour else None
    cam = get_field(prediction, "cam") if options.show_heatmap else None
    segments = _segments(measurement) if options.show_abc2_segments else []
    crop = head_bbox_yx(volume) if options.crop_to_head else None
    return [
        render_slice(
            volume,
            key.index,
            hematoma_mask=mask,
            cam=cam,
            heatmap_opacity=options.heatmap_opacity,
            window_hu=(options.window_center_hu, options.window_width_hu),
            colormap=options.colormap,
            segments_zyx=segments,
            max_side_px=max_side_px,
            crop_yx=crop,
        )
        for key in content.key_slices
    ]


def export_report(
    path: str | os.PathLike[str],
    *,
    volume: Volume,
    measurement: Any = None,
    prediction: Any = None,
    model_card: Any = None,
    options: ReportOptions | None = None,
) -> Path:
    """Write the PDF report for ``volume`` and its results to ``path``; return the path.

    ``measurement`` (``ichmodel.measure.Measurement``), ``prediction``
    (``ichmodel.predict.Prediction``) and ``model_card`` (the active model's card: dict or
    object) may be None; the report then says "not available" for what they would give.
    Raises :class:`ReportExportError` when the file cannot be written.
    """
    options = options or ReportOptions()
    content = build_report_content(volume, measurement, prediction, model_card, options)
    pictures = render_key_slices(content, volume, measurement, prediction, options)
    return write_pdf(path, content, pictures)
