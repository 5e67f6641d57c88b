"""The fixed parts of one training session and how a run is set up (fresh or resumed).

:func:`set_up_run` prepares the run folder, the datasets, the device plan, the optimizer and the
:class:`~ichmodel.train.run_state.RunState` (new, or restored from the saved state on resume);
:class:`RunContext` carries them through :mod:`ichmodel.train.loop`'s epoch steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ichmodel.device import DevicePlan, configure_threads, plan_for
from ichmodel.errors import TrainingError
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import NO_OUTCOME, CaseDataset, steps_per_epoch
from ichmodel.train.distributed import World
from ichmodel.train.loss_terms import LossTerm, config_loss_terms
from ichmodel.train.run_files import (
    RunFiles,
    StartModel,
    TrainData,
    prepare_run_dir,
    read_prepared_run,
)
from ichmodel.train.run_state import RunState
from ichmodel.train.state import load_train_state, restore_rng, save_train_state
from ichmodel.train.steps import class_weight_tensor, make_optimizer, trainable_parameters

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """One session of a run: what stays fixed, plus counters that are not saved."""

    files: RunFiles
    start: StartModel
    config: TrainConfig
    plan: DevicePlan
    net: nn.Module
    optimizer: torch.optim.Optimizer
    trainable: list[nn.Parameter]
    float_buffers: list[torch.Tensor]
    train_ds: CaseDataset
    val_ds: CaseDataset
    class_weights: torch.Tensor | None
    terms: tuple[LossTerm, ...]
    total_steps: int
    card_text: str
    state: RunState
    t_start: float
    elapsed_before: float
    #: The training processes (a world of one unless started by torchrun).
    world: World = field(default_factory=World)
    #: Non-finite steps in a row (the run stops past ``config.nonfinite_patience``).
    consecutive_bad: int = 0
    session_steps: int = 0
    #: Steps taken since the state was last saved (a cancel saves them).
    dirty: bool = False
    needs_hematoma: bool = field(init=False)

    def __post_init__(self) -> None:
        self.needs_hematoma = any(t.needs_hematoma for t in self.terms)

    def elapsed_s(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.t_start

    def save_state(self) -> None:
        """The resumable state (rank 0 writes it; every rank holds the same weights)."""
        self.state.elapsed_s = self.elapsed_s()
        if self.world.is_main:
            info = self.state.to_info() | {"world_size": self.world.size}
            save_train_state(self.files.state, model=self.net, optimizer=self.optimizer,
                             info=info)
        self.dirty = False

    def save_model(self, which: str) -> None:
        if self.world.is_main:
            self.files.save_model(self.net, self.start, self.config, self.state, which,
                                  self.card_text)

    def eta_s(self) -> float:
        per_step = (time.perf_counter() - self.t_start) / max(1, self.session_steps)
        return per_step * max(0, self.total_steps - self.state.step)


def all_loss_terms(config: TrainConfig, extra: Sequence[LossTerm]) -> tuple[LossTerm, ...]:
    """The config's terms (the localization term when its weight > 0), then ``extra``."""
    terms = config_loss_terms(config) + tuple(extra)
    names = [t.name for t in terms]
    if len(set(names)) != len(names):
        raise TrainingError(f"loss terms need distinct names, got {names}; "
                            "drop the duplicate (the config's localization weight adds one)")
    return terms


def set_up_run(
    data: TrainData,
    start: StartModel,
    run_dir: str | Path,
    config: TrainConfig,
    *,
    resume: bool,
    card_text: str,
    terms: tuple[LossTerm, ...],
    world: World | None = None,
) -> RunContext:
    """Run folder, datasets, device, optimizer and state (fresh, or restored on resume).
    In a world of several processes rank 0 prepares the folder and the others read it."""
    t_start = time.perf_counter()
    world = world or World()
    if world.is_main:
        files, split = prepare_run_dir(run_dir, data, start, config, resume=resume)
        world.barrier()
    else:
        world.barrier()
        files, split = read_prepared_run(run_dir)
    if world.distributed and config.batch_size < 2 * world.size:
        raise TrainingError(
            f"--batch-size {config.batch_size} is too small for {world.size} training "
            f"processes: each needs 2 samples per step (BatchNorm); use --batch-size "
            f"{2 * world.size} or more"
        )
    plan = plan_for(config.device, precision=config.precision, training=True)
    if config.threads and plan.device.type == "cpu":
        configure_threads(config.threads)
    by_id = {c.case_id: c for c in data.cases}
    needs_hematoma = any(t.needs_hematoma for t in terms)
    try:
        train_ds = CaseDataset(data.cache, [by_id[i] for i in split.train],
                               label_transform=start.label_transform,
                               with_hematoma=needs_hematoma)
        val_ds = CaseDataset(data.cache, [by_id[i] for i in split.val],
                             label_transform=start.label_transform)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    if len(train_ds) == 0:
        raise TrainingError("no training cases after the split; add cases to the manifest")
    train_labels = train_ds.labels()
    for term in terms:
        term.check(start.net, train_ds)
    has_outcomes = bool(np.any(train_labels != NO_OUTCOME))
    if not has_outcomes:
        log.info("no training case has an outcome: only the volume head (and encoder) train")
    class_weights = class_weight_tensor(config, train_labels)

    net = start.net
    if not resume:
        torch.manual_seed(config.seed)
        if start.source == "scratch" and config.init_volume_bias:
            _init_volume_bias(net, train_ds)
    named = trainable_parameters(
        net, freeze_encoder=config.freeze_encoder, train_outcome_head=has_outcomes
    )
    net.to(plan.device, memory_format=plan.memory_format)
    optimizer = make_optimizer([p for _, p in named], config)
    term_names = [t.name for t in terms]
    state = RunState.new(term_names)
    if resume:
        saved = load_train_state(files.state)
        net.load_state_dict(saved.model)
        optimizer.load_state_dict(saved.optimizer)
        restore_rng(saved.rng)
        saved_world = int(saved.info.get("world_size", 1))
        if saved_world != world.size:
            raise TrainingError(
                f"{files.root} was trained by {saved_world} process(es); resume it with the "
                f"same number (now {world.size})"
            )
        state = RunState.from_info(saved.info, term_names)
        log.info("resuming %s at step %d (epoch %d)", files.root, state.step, state.epoch + 1)
    net.to(plan.device, memory_format=plan.memory_format)
    if state.stopped == "early_stopping":
        log.info("run already stopped early; nothing to resume")
    return RunContext(
        files=files,
        start=start,
        config=config,
        plan=plan,
        net=net,
        optimizer=optimizer,
        trainable=[p for _, p in named],
        float_buffers=[b for b in net.buffers() if b.is_floating_point()],
        train_ds=train_ds,
        val_ds=val_ds,
        class_weights=None if class_weights is None else class_weights.to(plan.device),
        terms=terms,
        total_steps=steps_per_epoch(len(train_ds), config.batch_size) * config.epochs,
        card_text=card_text,
        state=state,
        t_start=t_start,
        elapsed_before=state.elapsed_s,
        world=world,
    )


def _init_volume_bias(net: torch.nn.Module, dataset: CaseDataset) -> None:
    volume_head = getattr(net, "volume_head", None)
    if not hasattr(volume_head, "init_bias"):  # a network without ICHNet's heads
        return
    mean = float(np.mean([dataset.target_size_mm(i) for i in range(len(dataset))]))
    volume_head.init_bias(mean)  # each head knows the unit of its linear part
    log.info("volume head bias initialised to the mean training size %.2f mm", mean)


