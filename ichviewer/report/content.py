"""What a report says, decided without Qt: :class:`ReportContent` from Volume + results.

:func:`build_report_content` turns a :class:`~ichmodel.volume.Volume`, a measurement
(``ichmodel.measure.Measurement``), a prediction (``ichmodel.predict.Prediction``) and the active
model's card into one frozen :class:`ReportContent`: every label and value the PDF prints,
already formatted, plus the key slices to draw. Measurement, prediction and card may be ``None``
(not computed, failed); the report then says "not available" instead of inventing a number.

The measurement and prediction are read by attribute name (the contracted names: see
``ichmodel.measure`` and ``ichmodel.predict``), so any object with those attributes works.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ichmodel.flip_axes import flip_words
from ichmodel.volume import Volume
from ichviewer.report.fields import (
    NOT_AVAILABLE,
    card_as_mapping,
    card_summary,
    finite_or_none,
    fmt_dicom_date,
    fmt_dicom_time,
    fmt_ml,
    fmt_person_name,
    get_field,
    or_dash,
)
from ichviewer.report.keyslices import (
    KeySlice,
    choose_key_slices,
    hematoma_area_per_slice_mm2,
    slice_position_mm,
)

log = logging.getLogger(__name__)

__all__ = [
    "RESEARCH_USE_STATEMENT",
    "SYNTHETIC_MODEL_STATEMENT",
    "KeySlice",
    "ReportContent",
    "ReportOptions",
    "build_report_content",
    "choose_key_slices",
    "hematoma_area_per_slice_mm2",
    "slice_position_mm",
]

RESEARCH_USE_STATEMENT = (
    "Research use only — not a medical device. The numbers and images in this report were "
    "produced by experimental software and must not be used for diagnosis or treatment decisions."
)
SYNTHETIC_MODEL_STATEMENT = "Trained on synthetic data — not for clinical use."


def _words(text: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _model_banner(card: Mapping[str, Any], synthetic: bool, predicted: bool) -> str:
    """The card's own banner, unless it only repeats the synthetic-data statement (the demo
    card's "Trained on synthetic data - not for clinical use" printed twice, dashes apart)."""
    banner = str(card.get("banner") or "") if predicted or card else ""
    provenance = card.get("provenance")
    if provenance:
        from ichmodel.model_card import Provenance

        banner = " — ".join(b for b in (Provenance(provenance).banner, banner) if b)
    if synthetic and _words(banner) == _words(SYNTHETIC_MODEL_STATEMENT):
        return ""
    return banner


#: Card fields whose text decides whether a model was trained on synthetic data.
_CARD_DATA_KEYS = ("name", "training_data", "trained_on", "dataset", "data", "training")
_SYNTHETIC_WORDS = ("synthetic", "phantom", "untrained", "demo")


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
    #: Which Grad-CAM head the heatmap came from ("volume" or "prognosis"), for the legend
    #: (the prediction's own ``cam_head`` wins when it has one).
    cam_head: str = "volume"
    colormap: str = "inferno"
    window_center_hu: float = 40.0
    window_width_hu: float = 80.0
    #: Key slices: the largest-hematoma-area slice plus this many neighbours on each side ...
    n_neighbours: int = 1
    #: ... about this far apart (mm), at least one slice.
    neighbour_spacing_mm: float = 5.0
    #: The three volumes are flagged as disagreeing when their spread exceeds both limits.
    disagreement_ml: float = 5.0
    disagreement_fraction: float = 0.25
    #: None: decided from the model card / model name; True/False: the caller knows.
    synthetic_model: bool | None = None
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
    synthetic_model: bool
    #: The measurement's one-sentence status ("hematoma measured", ...), "" when not measured.
    measurement_status: str = ""
    #: The model card's one-line warning a UI must show (e.g. "UNTRAINED MODEL: ..."), or "".
    model_banner: str = ""
    research_statement: str = RESEARCH_USE_STATEMENT
    synthetic_statement: str = SYNTHETIC_MODEL_STATEMENT
    extra: Mapping[str, Any] = field(default_factory=dict)


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


