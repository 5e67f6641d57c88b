"""The paper's evaluation metrics, in plain numpy (no scikit-learn).

Volume regression: MAE (ml), MSE (ml²) and MAPE (%), where MAPE skips reference volumes of 0 ml
(a percentage of zero is undefined) and reports how many it skipped. Outcome classification:
accuracy at a probability threshold, the ROC curve and its area (AUC). Explanation: the
pointing game (does a heatmap's peak lie inside the bleed?), per case and as fractions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegressionMetrics:
    """Volume errors of predictions against references, both in ml."""

    n: int
    mae_ml: float
    mse_ml2: float
    mape_pct: float | None
    #: Cases left out of MAPE because their reference volume is 0 ml.
    n_mape_skipped_zero: int


@dataclass(frozen=True)
class RocCurve:
    """ROC curve points from the strictest threshold to the loosest (starts at (0, 0))."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class EvaluationMetrics:
    """Everything ``ichmodel evaluate`` reports."""

    n: int
    mae_ml: float | None
    mse_ml2: float | None
    mape_pct: float | None
    n_mape_skipped_zero: int
    #: Cases with an outcome label (accuracy and AUC are computed on these only).
    n_outcome: int
    accuracy: float | None
    auc: float | None
    #: Expected calibration error (10 equal-width bins) and Brier score of the probabilities.
    ece: float | None = None
    brier: float | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _as_1d(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def regression_metrics(
    predicted_ml: Sequence[float] | np.ndarray, reference_ml: Sequence[float] | np.ndarray
) -> RegressionMetrics:
    """MAE, MSE and MAPE of predicted against reference volumes (ml)."""
    pred = _as_1d(predicted_ml, "predicted_ml")
    ref = _as_1d(reference_ml, "reference_ml")
    if pred.shape != ref.shape:
        raise ValueError(f"{pred.size} predictions but {ref.size} references")
    if pred.size == 0:
        raise ValueError("no cases to evaluate")
    err = pred - ref
    nonzero = ref != 0
    n_skipped = int(np.count_nonzero(~nonzero))
    mape = (
        float(np.mean(np.abs(err[nonzero]) / np.abs(ref[nonzero])) * 100.0)
        if np.any(nonzero)
        else None
    )
    if n_skipped:
        log.info("MAPE skips %d case(s) with a reference volume of 0 ml", n_skipped)
    return RegressionMetrics(
        n=int(pred.size),
        mae_ml=float(np.mean(np.abs(err))),
        mse_ml2=float(np.mean(err**2)),
        mape_pct=mape,
        n_mape_skipped_zero=n_skipped,
    )


def _check_labels(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray):
    y = np.asarray(labels).reshape(-1)
    s = _as_1d(scores, "scores")
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    return y.astype(np.int64), s


def accuracy(
    labels: Sequence[int] | np.ndarray,
    probabilities: Sequence[float] | np.ndarray,
    threshold: float = 0.5,
) -> float:
    """Fraction of cases where ``probability >= threshold`` equals the label."""
    y, p = _check_labels(labels, probabilities)
    if y.size == 0:
        raise ValueError("no labelled cases")
    return float(np.mean((p >= threshold).astype(np.int64) == y))


def roc_curve(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> RocCurve:
    """ROC curve: one point per distinct score (ties move diagonally), plus (0, 0).

    Needs at least one positive and one negative label.
    """
    y, s = _check_labels(labels, scores)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValueError("the ROC curve needs both positive and negative labels")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # Last index of each run of equal scores: a threshold admits the whole tie at once.
    distinct = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    thresholds = np.r_[np.inf, s_sorted[distinct]]
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thresholds)


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (trapezoids; equals the Mann-Whitney U with ties counted 1/2)."""
    curve = roc_curve(labels, scores)
    return float(np.sum(np.diff(curve.fpr) * (curve.tpr[1:] + curve.tpr[:-1]) / 2.0))


def evaluation_metrics(
    predicted_ml: Sequence[float] | np.ndarray,
    reference_ml: Sequence[float] | np.ndarray,
    outcome_labels: Sequence[float | int | None] | np.ndarray | None = None,
    outcome_probabilities: Sequence[float] | np.ndarray | None = None,
    threshold: float = 0.5,
) -> EvaluationMetrics:
    """All of ``ichmodel evaluate``'s numbers; unlabelled cases (None/NaN/-1) skip the outcome.

    AUC is None when the labelled cases hold only one class; accuracy None when none is labelled.
    """
    reg = regression_metrics(predicted_ml, reference_ml)
    acc = auc = ece = brier = None
    n_outcome = 0
    if outcome_labels is not None and outcome_probabilities is not None:
        raw = [np.nan if v is None else float(v) for v in outcome_labels]
        lab = np.asarray(raw, dtype=np.float64)
        prob = np.asarray(outcome_probabilities, dtype=np.float64).reshape(-1)
        if lab.shape != prob.shape:
            raise ValueError(f"{lab.size} outcome labels but {prob.size} probabilities")
        keep = np.isfinite(lab) & (lab >= 0)
        n_outcome = int(keep.sum())
        if n_outcome:
            y = lab[keep].astype(np.int64)
            acc = accuracy(y, prob[keep], threshold)
            ece, brier = expected_calibration_error(y, prob[keep]), brier_score(y, prob[keep])
            if 0 < y.sum() < y.size:
                auc = roc_auc(y, prob[keep])
    return EvaluationMetrics(
        **asdict(reg),
        n_outcome=n_outcome,
        accuracy=acc,
        auc=auc,
        ece=ece,
        brier=brier,
    )


def reliability_bins(
    labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray,
    n_bins: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width probability bin: the mean predicted probability, the observed rate of
    poor outcome and the number of cases (empty bins have NaN rates)."""
    y, p = _check_labels(labels, probabilities)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=n_bins) / count
        rate = np.bincount(which, weights=y, minlength=n_bins) / count
    return mean_p, rate, count


