"""A short model card: what a model was trained on, what it is for and what it is not for.

Saved inside every checkpoint (and in its JSON sidecar) and shown one click away in the viewer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from ichmodel.flip_axes import check_flip_axes

RESEARCH_NOTICE = "Research use only. Not a medical device; not for clinical decisions."


class Provenance(StrEnum):
    """Where a model's training data came from: a fact recorded when the model is trained or
    registered (never guessed from its name or card text)."""

    #: trained or fine-tuned on a site's own (real) cases
    SITE = "site"
    #: trained on synthetic phantoms only (the bundled demo model)
    SYNTHETIC = "synthetic"
    #: random weights, never trained
    UNTRAINED = "untrained"
    #: a file written before provenance was recorded (checkpoint schema 1)
    UNRECORDED = "unrecorded"

    @property
    def banner(self) -> str:
        """The one-line warning a window, report or DICOM object must show for a model of this
        provenance ("" for a site model)."""
        return _PROVENANCE_BANNERS[self]

    @property
    def is_synthetic_or_untrained(self) -> bool:
        return self in (Provenance.SYNTHETIC, Provenance.UNTRAINED)


SYNTHETIC_BANNER = "Trained on synthetic data — not for clinical use"
UNTRAINED_BANNER = "UNTRAINED MODEL: random weights, its outputs are meaningless"
UNRECORDED_BANNER = (
    "Where this model's training data came from was not recorded — treat its numbers as research"
)
_PROVENANCE_BANNERS = {
    Provenance.SITE: "",
    Provenance.SYNTHETIC: SYNTHETIC_BANNER,
    Provenance.UNTRAINED: UNTRAINED_BANNER,
    Provenance.UNRECORDED: UNRECORDED_BANNER,
}


@dataclass(frozen=True)
class ModelCard:
    """Human-readable facts about a model, and one recorded fact: its :class:`Provenance`.

    ``banner`` is an extra one-line warning the model's author wants shown; the provenance
    banner (:attr:`warning_banner`) is shown whatever the author wrote.
    ``recommended_cam_flip_axes``: the test-time flip averaging its author measured to help
    its Grad-CAM (a suggestion for :func:`ichmodel.predict.predict`, not part of the model's
    identity).
    """

    name: str
    summary: str = ""
    training_data: str = ""
    intended_use: str = "Research on automated hematoma volume and outcome estimation in head NCCT."
    not_for: str = "Clinical diagnosis, triage or treatment decisions."
    limitations: str = ""
    banner: str = ""
    notice: str = RESEARCH_NOTICE
    provenance: Provenance = Provenance.SITE
    recommended_cam_flip_axes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError("a model card needs a non-empty name")
        try:
            object.__setattr__(self, "provenance", Provenance(self.provenance))
        except ValueError:
            raise ValueError(
                f"provenance must be one of {[p.value for p in Provenance]}, "
                f"got {self.provenance!r}"
            ) from None
        object.__setattr__(
            self, "recommended_cam_flip_axes", check_flip_axes(self.recommended_cam_flip_axes)
        )

    @property
    def warning_banner(self) -> str:
        """What a window, report or exported object must show while this model's numbers are
        on screen: the provenance banner, then the author's own ``banner``; "" for a site model
        whose author asked for none."""
        parts = [p for p in (self.provenance.banner, self.banner) if p]
        return " — ".join(dict.fromkeys(parts))

    def text(self) -> str:
        """The card as short Markdown."""
        parts = [f"# {self.name}"]
        if self.warning_banner:
            parts.append(f"**{self.warning_banner}**")
        parts.append(f"Provenance: {self.provenance.value}")
        parts += [f"## {title}\n{body}" for title, body in self.sections()]
        parts.append(f"_{self.notice}_")
        return "\n\n".join(parts) + "\n"

    def sections(self) -> tuple[tuple[str, str], ...]:
        """(title, text) of each non-empty prose section, in reading order."""
        return tuple((title, body) for title, body in (
            ("Summary", self.summary),
            ("Training data", self.training_data),
            ("Intended use", self.intended_use),
            ("Not for", self.not_for),
            ("Limitations", self.limitations),
        ) if body)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["provenance"] = self.provenance.value
        data["recommended_cam_flip_axes"] = list(self.recommended_cam_flip_axes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """A card from its saved form; a card saved before provenance was recorded (checkpoint
        schema 1) is :attr:`Provenance.UNRECORDED`."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown ModelCard fields {sorted(unknown)}")
        values = dict(data)
        values.setdefault("provenance", Provenance.UNRECORDED)
        values["recommended_cam_flip_axes"] = tuple(values.get("recommended_cam_flip_axes") or ())
        return cls(**values)

    @classmethod
    def coerce(cls, card: ModelCard | str | Mapping[str, Any], default_name: str) -> ModelCard:
        """A card from a card, a plain text (the summary) or a dict."""
        if isinstance(card, ModelCard):
            return card
        if isinstance(card, str):
            return cls(name=default_name, summary=card)
        data = dict(card)
        data.setdefault("name", default_name)
        data.setdefault("provenance", Provenance.SITE)  # as the constructor's default
        return cls.from_dict(data)


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
    provenance=Provenance.UNTRAINED,
)
