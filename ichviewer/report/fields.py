"""Formatting helpers for the report: DICOM dates and names, numbers with units, model cards.

Qt-free.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ichmodel.reading import ModelIdentity

NOT_AVAILABLE = "not available"


def finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt_ml(value: float | None) -> str:
    return NOT_AVAILABLE if value is None else f"{value:.1f} ml"


def fmt_mm(value: float | None) -> str:
    return NOT_AVAILABLE if value is None else f"{value:.1f} mm"


def fmt_dicom_date(text: str) -> str:
    """DICOM DA "YYYYMMDD" as "YYYY-MM-DD"; anything else unchanged."""
    text = (text or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def fmt_dicom_time(text: str) -> str:
    text = (text or "").strip()
    if len(text) >= 4 and text[:4].isdigit():
        return f"{text[:2]}:{text[2:4]}" + (f":{text[4:6]}" if len(text) >= 6 else "")
    return text


def fmt_person_name(text: str) -> str:
    """DICOM PN "Family^Given^Middle" as "Family, Given Middle"."""
    parts = [p for p in (text or "").split("^") if p]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    return f"{parts[0]}, {' '.join(parts[1:])}"


def or_dash(text: Any) -> str:
    text = "" if text is None else str(text).strip()
    return text if text else "—"


def card_summary(model: ModelIdentity) -> tuple[tuple[str, str], ...]:
    """Short (label, value) rows of the model's card, then its recorded metrics."""
    card = model.card
    rows: list[tuple[str, str]] = [("Name", model.name), ("Provenance", model.provenance.value)]
    rows += [(title, _shorten(text)) for title, text in card.sections()]
    metrics = ", ".join(f"{k} {_fmt_scalar(v)}" for k, v in model.metrics.items() if _is_scalar(v))
    if metrics:
        rows.append(("Metrics", _shorten(metrics)))
    return tuple(rows)


def _shorten(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _fmt_scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
