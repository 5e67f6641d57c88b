"""Evaluate a model on a manifest with the paper's metrics (MAE, MSE, MAPE, accuracy, AUC).

Inputs go through the same preprocessing cache as training (built with the *model's*
preprocessing config, so a study is read once per config), then the network runs in batches
under the same device plan as :func:`ichmodel.predict.predict` (bf16 where supported).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ichmodel.errors import TrainingError
from ichmodel.ood_gate import pooled_stages
from ichmodel.progress import Progress
from ichmodel.train.cache import CaseCache, build_cache
from ichmodel.train.dataset import NO_OUTCOME, Case, CaseDataset, cases_from_report, make_loader
from ichmodel.train.dataset import ordered_batches as _ordered
from ichmodel.train.manifest import read_manifest
from ichmodel.train.metrics import (
    EvaluationMetrics,
    RocCurve,
    evaluation_metrics,
    poor_outcome_probability,
    roc_curve,
)

if TYPE_CHECKING:
    from ichmodel.checkpoint import LoadedModel


@dataclass(frozen=True)
class CasePrediction:
    case_id: str
    reference_ml: float
    predicted_ml: float
    poor_outcome: int | None
    poor_outcome_probability: float
    #: The model's out-of-distribution verdict for the case (None: the model has no gate).
    in_distribution: bool | None = None


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics, per-case predictions and the ROC curve (None without both outcome classes)."""

    metrics: EvaluationMetrics
    cases: tuple[CasePrediction, ...]
    roc: RocCurve | None
    model_name: str
    model_sha256: str
    device: str
    warnings: tuple[str, ...] = ()
    #: The encoder's pooled features (n, C) and the outcome head's raw logits (n, 2) of each
    #: case, in case order (what the out-of-distribution gate and the temperature are fitted on).
    features: np.ndarray | None = None
    logits: np.ndarray | None = None
    #: The stages pooled into ``features``: the model's gate's, or (no gate) what a new gate
    #: is fitted on (:data:`ichmodel.ood_gate.GATE_STAGES`).
    feature_stages: tuple[str, ...] = ()
    #: Share of the cases the model's gate calls out of distribution (None: no gate).
    flagged_fraction: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = self.metrics.to_dict()
        d["flagged_out_of_distribution"] = self.flagged_fraction
        d["model"] = {"name": self.model_name, "sha256": self.model_sha256}
        d["device"] = self.device
        d["cases"] = [c.__dict__ for c in self.cases]
        d["warnings"] = list(self.warnings)
        return d


def evaluate_cases(
    model: LoadedModel,
    cache: CaseCache,
    cases: Sequence[Case],
    *,
    device: str = "auto",
    batch_size: int = 4,
    precision: str = "auto",
) -> Generator[Progress, None, EvaluationResult]:
    """Run ``model`` (a :class:`ichmodel.checkpoint.LoadedModel`) over cached cases.

    ``precision`` as in :func:`ichmodel.device.plan_for` ('auto' = what ``predict`` uses).
    """
    import torch

    from ichmodel.device import plan_for

    if not cases:
        raise ValueError("no cases to evaluate")
    plan = plan_for(device, precision=precision)
    net = model.net.to(plan.device, memory_format=plan.memory_format)
    stages = pooled_stages(model.gate)
    was_training = net.training
    net.eval()
    try:
        dataset = CaseDataset(cache, cases, label_transform=model.label_transform)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    loader = make_loader(dataset, _ordered(len(cases), batch_size), device=plan.device)
    sizes: list[np.ndarray] = []
    logits: list[np.ndarray] = []
    pooled: list[np.ndarray] = []
    done = 0
    try:
        with torch.inference_mode():
            for x, _, _, _ in loader:
                x = x.to(plan.device).contiguous(memory_format=plan.memory_format)
                with plan.autocast():
                    features, pooled_x = net.encode_pooled(x, stages)
                    out = net.heads(features)
                sizes.append(out.size_mm.float().reshape(-1).cpu().numpy())
                logits.append(out.logits.float().cpu().numpy())
                pooled.append(pooled_x.float().cpu().numpy())
                done += int(x.shape[0])
                yield Progress("evaluate", done, len(cases), f"{done}/{len(cases)} cases")
    finally:
        net.train(was_training)
    predicted_ml = dataset.to_ml(np.concatenate(sizes), np.arange(len(cases))).reshape(-1)
    all_logits = np.concatenate(logits).astype(np.float64)
    all_features = np.concatenate(pooled).astype(np.float64)
    # the probabilities predict() reports: the model's outcome temperature applied
    prob = poor_outcome_probability(all_logits, model.outcome_temperature)
    verdicts: list[bool | None] = [None] * len(cases)
    flagged = None
    if model.gate is not None:
        inside = model.gate.scores(all_features) <= model.gate.threshold
        verdicts = [bool(v) for v in inside]
        flagged = float(1.0 - inside.mean())
    reference = np.array([c.volume_ml for c in cases], dtype=np.float64)
    labels = [c.poor_outcome for c in cases]
    metrics = evaluation_metrics(predicted_ml, reference, labels, prob)
    roc = None
    lab = np.array([NO_OUTCOME if v is None else v for v in labels])
    known = lab != NO_OUTCOME
    if known.any() and 0 < lab[known].sum() < known.sum():
        roc = roc_curve(lab[known], prob[known])
    warnings = []
    if metrics.n_mape_skipped_zero:
        warnings.append(
            f"MAPE skips {metrics.n_mape_skipped_zero} case(s) whose reference volume is 0 ml"
        )
    rows = tuple(
        CasePrediction(c.case_id, c.volume_ml, float(p), c.poor_outcome, float(q), v)
        for c, p, q, v in zip(cases, predicted_ml, prob, verdicts, strict=True)
    )
    return EvaluationResult(
        metrics=metrics,
        cases=rows,
        roc=roc,
        model_name=str(getattr(model, "name", "model")),
        model_sha256=str(getattr(model, "sha256", "")),
        device=plan.description,
        warnings=tuple(warnings),
        features=all_features,
        logits=all_logits,
        flagged_fraction=flagged,
        feature_stages=stages,
    )


def evaluate_manifest(
    manifest: str | Path,
    model: LoadedModel,
    *,
    cache_dir: str | Path,
    device: str = "auto",
    exclude_rows: Sequence[int] = (),
    batch_size: int = 4,
) -> Generator[Progress, None, EvaluationResult]:
    """Validate a manifest, cache its inputs (model's preprocessing) and evaluate ``model``.

    Raises :class:`ichmodel.errors.ManifestError` listing every bad row before evaluating.
    """
    cache, cases = yield from cache_manifest(manifest, model, cache_dir, exclude_rows)
    result = yield from evaluate_cases(model, cache, cases, device=device, batch_size=batch_size)
    return result


def cache_manifest(
    manifest: str | Path,
    model: LoadedModel,
    cache_dir: str | Path,
    exclude_rows: Sequence[int] = (),
) -> Generator[Progress, None, tuple[CaseCache, list[Case]]]:
    """Validate a manifest and cache its inputs with ``model``'s preprocessing; returns the
    cache and its cases. Raises :class:`ichmodel.errors.ManifestError` listing every bad row
    (unparseable or not loading) at once."""
    report = read_manifest(manifest, exclude_rows=exclude_rows)
    cache = CaseCache(cache_dir, model.preprocess_config)
    report = yield from build_cache(report, cache)
    report.raise_for_problems()
    return cache, cases_from_report(report)
