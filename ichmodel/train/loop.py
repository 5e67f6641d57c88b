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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ichmodel.device import configure_threads, plan_for
from ichmodel.errors import NonFiniteLossError, TrainingError
from ichmodel.progress import Progress
from ichmodel.train.augment import augment_batch
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import (
    NO_OUTCOME,
    CaseDataset,
    epoch_batches,
    make_loader,
    ordered_batches,
    steps_per_epoch,
)
from ichmodel.train.run_files import (
    STATE_NAME,
    RunFiles,
    StartModel,
    TrainData,
    TrainResult,
    prepare_run_dir,
)
from ichmodel.train.state import load_train_state, restore_rng, save_train_state
from ichmodel.train.steps import (
    class_weight_tensor,
    compute_loss,
    contribution_map,
    lr_at,
    make_optimizer,
    set_train_mode,
    trainable_parameters,
    validation_metrics,
)

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
) -> Generator[Progress, None, TrainResult]:
    """Train ``start.net`` on ``data``; writes everything under ``run_dir``.

    With ``resume=True`` the run folder's saved state (model, optimizer, RNG, step, epoch,
    position in the epoch, history) is restored and training continues exactly where it
    stopped; ``config`` may then differ only in :attr:`TrainConfig.RESUMABLE_CHANGES`.
    """
    config = config or TrainConfig()
    t_start = time.perf_counter()
    files, split = prepare_run_dir(run_dir, data, start, config, resume=resume)
    plan = plan_for(config.device, precision=config.precision, training=True)
    if config.threads and plan.device.type == "cpu":
        configure_threads(config.threads)
    by_id = {c.case_id: c for c in data.cases}
    localize = config.localization_loss_weight > 0
    try:
        train_ds = CaseDataset(data.cache, [by_id[i] for i in split.train],
                               label_transform=start.label_transform, with_hematoma=localize)
        val_ds = CaseDataset(data.cache, [by_id[i] for i in split.val],
                             label_transform=start.label_transform)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    if len(train_ds) == 0:
        raise TrainingError("no training cases after the split; add cases to the manifest")
    train_labels = train_ds.labels()
    if localize:
        _check_localization(start.net, train_ds)
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
    per_epoch = steps_per_epoch(len(train_ds), config.batch_size)
    total_steps = per_epoch * config.epochs

    info: dict[str, Any] = {
        "step": 0,
        "epoch": 0,
        "batch_in_epoch": 0,
        "epoch_loss_sum": 0.0,
        "epoch_volume_loss_sum": 0.0,
        "epoch_outcome_loss_sum": 0.0,
        "epoch_localization_loss_sum": 0.0,
        "epoch_samples": 0,
        "best_val_loss": None,
        "best_epoch": None,
        "epochs_without_improvement": 0,
        "history": [],
        "elapsed_s": 0.0,
        "skipped_steps": 0,
    }
    if resume:
        saved = load_train_state(files.state)
        net.load_state_dict(saved.model)
        optimizer.load_state_dict(saved.optimizer)
        restore_rng(saved.rng)
        info.update(saved.info)
        log.info("resuming %s at step %d (epoch %d)", files.root, info["step"], info["epoch"] + 1)
    net.to(plan.device, memory_format=plan.memory_format)
    if info.get("stopped") == "early_stopping":
        log.info("run already stopped early; nothing to resume")
    class_weights_dev = None if class_weights is None else class_weights.to(plan.device)

    elapsed_before = float(info["elapsed_s"])
    float_buffers = [b for b in net.buffers() if b.is_floating_point()]
    consecutive_bad = 0
    session_steps = 0
    dirty = False

    def save_state() -> None:
        info["elapsed_s"] = elapsed_before + time.perf_counter() - t_start
        save_train_state(files.state, model=net, optimizer=optimizer, info=info)

    def result(stopped: str) -> TrainResult:
        return files.result(info, stopped, elapsed_before + time.perf_counter() - t_start)

    try:
        while info["epoch"] < config.epochs and info.get("stopped") != "early_stopping":
            epoch = info["epoch"]
            batches = epoch_batches(len(train_ds), config.batch_size, config.seed, epoch)
            first = info["batch_in_epoch"]
            loader = make_loader(
                train_ds, batches[first:], device=plan.device, num_workers=config.num_workers
            )
            set_train_mode(net, freeze_encoder=config.freeze_encoder)
            t_batch = time.perf_counter()
            for bi, batch in enumerate(loader, start=first):
                x, size, label = batch[:3]
                hematoma = batch[4].to(plan.device, non_blocking=True) if localize else None
                lr = lr_at(info["step"], total_steps, config)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x = x.to(plan.device, non_blocking=True)
                generator = _augment_generator(config.seed, epoch, bi)
                if hematoma is None:
                    x = augment_batch(x, config.augment, generator)
                else:
                    x, hematoma = augment_batch(x, config.augment, generator, maps=hematoma)
                x = x.contiguous(memory_format=plan.memory_format)
                size = size.to(plan.device, non_blocking=True)
                label = label.to(plan.device, non_blocking=True)
                try:
                    loss_value, parts, ok = _guarded_step(
                        net, optimizer, named, float_buffers, x, size, label, config,
                        class_weights_dev, plan, hematoma,
                    )
                except torch.OutOfMemoryError as exc:
                    raise _oom_error(exc, config.batch_size) from exc
                if not ok:
                    info["skipped_steps"] = info.get("skipped_steps", 0) + 1
                    consecutive_bad += 1
                    what = (f"the training loss became {loss_value}" if not np.isfinite(loss_value)
                            else "the gradients or BatchNorm statistics became non-finite "
                            "(or absurdly large)")
                    if consecutive_bad > config.nonfinite_patience:
                        raise NonFiniteLossError(
                            f"{what} at step {info['step'] + 1} (epoch {epoch + 1}; "
                            f"{consecutive_bad} step(s) in a row); the run was stopped. Lower "
                            f"the learning rate (now {lr:.3g}), check the manifest's volumes "
                            "and studies, or resume from the last good state in "
                            f"{files.state}"
                        )
                    log.warning("%s at step %d: step skipped (weights unchanged)", what,
                                info["step"] + 1)
                else:
                    consecutive_bad = 0
                n = int(x.shape[0])
                info["step"] += 1
                info["batch_in_epoch"] = bi + 1
                if ok:
                    info["epoch_loss_sum"] += loss_value * n
                    info["epoch_volume_loss_sum"] += float(parts.volume.detach()) * n
                    info["epoch_outcome_loss_sum"] += float(parts.outcome.detach()) * n
                    info["epoch_localization_loss_sum"] += float(parts.localization.detach()) * n
                    info["epoch_samples"] += n
                session_steps += 1
                dirty = True
                now = time.perf_counter()
                rate = n / max(now - t_batch, 1e-9)
                t_batch = now
                eta = (now - t_start) / session_steps * max(0, total_steps - info["step"])
                yield Progress(
                    "train",
                    info["step"],
                    total_steps,
                    f"epoch {epoch + 1}/{config.epochs} step {info['step']}/{total_steps} "
                    f"loss {loss_value:.4g}",
                    {
                        "step": float(info["step"]),
                        "epoch": float(epoch + 1),
                        "train_loss": info["epoch_loss_sum"] / max(1, info["epoch_samples"]),
                        "batch_loss": loss_value if ok else float("nan"),
                        "skipped_steps": float(info.get("skipped_steps", 0)),
                        "lr": lr,
                        "samples_per_s": rate,
                        "eta_s": eta,
                    },
                )
                if config.max_steps is not None and info["step"] >= config.max_steps:
                    save_state()
                    dirty = False
                    files.save_model(net, start, config, info, "last", card_text)
                    return result("max_steps")
                every = config.checkpoint_every_steps
                if every and info["step"] % every == 0:
                    save_state()
                    dirty = False
            # ---- end of epoch: validate, checkpoint, log
            row = _epoch_row(info, epoch, lr_at(max(0, info["step"] - 1), total_steps, config),
                             localize=localize)
            if len(val_ds):
                val_loader = make_loader(
                    val_ds,
                    ordered_batches(len(val_ds), config.batch_size),
                    device=plan.device,
                    num_workers=config.num_workers,
                )
                row.update(
                    validation_metrics(
                        net,
                        val_loader,
                        plan,
                        to_ml=val_ds.to_ml,
                        outcome_weight=config.outcome_loss_weight,
                        class_weights=class_weights_dev,
                    )
                )
            monitored = row.get("val_loss", row["train_loss"])
            improved = info["best_val_loss"] is None or monitored < info["best_val_loss"]
            row["best"] = improved
            row["elapsed_s"] = elapsed_before + time.perf_counter() - t_start
            info["history"].append(row)
            info.update(epoch=epoch + 1, batch_in_epoch=0, epoch_samples=0, epoch_loss_sum=0.0,
                        epoch_volume_loss_sum=0.0, epoch_outcome_loss_sum=0.0,
                        epoch_localization_loss_sum=0.0)
            if improved:
                info["best_val_loss"] = monitored
                info["best_epoch"] = epoch + 1
                info["epochs_without_improvement"] = 0
                files.save_model(net, start, config, info, "best", card_text)
            else:
                info["epochs_without_improvement"] += 1
            patience = config.early_stopping_patience
            if patience is not None and info["epochs_without_improvement"] >= patience:
                info["stopped"] = "early_stopping"
            files.save_model(net, start, config, info, "last", card_text)
            save_state()
            dirty = False
            files.write_metrics(info["history"])
            eta = (time.perf_counter() - t_start) / max(1, session_steps) * max(
                0, total_steps - info["step"]
            )
            yield Progress(
                "validate",
                info["step"],
                total_steps,
                f"epoch {epoch + 1}: " + ", ".join(
                    f"{k} {v:.4g}" for k, v in row.items()
                    if k in ("train_loss", "val_loss", "val_mae_ml", "val_auc")
                    and v is not None
                ),
                {k: float(v) for k, v in row.items() if isinstance(v, int | float) and v is not None
                 and not isinstance(v, bool)} | {"eta_s": eta},
            )
    except GeneratorExit:
        if dirty:
            save_state()
            log.info("training cancelled at step %d; state saved for --resume", info["step"])
        raise
    stopped = info.get("stopped", "completed")
    return result(stopped)


