"""The typed result of a clinical score: its items with points and sources, the total (or
why there is none), the outcome row of the paper's table, and which volume fed it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Volume methods a score can be fed with.
VOLUME_METHODS = ("abc2", "planimetric")
VOLUME_METHOD_LABEL = {"abc2": "ABC/2", "planimetric": "planimetric"}


@dataclass(frozen=True)
class ScoreItem:
    """One item of a score. ``points`` None: the item is not known (missing input)."""

    key: str
    label: str
    #: What the item's input was, in words ("GCS 7", "31.2 ml (ABC/2)", "not entered").
    value_text: str
    points: int | None
    #: Where the input came from: "reader", "measurement", "DICOM PatientAge", ...
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value_text,
            "points": self.points,
            "source": self.source,
        }


@dataclass(frozen=True)
class Straddle:
    """The planimetric and ABC/2 volumes fall on either side of a volume threshold of the
    score, so the score differs with the method: both results, and the sentence saying why."""

    other_method: str
    other_volume_ml: float
    other_total: int | None
    threshold_text: str
    reason: str
    #: The outcome row of ``other_total`` ("" when the score is incomplete).
    other_outcome_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "other_method": self.other_method,
            "other_volume_ml": round(self.other_volume_ml, 2),
            "other_total": self.other_total,
            "other_outcome": self.other_outcome_text or None,
            "threshold": self.threshold_text,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ScoreResult:
    """One score computed. ``total`` is None when any item is missing (``missing`` names
    them); ``outcome_text`` is the paper's outcome for the total ("" when incomplete)."""

    name: str
    reference: str
    items: tuple[ScoreItem, ...]
    max_points: int
    outcome_label: str
    outcome_text: str
    #: The volume method this result used, and why (the paper's own method, see the module).
    volume_method: str
    volume_ml: float | None
    volume_method_reason: str
    straddle: Straddle | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(item.label for item in self.items if item.points is None)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def total(self) -> int | None:
        if not self.complete:
            return None
        return sum(item.points or 0 for item in self.items)

    @property
    def summary(self) -> str:
        """One line for panels and reports: "ICH score 3 / 6 (30-day mortality: 72 %)"."""
        if not self.complete:
            return f"{self.name}: incomplete (missing {', '.join(self.missing)})"
        out = f"{self.name} {self.total} / {self.max_points}"
        if self.outcome_text:
            out += f" ({self.outcome_label}: {self.outcome_text})"
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reference": self.reference,
            "total": self.total,
            "max_points": self.max_points,
            "complete": self.complete,
            "missing": list(self.missing),
            "outcome_label": self.outcome_label,
            "outcome": self.outcome_text or None,
            "volume_method": self.volume_method,
            "volume_ml": None if self.volume_ml is None else round(self.volume_ml, 2),
            "volume_method_reason": self.volume_method_reason,
            "items": [item.to_dict() for item in self.items],
            "straddle": None if self.straddle is None else self.straddle.to_dict(),
        }
