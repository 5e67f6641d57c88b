"""A short model card: what a model was trained on, what it is for and what it is not for.

Saved inside every checkpoint (and in its JSON sidecar) and shown one click away in the viewer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

RESEARCH_NOTICE = "Research use only. Not a medical device; not for clinical decisions."


@dataclass(frozen=True)
class ModelCard:
    """Human-readable facts about a model. ``banner`` is a one-line warning a UI must show."""

    name: str
    summary: str = ""
    training_data: str = ""
    intended_use: str = "Research on automated hematoma volume and outcome estimation in head NCCT."
    not_for: str = "Clinical diagnosis, triage or treatment decisions."
    limitations: str = ""
    banner: str = ""
    notice: str = RESEARCH_NOTICE

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError("a model card needs a non-empty name")

    def text(self) -> str:
        """The card as short Markdown."""
        parts = [f"# {self.name}"]
        if self.banner:
            parts.append(f"**{self.banner}**")
        for title, body in (
            ("Summary", self.summary),
            ("Training data", self.training_data),
            ("Intended use", self.intended_use),
            ("Not for", self.not_for),
            ("Limitations", self.limitations),
        ):
            if body:
                parts.append(f"## {title}\n{body}")
        parts.append(f"_{self.notice}_")
        return "\n\n".join(parts) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown ModelCard fields {sorted(unknown)}")
        return cls(**dict(data))

    @classmethod
    def coerce(cls, card: ModelCard | str | Mapping[str, Any], default_name: str) -> ModelCard:
        """A card from a card, a plain text (the summary) or a dict."""
        if isinstance(card, ModelCard):
            return card
        if isinstance(card, str):
            return cls(name=default_name, summary=card)
        data = dict(card)
        data.setdefault("name", default_name)
        return cls.from_dict(data)


UNTRAINED_BANNER = "UNTRAINED MODEL: random weights, its outputs are meaningless"

UNTRAINED_CARD = ModelCard(
    name="untrained",
    summary=(
        "A ResNet34 (base width 16) with deterministic random initial weights (seed 0). It has "
        "never seen data. It exists so the software runs end to end before a trained model is "
        "installed."
    ),
    training_data="None.",
    intended_use="Software testing only.",
    not_for="Any interpretation of its numbers or heatmaps.",
    banner=UNTRAINED_BANNER,
)