def _is_synthetic(card: Mapping[str, Any], prediction: Any, options: ReportOptions) -> bool:
    if options.synthetic_model is not None:
        return bool(options.synthetic_model)
    for flag in ("synthetic", "untrained", "demo", "trained_on_synthetic"):
        if card.get(flag) is True:
            return True
    texts = [str(card.get(key, "")) for key in _CARD_DATA_KEYS]
    texts.append(str(get_field(prediction, "model_name", "") or ""))
    joined = " ".join(texts).lower()
    return any(word in joined for word in _SYNTHETIC_WORDS)


def _volumes_disagree(values: list[float | None], options: ReportOptions) -> bool:
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return False
    spread = max(known) - min(known)
    return spread > options.disagreement_ml and spread > options.disagreement_fraction * max(known)


def _results(
    measurement: Any, prediction: Any, options: ReportOptions
) -> tuple[tuple[tuple[str, str, str], ...], dict[str, Any]]:
    model_ml = finite_or_none(get_field(prediction, "predicted_volume_ml"))
    planimetric_ml = finite_or_none(get_field(measurement, "hematoma_volume_ml"))
    abc2 = get_field(measurement, "abc2")
    abc2_ml = finite_or_none(get_field(abc2, "volume_ml"))
    a_mm, b_mm, c_mm = (finite_or_none(get_field(abc2, k)) for k in ("a_mm", "b_mm", "c_mm"))
    abc_mm = (a_mm, b_mm, c_mm) if None not in (a_mm, b_mm, c_mm) else None
    probability = finite_or_none(get_field(prediction, "poor_outcome_probability"))
    disagree = _volumes_disagree([model_ml, planimetric_ml, abc2_ml], options)

    model_name = get_field(prediction, "model_name") or ""
    rows: list[tuple[str, str, str]] = [
        (
            "Hematoma volume, model (ml)",
            fmt_ml(model_ml),
            f"3D CNN regression ({model_name})" if model_name else "3D CNN regression",
        ),
        (
            "Hematoma volume, planimetric (ml)",
            fmt_ml(planimetric_ml),
            "voxel count of the segmented hematoma × voxel volume",
        ),
    ]
    if abc_mm is not None:
        abc_note = f"A = {a_mm:.1f} mm, B = {b_mm:.1f} mm, C = {c_mm:.1f} mm" + (
            f" (A/B on slice {int(get_field(abc2, 'slice_index')) + 1})"
            if get_field(abc2, "slice_index") is not None
            else ""
        )
    else:
        abc_note = "A × B × C / 2 on the largest-area slice"
    rows.append(("Hematoma volume, ABC/2 (ml)", fmt_ml(abc2_ml), abc_note))
    if disagree:
        rows.append(
            (
                "Volumes disagree",
                "check",
                "the three volumes differ by more than "
                f"{options.disagreement_ml:.0f} ml and "
                f"{options.disagreement_fraction * 100:.0f} %; review the segmentation",
            )
        )
    rows.append(
        (
            "Poor-outcome probability",
            NOT_AVAILABLE
            if probability is None
            else f"{probability:.2f} ({probability * 100:.0f} %)",
            "model prognosis head",
        )
    )
    location = get_field(measurement, "location")
    description = get_field(measurement, "location_description") or ""
    rows.append(
        (
            "Location",
            or_dash(location) if measurement is not None else NOT_AVAILABLE,
            description or "from the hematoma's position (best effort, not an atlas)",
        )
    )
    ivh = get_field(measurement, "ivh")
    ivh_ml = finite_or_none(get_field(measurement, "ivh_volume_ml"))
    if measurement is None or ivh is None:
        ivh_text = NOT_AVAILABLE
    elif ivh:
        ivh_text = "yes" + (f" ({ivh_ml:.1f} ml)" if ivh_ml is not None else "")
    else:
        ivh_text = "no"
    rows.append(("Intraventricular hemorrhage", ivh_text, "blood in the ventricles"))
    numbers = {
        "model_volume_ml": model_ml,
        "planimetric_volume_ml": planimetric_ml,
        "abc2_volume_ml": abc2_ml,
        "abc2_mm": abc_mm,
        "poor_outcome_probability": probability,
        "volumes_disagree": disagree,
    }
    return tuple(rows), numbers


