"""One optimizer step that refuses non-finite numbers, with the loss terms plugged in.

The forward pass keeps the encoder's last-stage map only when a term asks for it; without terms
it is ``net(x)``, the paper's loss, and nothing else (runs without terms are bit-identical to
runs made before terms existed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ichmodel.device import DevicePlan
from ichmodel.errors import TrainingError
from ichmodel.nets.resnet3d import ICHNet
from ichmodel.train.config import TrainConfig
from ichmodel.train.distributed import World
from ichmodel.train.loss_terms import ForwardPass, LossTerm, TrainBatch
from ichmodel.train.steps import LossParts, compute_loss, with_terms

#: A gradient element beyond this is corrupt, not large: bf16 backward on some CPUs (torch 2.13,
#: oneDNN) now and then returns ~1e37 values, which overflow Adam's second moment to inf and
#: silently freeze the affected weights for the rest of the run.
MAX_SANE_GRADIENT = 1e6


@dataclass(frozen=True)
class StepOutcome:
    """What one step did: its loss value, the loss parts, and whether the weights moved."""

    loss_value: float
    parts: LossParts
    ok: bool


def all_finite(tensors: Sequence[torch.Tensor]) -> bool:
    if not tensors:
        return True
    sums = torch.stack([t.detach().float().abs().sum() for t in tensors])
    return bool(torch.isfinite(sums).all())


def grads_sane(grads: Sequence[torch.Tensor]) -> bool:
    """Every gradient finite and below :data:`MAX_SANE_GRADIENT`."""
    if not grads:
        return True
    peak = torch.stack([g.detach().float().abs().max() for g in grads]).max()
    return bool(torch.isfinite(peak)) and float(peak) < MAX_SANE_GRADIENT


def forward_pass(
    net: nn.Module, batch: TrainBatch, plan: DevicePlan, *, keep_features: bool
) -> ForwardPass:
    """``net(batch.x)`` under the run's autocast; with ``keep_features`` the same pass split
    at the encoder so terms can read its last-stage map."""
    if keep_features and not isinstance(net, ICHNet):
        raise TrainingError("a loss term that reads the encoder's features needs an ICHNet")
    with plan.autocast():
        if not keep_features:
            return ForwardPass(net(batch.x), None, net, plan.autocast)
        features = net.encode(batch.x)
        return ForwardPass(net.heads(features), features, net, plan.autocast)


def guarded_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainable: Sequence[nn.Parameter],
    float_buffers: Sequence[torch.Tensor],
    batch: TrainBatch,
    config: TrainConfig,
    class_weights: torch.Tensor | None,
    plan: DevicePlan,
    terms: Sequence[LossTerm] = (),
    world: World | None = None,
) -> StepOutcome:
    """One optimizer step on ``batch``.

    When the loss or a BatchNorm running statistic is NaN/inf, or a gradient is NaN/inf or
    absurd (> :data:`MAX_SANE_GRADIENT`), the BatchNorm buffers are restored, no update is
    made and ``ok`` is False (the caller decides whether to stop). With several processes
    (``world``) a step is taken by all ranks or by none, on the global batch's mean gradient.
    """
    world = world or World()
    backup = [b.detach().clone() for b in float_buffers]
    forward = forward_pass(net, batch, plan, keep_features=any(t.needs_features for t in terms))
    out = forward.output
    parts = compute_loss(out.size_mm, out.logits, batch.size_mm, batch.label,
                         outcome_weight=config.outcome_loss_weight, class_weights=class_weights)
    parts = with_terms(parts, [(t, t.compute(batch, forward)) for t in terms])
    loss_value = float(parts.total.detach())
    optimizer.zero_grad(set_to_none=True)
    ok = bool(np.isfinite(loss_value)) and all_finite(float_buffers)
    if ok:
        parts.total.backward()
        ok = grads_sane([p.grad for p in trainable if p.grad is not None])
    ok = world.agree(ok)
    if ok:
        world.average_gradients(trainable, int(batch.x.shape[0]))
    if not ok:
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for b, saved in zip(float_buffers, backup, strict=True):
                b.copy_(saved)
        return StepOutcome(loss_value, parts, False)
    if config.grad_clip_norm:
        torch.nn.utils.clip_grad_norm_(list(trainable), config.grad_clip_norm)
    optimizer.step()
    world.average_buffers(float_buffers)
    return StepOutcome(loss_value, parts, True)
