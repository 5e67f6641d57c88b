"""What a report says, decided without Qt: :class:`ReportContent` from a :class:`StudyReading`.

:func:`build_report_content` turns one :class:`~ichmodel.reading.StudyReading` into a frozen
:class:`ReportContent`: every label and value the PDF prints, already formatted, plus the key
slices to draw. A reading may lack a measurement or a prediction (not computed, failed); the
report then says "not available" instead of inventing a number. Whether the model was trained
on synthetic data is its recorded provenance, never guessed from names or card text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ichmodel.annotations import ReaderMeasurement
from ichmodel.flip_axes import flip_words
from ichmodel.measure.types import Measurement
from ichmodel.notices import Source
from ichmodel.predict import Prediction
from ichmodel.reading import KeySlice, StudyReading, rules
from ichmodel.reading.types import ModelIdentity
from ichmodel.volume import Volume
from ichviewer.report.fields import (
    NOT_AVAILABLE,
    card_summary,
    finite_or_none,
    fmt_dicom_date,
    fmt_dicom_time,
    fmt_ml,
    fmt_person_name,
    or_dash,
)
from ichviewer.report.reader_images import ReaderImage, plan_reader_images
from ichviewer.report.score_rows import comparison_rows, midline_rows, score_rows

if TYPE_CHECKING:
    from ichmodel.followup import Comparison
    from ichmodel.midline import MidlineShift
    from ichmodel.scores import ScoreSheet

log = logging.getLogger(__name__)

__all__ = [
    "RESEARCH_USE_STATEMENT",
    "KeySlice",
    "ReportContent",
    "ReportOptions",
    "build_report_content",
]

RESEARCH_USE_STATEMENT = (
    "Research use only — not a medical device. The numbers and images in this report were "
    "produced by experimental software and must not be used for diagnosis or treatment decisions."
)


@dataclass(frozen=True)
class ReportOptions:
    """How the report is made. ``heatmap_opacity`` is a fraction in [0, 1] (the viewer's slider)."""

    anonymize: bool = False
    heatmap_opacity: float = 0.4
    show_heatmap: bool = True
    show_contour: bool = True
    show_abc2_segments: bool = True
    #: Show only the head (everything above -300 HU, plus 5 mm) rather than the whole field of view.
    crop_to_head: bool = True
    colormap: str = "inferno"
    window_center_hu: float = 40.0
    window_width_hu: float = 80.0
    #: Key slices: the largest hematoma slice plus this many neighbours on each side ...
    n_neighbours: int = 1
    #: ... about this far apart (mm), at least one slice.
    neighbour_spacing_mm: float = 5.0
    created: datetime | None = None
    app_version: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.heatmap_opacity) <= 1.0:
            raise ValueError(
                f"heatmap_opacity is a fraction in [0, 1], got {self.heatmap_opacity}; "
                "divide a percentage by 100"
            )
        if self.window_width_hu <= 0:
            raise ValueError(f"window_width_hu must be positive, got {self.window_width_hu}")
        if self.n_neighbours < 0:
            raise ValueError(f"n_neighbours must be >= 0, got {self.n_neighbours}")


@dataclass(frozen=True)
class ReportExtras:
    """What the viewer adds to a reading's report: the follow-up ``comparison`` made for it,
    the ``scores`` and ``midline`` as the reader sees them (None: the reading's own), and
    the reader's rulers and ROIs (``annotations``: the "Reader's measurements" table, drawn
    on their slices)."""

    comparison: Comparison | None = None
    scores: ScoreSheet | None = None
    midline: MidlineShift | None = None
    annotations: tuple[ReaderMeasurement, ...] = ()


