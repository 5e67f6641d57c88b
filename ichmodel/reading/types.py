"""The typed reading of one study: what the CLI prints, the viewer shows and the report prints.

A :class:`StudyReading` is frozen. It can be assembled step by step (the viewer shows the first
slice as soon as the volume is loaded, then adds the measurement and the prediction as they
arrive): each ``with_*`` method returns a new reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ichmodel import notices as notice
from ichmodel.model_card import ModelCard, Provenance
from ichmodel.notices import Notice, Severity, Source
from ichmodel.reading import rules
from ichmodel.reading.key_slices import KeySlice, choose_key_slices

if TYPE_CHECKING:  # a reading is plain data: importing it loads neither torch nor pydicom
    from ichmodel.checkpoint import LoadedModel
    from ichmodel.io.scan import SeriesInfo, StudyScan
    from ichmodel.measure.types import Measurement
    from ichmodel.midline import MidlineShift
    from ichmodel.predict import Prediction
    from ichmodel.scores import ScoreSheet
    from ichmodel.volume import Volume


@dataclass(frozen=True)
class ModelIdentity:
    """Which model produced a prediction, and the facts a reader must see about it (no
    weights: a reading is data)."""

    name: str
    sha256: str
    provenance: Provenance
    card: ModelCard
    path: Path | None = None
    #: Problems met while choosing the model (e.g. the active model failed to load).
    load_warnings: tuple[str, ...] = ()
    #: The figures its trainer recorded (held-out MAE, AUC, ...), as saved in the checkpoint.
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, model: LoadedModel) -> ModelIdentity:
        return cls(
            name=model.name,
            sha256=model.sha256,
            provenance=model.provenance,
            card=model.card,
            path=model.path,
            load_warnings=model.load_warnings,
            metrics=dict(model.metrics),
        )

    @property
    def banner(self) -> str:
        """The warning a window/report shows while this model's numbers are shown ("" none)."""
        return self.card.warning_banner

    @property
    def is_synthetic_or_untrained(self) -> bool:
        return self.provenance.is_synthetic_or_untrained

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "provenance": self.provenance.value,
            "banner": self.banner,
        }


