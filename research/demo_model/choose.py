"""The ``choose`` stage: which checkpoint of a run ships, plain or with recalibrated BatchNorm.

Batch-size running statistics can lag behind the weights, so each candidate checkpoint is
also tried with its BatchNorm statistics re-estimated on its training split ("precise BN");
the candidate with the lowest validation MAE wins. It needs the training phantoms, so it runs
where training ran (``gpu_demo.sh`` chooses on the GPU machine and ships the choice back).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ichmodel.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from ichmodel.progress import run_to_completion
from ichmodel.train.cache import CaseCache
from ichmodel.train.dataset import Case

log = logging.getLogger(__name__)

CHOSEN = "chosen.safetensors"


@dataclass(frozen=True)
class Choice:
    """Which checkpoint was chosen and why (saved as ``choice.json``, and in the card)."""

    checkpoint: str
    bn_recalibrated: bool
    val_mae_ml: float
    #: Every candidate: (checkpoint, BatchNorm recalibrated, validation MAE in ml).
    val_candidates: tuple[tuple[str, bool, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Choice:
        return cls(data["checkpoint"], bool(data["bn_recalibrated"]), float(data["val_mae_ml"]),
                   tuple((str(c), bool(r), float(m)) for c, r, m in data["val_candidates"]))


def choose_checkpoint(run_dir: Path, cache: CaseCache, train_cases: list[Case], *, device: str,
                      batch_size: int, checkpoints: tuple[str, ...] = ("best", "last"),
                      ) -> tuple[LoadedModel, Choice]:
    """The best of the run's ``checkpoints`` x (plain, recalibrated) by validation MAE, and a
    record of the choice."""
    from ichmodel.device import plan_for
    from ichmodel.train.dataset import CaseDataset, make_loader, ordered_batches
    from ichmodel.train.evaluate import evaluate_cases
    from ichmodel.train.split import Split
    from ichmodel.train.steps import recalibrate_batchnorm

    split = Split.load(run_dir / "split.json")
    by_id = {c.case_id: c for c in train_cases}
    train_ds = CaseDataset(cache, [by_id[i] for i in split.train])
    val_cases = [by_id[i] for i in split.val]
    device_plan = plan_for(device, precision="fp32")
    scored = []
    for which in checkpoints:
        model = load_checkpoint(run_dir / "checkpoints" / f"{which}.safetensors")
        for recalibrated in (False, True):
            if recalibrated:
                loader = make_loader(train_ds, ordered_batches(len(train_ds), batch_size),
                                     device=device_plan.device)
                recalibrate_batchnorm(model.net, loader, device_plan)
            r = run_to_completion(evaluate_cases(model, cache, val_cases))
            log.info("val %s recalibrated=%s: MAE %.3f ml, AUC %s", which, recalibrated,
                     r.metrics.mae_ml, r.metrics.auc)
            scored.append((r.metrics.mae_ml, which, recalibrated,
                           model if recalibrated else None))
    mae, which, recalibrated, kept = min(scored, key=lambda t: t[0])
    # a recalibrated candidate is kept as evaluated; a plain one was recalibrated in place
    # after its evaluation, so it is read again
    model = kept or load_checkpoint(run_dir / "checkpoints" / f"{which}.safetensors")
    log.info("chosen: %s checkpoint, BatchNorm recalibrated: %s (val MAE %.3f ml)", which,
             recalibrated, mae)
    return model, Choice(which, recalibrated, mae, tuple((t[1], t[2], t[0]) for t in scored))


def stage_choose(run_dir: Path, cache: CaseCache, train_cases: list[Case], *, device: str,
                 batch_size: int, dtype: str = "float32") -> tuple[LoadedModel, Choice]:
    """Save the chosen model as ``checkpoints/chosen.safetensors`` (+ ``choice.json``)."""
    model, choice = choose_checkpoint(run_dir, cache, train_cases, device=device,
                                      batch_size=batch_size)
    ckpt = run_dir / "checkpoints"
    save_checkpoint(ckpt / CHOSEN, model.net, net_config=model.net_config,
                    preprocess_config=model.preprocess_config, card=model.card,
                    training=model.training, metrics=model.metrics, dtype=dtype,
                    label_transform=model.label_transform)
    (ckpt / "choice.json").write_text(json.dumps(choice.to_dict()))
    return model, choice


def chosen_model(run_dir: Path, cache: CaseCache, train_cases: list[Case], *, device: str,
                 batch_size: int) -> tuple[LoadedModel, Choice]:
    """The model :func:`stage_choose` saved (a run trained elsewhere), or choose it now."""
    ckpt = run_dir / "checkpoints"
    if (ckpt / CHOSEN).is_file():
        log.info("using %s", ckpt / CHOSEN)
        saved = json.loads((ckpt / "choice.json").read_text())
        return load_checkpoint(ckpt / CHOSEN), Choice.from_dict(saved)
    return choose_checkpoint(run_dir, cache, train_cases, device=device, batch_size=batch_size)