@dataclass(frozen=True)
class ReportContent:
    """Everything the PDF prints, formatted. Rows are (label, value) pairs."""

    title: str
    created: str
    app_version: str
    anonymized: bool
    identification: tuple[tuple[str, str], ...]
    software: tuple[tuple[str, str], ...]
    #: (label, value, method/notes) rows of the results table.
    results: tuple[tuple[str, str, str], ...]
    model_volume_ml: float | None
    planimetric_volume_ml: float | None
    abc2_volume_ml: float | None
    abc2_mm: tuple[float, float, float] | None
    poor_outcome_probability: float | None
    volumes_disagree: bool
    loader_warnings: tuple[str, ...]
    analysis_warnings: tuple[str, ...]
    key_slices: tuple[KeySlice, ...]
    key_slice_note: str
    image_legend: str
    model_card_summary: tuple[tuple[str, str], ...]
    #: The model's recorded provenance is synthetic or untrained.
    synthetic_model: bool
    #: The measurement's one-sentence status ("hematoma measured", ...), "" when not measured.
    measurement_status: str = ""
    #: What the model's provenance obliges the report to say ("" for a site model): the
    #: synthetic-data, untrained or not-recorded banner.
    provenance_statement: str = ""
    #: The model author's own extra warning (the card's ``banner``), or "".
    model_banner: str = ""
    research_statement: str = RESEARCH_USE_STATEMENT
    #: The reader's own rulers and ellipse ROIs (#, kind, slice, value); empty when none.
    reader_measurements: tuple[tuple[str, str, str, str], ...] = ()
    #: The same measurements as typed geometry, for drawing them on the slices.
    reader_annotations: tuple[ReaderMeasurement, ...] = ()
    #: The slices they are drawn on (key images first) and where they are / what was left out.
    reader_images: tuple[ReaderImage, ...] = ()
    reader_images_note: str = ""


# --- the pieces ---------------------------------------------------------------------------
def _identification(volume: Volume, anonymize: bool) -> tuple[tuple[str, str], ...]:
    meta = volume.meta
    shown = meta.anonymized() if anonymize else meta
    z, y, x = volume.shape
    sz, sy, sx = volume.spacing_mm
    # Anonymized: the rows are left out altogether (the PDF says so above the table).
    rows = (
        []
        if anonymize
        else [
            ("Patient name", or_dash(fmt_person_name(shown.patient_name))),
            ("Patient ID", or_dash(shown.patient_id)),
            ("Birth date", or_dash(fmt_dicom_date(shown.patient_birth_date))),
        ]
    )
    rows += [
        ("Sex / age", f"{or_dash(shown.patient_sex)} / {or_dash(shown.patient_age)}"),
        (
            "Study date",
            or_dash(f"{fmt_dicom_date(shown.study_date)} {fmt_dicom_time(shown.study_time)}"),
        ),
        ("Study", or_dash(shown.study_description)),
        ("Study UID", or_dash(shown.study_uid)),
        (
            "Series",
            or_dash(" ".join(p for p in (shown.series_number, shown.series_description) if p)),
        ),
        ("Series UID", or_dash(shown.series_uid)),
        (
            "Scanner",
            or_dash(" ".join(p for p in (shown.manufacturer, shown.model) if p))
            + (f", kernel {shown.kernel}" if shown.kernel else ""),
        ),
        (
            "Grid (z, y, x)",
            f"{z} × {y} × {x} voxels, spacing {sz:.2f} × {sy:.2f} × {sx:.2f} mm",
        ),
    ]
    return tuple(rows)