@dataclass(frozen=True, eq=False)
class StudyReading:
    """One study read: the scan and chosen series, the :class:`Volume`, the
    :class:`Measurement`, the :class:`Prediction` (or why there is none) and the model's
    identity. Rules the reader sees the result of live in :mod:`ichmodel.reading.rules`."""

    volume: Volume
    #: Where the study came from, for people ("3 files", a folder) - never written to logs.
    source_label: str = ""
    scan: StudyScan | None = None
    series: SeriesInfo | None = None
    measurement: Measurement | None = None
    prediction: Prediction | None = None
    model: ModelIdentity | None = None
    #: Why ``prediction`` is None ("" while one may still come or when there is one).
    no_prediction_reason: str = ""
    #: ICH score, FUNC, max-ICH from the measurement and the reader's entries (when computed).
    scores: ScoreSheet | None = None
    #: The midline shift (or why it could not be measured), when measured.
    midline: MidlineShift | None = None

    # --- assembling -------------------------------------------------------------------------
    def with_measurement(self, measurement: Measurement) -> StudyReading:
        if measurement.hematoma_mask.shape != self.volume.shape:
            raise ValueError("the measurement belongs to another volume (its mask's shape differs)")
        return replace(self, measurement=measurement)

    def with_prediction(self, prediction: Prediction, model: ModelIdentity) -> StudyReading:
        if prediction.model_sha256 != model.sha256:
            raise ValueError("the prediction was made by another model than the one given")
        return replace(self, prediction=prediction, model=model, no_prediction_reason="")

    def with_model(self, model: ModelIdentity) -> StudyReading:
        """The model that is (or will be) run; drops a prediction made by another one."""
        keep = self.prediction if (self.prediction and self.model == model) else None
        return replace(self, model=model, prediction=keep)

    def with_scores(self, scores: ScoreSheet | None) -> StudyReading:
        return replace(self, scores=scores)

    def with_midline(self, midline: MidlineShift | None) -> StudyReading:
        return replace(self, midline=midline)

    def without_prediction(self, reason: str) -> StudyReading:
        return replace(self, prediction=None, no_prediction_reason=reason)

    # --- what the reader sees ---------------------------------------------------------------
    @property
    def notices(self) -> tuple[Notice, ...]:
        """Every notice of the reading, each once, in the order the stages ran."""
        found: list[Notice] = list(self.volume.notices)
        if self.measurement is not None:
            found += self.measurement.notices
        if self.prediction is not None:
            found += self.prediction.notices
        elif self.no_prediction_reason:
            found.append(notice.warning(
                "reading.no_prediction", self.no_prediction_reason, Source.READING
            ))
        if self.volumes_disagree:
            found.append(notice.warning(
                "reading.volumes_disagree",
                f"the volumes disagree by more than {rules.DISAGREE_ABS_ML:g} ml and "
                f"{100 * rules.DISAGREE_FRACTION:.0f} %: look at the contour before using any",
                Source.READING,
            ))
        return notice.unique(found)

    def notices_from(self, *sources: Source) -> tuple[Notice, ...]:
        return tuple(n for n in self.notices if n.source in sources)

    @property
    def has_critical_notice(self) -> bool:
        return any(n.severity is Severity.CRITICAL for n in self.notices)

    @property
    def planimetric_volume_ml(self) -> float | None:
        return None if self.measurement is None else self.measurement.hematoma_volume_ml

    @property
    def abc2_volume_ml(self) -> float | None:
        if self.measurement is None or self.measurement.abc2.slice_index is None:
            return None
        return self.measurement.abc2.volume_ml

    @property
    def model_volume_ml(self) -> float | None:
        """The model's volume as it came out (see :attr:`model_trusted` before showing it)."""
        return None if self.prediction is None else self.prediction.predicted_volume_ml

    @property
    def model_trusted(self) -> bool:
        """A prediction exists and the model's gate does not call the scan out of distribution.
        An untrusted model's volume and probability are never shown as plain numbers."""
        return self.prediction is not None and self.prediction.trusted

    @property
    def shown_cam(self) -> np.ndarray | None:
        """The Grad-CAM a reader may be shown: None for an out-of-distribution model (its map
        is as untrustworthy as its numbers)."""
        return self.prediction.cam if self.model_trusted and self.prediction else None

    @property
    def volumes_disagree(self) -> bool:
        """The planimetric, ABC/2 and (when trusted) model volumes disagree
        (:func:`rules.volumes_disagree`); an out-of-distribution model is left out."""
        model_ml = self.model_volume_ml if self.model_trusted else None
        return rules.volumes_disagree((self.planimetric_volume_ml, self.abc2_volume_ml, model_ml))

    @property
    def largest_hematoma_slice(self) -> int | None:
        return rules.largest_hematoma_slice(self.measurement)

    @property
    def banner(self) -> str:
        """The model's warning banner ("" without a model or for a plain site model)."""
        return self.model.banner if self.model is not None else ""

    def key_slices(
        self, *, n_neighbours: int = 1, neighbour_spacing_mm: float = 5.0
    ) -> tuple[tuple[KeySlice, ...], str]:
        """The key images' slices and how they were chosen (see :func:`choose_key_slices`)."""
        m = self.measurement
        mask = m.hematoma_mask if m is not None else None
        cam = self.shown_cam
        return choose_key_slices(
            self.volume,
            mask,
            cam,
            largest_slice=self.largest_hematoma_slice,
            ivh_mask=m.drawn_ivh_mask if m is not None else None,
            n_neighbours=n_neighbours,
            neighbour_spacing_mm=neighbour_spacing_mm,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no arrays): every number, the model's identity and the notices."""
        volume = self.volume
        out: dict[str, Any] = {
            "series": {
                "series_uid": volume.meta.series_uid,
                "study_uid": volume.meta.study_uid,
                "description": volume.meta.series_description,
                "shape_zyx": list(volume.shape),
                "spacing_mm_zyx": [round(float(s), 4) for s in volume.spacing_mm],
            },
            "measurement": None if self.measurement is None else self.measurement.to_dict(),
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "model": None if self.model is None else self.model.to_dict(),
            "no_prediction_reason": self.no_prediction_reason or None,
            "volumes_disagree": self.volumes_disagree,
            "largest_hematoma_slice": self.largest_hematoma_slice,
            "notices": [n.to_dict() for n in self.notices],
            "warnings": [n.text for n in self.notices],
        }
        if self.scores is not None:
            out["scores"] = self.scores.to_dict()
        if self.midline is not None:
            out["midline"] = self.midline.to_dict()
        return out

    def __repr__(self) -> str:
        return (
            f"StudyReading({self.volume!r}, measurement={self.measurement!r}, "
            f"prediction={'yes' if self.prediction else self.no_prediction_reason or 'no'}, "
            f"model={self.model.name if self.model else None!r}, notices={len(self.notices)})"
        )


def mask_labels(reading: StudyReading) -> np.ndarray:
    """The blood mask as labels on the volume grid: 1 hematoma, 2 intraventricular (uint8)."""
    if reading.measurement is None:
        raise ValueError("the study has not been measured")
    labels = reading.measurement.hematoma_mask.astype(np.uint8)
    labels[reading.measurement.ivh_mask] = 2
    return labels
