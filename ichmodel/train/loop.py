"""The training loop: a generator of progress events that returns a :class:`TrainResult`.

Events (all :class:`ichmodel.progress.Progress`):

* ``stage="train"`` after every optimizer step: ``current`` = global step, ``total`` = all steps;
  metrics ``step``, ``epoch`` (1-based), ``train_loss`` (running mean of the epoch),
  ``batch_loss``, ``lr``, ``samples_per_s``, ``eta_s``.
* ``stage="validate"`` after every epoch: metrics ``epoch``, ``step``, ``train_loss`` (epoch mean),
  ``val_loss``, ``val_mae_ml``, ``val_auc``, ``val_accuracy`` (absent when undefined), ``eta_s``.

Cancel by closing the generator (``gen.close()``) between steps: the resumable state is saved at
that step first, so ``resume=True`` continues from there. The run folder holds ``config.json``,
``split.json``, ``metrics.csv`` + ``metrics.jsonl`` (one row per epoch), ``checkpoints/best`` and
``checkpoints/last`` (model checkpoints that :func:`ichmodel.checkpoint.load_checkpoint` reads)
and ``checkpoints/state.safetensors`` (the exact training state, no pickle).

Structure: :func:`train` sets a run up (:func:`~ichmodel.train.run_setup.set_up_run`:
a :class:`~ichmodel.train.run_setup.RunContext` with the fixed parts and the session's
counters, and a :class:`~ichmodel.train.run_state.RunState`, what is saved), then alternates
:func:`_train_epoch` (the steps of one epoch, a generator) and :func:`_end_epoch` (validate,
checkpoint, log). Extra loss terms come in as :class:`~ichmodel.train.loss_terms.LossTerm`
objects; the loop never branches on what a term is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from pathlib import Path

import numpy as np
import torch

from ichmodel.errors import NonFiniteLossError, TrainingError
from ichmodel.progress import Progress
from ichmodel.train.augment import augment_batch
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import epoch_batches, make_loader, ordered_batches
from ichmodel.train.distributed import World
from ichmodel.train.guarded_step import StepOutcome, guarded_step
from ichmodel.train.loss_terms import LossTerm, TrainBatch
from ichmodel.train.run_files import STATE_NAME, RunFiles, StartModel, TrainData, TrainResult
from ichmodel.train.run_setup import RunContext, all_loss_terms, set_up_run
from ichmodel.train.steps import lr_at, set_train_mode, validation_metrics

log = logging.getLogger(__name__)


def _augment_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    state = np.random.SeedSequence([int(seed), int(epoch), int(batch), 0xA06]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _oom_error(exc: BaseException, batch_size: int) -> TrainingError:
    smaller = max(1, batch_size // 2)
    return TrainingError(
        f"out of memory at batch size {batch_size} ({exc.__class__.__name__}); "
        f"try a smaller batch (--batch-size {smaller}) or the CPU"
    )


def train(
    data: TrainData,
    start: StartModel,
    run_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    card_text: str = "",
    extra_loss_terms: Sequence[LossTerm] = (),
    world: World | None = None,
) -> Generator[Progress, None, TrainResult]:
    """Train ``start.net`` on ``data``; writes everything under ``run_dir``.

    With ``resume=True`` the run folder's saved state (model, optimizer, RNG, step, epoch,
    position in the epoch, history) is restored and training continues exactly where it
    stopped; ``config`` may then differ only in :attr:`TrainConfig.RESUMABLE_CHANGES`.
    The loss is the paper's plus the terms ``config`` asks for (the localization term when
    ``localization_loss_weight`` > 0) plus ``extra_loss_terms``. ``world``: the training
    processes under torchrun (:mod:`ichmodel.train.distributed`; default a world of one).
    """
    config = config or TrainConfig()
    run = set_up_run(data, start, run_dir, config, resume=resume, card_text=card_text,
                  terms=all_loss_terms(config, extra_loss_terms), world=world)
    state = run.state
    try:
        while state.epoch < config.epochs and state.stopped != "early_stopping":
            reached_max_steps = yield from _train_epoch(run)
            if reached_max_steps:
                run.save_state()
                run.save_model("last")
                return run.files.result(state, "max_steps", run.elapsed_s())
            yield _end_epoch(run)
    except GeneratorExit:
        if run.dirty:
            run.save_state()
            log.info("training cancelled at step %d; state saved for --resume", state.step)
        raise
    return run.files.result(state, state.stopped or "completed", run.elapsed_s())


def _batch_on_device(
    run: RunContext, batch: Sequence[torch.Tensor], epoch: int, bi: int
) -> TrainBatch:
    """The loader's batch moved to the device and augmented (masks moved like the input)."""
    device = run.plan.device
    x, size, label = batch[:3]
    hematoma = batch[4].to(device, non_blocking=True) if run.needs_hematoma else None
    x = x.to(device, non_blocking=True)
    generator = _augment_generator(run.config.seed, epoch, bi)
    if hematoma is None:
        x = augment_batch(x, run.config.augment, generator)
    else:
        x, hematoma = augment_batch(x, run.config.augment, generator, maps=hematoma)
    x = x.contiguous(memory_format=run.plan.memory_format)
    return TrainBatch(x, size.to(device, non_blocking=True), label.to(device, non_blocking=True),
                      hematoma)