def expected_calibration_error(
    labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray,
    n_bins: int = 10,
) -> float:
    """ECE (Naeini et al. 2015; Guo et al. 2017): Σ_bins (n_b / n) |observed rate − mean p|."""
    mean_p, rate, count = reliability_bins(labels, probabilities, n_bins)
    used = count > 0
    return float(np.sum(count[used] / count.sum() * np.abs(rate[used] - mean_p[used])))


def brier_score(
    labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray
) -> float:
    """Mean squared difference between the probability and the 0/1 outcome."""
    y, p = _check_labels(labels, probabilities)
    return float(np.mean((p - y) ** 2))


def poor_outcome_probability(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """P(poor outcome) of each row of (n, 2) outcome logits, softmax at ``temperature``."""
    s = np.asarray(logits, dtype=np.float64) / float(temperature)
    s = s - s.max(axis=1, keepdims=True)
    return np.exp(s[:, 1]) / np.exp(s).sum(axis=1)


def fit_temperature(logits: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): the T
    that minimises the negative log-likelihood of softmax(logits / T) on held-out labelled cases
    (a 1-D search on log T in [0.05, 20]); 1 when the cases cannot tell."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if z.ndim != 2 or z.shape[1] != 2 or len(z) != len(y):
        raise ValueError(f"logits must be (n, 2) for n labels, got {z.shape} and {y.shape}")
    if len(y) < 2 or y.min() == y.max():
        return 1.0

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(y)), y].mean())

    from scipy.optimize import minimize_scalar

    best = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(best.x)) if best.success and nll(best.x) < nll(0.0) else 1.0


