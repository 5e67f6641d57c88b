"""``python -m research.demo_model finetune``: continue a model with the localization term.

The demo model's volume-head Grad-CAM already picked a layer4 cell that holds blood for almost
every bleed, but that cell's *centre* (where an upsampled map peaks) often missed a small
bleed. This continues from ``--start`` on phantoms cached with their hematoma masks (seeds of
the demo's own training set), with ``MSE(size) + λ·CE(outcome) + μ·localization``
(``TrainConfig.localization_loss_weight`` is μ), keeps the last checkpoint, plain or with
BatchNorm recalibrated (whichever has the lower validation MAE), and measures MAE/AUC and the
pointing game on held-out seeds. It writes the model to ``--out`` only with ``--ship``; the
written card is still the start model's (amend its text with what this run measured).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from pathlib import Path

from ichmodel.resources import demo_model_path
from research.demo_model.logs import configure_logging, progress_logger
from research.demo_model.scale import (
    FINETUNE_EVAL_SEED0,
    TAIL_SEED0,
    TRAIN_SEED0,
    parse_scale,
    phantom_config,
    seed_range,
)

log = logging.getLogger(__name__)
DEMO = demo_model_path()


HELP = "continue a model with the localization term"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", type=Path, default=Path("/tmp/ich_localize"))
    p.add_argument("--scale", type=parse_scale, default=parse_scale("demo"),
                   help="phantom sizes (demo or tiny; the input size is the start model's)")
    p.add_argument("--start", type=Path, default=DEMO, help="model to continue from")
    p.add_argument("--n-train", type=int, default=500, help="phantoms of the default generator")
    p.add_argument("--n-tail", type=int, default=100, help="large-bleed phantoms")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--localization-weight", type=float, default=0.5)
    p.add_argument("--eval-seeds", type=seed_range, action="append", default=None,
                   help=f"FIRST:N held-out phantoms to report on (repeatable; default "
                   f"{FINETUNE_EVAL_SEED0}:100)")
    p.add_argument("--eval-start", action="store_true", help="also measure the start model")
    p.add_argument("--seed", type=int, default=3, help="split and augmentation seed")
    p.add_argument("--freeze-encoder", action="store_true",
                   help="train the heads only (BatchNorm statistics stay)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                   help="auto (the shipped fine-tune's: bf16 where the CPU has it)")
    p.add_argument("--run", default="run", help="run folder under --work (existing = resume)")
    p.add_argument("--ship", action="store_true", help="write the result to --out")
    p.add_argument("--out", type=Path, default=DEMO)


def run(a: argparse.Namespace) -> int:
    configure_logging()
    import torch

    from ichmodel.checkpoint import load_checkpoint, save_checkpoint
    from ichmodel.model_card import Provenance
    from ichmodel.progress import run_to_completion
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.config import TrainConfig
    from ichmodel.train.loop import train
    from ichmodel.train.phantom_cases import cache_phantoms
    from ichmodel.train.run_files import StartModel, TrainData
    from research.demo_model.choose import choose_checkpoint
    from research.demo_model.measure import measure

    torch.set_num_threads(a.threads)
    base = load_checkpoint(a.start)
    if not base.provenance.is_synthetic_or_untrained:
        raise SystemExit(f"--start {a.start} has provenance {base.provenance.value}: this "
                         "fine-tune trains on phantoms and records 'synthetic'")
    cache = CaseCache(a.work / "cache", base.preprocess_config)
    t = time.time()
    train_seeds = range(TRAIN_SEED0, TRAIN_SEED0 + a.n_train)
    tail_seeds = range(TAIL_SEED0, TAIL_SEED0 + a.n_tail)
    cases = run_to_completion(
        cache_phantoms(train_seeds, cache, phantom_config(a.scale), with_hematoma=True),
        progress_logger())
    cases += run_to_completion(
        cache_phantoms(tail_seeds, cache, phantom_config(a.scale, large_bleeds=True),
                       with_hematoma=True), progress_logger())
    log.info("data: %d phantoms with masks in %.0f s", len(cases), time.time() - t)

    config = TrainConfig(
        epochs=a.epochs, batch_size=a.batch_size, optimizer="adamw", lr=a.lr, weight_decay=1e-4,
        warmup_steps=10, schedule="cosine", outcome_loss_weight=5.0,
        val_fraction=0.1, seed=a.seed, device="cpu", threads=a.threads, precision=a.precision,
        grad_clip_norm=10.0, checkpoint_every_steps=20,
        localization_loss_weight=a.localization_weight, freeze_encoder=a.freeze_encoder,
    )
    start = StartModel(copy.deepcopy(base.net).float(), base.net_config, base.preprocess_config,
                       f"{base.name} {base.sha256[:12]}",
                       cam_flip_axes=base.card.recommended_cam_flip_axes,
                       label_transform=base.label_transform, provenance=Provenance.SYNTHETIC)
    data = TrainData(cache, tuple(cases), description={
        "phantom_seeds": [train_seeds.start, train_seeds.stop - 1],
        "large_bleed_phantom_seeds": [tail_seeds.start, tail_seeds.stop - 1],
        "hematoma_masks": True, "scale": a.scale.name})
    run_dir = a.work / a.run
    resume = (run_dir / "checkpoints" / "state.safetensors").is_file()
    result = run_to_completion(train(data, start, run_dir, config, resume=resume),
                               progress_logger())
    log.info("fine-tune: %s after %d steps in %.0f s", result.stopped, result.steps,
             result.elapsed_s)
    # the last checkpoint (the schedule ends at lr 0), plain or with recalibrated BatchNorm
    tuned, choice = choose_checkpoint(run_dir, cache, cases, device="cpu",
                                      batch_size=a.batch_size, checkpoints=("last",))
    report = {"run": str(run_dir), "steps": result.steps, "elapsed_s": result.elapsed_s,
              "val_candidates": choice.val_candidates, "config": config.to_dict(),
              "eval": []}
    models = [("start", base), ("tuned", tuned)] if a.eval_start else [("tuned", tuned)]
    for seeds in a.eval_seeds or [range(FINETUNE_EVAL_SEED0, FINETUNE_EVAL_SEED0 + 100)]:
        for name, model in models:
            r = measure(model, cache, seeds, phantom_config(a.scale))
            log.info("%s on %s: %s", name, seeds, r)
            report["eval"].append({"model": name, **r})
    (a.work / f"{a.run}_report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report["eval"]))
    if a.ship:
        training = dict(base.training or {})
        training["localization_finetune"] = {
            "from_sha256": base.sha256, "config": config.to_dict(), "steps": result.steps,
            "data": data.description, "bn_recalibrated": choice.bn_recalibrated,
            "device": "cpu", "threads": a.threads,
            "script": "python -m research.demo_model finetune"}
        save_checkpoint(a.out, tuned.net, net_config=tuned.net_config,
                        preprocess_config=tuned.preprocess_config, card=base.card,
                        training=training, metrics=base.metrics, dtype="float16",
                        label_transform=tuned.label_transform)
        log.info("wrote %s (card and metrics still the start model's: amend them)", a.out)
    return 0
