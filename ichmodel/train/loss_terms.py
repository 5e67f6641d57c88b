"""Extra loss terms: plugged into the training loop, never branches inside it.

The loop's own loss is the paper's (:func:`ichmodel.train.steps.compute_loss`: size MSE +
λ · outcome cross-entropy). Anything else a run adds is a :class:`LossTerm` in the list passed
to :func:`ichmodel.train.loop.train` (as MONAI injects its loss into the trainer): the loop
adds ``term.weight * term.compute(batch, forward).value`` to the total, logs each term's epoch
mean as ``train_<name>_loss`` and never looks at what a term is. A term says what it needs from
the batch and the forward pass (:attr:`LossTerm.needs_hematoma`, :attr:`LossTerm.needs_features`)
so a run without terms does exactly what it did before terms existed (same forward, same data).

:class:`LocalizationTerm` (not in the paper) is the one term we ship;
``TrainConfig.localization_loss_weight`` > 0 adds it (:func:`config_loss_terms`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch
from torch import nn

from ichmodel.errors import TrainingError
from ichmodel.nets.resnet3d import ICHNet, NetOutput
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import CaseDataset
from ichmodel.train.steps import contribution_map, localization_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainBatch:
    """One training batch on the device, after augmentation."""

    #: (B, 1, z, y, x) network input in [0, 1].
    x: torch.Tensor
    #: (B,) reference size (mm, the label transform's units).
    size_mm: torch.Tensor
    #: (B,) outcome label, -1 = unknown.
    label: torch.Tensor
    #: (B, 1, z, y, x) share of each voxel inside the hematoma (negative: unknown), moved by
    #: the same augmentation as ``x``; None unless a term ``needs_hematoma``.
    hematoma: torch.Tensor | None = None


@dataclass(frozen=True)
class ForwardPass:
    """The network's forward pass on a :class:`TrainBatch`, for the terms to read."""

    output: NetOutput
    #: The last-stage feature map (B, C, z', y', x'); None unless a term ``needs_features``.
    features: torch.Tensor | None
    net: nn.Module
    #: Re-enters the run's autocast (bf16/fp32) for work that belongs to the forward pass.
    autocast: Callable[[], AbstractContextManager[object]]


@dataclass(frozen=True)
class TermValue:
    """A term's value before its weight, and how many cases of the batch it counted."""

    value: torch.Tensor
    n_cases: int


class LossTerm(Protocol):
    """An extra term of the training loss."""

    @property
    def name(self) -> str:
        """Short identifier: metrics column ``train_<name>_loss`` and saved state key."""
        ...

    @property
    def weight(self) -> float:
        """Multiplies :meth:`compute`'s value in the total loss."""
        ...

    @property
    def needs_hematoma(self) -> bool:
        """Whether the batch must carry the cached hematoma masks."""
        ...

    @property
    def needs_features(self) -> bool:
        """Whether the forward pass must keep the encoder's last-stage map."""
        ...

    def check(self, net: nn.Module, dataset: CaseDataset) -> None:
        """Refuse (:class:`~ichmodel.errors.TrainingError`) a net or data the term cannot use,
        before the first step."""
        ...

    def compute(self, batch: TrainBatch, forward: ForwardPass) -> TermValue:
        """The term's value (fp32, with a graph) for this batch."""
        ...


@dataclass(frozen=True)
class LocalizationTerm:
    """μ · cross-entropy between where the hematoma is and where the volume head counts it
    (:func:`ichmodel.train.steps.localization_loss`); only cases with a cached mask count."""

    weight: float
    name: str = "localization"
    needs_hematoma: ClassVar[bool] = True
    needs_features: ClassVar[bool] = True

    def check(self, net: nn.Module, dataset: CaseDataset) -> None:
        # ICHNet's encoder/heads split gives the last-stage map the volume head pools.
        if not isinstance(net, ICHNet):
            raise TrainingError("localization_loss_weight needs an ICHNet (encoder + volume head)")
        with_map = sum(dataset.cache.hematoma_path(c.cache_key).is_file() for c in dataset.cases)
        if with_map == 0:
            raise TrainingError(
                "localization_loss_weight is set but no training case has a hematoma mask in "
                "the cache (only phantoms cached with their masks do); set it to 0"
            )
        log.info("localization term: %d of %d training cases have a hematoma mask", with_map,
                 len(dataset))

    def compute(self, batch: TrainBatch, forward: ForwardPass) -> TermValue:
        net = forward.net
        if batch.hematoma is None or forward.features is None or not isinstance(net, ICHNet):
            raise TrainingError("the localization term needs the batch's masks and an ICHNet's "
                                "features (its needs_* flags ask the loop for them)")
        with forward.autocast():  # the map is part of the forward pass (same dtype as before)
            contributions = contribution_map(forward.features, net.volume_head)
        value, n = localization_loss(contributions, batch.hematoma)
        return TermValue(value, n)


def config_loss_terms(config: TrainConfig) -> tuple[LossTerm, ...]:
    """The terms a :class:`TrainConfig` asks for: the localization term when its weight > 0."""
    if config.localization_loss_weight > 0:
        return (LocalizationTerm(config.localization_loss_weight),)
    return ()