def _train_epoch(run: RunContext) -> Generator[Progress, None, bool]:
    """The remaining steps of the current epoch, one progress event each; True when
    ``config.max_steps`` was reached (the caller saves and stops)."""
    state, config = run.state, run.config
    epoch = state.epoch
    batches = epoch_batches(len(run.train_ds), config.batch_size, config.seed, epoch)
    if run.world.distributed:  # this rank's part of each global batch; a last batch too small
        # for 2 samples per rank (BatchNorm) is left out by all ranks alike
        batches = [run.world.shard(b) for b in batches if len(b) >= 2 * run.world.size]
    first = state.batch_in_epoch
    loader = make_loader(
        run.train_ds, batches[first:], device=run.plan.device, num_workers=config.num_workers
    )
    set_train_mode(run.net, freeze_encoder=config.freeze_encoder)
    t_batch = time.perf_counter()
    for bi, raw in enumerate(loader, start=first):
        lr = lr_at(state.step, run.total_steps, config)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        batch = _batch_on_device(run, raw, epoch, bi)
        try:
            outcome = guarded_step(run.net, run.optimizer, run.trainable, run.float_buffers,
                                   batch, config, run.class_weights, run.plan, run.terms,
                                   run.world)
        except torch.OutOfMemoryError as exc:
            raise _oom_error(exc, config.batch_size) from exc
        _count_step(run, outcome, int(batch.x.shape[0]), lr, bi)
        now = time.perf_counter()
        rate = int(batch.x.shape[0]) / max(now - t_batch, 1e-9)
        t_batch = now
        yield Progress(
            "train",
            state.step,
            run.total_steps,
            f"epoch {epoch + 1}/{config.epochs} step {state.step}/{run.total_steps} "
            f"loss {outcome.loss_value:.4g}",
            {
                "step": float(state.step),
                "epoch": float(epoch + 1),
                "train_loss": state.epoch_loss_sum / max(1, state.epoch_samples),
                "batch_loss": outcome.loss_value if outcome.ok else float("nan"),
                "skipped_steps": float(state.skipped_steps),
                "lr": lr,
                "samples_per_s": rate,
                "eta_s": run.eta_s(),
            },
        )
        if config.max_steps is not None and state.step >= config.max_steps:
            return True
        every = config.checkpoint_every_steps
        if every and state.step % every == 0:
            run.save_state()
    return False


def _count_step(run: RunContext, outcome: StepOutcome, n: int, lr: float, bi: int) -> None:
    """Add one step to the state; stop the run after too many non-finite steps in a row."""
    state = run.state
    if not outcome.ok:
        state.skipped_steps += 1
        run.consecutive_bad += 1
        loss_value = outcome.loss_value
        what = (f"the training loss became {loss_value}" if not np.isfinite(loss_value)
                else "the gradients or BatchNorm statistics became non-finite "
                "(or absurdly large)")
        if run.consecutive_bad > run.config.nonfinite_patience:
            raise NonFiniteLossError(
                f"{what} at step {state.step + 1} (epoch {state.epoch + 1}; "
                f"{run.consecutive_bad} step(s) in a row); the run was stopped. Lower "
                f"the learning rate (now {lr:.3g}), check the manifest's volumes "
                f"and studies, or resume from the last good state in {run.files.state}"
            )
        log.warning("%s at step %d: step skipped (weights unchanged)", what, state.step + 1)
    else:
        run.consecutive_bad = 0
    state.step += 1
    state.batch_in_epoch = bi + 1
    if outcome.ok:
        parts = outcome.parts
        state.epoch_loss_sum += outcome.loss_value * n
        state.epoch_volume_loss_sum += float(parts.volume.detach()) * n
        state.epoch_outcome_loss_sum += float(parts.outcome.detach()) * n
        for name, value in parts.terms.items():
            state.epoch_term_loss_sums[name] += float(value.value.detach()) * n
        state.epoch_samples += n
    run.session_steps += 1
    run.dirty = True


def _end_epoch(run: RunContext) -> Progress:
    """Validate, keep the best checkpoint, write the latest, the state and the metrics."""
    state, config = run.state, run.config
    epoch = state.epoch
    if run.world.distributed:
        state.add_other_ranks(run.world)
    row = state.epoch_row(lr_at(max(0, state.step - 1), run.total_steps, config))
    if len(run.val_ds):
        val_loader = make_loader(
            run.val_ds,
            ordered_batches(len(run.val_ds), config.batch_size),
            device=run.plan.device,
            num_workers=config.num_workers,
        )
        row.update(
            validation_metrics(
                run.net,
                val_loader,
                run.plan,
                to_ml=run.val_ds.to_ml,
                outcome_weight=config.outcome_loss_weight,
                class_weights=run.class_weights,
            )
        )
    monitored = row.get("val_loss", row["train_loss"])
    improved = state.best_val_loss is None or monitored < state.best_val_loss
    row["best"] = improved
    row["elapsed_s"] = run.elapsed_s()
    state.history.append(row)
    state.epoch = epoch + 1
    state.start_next_epoch()
    if improved:
        state.best_val_loss = monitored
        state.best_epoch = epoch + 1
        state.epochs_without_improvement = 0
        run.save_model("best")
    else:
        state.epochs_without_improvement += 1
    patience = config.early_stopping_patience
    if patience is not None and state.epochs_without_improvement >= patience:
        state.stopped = "early_stopping"
    run.save_model("last")
    run.save_state()
    if run.world.is_main:
        run.files.write_metrics(state.history)
    return Progress(
        "validate",
        state.step,
        run.total_steps,
        f"epoch {epoch + 1}: " + ", ".join(
            f"{k} {v:.4g}" for k, v in row.items()
            if k in ("train_loss", "val_loss", "val_mae_ml", "val_auc") and v is not None
        ),
        {k: float(v) for k, v in row.items() if isinstance(v, int | float) and v is not None
         and not isinstance(v, bool)} | {"eta_s": run.eta_s()},
    )


__all__ = ["STATE_NAME", "RunFiles", "StartModel", "TrainData", "TrainResult", "train"]
