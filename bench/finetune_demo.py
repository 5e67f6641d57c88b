"""Fine-tune the bundled demo model with the localization term, on CPU.

The demo model's volume-head Grad-CAM already picks a layer4 cell that holds blood for almost
every bleed, but that cell's *centre* (where an upsampled map peaks) often misses a small bleed.
This continues from ``resources/models/demo.safetensors`` on phantoms cached with their
hematoma masks (seeds of the demo's own training set), with the loss
``MSE(size) + λ·CE(outcome) + μ·localization`` (``TrainConfig.localization_loss_weight``), then
keeps the last checkpoint, plain or with BatchNorm recalibrated on the training phantoms
(whichever has the lower validation MAE), and measures MAE/AUC and the pointing game on
held-out seeds. It writes the model to ``--out`` only with ``--ship``.

    .venv/bin/python bench/finetune_demo.py --work /tmp/ich_localize [--epochs 4]
        [--localization-weight 2] [--start FILE] [--ship --out FILE]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ichmodel.progress import run_to_completion  # noqa: E402

log = logging.getLogger("finetune_demo")
DEMO = REPO / "resources" / "models" / "demo.safetensors"


def _seed_range(text: str) -> range:
    first, _, n = text.partition(":")
    return range(int(first), int(first) + int(n))


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/ich_localize"))
    p.add_argument("--start", type=Path, default=DEMO, help="model to continue from")
    p.add_argument("--n-train", type=int, default=500, help="phantoms of the default generator")
    p.add_argument("--n-tail", type=int, default=100, help="large-bleed phantoms")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--localization-weight", type=float, default=0.5)
    p.add_argument("--eval-seeds", type=_seed_range, action="append", default=None,
                   help="FIRST:N held-out phantoms to report on (repeatable)")
    p.add_argument("--eval-start", action="store_true", help="also measure the start model")
    p.add_argument("--seed", type=int, default=3, help="split and augmentation seed")
    p.add_argument("--freeze-encoder", action="store_true",
                   help="train the heads only (BatchNorm statistics stay)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--run", default="run", help="run folder under --work (existing = resume)")
    p.add_argument("--ship", action="store_true", help="write the result to --out")
    p.add_argument("--out", type=Path, default=DEMO)
    return p.parse_args(argv)


def _measure(model, cache, seeds: range, *, pointing: bool = True) -> dict:
    """MAE/AUC on the phantoms ``seeds`` and (unless ``pointing`` is off) the pointing game."""
    from train_demo import pointing_game

    from ichmodel.train.evaluate import evaluate_cases
    from ichmodel.train.phantom_cases import cache_phantoms

    cases = run_to_completion(cache_phantoms(seeds, cache))
    m = run_to_completion(evaluate_cases(model, cache, cases)).metrics
    out = {"seeds": [seeds.start, seeds.stop - 1], "n": m.n, "mae_ml": m.mae_ml,
           "mse_ml2": m.mse_ml2, "mape_pct": m.mape_pct, "accuracy": m.accuracy, "auc": m.auc}
    if pointing:
        pg = pointing_game(model, seeds, layers=("layer4",))
        out["n_bleeds"] = pg["layer4_argmax"][1]
        out.update({f"pointing_{k.removeprefix('layer4_')}": v[0] for k, v in pg.items()})
    return out


def main(argv=None) -> int:
    a = _args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch
    from train_demo import TAIL_SEED0, TRAIN_SEED0, _phantoms, _progress, choose_checkpoint

    from ichmodel.checkpoint import load_checkpoint, save_checkpoint
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.config import TrainConfig
    from ichmodel.train.loop import train
    from ichmodel.train.phantom_cases import cache_phantoms
    from ichmodel.train.run_files import StartModel, TrainData

    torch.set_num_threads(a.threads)
    base = load_checkpoint(a.start)
    cache = CaseCache(a.work / "cache", base.preprocess_config)
    t = time.time()
    train_seeds = range(TRAIN_SEED0, TRAIN_SEED0 + a.n_train)
    tail_seeds = range(TAIL_SEED0, TAIL_SEED0 + a.n_tail)
    cases = run_to_completion(cache_phantoms(train_seeds, cache, with_hematoma=True),
                              _progress())
    cases += run_to_completion(
        cache_phantoms(tail_seeds, cache, _phantoms(True), with_hematoma=True), _progress())
    log.info("data: %d phantoms with masks in %.0f s", len(cases), time.time() - t)

    config = TrainConfig(
        epochs=a.epochs, batch_size=a.batch_size, optimizer="adamw", lr=a.lr, weight_decay=1e-4,
        warmup_steps=10, schedule="cosine", outcome_loss_weight=5.0, val_fraction=0.1, seed=a.seed,
        device="cpu", threads=a.threads, precision="auto", grad_clip_norm=10.0,
        checkpoint_every_steps=20, localization_loss_weight=a.localization_weight,
        freeze_encoder=a.freeze_encoder,
    )
    start = StartModel(copy.deepcopy(base.net).float(), base.net_config, base.preprocess_config,
                       f"demo {base.sha256[:12]}", cam_flip_axes=base.cam_flip_axes,
                       label_transform=base.label_transform)
    data = TrainData(cache, tuple(cases), description={
        "phantom_seeds": [train_seeds.start, train_seeds.stop - 1],
        "large_bleed_phantom_seeds": [tail_seeds.start, tail_seeds.stop - 1],
        "hematoma_masks": True})
    run_dir = a.work / a.run
    resume = (run_dir / "checkpoints" / "state.safetensors").is_file()
    result = run_to_completion(train(data, start, run_dir, config, resume=resume), _progress())
    log.info("fine-tune: %s after %d steps in %.0f s", result.stopped, result.steps,
             result.elapsed_s)
    # the last checkpoint (the schedule ends at lr 0), plain or with recalibrated BatchNorm
    tuned, choice = choose_checkpoint(run_dir, cache, cases, device="cpu",
                                      batch_size=a.batch_size, checkpoints=("last",))
    report = {"run": str(run_dir), "steps": result.steps, "elapsed_s": result.elapsed_s,
              "val_candidates": choice["val_candidates"],
              "config": config.to_dict(), "eval": []}
    for seeds in a.eval_seeds or [range(2_000_100, 2_000_200)]:
        for name, model in (("start", base), ("tuned", tuned))[0 if a.eval_start else 1:]:
            r = _measure(model, cache, seeds)
            log.info("%s on %s: %s", name, seeds, r)
            report["eval"].append({"model": name, **r})
    (a.work / f"{a.run}_report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report["eval"]))
    if a.ship:
        training = dict(base.training or {})
        training["localization_finetune"] = {
            "from_sha256": base.sha256, "config": config.to_dict(), "steps": result.steps,
            "data": data.description, "bn_recalibrated": choice["bn_recalibrated"], "device": "cpu",
            "threads": a.threads, "script": "bench/finetune_demo.py"}
        save_checkpoint(a.out, tuned.net, net_config=tuned.net_config,
                        preprocess_config=tuned.preprocess_config, card=base.card,
                        training=training, metrics=base.metrics, dtype="float16",
                        cam_flip_axes=tuned.cam_flip_axes)
        log.info("wrote %s (card and metrics still the start model's: amend them)", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
