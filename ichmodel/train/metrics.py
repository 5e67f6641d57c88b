"""The paper's evaluation metrics, in plain numpy (no scikit-learn).

Volume regression: MAE (ml), MSE (ml²) and MAPE (%), where MAPE skips reference volumes of 0 ml
(a percentage of zero is undefined) and reports how many it skipped. Outcome classification:
accuracy at a probability threshold, the ROC curve and its area (AUC).
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
    acc = auc = None
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
            if 0 < y.sum() < y.size:
                auc = roc_auc(y, prob[keep])
    return EvaluationMetrics(
        n=reg.n,
        mae_ml=reg.mae_ml,
        mse_ml2=reg.mse_ml2,
        mape_pct=reg.mape_pct,
        n_mape_skipped_zero=reg.n_mape_skipped_zero,
        n_outcome=n_outcome,
        accuracy=acc,
        auc=auc,
    )


def finite_or_none(value: float | None) -> float | None:
    """``value`` unless it is None/NaN/inf (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
