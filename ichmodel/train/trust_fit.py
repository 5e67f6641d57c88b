"""Fit what tells a model's reader when to trust it: the out-of-distribution gate and the
outcome head's temperature, on cached cases, and save them with unchanged weights.

The gate's Gaussians come from the training cases' pooled features, its threshold from held-out
cases (the validation split, or a site's calibration cases); the temperature from the held-out
cases with an outcome label (temperature scaling, Guo et al. 2017). Fine-tuning refits both at
the end of a run, ``ichmodel calibrate`` on the site's cases, so a site model trusts the site's
scans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ichmodel.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from ichmodel.errors import TrainingError
from ichmodel.ood_gate import FeatureGate, fit_gate
from ichmodel.progress import Progress
from ichmodel.train.cache import CaseCache
from ichmodel.train.dataset import Case
from ichmodel.train.evaluate import EvaluationResult, evaluate_cases
from ichmodel.train.metrics import (
    expected_calibration_error,
    fit_temperature,
    poor_outcome_probability,
)


@dataclass(frozen=True, eq=False)
class TrustFit:
    """A fitted gate and temperature, with the calibration error before and after on the
    held-out labelled cases (None without both outcomes among them)."""

    gate: FeatureGate
    outcome_temperature: float
    ece_before: float | None
    ece_after: float | None
    n_temperature: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "ood_threshold": round(self.gate.threshold, 4),
            "ood_quantile": self.gate.quantile,
            "ood_fit_cases": self.gate.n_fit,
            "ood_threshold_cases": self.gate.n_threshold,
            "ood_fitted_on": self.gate.fitted_on,
            "outcome_temperature": round(self.outcome_temperature, 4),
            "temperature_cases": self.n_temperature,
            "ece_before": None if self.ece_before is None else round(self.ece_before, 4),
            "ece_after": None if self.ece_after is None else round(self.ece_after, 4),
        }


def _labels(cases: Sequence[Case]) -> np.ndarray:
    return np.array([-1 if c.poor_outcome is None else int(c.poor_outcome) for c in cases])


def fit_trust(
    fitted: EvaluationResult, fit_cases: Sequence[Case],
    held: EvaluationResult, held_cases: Sequence[Case], *, fitted_on: str,
) -> TrustFit:
    """The gate (fit on ``fitted``'s features, threshold from ``held``'s) and the temperature
    (``held``'s labelled cases); evaluations must come from the model without either."""
    if fitted.features is None or held.features is None or held.logits is None:
        raise TrainingError("the evaluation kept no features; rerun it with this ichmodel")
    if fitted.feature_stages != held.feature_stages:
        raise TrainingError("the two evaluations pooled different encoder stages")
    try:
        gate = fit_gate(fitted.features, _labels(fit_cases), held.features, fitted_on=fitted_on,
                        stages=fitted.feature_stages)
    except ValueError as exc:
        raise TrainingError(f"cannot fit the out-of-distribution gate: {exc}") from exc
    labels = _labels(held_cases)
    known = labels >= 0
    temperature, before, after = 1.0, None, None
    if known.sum() >= 2 and 0 < labels[known].sum() < known.sum():
        logits = held.logits[known]
        temperature = fit_temperature(logits, labels[known])
        y = labels[known]
        before = expected_calibration_error(y, poor_outcome_probability(logits, 1.0))
        after = expected_calibration_error(y, poor_outcome_probability(logits, temperature))
    return TrustFit(gate, temperature, before, after, int(known.sum()))


def trust_cases(
    model: LoadedModel, cache: CaseCache, fit_cases: Sequence[Case],
    held_cases: Sequence[Case], *, device: str = "auto", fitted_on: str,
) -> Generator[Progress, None, TrustFit]:
    """Run ``model`` (without its gate and temperature) over both sets of cases and fit."""
    plain = dataclasses.replace(model, gate=None, outcome_temperature=1.0)
    fitted = yield from evaluate_cases(plain, cache, fit_cases, device=device)
    held = yield from evaluate_cases(plain, cache, held_cases, device=device)
    return fit_trust(fitted, fit_cases, held, held_cases, fitted_on=fitted_on)


def halves(cases: Sequence[Case]) -> tuple[list[Case], list[Case]]:
    """Alternate cases (in case-id order) into a fitting half and a held-out half."""
    ordered = sorted(cases, key=lambda c: c.case_id)
    return ordered[0::2], ordered[1::2]


def save_with_trust(
    model: LoadedModel, trust: TrustFit, path: str | Path,
    record: Mapping[str, Any] | None = None, *, label_transform=None,
) -> Path:
    """``model`` written to ``path`` with the fitted gate and temperature (weights, card and
    configs unchanged); ``training["trust_fit"]`` records the fit and ``record``."""
    training = dict(model.training or {})
    training["trust_fit"] = {"from_sha256": model.sha256, **dict(record or {}),
                             **trust.to_dict()}
    metrics = dict(model.metrics or {})
    if trust.ece_after is not None:
        metrics["ece_calibration_cases"] = round(trust.ece_after, 4)
    return save_checkpoint(
        path, model.net, net_config=model.net_config, preprocess_config=model.preprocess_config,
        card=model.card, training=training, metrics=metrics, dtype=model.weights_dtype,
        label_transform=label_transform or model.label_transform, gate=trust.gate,
        outcome_temperature=trust.outcome_temperature,
    )


def refit_run_checkpoints(
    checkpoints: Sequence[Path], cache: CaseCache, train_cases: Sequence[Case],
    val_cases: Sequence[Case], *, device: str = "auto",
) -> Generator[Progress, None, TrustFit | None]:
    """At the end of a training run: fit the gate on its training cases and the threshold and
    temperature on its validation cases (or halves of the training cases when there are too
    few), and rewrite each checkpoint with them. None when there are too few cases."""
    fit_cases, held = list(train_cases), list(val_cases)
    if len(held) < 2:
        fit_cases, held = halves(train_cases)
    if len(fit_cases) < 3 or len(held) < 2:
        return None
    trust = None
    for path in checkpoints:
        model = load_checkpoint(path)
        trust = yield from trust_cases(
            model, cache, fit_cases, held, device=device,
            fitted_on=f"{len(fit_cases)} training and {len(held)} held-out cases of this run",
        )
        save_with_trust(model, trust, path, {"cases": "the run's own split"})
    return trust