def _results(reading: StudyReading, extras: ReportExtras) -> tuple[tuple[str, str, str], ...]:
    measurement, prediction = reading.measurement, reading.prediction
    abc2 = measurement.abc2 if measurement is not None else None
    model_name = reading.model.name if reading.model is not None else ""
    untrusted = prediction is not None and not reading.model_trusted
    rows: list[tuple[str, str, str]] = [
        (
            "Hematoma volume, model (ml)",
            UNTRUSTED_VALUE if untrusted else fmt_ml(_finite(reading.model_volume_ml)),
            _model_note(prediction, model_name, untrusted),
        ),
        (
            "Hematoma volume, planimetric (ml)",
            fmt_ml(reading.planimetric_volume_ml),
            "segmented hematoma, edge voxels weighted by their blood fraction (partial volume)",
        ),
    ]
    if measurement is not None and measurement.hematomas:
        rows.append(
            (
                "Threshold count (ml)",
                fmt_ml(measurement.threshold_volume_ml),
                "voxel count of the contour, what a 3D Slicer threshold segmentation gives",
            )
        )
    if measurement is not None and len(measurement.hematomas) > 1:
        for h in measurement.hematomas:
            first, last = h.slice_range
            which = (
                "; ABC/2 describes this one" if h.number == measurement.abc2_hematoma_number else ""
            )
            rows.append(
                (
                    f"  Hematoma {h.number} (ml)",
                    fmt_ml(h.volume_ml),
                    f"{h.location_description}, slices {first + 1}-{last + 1}{which}",
                )
            )
    rows += _edit_rows(measurement)
    if abc2 is not None and abc2.slice_index is not None:
        abc_note = (
            f"A = {abc2.a_mm:.1f} mm, B = {abc2.b_mm:.1f} mm, C = {abc2.c_mm:.1f} mm "
            f"(A/B on slice {abc2.slice_index + 1})"
        )
    else:
        abc_note = "A × B × C / 2 on the largest hematoma slice"
    rows.append(("Hematoma volume, ABC/2 (ml)", fmt_ml(reading.abc2_volume_ml), abc_note))
    if reading.volumes_disagree:
        rows.append(
            (
                "Volumes disagree",
                "check",
                f"the volumes differ by more than {rules.DISAGREE_ABS_ML:.0f} ml and "
                f"{rules.DISAGREE_FRACTION * 100:.0f} %; review the segmentation",
            )
        )
    probability = _finite(prediction.poor_outcome_probability) if prediction else None
    if untrusted:
        probability_text = UNTRUSTED_VALUE
    elif probability is None:
        probability_text = NOT_AVAILABLE
    else:
        probability_text = f"{probability:.2f} ({probability * 100:.0f} %)"
    rows.append(("Poor-outcome probability", probability_text, "model prognosis head"))
    rows.append(_location_row(measurement))
    rows.append(("Intraventricular hemorrhage", _ivh_text(measurement), "blood in the ventricles"))
    rows += midline_rows(extras.midline or reading.midline)
    rows += score_rows(extras.scores or reading.scores)
    return tuple(rows)


def _edit_rows(measurement: Measurement | None) -> list[tuple[str, str, str]]:
    """How the reader edited the segmentation (issue 18); nothing when it was not edited."""
    edited = measurement.edited if measurement is not None else None
    if edited is None:
        return []
    parts, n = edited.what_changed(), edited.n_edits
    return [(
        "Segmentation",
        "edited by the reader",
        f"{'; '.join(parts) or 'no net change'} ({n} edit{'s' if n != 1 else ''}); "
        f"automatic volume {edited.automatic_volume_ml:.2f} ml at "
        f"{edited.hu_range[0]:g}-{edited.hu_range[1]:g} HU",
    )]


#: What the report prints instead of an out-of-distribution model's numbers.
UNTRUSTED_VALUE = "not shown"


def _model_note(prediction: Prediction | None, model_name: str, untrusted: bool) -> str:
    method = f"3D CNN regression ({model_name})" if model_name else "3D CNN regression"
    if untrusted and prediction is not None:
        return (f"this model has not seen scans like this one (out-of-distribution score "
                f"{prediction.ood_score:.1f} > {prediction.ood_threshold:.1f}); "
                "read the planimetric volume")
    if prediction is not None and prediction.in_distribution:
        return f"{method}; in distribution (score {prediction.ood_score:.1f})"
    return method


def _finite(value: float | None) -> float | None:
    return finite_or_none(value) if value is not None else None


def _location_row(measurement: Measurement | None) -> tuple[str, str, str]:
    if measurement is None:
        return ("Location", NOT_AVAILABLE, "from the hematoma's position (best effort)")
    return (
        "Location",
        or_dash(measurement.location),
        measurement.location_description
        or "from the hematoma's position (best effort, not an atlas)",
    )


def _ivh_text(measurement: Measurement | None) -> str:
    if measurement is None:
        return NOT_AVAILABLE
    return f"yes ({measurement.ivh_volume_ml:.1f} ml)" if measurement.ivh else "no"


def _software(
    prediction: Prediction | None, model: ModelIdentity | None, app_version: str
) -> tuple[tuple[str, str], ...]:
    rows = [("Application", f"ICH Viewer {app_version}")]
    if model is None:
        rows.append(("Model", NOT_AVAILABLE))
        return tuple(rows)
    rows.append(("Model", f"{model.name} (provenance: {model.provenance.value})"))
    rows.append(("Model weights SHA-256", model.sha256[:16] + "…"))
    if prediction is not None:
        total = prediction.timings_s.get("total")
        if total is None:  # no total: the stages ran one after another
            total = sum(prediction.timings_s.values())
        rows.append(("Inference device", f"{prediction.device}, {total:.2f} s"))
    return tuple(rows)