def finite_or_none(value: float | None) -> float | None:
    """``value`` unless it is None/NaN/inf (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


#: Tolerance of :attr:`PointingResult.near_bleed`. Zhang et al.'s pointing game allows 15 pixels
#: at a 224-pixel input; on a ~180 mm head crop that is ~12 mm, so 10 mm is a little stricter.
POINTING_TOLERANCE_MM = 10.0
#: Voxels within this of a map's maximum count as its plateau: a trilinearly upsampled coarse
#: map is flat (to float rounding) from its outermost cell centres to the crop's edge.
_PLATEAU_TOLERANCE = 1e-6


@dataclass(frozen=True)
class PointingResult:
    """Where one heatmap peaks relative to one hematoma mask (both (z, y, x), same grid).

    A map with no positive value points nowhere: every reading misses, ``peak_zyx`` is None
    and the distance is infinite.
    """

    #: First voxel (numpy order) holding the map's maximum, (z, y, x) indices.
    peak_zyx: tuple[int, int, int] | None
    #: ``peak_zyx`` lies in the mask (the pointing game proper).
    peak_in_bleed: bool
    #: The centroid of all voxels at the maximum lies in the mask (a flat-topped upsampled map
    #: puts its first-voxel argmax on the plateau's edge; its centroid is where it points).
    plateau_in_bleed: bool
    #: From the centre of ``peak_zyx`` to the centre of the nearest mask voxel, mm (0 inside).
    distance_to_bleed_mm: float
    #: ``distance_to_bleed_mm <= tolerance_mm`` (the original game's tolerance).
    near_bleed: bool
    tolerance_mm: float
    #: The axial slice where the bleed is largest (what the viewer shows first).
    largest_slice_z: int
    #: On that slice, the map's in-plane maximum lies in the mask.
    slice_peak_in_bleed: bool


def pointing_game(
    cam: np.ndarray | None,
    mask: np.ndarray,
    spacing_mm: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    tolerance_mm: float = POINTING_TOLERANCE_MM,
) -> PointingResult:
    """The pointing game of one heatmap ``cam`` against one hematoma ``mask`` (z, y, x).

    ``spacing_mm`` (z, y, x) of their common grid turns voxel offsets into mm. ``cam`` None
    (no map was made) misses. Raises ValueError for an empty mask (a scan without a bleed has
    nothing to point at: leave it out) or grids of different shapes.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3 or not mask.any():
        raise ValueError("the pointing game needs a 3-D mask holding at least one voxel")
    spacing = np.asarray(spacing_mm, dtype=np.float64).reshape(-1)
    if spacing.shape != (3,) or not np.all(spacing > 0):
        raise ValueError(f"spacing_mm must be 3 positive values (z, y, x), got {spacing_mm}")
    z = int(np.argmax(mask.sum(axis=(1, 2))))
    if cam is None or not np.any(cam > 0):
        return PointingResult(None, False, False, math.inf, False, tolerance_mm, z, False)
    cam = np.asarray(cam)
    if cam.shape != mask.shape:
        raise ValueError(f"map {cam.shape} and mask {mask.shape} are on different grids")
    flat_peak = np.unravel_index(int(np.argmax(cam)), cam.shape)
    peak = (int(flat_peak[0]), int(flat_peak[1]), int(flat_peak[2]))
    top = np.argwhere(cam >= cam.max() - _PLATEAU_TOLERANCE)
    centroid = tuple(int(round(v)) for v in top.mean(axis=0))
    offsets_mm = (np.argwhere(mask) - np.asarray(peak)) * spacing
    distance_mm = float(np.sqrt((offsets_mm**2).sum(axis=1)).min())
    in_plane = np.unravel_index(int(np.argmax(cam[z])), cam[z].shape)
    return PointingResult(
        peak_zyx=peak,
        peak_in_bleed=bool(mask[peak]),
        plateau_in_bleed=bool(mask[centroid]),
        distance_to_bleed_mm=distance_mm,
        near_bleed=distance_mm <= tolerance_mm,
        tolerance_mm=float(tolerance_mm),
        largest_slice_z=z,
        slice_peak_in_bleed=bool(cam[z].max() > 0 and mask[z][in_plane]),
    )


@dataclass(frozen=True)
class PointingRates:
    """Fractions of bleeds whose heatmap hits, one per reading of :class:`PointingResult`
    (None when there were no bleeds)."""

    n_bleeds: int
    peak_in_bleed: float | None
    plateau_in_bleed: float | None
    near_bleed: float | None
    slice_peak_in_bleed: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def pointing_rates(results: Sequence[PointingResult]) -> PointingRates:
    """How often each reading hits over ``results`` (one per bleed)."""

    def rate(hits: list[bool]) -> float | None:
        return float(np.mean(hits)) if hits else None

    return PointingRates(
        n_bleeds=len(results),
        peak_in_bleed=rate([r.peak_in_bleed for r in results]),
        plateau_in_bleed=rate([r.plateau_in_bleed for r in results]),
        near_bleed=rate([r.near_bleed for r in results]),
        slice_peak_in_bleed=rate([r.slice_peak_in_bleed for r in results]),
    )