def _check_localization(net: torch.nn.Module, dataset: CaseDataset) -> None:
    """The localization term needs ICHNet's encoder/heads split and cases with a mask."""
    if not all(hasattr(net, a) for a in ("encode", "heads", "volume_head")):
        raise TrainingError("localization_loss_weight needs an ICHNet (encoder + volume head)")
    with_map = sum(dataset.cache.hematoma_path(c.cache_key).is_file() for c in dataset.cases)
    if with_map == 0:
        raise TrainingError(
            "localization_loss_weight is set but no training case has a hematoma mask in the "
            "cache (only phantoms cached with their masks do); set it to 0"
        )
    log.info("localization term: %d of %d training cases have a hematoma mask", with_map,
             len(dataset))


def _init_volume_bias(net: torch.nn.Module, dataset: CaseDataset) -> None:
    volume_head = getattr(net, "volume_head", None)
    if not hasattr(volume_head, "init_bias"):  # a network without ICHNet's heads
        return
    mean = float(np.mean([dataset.target_size_mm(i) for i in range(len(dataset))]))
    volume_head.init_bias(mean)  # each head knows the unit of its linear part
    log.info("volume head bias initialised to the mean training size %.2f mm", mean)


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    if not tensors:
        return True
    sums = torch.stack([t.detach().float().abs().sum() for t in tensors])
    return bool(torch.isfinite(sums).all())


