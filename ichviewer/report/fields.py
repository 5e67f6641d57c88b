"""Formatting helpers for the report: DICOM dates and names, numbers with units, model cards.

Qt-free. Objects are read by attribute or mapping key so duck-typed results work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

NOT_AVAILABLE = "not available"


def get_field(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute or mapping key ``name`` of ``obj`` (None-safe)."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def card_as_mapping(card: Any) -> dict[str, Any]:
    """A model card (dict, dataclass or object) as a plain dict."""
    if card is None:
        return {}
    if isinstance(card, Mapping):
        return dict(card)
    inner = getattr(card, "card", None)
    if inner is not None:  # a loaded model (ichmodel.checkpoint.LoadedModel): card + metrics
        data = card_as_mapping(inner)
        for key in ("name", "sha256"):
            value = getattr(card, key, None)
            if value:
                data.setdefault(key, value)
        metrics = getattr(card, "metrics", None)
        if metrics:
            data.setdefault("metrics", dict(metrics))
        return data
    to_dict = getattr(card, "to_dict", None) or getattr(card, "as_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    try:
        from dataclasses import asdict, is_dataclass

        if is_dataclass(card) and not isinstance(card, type):
            return asdict(card)
    except TypeError:  # pragma: no cover - defensive
        pass
    return {k: v for k, v in vars(card).items() if not k.startswith("_")}


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


def card_summary(card: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Short (label, value) rows of the card: known fields first, then metrics, then the rest."""
    order = (
        "name",
        "version",
        "architecture",
        "created",
        "summary",
        "training_data",
        "trained_on",
        "outcome_label",
        "intended_use",
        "not_for",
        "limitations",
        "warning",
    )
    #: Shown elsewhere in the report (banner box, software table, research statement).
    skip = {"banner", "notice", "sha256"}
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(key: str, value: Any) -> None:
        if value is None or value == "" or key.startswith("_"):
            return
        if isinstance(value, Mapping):
            parts = [f"{k} {_fmt_scalar(v)}" for k, v in value.items() if _is_scalar(v)]
            text = ", ".join(parts)
        elif isinstance(value, list | tuple):
            text = ", ".join(_fmt_scalar(v) for v in value if _is_scalar(v))
        else:
            text = _fmt_scalar(value)
        if text:
            label = key.replace("_", " ").capitalize()
            rows.append((label, text if len(text) <= 400 else text[:397] + "..."))

    for key in order:
        if key in card:
            add(key, card[key])
            seen.add(key)
    if "metrics" in card:
        add("metrics", card["metrics"])
        seen.add("metrics")
    for key, value in card.items():
        if key not in seen and key not in skip and len(rows) < 16:
            add(key, value)
    return tuple(rows)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _fmt_scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