def _legend(reading: StudyReading, options: ReportOptions) -> str:
    volume, measurement, prediction = reading.volume, reading.measurement, reading.prediction
    parts = [f"Brain window {options.window_center_hu:g}/{options.window_width_hu:g} HU"]
    if options.show_contour and measurement is not None:
        edited = " (edited by the reader)" if measurement.edited is not None else ""
        parts.append(f"green contour: segmented hematoma{edited}")
        if measurement.ivh:
            parts.append("blue: blood counted as intraventricular")
        if measurement.excluded_mask is not None:
            parts.append("dashed violet: hematomas the reader excluded")
    if options.show_abc2_segments and measurement and measurement.abc2.a_segment_zyx is not None:
        parts.append("ABC/2 diameters: A yellow, B cyan")
    if options.show_heatmap and prediction is not None and reading.shown_cam is not None:
        flips = prediction.cam_flip_axes
        averaged = f", averaged over {flip_words(flips)} flips" if flips else ""
        parts.append(
            f"heatmap: Grad-CAM of the {prediction.cam_head} head{averaged} "
            f"({options.colormap}, opacity {options.heatmap_opacity * 100:.0f} %)"
        )
    side = volume.orientation_code[0]  # where the array's x (columns) points
    if side in ("L", "R"):
        shown_left = "right" if side == "L" else "left"
        parts.append(f"patient's {shown_left} on the image's left")
    return "; ".join(parts) + "."


def build_report_content(
    reading: StudyReading, options: ReportOptions | None = None,
    extras: ReportExtras | None = None,
) -> ReportContent:
    """Decide everything the report says. Pure (no Qt, no files); ``options.created`` pins time.
    ``extras`` (:class:`ReportExtras`) add the comparison's, scores' and midline's rows and the
    reader's measurements."""
    options = options or ReportOptions()
    extras = extras or ReportExtras()
    if options.app_version is not None:
        app_version = options.app_version
    else:
        from ichviewer import __version__ as app_version
    created = (options.created or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M %Z")
    model = reading.model
    key_slices, key_note = reading.key_slices(
        n_neighbours=options.n_neighbours, neighbour_spacing_mm=options.neighbour_spacing_mm
    )
    abc2 = reading.measurement.abc2 if reading.measurement is not None else None
    annotations = extras.annotations
    reader_images, reader_note = plan_reader_images(annotations, [k.index for k in key_slices])
    loader = reading.notices_from(Source.SCAN, Source.LOAD)
    analysis = [n for n in reading.notices if n not in loader]
    content = ReportContent(
        title="Head CT: intracerebral hemorrhage report",
        created=created,
        app_version=str(app_version),
        anonymized=options.anonymize,
        identification=_identification(reading.volume, options.anonymize),
        software=_software(reading.prediction, model, str(app_version)),
        results=_results(reading, extras) + tuple(comparison_rows(extras.comparison)),
        model_volume_ml=_finite(reading.model_volume_ml) if reading.model_trusted else None,
        planimetric_volume_ml=reading.planimetric_volume_ml,
        abc2_volume_ml=reading.abc2_volume_ml,
        abc2_mm=(abc2.a_mm, abc2.b_mm, abc2.c_mm) if reading.abc2_volume_ml else None,
        poor_outcome_probability=(
            _finite(reading.prediction.poor_outcome_probability)
            if reading.prediction and reading.model_trusted else None
        ),
        volumes_disagree=reading.volumes_disagree,
        loader_warnings=tuple(n.text for n in loader),
        analysis_warnings=tuple(f"{n.source.value}: {n.text}" for n in analysis),
        key_slices=key_slices,
        key_slice_note=key_note,
        image_legend=_legend(reading, options) + (
            " Reader's measurements as numbered below: rulers pink, ellipse ROIs violet."
            if any(i.on_key_slice for i in reader_images) else ""),
        model_card_summary=card_summary(model) if model is not None else (),
        synthetic_model=model is not None and model.is_synthetic_or_untrained,
        measurement_status=reading.measurement.status if reading.measurement else "",
        provenance_statement=model.provenance.banner if model is not None else "",
        model_banner=model.card.banner if model is not None else "",
        reader_measurements=tuple(
            (str(m.number), m.kind, m.where, m.value_text) for m in annotations
        ),
        reader_annotations=annotations,
        reader_images=reader_images,
        reader_images_note=reader_note,
    )
    log.debug("report content built: %d key slices", len(key_slices))
    return content
