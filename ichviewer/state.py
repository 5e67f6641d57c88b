"""What the viewer currently holds: the open study and the active model (GUI thread only).

Plain Python, no widgets: the controller updates it, widgets are told what changed. Every study
gets a new ``token``; jobs are stamped with it and results for an older token are dropped.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ichmodel.volume import Volume

log = logging.getLogger(__name__)

_tokens = itertools.count(1)

Source = Path | list[Path]


@dataclass
class StudyState:
    """One opened study (and one chosen series of it)."""

    token: int
    source: Source
    opened_s: float = field(default_factory=time.perf_counter)
    scan: Any = None  # ichmodel.io.scan.StudyScan
    series: Any = None  # ichmodel.io.scan.SeriesInfo being shown
    volume: Volume | None = None
    measurement: Any = None  # ichmodel.measure.Measurement
    prediction: Any = None  # ichmodel.predict.Prediction (the latest, any head)
    cams: dict[str, np.ndarray] = field(default_factory=dict)  # head -> CAM (z, y, x)
    #: seconds since ``opened_s`` at which each milestone was reached (bench/gui.py reads it)
    milestones_s: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> float:
        elapsed = time.perf_counter() - self.opened_s
        self.milestones_s.setdefault(name, elapsed)
        log.info("study %d: %s after %.3f s", self.token, name, elapsed)
        return elapsed

    @property
    def source_label(self) -> str:
        if isinstance(self.source, list):
            return f"{len(self.source)} files" if len(self.source) != 1 else str(self.source[0])
        return str(self.source)

    def largest_hematoma_slice(self) -> int | None:
        """Slice index (z) with the largest hematoma area, or None when there is no mask."""
        mask = getattr(self.measurement, "hematoma_mask", None)
        if mask is None or not mask.any():
            return None
        return int(np.argmax(mask.reshape(mask.shape[0], -1).sum(axis=1)))


def new_token() -> int:
    return next(_tokens)


def model_banner(model: Any) -> str:
    """The warning line the window must show while ``model`` is active ("" when none).

    The model card's own ``banner`` when it has one; otherwise a generic line for the bundled
    demo model (trained on synthetic phantoms) or an untrained network.
    """
    if model is None:
        return ""
    card = getattr(model, "card", None)
    banner = str(getattr(card, "banner", "") or "")
    if banner:
        return banner
    return SYNTHETIC_BANNER if is_synthetic_or_untrained(model) else ""


SYNTHETIC_BANNER = "Trained on synthetic data — not for clinical use"


def is_synthetic_or_untrained(model: Any) -> bool:
    """True when the active model is the bundled demo (trained on synthetic phantoms) or an
    untrained network: the window then shows the "not for clinical use" banner."""
    if model is None:
        return False
    from ichmodel import resources

    if getattr(model, "is_untrained", False):
        return True
    card = getattr(model, "card", None)
    if str(getattr(card, "banner", "") or ""):
        return True
    name = str(getattr(model, "name", "")).lower()
    if any(word in name for word in ("untrained", "demo", "synthetic")):
        return True
    path = getattr(model, "path", None)
    if path is None:
        return True
    try:
        if Path(path).resolve() == resources.demo_model_path().resolve():
            return True
    except OSError:
        pass
    if card is not None and hasattr(card, "to_dict"):
        card = card.to_dict()
    text = str(card).lower() if card is not None else ""
    return any(word in text for word in ("synthetic", "phantom", "untrained"))
