"""The pieces of one training step and of validation: loss, optimizer, learning rate, eval pass.

Loss = MSE(predicted size mm, reference size mm) + λ · CE(outcome logits, label), the
cross-entropy averaged over the cases *with* an outcome label only (label -1 = unknown). A batch
without any labelled case contributes exactly zero gradient to the outcome head.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ichmodel.errors import NonFiniteLossError
from ichmodel.labels import size_mm_to_ml
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import NO_OUTCOME
from ichmodel.train.metrics import evaluation_metrics

log = logging.getLogger(__name__)

ENCODER_PREFIXES = ("stem.", "layer1.", "layer2.", "layer3.", "layer4.")
OUTCOME_HEAD_PREFIX = "outcome_head."


@dataclass(frozen=True)
class LossParts:
    total: torch.Tensor
    volume: torch.Tensor
    outcome: torch.Tensor
    n_labelled: int


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
    return LossParts(volume + outcome_weight * outcome, volume, outcome, n_labelled)


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
    """Run ``net`` (eval mode) over a loader; returns sizes, probabilities, targets, labels."""
    sizes, logits, targets, labels = [], [], [], []
    for x, size, label, _ in loader:
        x = x.to(plan.device, non_blocking=True).contiguous(memory_format=plan.memory_format)
        with plan.autocast():
            out = net(x)
        sizes.append(out.size_mm.float().reshape(-1).cpu())
        logits.append(out.logits.float().cpu())
        targets.append(size)
        labels.append(label)
    cat = torch.cat
    all_logits = cat(logits)
    return {
        "size_mm": cat(sizes).numpy().astype(np.float64),
        "logits": all_logits.numpy().astype(np.float64),
        "prob": torch.softmax(all_logits, dim=1)[:, 1].numpy().astype(np.float64),
        "target_size_mm": cat(targets).numpy().astype(np.float64),
        "label": cat(labels).numpy(),
    }


def validation_metrics(
    net: nn.Module, loader, plan, *, outcome_weight: float, class_weights: torch.Tensor | None
) -> dict[str, float | None]:
    """Validation loss (same formula as training) and the paper's metrics on ml."""
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
    m = evaluation_metrics(
        size_mm_to_ml(r["size_mm"]), size_mm_to_ml(r["target_size_mm"]), labels, r["prob"]
    )
    return {
        "val_loss": float(parts.total),
        "val_volume_loss": float(parts.volume),
        "val_outcome_loss": float(parts.outcome),
        "val_mae_ml": m.mae_ml,
        "val_auc": m.auc,
        "val_accuracy": m.accuracy,
    }
