"""Scores from a measurement, the DICOM header and the reader's entries: :func:`score_sheet`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ichmodel.scores.inputs import Age, ClinicalInputs, ImagingInputs, resolve_age
from ichmodel.scores.tables import SPECS, ScoreSpec
from ichmodel.scores.types import VOLUME_METHOD_LABEL, ScoreItem, ScoreResult, Straddle

if TYPE_CHECKING:
    from ichmodel.measure.types import Measurement
    from ichmodel.volume import SeriesMeta


def _other(method: str) -> str:
    return "planimetric" if method == "abc2" else "abc2"


def _volume_points(items: tuple[ScoreItem, ...]) -> tuple[int | None, ...]:
    return tuple(i.points for i in items if i.key.startswith("volume"))


def compute_score(
    spec: ScoreSpec, imaging: ImagingInputs | None, clinical: ClinicalInputs, age: Age
) -> ScoreResult:
    """One score with its own volume method; when the other method's volume lands on the other
    side of one of the score's volume thresholds, :attr:`ScoreResult.straddle` holds that
    result too and says why."""
    method = spec.volume_method
    volume = None if imaging is None else imaging.volume_ml(method)
    items = spec.items(volume, method, imaging, clinical, age)
    result = ScoreResult(
        name=spec.name,
        reference=spec.reference,
        items=items,
        max_points=spec.max_points,
        outcome_label=spec.outcome_label,
        outcome_text="",
        volume_method=method,
        volume_ml=volume,
        volume_method_reason=spec.volume_method_reason,
    )
    total = result.total
    outcome = spec.outcome(total) if total is not None else ""
    straddle = None
    other = _other(method)
    other_volume = None if imaging is None else imaging.volume_ml(other)
    if imaging is not None and volume is not None and other_volume is not None:
        other_items = spec.items(other_volume, other, imaging, clinical, age)
        if _volume_points(other_items) != _volume_points(items):
            other_result = ScoreResult(spec.name, spec.reference, other_items, spec.max_points,
                                       spec.outcome_label, "", other, other_volume, "")
            ours, theirs = VOLUME_METHOD_LABEL[method], VOLUME_METHOD_LABEL[other]
            lo, hi = sorted((volume, other_volume))
            crossed = [t for t in spec.thresholds(imaging) if lo < t <= hi or lo <= t < hi]
            where = " and ".join(f"{t:g} ml" for t in crossed) or "a threshold"
            other_total = other_result.total
            other_outcome = spec.outcome(other_total) if other_total is not None else ""
            if total is None or other_total is None:
                totals = "the volume item's points differ (the score is incomplete)"
            else:
                totals = (f"the {spec.name} is {total} with {ours} and "
                          f"{other_total} with {theirs}")
                if spec.transcribed(total) and spec.transcribed(other_total):
                    # what the reader decides with: the outcome row each total points to
                    totals += (f" ({spec.outcome_label} {spec.outcome(total)} vs "
                               f"{other_outcome})")
            straddle = Straddle(
                other_method=other,
                other_volume_ml=other_volume,
                other_total=other_result.total,
                threshold_text=where,
                reason=(
                    f"The {ours} volume ({volume:.1f} ml) and the {theirs} volume "
                    f"({other_volume:.1f} ml) fall on either side of "
                    f"{where}: {totals}. {spec.name} uses {ours}: {spec.volume_method_reason}; "
                    "look at the contour before choosing"
                ),
                other_outcome_text=other_outcome,
            )
    return ScoreResult(
        name=result.name, reference=result.reference, items=items,
        max_points=result.max_points, outcome_label=result.outcome_label,
        outcome_text=outcome, volume_method=method, volume_ml=volume,
        volume_method_reason=spec.volume_method_reason, straddle=straddle,
    )


@dataclass(frozen=True)
class ScoreSheet:
    """The three scores of one study, with the inputs they were computed from."""

    clinical: ClinicalInputs
    imaging: ImagingInputs | None
    age: Age
    scores: tuple[ScoreResult, ...]

    def by_name(self, name: str) -> ScoreResult:
        for score in self.scores:
            if score.name == name:
                return score
        raise KeyError(f"no score named {name!r}; have {[s.name for s in self.scores]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "clinical": self.clinical.to_dict(),
            "imaging": None if self.imaging is None else self.imaging.to_dict(),
            "age": self.age.to_dict(),
            "scores": [s.to_dict() for s in self.scores],
            "caveat": "validated clinical scores computed from an automated measurement; "
            "check every input (location is best effort from image geometry)",
        }


def score_sheet(
    measurement: Measurement | None,
    meta: SeriesMeta | None,
    clinical: ClinicalInputs | None = None,
) -> ScoreSheet:
    """ICH score, FUNC and max-ICH for a study (imaging items None when not measured)."""
    clinical = clinical or ClinicalInputs()
    imaging = None if measurement is None else ImagingInputs.from_measurement(measurement)
    age = resolve_age(clinical, meta)
    return ScoreSheet(
        clinical=clinical,
        imaging=imaging,
        age=age,
        scores=tuple(compute_score(spec, imaging, clinical, age) for spec in SPECS),
    )