def _software(prediction: Any, card: Mapping[str, Any], app_version: str) -> tuple:
    rows = [("Application", f"ICH Viewer {app_version}")]
    name = get_field(prediction, "model_name") or card.get("name")
    version = card.get("version")
    if name:
        rows.append(("Model", f"{name}" + (f" (version {version})" if version else "")))
    else:
        rows.append(("Model", NOT_AVAILABLE))
    sha = get_field(prediction, "model_sha256") or card.get("sha256")
    if sha:
        rows.append(("Model weights SHA-256", str(sha)[:16] + "…"))
    device = get_field(prediction, "device")
    timings = get_field(prediction, "timings_s")
    if device:
        text = str(device)
        if isinstance(timings, Mapping) and timings:
            total = finite_or_none(timings.get("total"))
            if total is None:  # no total: the stages ran one after another
                total = sum(float(v) for v in timings.values() if finite_or_none(v) is not None)
            text += f", {total:.2f} s"
        rows.append(("Inference device", text))
    return tuple(rows)


def build_report_content(
    volume: Volume,
    measurement: Any = None,
    prediction: Any = None,
    model_card: Any = None,
    options: ReportOptions | None = None,
) -> ReportContent:
    """Decide everything the report says. Pure (no Qt, no files); ``options.created`` pins time."""
    options = options or ReportOptions()
    if options.app_version is not None:
        app_version = options.app_version
    else:
        from ichviewer import __version__ as app_version
    created = (options.created or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M %Z")
    card = card_as_mapping(model_card)
    synthetic = (prediction is not None or bool(card)) and _is_synthetic(card, prediction, options)

    results, numbers = _results(measurement, prediction, options)
    mask = get_field(measurement, "hematoma_mask")
    cam = get_field(prediction, "cam")
    key_slices, key_note = choose_key_slices(volume, mask, cam, options)

    legend_parts = [f"Brain window {options.window_center_hu:g}/{options.window_width_hu:g} HU"]
    if options.show_contour and mask is not None:
        legend_parts.append("green contour: segmented hematoma")
    if (
        options.show_abc2_segments
        and get_field(get_field(measurement, "abc2"), "a_segment_zyx") is not None
    ):
        legend_parts.append("ABC/2 diameters: A yellow, B cyan")
    if options.show_heatmap and cam is not None:
        head = get_field(prediction, "cam_head") or options.cam_head
        flips = get_field(prediction, "cam_flip_axes") or ()
        averaged = f", averaged over {flip_words(flips)} flips" if flips else ""
        legend_parts.append(
            f"heatmap: Grad-CAM of the {head} head{averaged} "
            f"({options.colormap}, opacity {options.heatmap_opacity * 100:.0f} %)"
        )
    side = volume.orientation_code[0]  # where the array's x (columns) points
    if side in ("L", "R"):
        shown_left = "right" if side == "L" else "left"
        legend_parts.append(f"patient's {shown_left} on the image's left")

    analysis_warnings = tuple(
        [f"measurement: {w}" for w in (get_field(measurement, "warnings") or ())]
        + [f"model: {w}" for w in (get_field(prediction, "warnings") or ())]
    )
    content = ReportContent(
        title="Head CT: intracerebral hemorrhage report",
        created=created,
        app_version=str(app_version),
        anonymized=options.anonymize,
        identification=_identification(volume, options.anonymize),
        software=_software(prediction, card, str(app_version)),
        results=results,
        model_volume_ml=numbers["model_volume_ml"],
        planimetric_volume_ml=numbers["planimetric_volume_ml"],
        abc2_volume_ml=numbers["abc2_volume_ml"],
        abc2_mm=numbers["abc2_mm"],
        poor_outcome_probability=numbers["poor_outcome_probability"],
        volumes_disagree=numbers["volumes_disagree"],
        loader_warnings=tuple(str(w) for w in volume.warnings),
        analysis_warnings=analysis_warnings,
        key_slices=key_slices,
        key_slice_note=key_note,
        image_legend="; ".join(legend_parts) + ".",
        model_card_summary=card_summary(card),
        synthetic_model=synthetic,
        measurement_status=str(get_field(measurement, "status") or ""),
        model_banner=_model_banner(card, synthetic, prediction is not None),
    )
    log.debug("report content built: %d key slices, synthetic=%s", len(key_slices), synthetic)
    return content
