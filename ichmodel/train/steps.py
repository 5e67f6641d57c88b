"""The pieces of one training step and of validation: loss, optimizer, learning rate, eval pass.

Loss = MSE(predicted size mm, reference size mm) + λ · CE(outcome logits, label), the
cross-entropy averaged over the cases *with* an outcome label only (label -1 = unknown). A batch
without any labelled case contributes exactly zero gradient to the outcome head. Extra terms
(:mod:`ichmodel.train.loss_terms`) are added by :func:`with_terms`; the localization term's
pieces (:func:`contribution_map`, :func:`localization_loss`) live here beside the loss.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ichmodel.errors import NonFiniteLossError
from ichmodel.labels import size_mm_to_ml
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import NO_OUTCOME
from ichmodel.train.metrics import evaluation_metrics

if TYPE_CHECKING:
    from ichmodel.train.loss_terms import LossTerm, TermValue

log = logging.getLogger(__name__)

ENCODER_PREFIXES = ("stem.", "layer1.", "layer2.", "layer3.", "layer4.")
OUTCOME_HEAD_PREFIX = "outcome_head."


@dataclass(frozen=True)
class LossParts:
    total: torch.Tensor
    volume: torch.Tensor
    outcome: torch.Tensor
    n_labelled: int
    #: Each extra term's value before its weight, by :attr:`LossTerm.name` (in the order added).
    terms: Mapping[str, TermValue] = field(default_factory=dict)


def compute_loss(
    size_mm: torch.Tensor,
    logits: torch.Tensor,
    target_size_mm: torch.Tensor,
    labels: torch.Tensor,
    *,
    outcome_weight: float,
    class_weights: torch.Tensor | None = None,
) -> LossParts:
    """MSE on size (mm²) + λ · masked cross-entropy; computed in fp32."""
    size_mm = size_mm.float().reshape(-1)
    logits = logits.float()
    volume = F.mse_loss(size_mm, target_size_mm.float().reshape(-1))
    mask = labels != NO_OUTCOME
    n_labelled = int(mask.sum().item())
    if n_labelled and outcome_weight > 0:
        weight = None if class_weights is None else class_weights.to(logits)
        outcome = F.cross_entropy(logits[mask], labels[mask].to(logits.device), weight=weight)
    else:
        outcome = logits.sum() * 0.0  # keeps the graph; zero gradient to the outcome head
    total = volume + outcome_weight * outcome
    return LossParts(total, volume, outcome, n_labelled)


def with_terms(
    parts: LossParts, values: Sequence[tuple[LossTerm, TermValue]]
) -> LossParts:
    """``parts`` with each term's weighted value added to the total, in order."""
    if not values:
        return parts
    total = parts.total
    for term, value in values:
        total = total + term.weight * value.value
    return replace(parts, total=total, terms={term.name: value for term, value in values})


#: Share of the localization target spread evenly over all cells, so its optimum is finite
#: (a cell without blood is pushed down, not to minus infinity).
LOCALIZATION_SMOOTHING = 0.05
#: Share of the localization target on the cells whose centre is blood (see
#: :func:`localization_target`).
CENTRE_SHARE = 0.75


def contribution_map(features: torch.Tensor, volume_head: nn.Module) -> torch.Tensor:
    """The volume head's linear part at each location of a last-stage map: (B, z, y, x).

    Both size heads apply one linear layer to the globally averaged features, so this map
    averages to their pre-activation output (less the bias) and, its gradient being spatially
    uniform, is what the volume head's Grad-CAM on the last stage shows (up to a positive
    factor and the ReLU).
    """
    weight = volume_head.fc.weight[0].to(features.dtype)
    return torch.einsum("bczyx,c->bzyx", features, weight)


