"""What the viewer currently holds: the open study and its reading (GUI thread only).

Plain Python, no widgets: the controller updates it, widgets are told what changed. Every study
gets a new ``token``; jobs are stamped with it and results for an older token are dropped. The
study's results are one :class:`~ichmodel.reading.StudyReading`, assembled step by step as the
volume, the measurement and the prediction arrive.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # keeps start-up lazy: the window appears before the readers are imported
    from ichmodel.io.scan import SeriesInfo, StudyScan
    from ichmodel.measure.types import Measurement
    from ichmodel.predict import Prediction
    from ichmodel.reading import StudyReading
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
    #: the headers of the whole study (before a series is loaded)
    scan: StudyScan | None = None
    #: the series being loaded or shown
    series: SeriesInfo | None = None
    #: everything read so far (None until the volume is loaded)
    reading: StudyReading | None = None
    cams: dict[str, np.ndarray] = field(default_factory=dict)  # head -> CAM (z, y, x)
    #: seconds since ``opened_s`` at which each milestone was reached (bench/gui.py reads it)
    milestones_s: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> float:
        elapsed = time.perf_counter() - self.opened_s
        self.milestones_s.setdefault(name, elapsed)
        log.info("study %d: %s after %.3f s", self.token, name, elapsed)
        return elapsed

    @property
    def volume(self) -> Volume | None:
        return self.reading.volume if self.reading is not None else None

    @property
    def measurement(self) -> Measurement | None:
        return self.reading.measurement if self.reading is not None else None

    @property
    def prediction(self) -> Prediction | None:
        return self.reading.prediction if self.reading is not None else None

    @property
    def source_label(self) -> str:
        if isinstance(self.source, list):
            return f"{len(self.source)} files" if len(self.source) != 1 else str(self.source[0])
        return str(self.source)

    def largest_hematoma_slice(self) -> int | None:
        """The slice a reader is sent to (:func:`ichmodel.reading.rules.largest_hematoma_slice`)."""
        return self.reading.largest_hematoma_slice if self.reading is not None else None


def new_token() -> int:
    return next(_tokens)
