"""The ``train`` stage: a reduced-width ResNet34 on cached phantoms, resumable.

AdamW + warm-up + cosine: the paper's SGD at lr 1e-4 does not converge in the few epochs a CPU
or a lent GPU's minutes afford (the library's and CLI's defaults stay the paper's).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ichmodel.model_card import Provenance
from ichmodel.nets import NetConfig
from ichmodel.progress import run_to_completion
from ichmodel.train.cache import CaseCache
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import Case, steps_per_epoch
from ichmodel.train.loop import train
from ichmodel.train.run_files import StartModel, TrainData, TrainResult
from research.demo_model.data import DataPlan
from research.demo_model.logs import progress_logger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainPlan:
    """One training run of the pipeline: its folder, network and settings."""

    run_dir: Path
    net_config: NetConfig
    train_config: TrainConfig
    #: Start from this checkpoint instead of from scratch (it must be synthetic or untrained:
    #: the run records provenance ``synthetic``).
    init: Path | None = None
    #: Size the epochs to this wall-clock budget from a short throughput probe (a lent GPU's
    #: fixed minutes); None trains ``train_config.epochs``.
    train_seconds: float | None = None


def start_model(plan: TrainPlan, cache: CaseCache) -> StartModel:
    """The network the run starts from: ``plan.init`` or seeded random weights."""
    import torch

    from ichmodel.nets import ICHNet

    if plan.init is None:
        torch.manual_seed(0)
        return StartModel(ICHNet(plan.net_config), plan.net_config, cache.preprocess_config,
                          "scratch", provenance=Provenance.SYNTHETIC)
    from ichmodel.checkpoint import load_checkpoint

    init = load_checkpoint(plan.init)
    if not init.provenance.is_synthetic_or_untrained:
        raise ValueError(f"--init {plan.init} has provenance {init.provenance.value}: the demo "
                         "pipeline trains on phantoms only and records 'synthetic'")
    return StartModel(init.net.float().train(), init.net_config, init.preprocess_config,
                      f"checkpoint {init.name} (sha256 {init.sha256[:12]})",
                      init.card.recommended_cam_flip_axes, init.label_transform,
                      Provenance.SYNTHETIC)


def stage_train(plan: TrainPlan, data_plan: DataPlan, cache: CaseCache,
                train_cases: list[Case]) -> TrainResult:
    start = start_model(plan, cache)
    resume = (plan.run_dir / "checkpoints" / "state.safetensors").is_file()
    seeds = data_plan.train_seeds
    data = TrainData(cache, tuple(train_cases),
                     description={"phantom_seeds": [seeds.start, seeds.stop],
                                  "scale": data_plan.scale.name})
    config = plan.train_config
    if plan.train_seconds and not resume:
        config = dataclasses.replace(
            config, epochs=epochs_for_budget(plan, data, start, plan.train_seconds))
    result = run_to_completion(train(data, start, plan.run_dir, config, resume=resume),
                               progress_logger())
    (plan.run_dir / "trained_on.json").write_text(json.dumps(trained_on(config)))
    log.info(
        "train: %s after %d steps, %d epochs, %.0f s; best epoch %s val loss %.4f",
        result.stopped, result.steps, result.epochs_done, result.elapsed_s, result.best_epoch,
        result.best_val_loss or float("nan"),
    )
    return result


def trained_on(config: TrainConfig) -> dict[str, str]:
    """Where the run trained, in words for the model card."""
    import torch

    from ichmodel.device import plan_for

    device_plan = plan_for(config.device, precision=config.precision, training=True)
    if device_plan.device.type == "cuda":
        where = f"one {torch.cuda.get_device_name(device_plan.device)} GPU"
    else:
        where = f"{config.threads} CPU thread(s)"
    return {"where": where, "precision": device_plan.precision}


def epochs_for_budget(plan: TrainPlan, data: TrainData, start: StartModel, budget_s: float,
                      probe_steps: int = 40, warm_steps: int = 10) -> int:
    """Epochs that fit ``budget_s``, from the step rate of a short probe run.

    The probe trains a copy of the start model for ``probe_steps`` steps (its first
    ``warm_steps`` pay for cuDNN autotuning and loader start-up, so they are not timed); an
    epoch is charged ~10 % extra for validation and checkpoints.
    """
    probe_dir = plan.run_dir.with_name(f"{plan.run_dir.name}_probe")
    shutil.rmtree(probe_dir, ignore_errors=True)
    config = dataclasses.replace(plan.train_config, max_steps=probe_steps, epochs=10_000,
                                 checkpoint_every_steps=None)
    probe_start = dataclasses.replace(start, net=copy.deepcopy(start.net))
    stamps: dict[float, float] = {}
    t0 = time.perf_counter()
    for event in train(data, probe_start, probe_dir, config):
        if event.stage == "train":
            stamps[event.current] = time.perf_counter()
    shutil.rmtree(probe_dir, ignore_errors=True)
    step_s = (stamps[probe_steps] - stamps[warm_steps]) / (probe_steps - warm_steps)
    batch = plan.train_config.batch_size
    n_train = round(len(data.cases) * (1 - plan.train_config.val_fraction))
    epoch_s = 1.1 * step_s * steps_per_epoch(n_train, batch)
    left_s = budget_s - (time.perf_counter() - t0)
    epochs = max(1, int(left_s // epoch_s))
    log.info("probe: %.3f s/step (%.0f samples/s) -> %.0f s/epoch; %d epochs fit %.0f s",
             step_s, batch / step_s, epoch_s, epochs, left_s)
    return epochs
