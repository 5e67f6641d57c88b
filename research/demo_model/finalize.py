"""The ``finalize`` stage: measure the chosen model on held-out phantoms and ship it.

Volume MAE and AUC on the proxy label (``ichmodel.train.evaluate``), the pointing game through
``ichmodel.predict``; then ``--out`` (fp16) with its card, but only if it beats the model
already there on the same phantoms (``--force`` writes it anyway). It needs only the held-out
phantoms, so a run trained elsewhere (``gpu_demo.sh``) is finalized on the workstation.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichmodel.checkpoint import load_checkpoint, save_checkpoint
from ichmodel.nets import ICHNet
from ichmodel.preprocess import PreprocessConfig
from ichmodel.progress import run_to_completion
from ichmodel.train.cache import CaseCache
from ichmodel.train.dataset import Case
from ichmodel.train.evaluate import evaluate_cases
from research.demo_model.card import RunRecords, demo_card, heldout_metrics
from research.demo_model.choose import chosen_model
from research.demo_model.data import DataPlan
from research.demo_model.logs import progress_logger
from research.demo_model.pointing import pointing_over_phantoms
from research.demo_model.scale import phantom_config, seeds_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinalizePlan:
    """Where the shipped model goes and what its card says beyond the measurements."""

    run_dir: Path
    out: Path
    #: Grad-CAM flip averaging the card recommends and the pointing game measures with.
    #: None keeps the chosen checkpoint's recommendation.
    cam_flip_axes: tuple[str, ...] | None = None
    #: Words that open the card's training data (e.g. how an ``--init`` checkpoint was made).
    training_note: str = ""
    init: Path | None = None
    force: bool = False
    device: str = "auto"
    batch_size: int = 8


def map_shapes(net: ICHNet, preprocess_config: PreprocessConfig) -> dict[str, str]:
    """Input and stage map sizes as 'z x y x x' strings, from one forward of zeros."""
    import torch

    from ichmodel.gradcam import capture_activation

    shape = tuple(preprocess_config.output_shape)
    out = {"input": "x".join(map(str, shape))}
    x = torch.zeros(1, 1, *shape)
    with capture_activation(net, "layer3") as c3, capture_activation(net, "layer4") as c4:
        with torch.no_grad():
            net.eval()(x)
    for name, cap in (("layer3", c3), ("layer4", c4)):
        out[name] = "x".join(map(str, cap.activation.shape[2:]))
    return out


def _records(run_dir: Path) -> RunRecords:
    config = json.loads((run_dir / "config.json").read_text())
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    split = json.loads((run_dir / "split.json").read_text())
    tc = config["train"]
    trained_on = f"precision {tc['precision']}, {tc['threads']} CPU thread(s)"
    if (run_dir / "trained_on.json").is_file():
        where = json.loads((run_dir / "trained_on.json").read_text())
        trained_on = f"precision {where['precision']}, on {where['where']}"
    return RunRecords(tc, config["net"], history, len(split["train"]), len(split["val"]),
                      trained_on)


def stage_finalize(plan: FinalizePlan, data_plan: DataPlan, cache: CaseCache,
                   train_cases: list[Case], test_cases: list[Case]) -> dict[str, Any] | None:
    """Evaluate, then write ``plan.out`` + its card; returns the report (None: not shipped)."""
    seeds = seeds_of(test_cases)
    phantoms = phantom_config(data_plan.scale)
    model, choice = chosen_model(plan.run_dir, cache, train_cases, device=plan.device,
                                 batch_size=plan.batch_size)
    flips = (model.card.recommended_cam_flip_axes if plan.cam_flip_axes is None
             else plan.cam_flip_axes)
    baseline = None
    if plan.out.is_file():  # what is shipped now, on the same held-out phantoms
        shipped = load_checkpoint(plan.out)
        bm = run_to_completion(evaluate_cases(shipped, cache, test_cases)).metrics
        shipped_pg = pointing_over_phantoms(
            shipped, seeds, phantoms, layers=("layer4",),
            cam_flip_axes=shipped.card.recommended_cam_flip_axes)
        baseline = {"mae_ml": bm.mae_ml, "auc": bm.auc,
                    "pointing_layer4": shipped_pg["layer4"].to_dict()}
        log.info("shipped model on the held-out set: %s", baseline)
    m = run_to_completion(evaluate_cases(model, cache, test_cases), progress_logger()).metrics
    t = time.time()
    pg = pointing_over_phantoms(model, seeds, phantoms, cam_flip_axes=flips)
    log.info("pointing game %s in %.0f s", {k: v.to_dict() for k, v in pg.items()},
             time.time() - t)
    if baseline is not None and m.mae_ml >= baseline["mae_ml"] and not plan.force:
        log.warning("new model MAE %.3f ml is not below the shipped %.3f ml: %s left as it is "
                    "(--force writes it anyway)", m.mae_ml, baseline["mae_ml"], plan.out)
        return None
    shapes = map_shapes(model.net, model.preprocess_config)
    records = _records(plan.run_dir)
    card = demo_card(model, m, pg, shapes, records, choice, data_plan, cam_flip_axes=flips,
                     init=plan.init, training_note=plan.training_note)
    metrics = heldout_metrics(m, pg, model, choice)
    training = {
        "data": f"synthetic phantoms (ichmodel.phantom, scale {data_plan.scale.name})",
        "train_config": records.train_config,
        "net_config": records.net_config,
        "run_history": records.history,
        "best_epoch": model.training.get("best_epoch"),
        "selection": choice.to_dict(),
        "script": "python -m research.demo_model train",
    }
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(plan.out, model.net, net_config=model.net_config,
                    preprocess_config=model.preprocess_config, card=card, training=training,
                    metrics=metrics, dtype="float16", label_transform=model.label_transform)
    reloaded = load_checkpoint(plan.out)
    check = run_to_completion(evaluate_cases(reloaded, cache, test_cases)).metrics
    log.info("fp16 demo: MAE %.3f ml (fp32 %.3f), AUC %s; %s, %.1f MB", check.mae_ml, m.mae_ml,
             check.auc, plan.out, plan.out.stat().st_size / 1e6)
    report = {"metrics": metrics, "baseline_shipped": baseline, "map_shapes": shapes,
              "fp16_mae_ml": check.mae_ml, "fp16_auc": check.auc,
              "file_mb": plan.out.stat().st_size / 1e6}
    (data_plan.work / "demo_report.json").write_text(json.dumps(report, indent=1))
    return report
