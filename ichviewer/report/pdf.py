"""Lay a :class:`~ichviewer.report.content.ReportContent` out as an A4 PDF with reportlab.

No Qt: the PDF is built from the formatted content and the already rendered key slices, and
written atomically (a temporary file beside the target, then renamed).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from ichmodel.errors import ICHError
from ichviewer.report.content import ReportContent
from ichviewer.report.render import RenderedSlice

log = logging.getLogger(__name__)

RED = "#b00020"
GREY = "#555555"
LIGHT = "#f2f2f2"
WARN_BG = "#fff3cd"

#: TrueType fonts tried in order (wide Unicode coverage for patient names); reportlab's own
#: Bitstream Vera is the fallback that always exists, Helvetica the last resort.
_FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("C:/Windows/Fonts/arial.ttf", "C:/Windows/Fonts/arialbd.ttf"),
    (
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    ),
)


class ReportExportError(ICHError):
    """The PDF report could not be written (folder missing, no permission, disk full)."""


@lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    """Register and return (regular, bold) font names (and set reportlab's options once)."""
    from reportlab import rl_config

    # Binary (Flate only) image streams: without reportlab's C accelerator its ASCII85
    # encoder is pure Python and took ~1.2 s of a 1.6 s export for three 512-px slices.
    rl_config.useA85 = 0
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    candidates = list(_FONT_CANDIDATES)
    for folder in rl_config.TTFSearchPath:
        candidates.append((os.path.join(folder, "Vera.ttf"), os.path.join(folder, "VeraBd.ttf")))
    import reportlab

    fonts_dir = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
    candidates.append((os.path.join(fonts_dir, "Vera.ttf"), os.path.join(fonts_dir, "VeraBd.ttf")))
    for regular, bold in candidates:
        if os.path.isfile(regular) and os.path.isfile(bold):
            try:
                pdfmetrics.registerFont(TTFont("ReportSans", regular))
                pdfmetrics.registerFont(TTFont("ReportSans-Bold", bold))
            except Exception as exc:  # a broken font file: try the next one
                log.debug("font %s not usable: %s", regular, exc)
                continue
            log.debug("report font: %s", regular)
            return "ReportSans", "ReportSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def _styles() -> dict:
    from reportlab.lib.styles import ParagraphStyle

    regular, bold = _fonts()
    base = ParagraphStyle("base", fontName=regular, fontSize=9, leading=11.5)
    h2 = ParagraphStyle("h2", parent=base, fontName=bold, fontSize=11.5, leading=14,
                        spaceBefore=8, spaceAfter=4, keepWithNext=1)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=16, leading=20),
        "h2": h2,
        # a heading whose table may split over pages (see _story)
        "h2_flowing": ParagraphStyle("h2_flowing", parent=h2, keepWithNext=0),
        "bold": ParagraphStyle("bold", parent=base, fontName=bold),
        "warn": ParagraphStyle(
            "warn", parent=base, fontName=bold, textColor=RED, fontSize=10.5, leading=13
        ),
        "caption": ParagraphStyle("caption", parent=base, fontSize=7.5, leading=9, alignment=1),
    }


def _p(text: str, style) -> object:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _table(rows, col_widths, styles, header: Sequence[str] | None = None, highlight=()):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    data = []
    if header:
        data.append([_p(h, styles["bold"]) for h in header])
    for row in rows:
        data.append(
            [_p(cell, styles["bold"] if i == 0 else styles["base"]) for i, cell in enumerate(row)]
        )
    table = Table(data, colWidths=col_widths, hAlign="LEFT")
    commands = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(LIGHT)))
    offset = 1 if header else 0
    for i in highlight:
        commands.append(("BACKGROUND", (0, i + offset), (-1, i + offset), colors.HexColor(WARN_BG)))
    table.setStyle(TableStyle(commands))
    return table


