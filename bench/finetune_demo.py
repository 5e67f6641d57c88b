"""Fine-tune the bundled demo model on phantoms of the current generator version.

The demo weights were first trained on phantoms of an earlier generator version (see the
model card); the generator has since gained new bleed shapes and anatomy. This script
continues from ``resources/models/demo.safetensors`` on fresh phantoms of the current version
(seeds 3,000,000+, disjoint from tests and from the held-out set), evaluates on the held-out
phantoms (seeds 2,000,000+, regenerated with the current generator) before and after, and
replaces the bundled weights only when the held-out volume MAE improves.

    .venv/bin/python bench/finetune_demo.py --work /tmp/ich_finetune [--epochs 5]
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
FINETUNE_SEED0 = 3_000_000
TEST_SEED0 = 2_000_000


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/ich_finetune"))
    p.add_argument("--n-train", type=int, default=240)
    p.add_argument("--n-test", type=int, default=60)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--run", default="run", help="run folder name under --work (new = fresh)")
    p.add_argument("--out", type=Path, default=REPO / "resources" / "models" / "demo.safetensors")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import torch
    from train_demo import _progress, pointing_game

    from ichmodel.checkpoint import load_checkpoint, save_checkpoint
    from ichmodel.model_card import ModelCard
    from ichmodel.phantom import PHANTOM_VERSION
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.config import TrainConfig
    from ichmodel.train.evaluate import evaluate_cases
    from ichmodel.train.loop import train
    from ichmodel.train.phantom_cases import cache_phantoms
    from ichmodel.train.run_files import StartModel, TrainData

    torch.set_num_threads(a.threads)
    base = load_checkpoint(a.out)
    cache = CaseCache(a.work / "cache", base.preprocess_config)
    t = time.time()
    train_cases = run_to_completion(
        cache_phantoms(range(FINETUNE_SEED0, FINETUNE_SEED0 + a.n_train), cache), _progress()
    )
    test_cases = run_to_completion(
        cache_phantoms(range(TEST_SEED0, TEST_SEED0 + a.n_test), cache), _progress()
    )
    log.info("data: %d + %d phantoms (v%s) in %.0f s", len(train_cases), len(test_cases),
             PHANTOM_VERSION, time.time() - t)
    before = run_to_completion(evaluate_cases(base, cache, test_cases)).metrics
    log.info("before: held-out MAE %.3f ml, AUC %s", before.mae_ml, before.auc)

    config = TrainConfig(
        epochs=a.epochs, batch_size=8, optimizer="adamw", lr=a.lr, weight_decay=1e-4,
        warmup_steps=20, schedule="cosine", outcome_loss_weight=5.0, val_fraction=0.15,
        seed=1, device="cpu", threads=a.threads, precision="fp32", checkpoint_every_steps=20,
    )
    start = StartModel(copy.deepcopy(base.net).float(), base.net_config, base.preprocess_config,
                       f"demo {base.sha256[:12]}")
    data = TrainData(cache, tuple(train_cases),
                     description={"phantom_seeds": [FINETUNE_SEED0, FINETUNE_SEED0 + a.n_train]})
    run_dir = a.work / a.run
    resume = (run_dir / "checkpoints" / "state.safetensors").is_file()
    result = run_to_completion(train(data, start, run_dir, config, resume=resume), _progress())
    log.info("fine-tune: %s after %d steps in %.0f s", result.stopped, result.steps,
             result.elapsed_s)
    tuned = load_checkpoint(run_dir / "checkpoints" / "best.safetensors")
    after = run_to_completion(evaluate_cases(tuned, cache, test_cases)).metrics
    log.info("after: held-out MAE %.3f ml, AUC %s", after.mae_ml, after.auc)
    report = {"before_mae_ml": before.mae_ml, "before_auc": before.auc,
              "after_mae_ml": after.mae_ml, "after_auc": after.auc,
              "after_mse_ml2": after.mse_ml2, "after_mape_pct": after.mape_pct,
              "after_accuracy": after.accuracy}
    if after.mae_ml >= before.mae_ml:
        log.info("no improvement: the bundled weights stay")
        print(json.dumps(report))
        return 0
    seeds = [int(c.case_id.split("-")[1]) for c in test_cases]
    pg = pointing_game(tuned, seeds)
    report["pointing_game"] = pg
    old = base.card
    card = ModelCard(
        name="demo",
        summary=(
            f"Demo model bundled with ICH Viewer: ResNet34 topology at base width "
            f"{base.net_config.base_width} (3.97 M parameters), input 32x224x224, trained on "
            f"SYNTHETIC PHANTOMS ONLY. On {after.n} held-out phantoms (generator v"
            f"{PHANTOM_VERSION}): volume MAE {after.mae_ml:.2f} ml, AUC {after.auc:.3f} on the "
            "proxy outcome label. Grad-CAM pointing game (volume head, "
            f"{pg['layer4_slice'][1]} bleeds): on the axial slice where the bleed is largest the "
            f"in-plane CAM peak lies inside it for {100 * pg['layer4_slice'][0]:.0f} % (layer4) / "
            f"{100 * pg['layer3_slice'][0]:.0f} % (layer3); the 3-D peak voxel for "
            f"{100 * pg['layer4_argmax'][0]:.0f} % / {100 * pg['layer3_argmax'][0]:.0f} % "
            "(the layer4 map has only 2 cells along z)."
        ),
        training_data=(
            old.training_data + f" Then fine-tuned for {result.epochs_done} epochs on "
            f"{a.n_train} phantoms of generator v{PHANTOM_VERSION} (seeds {FINETUNE_SEED0}.."
            f"{FINETUNE_SEED0 + a.n_train - 1}; 15 % validation), AdamW lr {a.lr} cosine, "
            "fp32 on CPU (bench/finetune_demo.py); shipped: best validation checkpoint."
        ),
        intended_use=old.intended_use,
        not_for=old.not_for,
        limitations=old.limitations,
        banner=old.banner,
    )
    training = dict(base.training or {})
    training["finetune"] = {"config": json.loads((run_dir / "config.json").read_text()),
                            "from_sha256": base.sha256, "phantom_version": PHANTOM_VERSION}
    metrics = {"heldout_n": after.n, "heldout_mae_ml": after.mae_ml,
               "heldout_mse_ml2": after.mse_ml2, "heldout_mape_pct": after.mape_pct,
               "heldout_accuracy_proxy": after.accuracy, "heldout_auc_proxy": after.auc,
               **{f"pointing_game_{k}": v[0] for k, v in pg.items()},
               "pointing_game_n_bleeds": pg["layer4_slice"][1]}
    save_checkpoint(a.out, tuned.net, net_config=tuned.net_config,
                    preprocess_config=tuned.preprocess_config, card=card, training=training,
                    metrics=metrics, dtype="float16")
    check = run_to_completion(evaluate_cases(load_checkpoint(a.out), cache, test_cases)).metrics
    report["fp16_mae_ml"] = check.mae_ml
    log.info("shipped %s: fp16 MAE %.3f ml", a.out, check.mae_ml)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