#: A gradient element beyond this is corrupt, not large: bf16 backward on some CPUs (torch 2.13,
#: oneDNN) now and then returns ~1e37 values, which overflow Adam's second moment to inf and
#: silently freeze the affected weights for the rest of the run.
MAX_SANE_GRADIENT = 1e6


def _grads_sane(grads: list[torch.Tensor]) -> bool:
    if not grads:
        return True
    peak = torch.stack([g.detach().float().abs().max() for g in grads]).max()
    return bool(torch.isfinite(peak)) and float(peak) < MAX_SANE_GRADIENT


def _guarded_step(net, optimizer, named, float_buffers, x, size, label, config, class_weights,
                  plan, hematoma=None):
    """One optimizer step that refuses non-finite numbers.

    Returns ``(loss value, loss parts, ok)``. When the loss or a BatchNorm running statistic is
    NaN/inf, or a gradient is NaN/inf or absurd (> :data:`MAX_SANE_GRADIENT`), the BatchNorm
    buffers are restored, no update is made and ``ok`` is False (the caller decides whether to
    stop).
    """
    backup = [b.detach().clone() for b in float_buffers]
    contributions = None
    with plan.autocast():
        if hematoma is None:
            out = net(x)
        else:  # the same forward pass, keeping the last-stage map for the localization term
            features = net.encode(x)
            out = net.heads(features)
            contributions = contribution_map(features, net.volume_head)
    parts = compute_loss(out.size_mm, out.logits, size, label,
                         outcome_weight=config.outcome_loss_weight, class_weights=class_weights,
                         contributions=contributions, hematoma=hematoma,
                         localization_weight=config.localization_loss_weight)
    loss_value = float(parts.total.detach())
    optimizer.zero_grad(set_to_none=True)
    ok = bool(np.isfinite(loss_value)) and _all_finite(float_buffers)
    if ok:
        parts.total.backward()
        grads = [p.grad for _, p in named if p.grad is not None]
        ok = _grads_sane(grads)
    if not ok:
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for b, saved in zip(float_buffers, backup, strict=True):
                b.copy_(saved)
        return loss_value, parts, False
    if config.grad_clip_norm:
        torch.nn.utils.clip_grad_norm_([p for _, p in named], config.grad_clip_norm)
    optimizer.step()
    return loss_value, parts, True


def _epoch_row(info: dict[str, Any], epoch: int, lr: float, *, localize: bool) -> dict[str, Any]:
    n = max(1, info["epoch_samples"])
    row = {
        "epoch": epoch + 1,
        "step": info["step"],
        "lr": lr,
        "train_loss": info["epoch_loss_sum"] / n,
        "train_volume_loss": info["epoch_volume_loss_sum"] / n,
        "train_outcome_loss": info["epoch_outcome_loss_sum"] / n,
    }
    if localize:  # only runs with the term log it (metrics files of others stay as they were)
        row["train_localization_loss"] = info["epoch_localization_loss_sum"] / n
    return row


__all__ = ["STATE_NAME", "RunFiles", "StartModel", "TrainData", "TrainResult", "train"]