def _pairs_table(rows, width, styles, long_text: int = 40):
    """(label, value) rows laid out two pairs per line; long values get a line of their own."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Table, TableStyle

    label_w = 32 * mm
    value_w = width / 2 - label_w
    short = [(k, v) for k, v in rows if len(v) <= long_text]
    long = [(k, v) for k, v in rows if len(v) > long_text]
    data, spans = [], []
    for i in range(0, len(short), 2):
        pair = short[i : i + 2]
        cells = [_p(pair[0][0], styles["bold"]), _p(pair[0][1], styles["base"])]
        cells += (
            [_p(pair[1][0], styles["bold"]), _p(pair[1][1], styles["base"])]
            if len(pair) == 2
            else ["", ""]
        )
        data.append(cells)
    for label, value in long:  # UIDs and other long values: a full-width line each
        spans.append(len(data))
        data.append([_p(label, styles["bold"]), _p(value, styles["base"]), "", ""])
    table = Table(data, colWidths=[label_w, value_w, label_w, value_w], hAlign="LEFT")
    commands = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    commands += [("SPAN", (1, row), (3, row)) for row in spans]
    table.setStyle(TableStyle(commands))
    return table


def _image_flowable(picture: RenderedSlice, width_pt: float, max_height_pt: float):
    """A flowable drawing the picture at the given width (true aspect), at most max height."""
    from PIL import Image as PILImage  # Pillow comes with reportlab (its image dependency)
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Flowable

    # a PIL image goes in as is: no PNG encode/decode round trip
    reader = ImageReader(PILImage.fromarray(np.ascontiguousarray(picture.rgb), mode="RGB"))
    aspect = picture.height_mm / picture.width_mm
    width, height = width_pt, width_pt * aspect
    if height > max_height_pt:
        width, height = max_height_pt / aspect, max_height_pt

    class _Picture(Flowable):
        def wrap(self, available_width, available_height):
            return width, height

        def draw(self) -> None:
            self.canv.drawImage(reader, 0, 0, width, height)

    return _Picture()


def _key_slice_block(content: ReportContent, pictures: Sequence[RenderedSlice], styles, width):
    from reportlab.lib.units import mm
    from reportlab.platypus import Table, TableStyle

    if not pictures:
        return [_p("No slice images (the volume could not be rendered).", styles["base"])]
    n = len(pictures)
    gap = 3 * mm
    cell = (width - gap * (n - 1)) / n
    captions = {s.index: s.caption for s in content.key_slices}
    for image in content.reader_images:  # the reader's marks drawn on a key image
        if image.on_key_slice:
            captions[image.slice_index] += f" · reader {image.marks_text}"
    images = [_image_flowable(p, cell, 48 * mm) for p in pictures]
    texts = [
        _p(captions.get(p.slice_index, f"slice {p.slice_index + 1}"), styles["caption"])
        for p in pictures
    ]
    table = Table([images, texts], colWidths=[cell + (gap if i < n - 1 else 0) for i in range(n)])
    table.setStyle(
        TableStyle(
            [
                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), gap),
            ]
        )
    )
    return [
        _p(content.key_slice_note, styles["base"]),
        table,
        _p(content.image_legend, styles["small"]),
    ]


def _reader_block(content: ReportContent, pictures: Sequence[RenderedSlice], styles, width):
    """The reader's measurements: a row of compact pictures of the slices that are not key
    images (at most four, the note says what was left out) above the table."""
    from reportlab.lib.units import mm
    from reportlab.platypus import Table, TableStyle

    block = [_p("Reader's measurements", styles["h2"])]
    extra = [i for i in content.reader_images if not i.on_key_slice]
    if len(pictures) != len(extra):
        raise ValueError(f"{len(pictures)} reader pictures for {len(extra)} reader images")
    if pictures:
        n_cells, gap = max(4, len(pictures)), 3 * mm  # compact: a quarter of the page each
        cell = (width - gap * (n_cells - 1)) / n_cells
        row = Table(
            [[_image_flowable(p, cell, 42 * mm) for p in pictures],
             [_p(i.caption, styles["caption"]) for i in extra]],
            colWidths=[cell + gap] * len(pictures), hAlign="LEFT")
        row.setStyle(TableStyle([
            ("ALIGN", (0, 0), (-1, -1), "CENTER"), ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), gap),
        ]))
        block.append(row)
    if content.reader_images_note:
        block.append(_p(content.reader_images_note, styles["small"]))
    block += [
        _table(content.reader_measurements, [10 * mm, 24 * mm, 26 * mm, width - 60 * mm],
               styles, header=("#", "Kind", "Slice", "Value")),
        _p("Drawn by the reader in the viewer: rulers pink (number: length), ellipse ROIs "
           "violet (number). ROI statistics are over the voxels whose centres lie inside the "
           "ellipse (SD of those voxels); the area counts them.", styles["small"]),
    ]
    return block


def _story(content: ReportContent, pictures: Sequence[RenderedSlice], width: float,
           reader_pictures: Sequence[RenderedSlice] = ()) -> list:
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import CondPageBreak, KeepTogether, Spacer, Table, TableStyle

    s = _styles()
    story: list = [
        _p(content.title, s["title"]),
        _p(f"Created {content.created} with ICH Viewer {content.app_version}", s["small"]),
        Spacer(1, 3 * mm),
    ]
    banner = [[_p(content.research_statement, s["bold"])]]
    if content.model_banner:
        banner.insert(0, [_p(content.model_banner, s["warn"])])
    if content.provenance_statement:
        banner.insert(0, [_p(content.provenance_statement, s["warn"])])
    box = Table(banner, colWidths=[width])
    box.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.0, colors.HexColor(RED)),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fdecea")),
            ]
        )
    )
    story += [box, _p("Patient and study", s["h2"])]
    if content.anonymized:
        story.append(_p("Anonymized: name, ID and birth date removed.", s["small"]))
    story.append(_pairs_table(content.identification, width, s))

    # the results table (long with scores and several hematomas) flows on to the next page
    # with its header repeated, rather than leaving page 1 blank (keepWithNext would carry the
    # whole table over); the heading starts a new page only when its first rows would not fit
    story.append(CondPageBreak(40 * mm))
    story.append(_p("Results", s["h2_flowing"]))
    highlight = [i for i, row in enumerate(content.results) if row[0] == "Volumes disagree"]
    results = _table(
        content.results,
        [66 * mm, 26 * mm, width - 92 * mm],
        s,
        header=("Measure", "Value", "Method / notes"),
        highlight=highlight,
    )
    results.repeatRows = 1
    story.append(results)
    if content.measurement_status:
        story.append(_p(f"Measurement: {content.measurement_status}.", s["small"]))

    story.append(
        KeepTogether([_p("Key slices", s["h2"]), *_key_slice_block(content, pictures, s, width)])
    )
    if content.reader_measurements:  # the reader's rulers and ROIs (issue 18)
        story.append(KeepTogether(_reader_block(content, reader_pictures, s, width)))

    story.append(_p("Warnings", s["h2"]))
    if not content.loader_warnings and not content.analysis_warnings:
        story.append(
            _p("None: the loader, the measurement and the model raised no warning.", s["base"])
        )
    for warning in content.loader_warnings:
        story.append(_p(f"• loader: {warning}", s["base"]))
    for warning in content.analysis_warnings:
        story.append(_p(f"• {warning}", s["base"]))

    story.append(_p("Software and model", s["h2"]))
    story.append(_table(content.software, [50 * mm, width - 50 * mm], s))
    if content.model_card_summary:
        story += [Spacer(1, 2 * mm), _p("Model card (summary)", s["bold"])]
        story.append(_table(content.model_card_summary, [50 * mm, width - 50 * mm], s))
    story += [Spacer(1, 4 * mm), _p(content.research_statement, s["small"])]
    if content.provenance_statement:
        story.append(_p(content.provenance_statement, s["warn"]))
    return story


def write_pdf(
    path: str | os.PathLike[str], content: ReportContent, pictures: Sequence[RenderedSlice],
    reader_pictures: Sequence[RenderedSlice] = (),
) -> Path:
    """Write the report to ``path`` (atomically) and return the path. ``reader_pictures`` are
    the drawn slices of ``content.reader_images`` that are not key images, in that order."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise ReportExportError(
            f"cannot write the report to {target}: the folder {target.parent} does not exist; "
            "choose an existing folder"
        )
    regular, bold = _fonts()
    footer_lines = [
        f"ICH Viewer {content.app_version} · {content.created} · "
        "research use only — not a medical device"
    ]
    if content.provenance_statement:
        footer_lines.append(content.provenance_statement)

    def on_page(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7)
        canvas.setFillColor(colors.HexColor(GREY))
        canvas.drawString(doc.leftMargin, 10 * mm, footer_lines[0])
        canvas.drawRightString(A4[0] - doc.rightMargin, 10 * mm, f"page {doc.page}")
        if len(footer_lines) > 1:
            canvas.setFont(bold, 7)
            canvas.setFillColor(colors.HexColor(RED))
            canvas.drawString(doc.leftMargin, 6.5 * mm, footer_lines[1])
        canvas.restoreState()

    fd, tmp_name = tempfile.mkstemp(prefix=".report-", suffix=".pdf", dir=target.parent)
    os.close(fd)
    try:
        doc = SimpleDocTemplate(
            tmp_name,
            pagesize=A4,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=14 * mm,
            bottomMargin=18 * mm,
            title=content.title,
            author="ICH Viewer",
            subject="Research use only — not a medical device",
            creator="ICH Viewer",
        )
        doc.build(_story(content, pictures, doc.width, reader_pictures), onFirstPage=on_page,
                  onLaterPages=on_page)
        os.replace(tmp_name, target)
    except OSError as exc:
        raise ReportExportError(
            f"cannot write the report to {target}: {exc.strerror or exc}; "
            "choose another folder or free some disk space"
        ) from exc
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    log.info("report written to %s", target)
    return target