def localization_target(hematoma: torch.Tensor, cells: tuple[int, ...]) -> torch.Tensor:
    """Where the volume head should count each case's blood: (B, n_cells), rows sum to 1.

    A map's value at a cell stands for the cell's *centre* (maps are resampled to the study
    cell centre to cell centre), so :data:`CENTRE_SHARE` of the target sits on the cells whose
    centre is blood (the hematoma share sampled there); the rest follows the blood's share of
    each cell, so a bleed lying between centres still pulls its cells up. Rows of cases without
    blood are 0.
    """
    share = hematoma.float().clamp(min=0)
    pooled = F.adaptive_avg_pool3d(share, cells).flatten(1)
    centre = F.interpolate(share, size=cells, mode="trilinear", align_corners=False).flatten(1)

    def unit(t: torch.Tensor) -> torch.Tensor:
        total = t.sum(1, keepdim=True)
        return torch.where(total > 1e-6, t / total.clamp(min=1e-6), torch.zeros_like(t))

    has_centre = (centre.sum(1, keepdim=True) > 1e-6).float()
    w = CENTRE_SHARE * has_centre
    return w * unit(centre) + (1.0 - w) * unit(pooled)


def localization_loss(
    contributions: torch.Tensor, hematoma: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Cross-entropy between where the hematoma is and where the volume head counts it.

    ``contributions`` (B, z', y', x') from :func:`contribution_map`; ``hematoma`` (B, 1, z, y, x)
    the share of each input voxel inside the hematoma, negative where unknown. The target is
    :func:`localization_target` (smoothed by :data:`LOCALIZATION_SMOOTHING`); the prediction a
    softmax over the cells of the case's contributions, standardised first so the term does
    not depend on their scale (that carries the volume). Cases without a hematoma or without a
    map do not count. Returns the mean over the cases that count (0 with a graph when none
    does) and their number.
    """
    c = contributions.float().flatten(1)
    known = hematoma.flatten(1).amin(1) >= 0
    target = localization_target(hematoma, tuple(contributions.shape[1:]))
    use = known & (target.sum(1) > 0.5)
    n = int(use.sum().item())
    if n == 0:
        return c.sum() * 0.0, 0
    target = target[use]
    target = (1.0 - LOCALIZATION_SMOOTHING) * target + LOCALIZATION_SMOOTHING / target.shape[1]
    cu = c[use]
    z = (cu - cu.mean(1, keepdim=True)) / (cu.std(1, keepdim=True, correction=0) + 1e-3)
    return -(target * F.log_softmax(z, dim=1)).sum(1).mean(), n


def class_weight_tensor(config: TrainConfig, train_labels: np.ndarray) -> torch.Tensor | None:
    """Per-class CE weights: none, inverse frequency ("balanced") or explicit."""
    cw = config.class_weights
    if cw == "none":
        return None
    if isinstance(cw, tuple):
        return torch.tensor(cw, dtype=torch.float32)
    labelled = train_labels[train_labels != NO_OUTCOME]
    counts = np.array([np.sum(labelled == 0), np.sum(labelled == 1)], dtype=np.float64)
    if labelled.size == 0 or np.any(counts == 0):
        log.warning("balanced class weights need both outcomes in training; using none")
        return None
    return torch.tensor(labelled.size / (2.0 * counts), dtype=torch.float32)


def trainable_parameters(
    net: nn.Module, *, freeze_encoder: bool, train_outcome_head: bool
) -> list[tuple[str, nn.Parameter]]:
    """Parameters the optimizer updates; frozen ones get ``requires_grad=False``."""
    chosen = []
    for name, p in net.named_parameters():
        frozen = (freeze_encoder and name.startswith(ENCODER_PREFIXES)) or (
            not train_outcome_head and name.startswith(OUTCOME_HEAD_PREFIX)
        )
        p.requires_grad_(not frozen)
        if not frozen:
            chosen.append((name, p))
    if not chosen:
        raise ValueError("nothing left to train: every parameter is frozen")
    return chosen


def set_train_mode(net: nn.Module, *, freeze_encoder: bool) -> None:
    """``net.train()``, but a frozen encoder keeps its BatchNorm statistics (eval mode)."""
    net.train()
    if freeze_encoder:
        for name in ("stem", "layer1", "layer2", "layer3", "layer4"):
            module = getattr(net, name, None)
            if module is not None:
                module.eval()


def make_optimizer(
    params: Iterable[nn.Parameter], config: TrainConfig
) -> torch.optim.Optimizer:
    params = list(params)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def lr_at(step: int, total_steps: int, config: TrainConfig) -> float:
    """Learning rate for the step about to run (0-based): warm-up, then constant or cosine."""
    if config.warmup_steps and step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "cosine" and total_steps > config.warmup_steps:
        t = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    return config.lr


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, loader, plan) -> int:
    """Replace BatchNorm running statistics by their average over ``loader`` ("precise BN").

    Small batches and a high learning rate leave the running estimates lagging behind the
    weights, so eval-mode outputs drift from train-mode ones; one pass over (un-augmented)
    training data with a cumulative average fixes that. Weights are untouched. Returns the
    number of samples seen; ``net`` is left in eval mode.
    """
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    net.train()
    seen = 0
    try:
        for x, *_ in loader:
            x = x.to(plan.device).contiguous(memory_format=plan.memory_format)
            with plan.autocast():
                net(x)
            seen += int(x.shape[0])
    finally:
        for m, momentum in zip(bns, momenta, strict=True):
            m.momentum = momentum
        net.eval()
    return seen


@torch.inference_mode()
def predict_batches(net: nn.Module, loader, plan) -> dict[str, np.ndarray]:
    """Run ``net`` (eval mode) over a loader; returns sizes, probabilities, targets, labels
    and each row's dataset index."""
    sizes, logits, targets, labels, indices = [], [], [], [], []
    for x, size, label, index, *_ in loader:
        x = x.to(plan.device, non_blocking=True).contiguous(memory_format=plan.memory_format)
        with plan.autocast():
            out = net(x)
        sizes.append(out.size_mm.float().reshape(-1).cpu())
        logits.append(out.logits.float().cpu())
        targets.append(size)
        labels.append(label)
        indices.append(torch.as_tensor(index).reshape(-1))
    cat = torch.cat
    all_logits = cat(logits)
    return {
        "size_mm": cat(sizes).numpy().astype(np.float64),
        "logits": all_logits.numpy().astype(np.float64),
        "prob": torch.softmax(all_logits, dim=1)[:, 1].numpy().astype(np.float64),
        "target_size_mm": cat(targets).numpy().astype(np.float64),
        "label": cat(labels).numpy(),
        "index": cat(indices).numpy(),
    }


def validation_metrics(
    net: nn.Module,
    loader,
    plan,
    *,
    outcome_weight: float,
    class_weights: torch.Tensor | None,
    to_ml: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> dict[str, float | None]:
    """Validation loss (same formula as training) and the paper's metrics on ml.

    ``to_ml(sizes, dataset_indices)`` turns network-space sizes into ml (the dataset's
    :meth:`~ichmodel.train.dataset.CaseDataset.to_ml`); default: the plain cube root.
    """
    was_training = net.training
    net.eval()
    try:
        r = predict_batches(net, loader, plan)
    finally:
        net.train(was_training)
    if not (np.all(np.isfinite(r["size_mm"])) and np.all(np.isfinite(r["logits"]))):
        raise NonFiniteLossError(
            "the network's validation outputs are NaN/inf (its weights or BatchNorm statistics "
            "are no longer finite); the run was stopped. Lower the learning rate, or resume "
            "from the last good state with --resume"
        )
    parts = compute_loss(
        torch.from_numpy(r["size_mm"]),
        torch.from_numpy(r["logits"]),
        torch.from_numpy(r["target_size_mm"]),
        torch.from_numpy(r["label"]),
        outcome_weight=outcome_weight,
        class_weights=class_weights,
    )
    labels = [None if v == NO_OUTCOME else int(v) for v in r["label"]]
    if to_ml is None:
        predicted_ml, target_ml = size_mm_to_ml(r["size_mm"]), size_mm_to_ml(r["target_size_mm"])
    else:
        predicted_ml = to_ml(r["size_mm"], r["index"])
        target_ml = to_ml(r["target_size_mm"], r["index"])
    m = evaluation_metrics(predicted_ml, target_ml, labels, r["prob"])
    return {
        "val_loss": float(parts.total),
        "val_volume_loss": float(parts.volume),
        "val_outcome_loss": float(parts.outcome),
        "val_mae_ml": m.mae_ml,
        "val_auc": m.auc,
        "val_accuracy": m.accuracy,
    }
