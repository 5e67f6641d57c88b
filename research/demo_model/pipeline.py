"""``python -m research.demo_model train``: phantoms -> train -> choose -> finalize.

Stages (default ``all``; each can be restarted, and a run folder that holds a saved state
resumes):

* ``data``     generate phantoms (train/val seeds 1,000,000+, held-out 2,000,000+) and cache
               their preprocessed inputs;
* ``train``    train (``--width``, default 16; ``--train-seconds`` sizes the epochs to a
               wall-clock budget);
* ``choose``   best or last checkpoint, plain or with recalibrated BatchNorm, by validation
               MAE, saved as ``checkpoints/chosen.safetensors`` (needs the training phantoms);
* ``finalize`` held-out MAE/AUC and the pointing game, then ``--out`` (fp16) with its card;
* ``pointing`` only measure the pointing game of ``--out``.

Run it in the background (``nohup ... > log 2>&1 &``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ichmodel.cli.train import parse_xy_strides, parse_z_strides
from ichmodel.flip_axes import check_flip_axes
from ichmodel.resources import demo_model_path
from research.demo_model.choose import CHOSEN, stage_choose
from research.demo_model.data import DataPlan, stage_data
from research.demo_model.finalize import FinalizePlan, stage_finalize
from research.demo_model.logs import configure_logging
from research.demo_model.pointing import pointing_over_phantoms
from research.demo_model.scale import parse_scale, phantom_config, seeds_of
from research.demo_model.training import TrainPlan, stage_train

DEMO = demo_model_path()
STAGES = ("all", "data", "train", "choose", "finalize", "pointing")


def _flip_axes(text: str) -> tuple[str, ...]:
    try:
        return check_flip_axes(a for a in text.split(",") if a)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


HELP = "make phantoms, train, choose a checkpoint, finalize the shipped model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", type=Path, default=Path("/tmp/ich_demo"))
    p.add_argument("--stage", default="all", choices=STAGES)
    p.add_argument("--scale", type=parse_scale, default=parse_scale("demo"),
                   help="demo (the shipped model's sizes) or tiny (a seconds-long check)")
    p.add_argument("--n-train", type=int, default=500, help="train+val phantoms")
    p.add_argument("--n-test", type=int, default=100, help="held-out test phantoms")
    p.add_argument("--n-tail", type=int, default=0,
                   help="extra training phantoms with large bleeds (median 50 ml)")
    p.add_argument("--workers", type=int, default=1, help="processes generating phantoms")
    p.add_argument("--run-name", default="run", help="run folder inside --work")
    p.add_argument("--init", type=Path, help="start from this checkpoint instead of scratch")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--z-strides", type=parse_z_strides, default=(1, 2, 1, 1),
                   help="z stride of each stage (the paper's 1,2,2,2 leaves 2 slices in layer4)")
    p.add_argument("--xy-strides", type=parse_xy_strides, default=(1, 2, 2, 2),
                   help="in-plane stride of each stage (1,2,2,1 keeps a 14x14 layer4 map)")
    p.add_argument("--size-head", default="additive", choices=("linear", "additive"))
    p.add_argument("--epochs", type=int, default=14)
    p.add_argument("--train-seconds", type=float,
                   help="size --epochs to this wall-clock budget (measured by a short probe)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=60)
    p.add_argument("--outcome-weight", type=float, default=5.0)
    p.add_argument("--grad-clip", type=float, default=10.0)
    p.add_argument("--flip-ap", type=float, default=0.0,
                   help="probability of a front-back flip (centres Grad-CAM in y, see augment.py)")
    p.add_argument("--flip-si", type=float, default=0.0,
                   help="probability of a head-foot flip (centres Grad-CAM in z)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=("auto", "bf16", "fp32"),
                   help="fp32: bf16 backward on this CPU now and then returns garbage gradients")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1 beats 2 on a shared, oversubscribed machine)")
    p.add_argument("--num-workers", type=int, help="DataLoader processes (default: by device)")
    p.add_argument("--checkpoint-every", type=int, default=20,
                   help="save the resumable state every N steps (0: at epoch ends only)")
    p.add_argument("--chosen-dtype", default="float32", choices=("float32", "float16"),
                   help="weights of checkpoints/chosen.safetensors (float16 to ship it back small)")
    p.add_argument("--cam-flips", type=_flip_axes,
                   help="finalize: axes (z,y,x) whose flips the card recommends for Grad-CAM "
                   "(ModelCard.recommended_cam_flip_axes) and the pointing game averages over")
    p.add_argument("--training-note", default="",
                   help="finalize: words that open the card's training data (e.g. how the "
                   "--init checkpoint was trained)")
    p.add_argument("--force", action="store_true",
                   help="write the new weights even if they do not beat the shipped ones")
    p.add_argument("--out", type=Path, default=DEMO)


def _train_plan(a: argparse.Namespace) -> TrainPlan:
    from ichmodel.nets import NetConfig
    from ichmodel.train.augment import AugmentConfig
    from ichmodel.train.config import TrainConfig

    net_config = NetConfig(depth=a.scale.depth, base_width=a.width, stage_z_strides=a.z_strides,
                           stage_xy_strides=a.xy_strides, size_head=a.size_head)
    train_config = TrainConfig(
        augment=AugmentConfig(flip_ap_probability=a.flip_ap, flip_si_probability=a.flip_si),
        epochs=a.epochs, batch_size=a.batch_size, optimizer="adamw", lr=a.lr,
        weight_decay=a.weight_decay, warmup_steps=a.warmup_steps, schedule="cosine",
        outcome_loss_weight=a.outcome_weight, val_fraction=0.15, seed=0, device=a.device,
        threads=a.threads, precision=a.precision,
        checkpoint_every_steps=a.checkpoint_every or None, grad_clip_norm=a.grad_clip,
        num_workers=a.num_workers,
    )
    return TrainPlan(a.work / a.run_name, net_config, train_config, a.init, a.train_seconds)


def run(a: argparse.Namespace) -> int:
    configure_logging()
    from ichmodel.checkpoint import load_checkpoint

    data_plan = DataPlan(a.work, a.scale, a.n_train, a.n_test, a.n_tail, a.workers)
    train_plan = _train_plan(a)
    a.work.mkdir(parents=True, exist_ok=True)
    cache = data_plan.cache()
    chosen = train_plan.run_dir / "checkpoints" / CHOSEN
    need_train = a.stage in ("all", "data", "train", "choose") or (
        a.stage == "finalize" and not chosen.is_file())
    train_cases, test_cases = stage_data(data_plan, cache, need_train=need_train)
    if a.stage in ("all", "train"):
        stage_train(train_plan, data_plan, cache, train_cases)
    if a.stage == "choose":
        stage_choose(train_plan.run_dir, cache, train_cases, device=a.device,
                     batch_size=a.batch_size, dtype=a.chosen_dtype)
    if a.stage in ("all", "finalize"):
        plan = FinalizePlan(train_plan.run_dir, a.out, a.cam_flips, a.training_note, a.init,
                            a.force, a.device, a.batch_size)
        report = stage_finalize(plan, data_plan, cache, train_cases, test_cases)
        if report is not None:
            print(json.dumps(report))
    if a.stage == "pointing":  # measure the shipped model only
        model = load_checkpoint(a.out)
        flips = model.card.recommended_cam_flip_axes if a.cam_flips is None else a.cam_flips
        rates = pointing_over_phantoms(model, seeds_of(test_cases),
                                       phantom_config(data_plan.scale), cam_flip_axes=flips)
        print(json.dumps({layer: r.to_dict() for layer, r in rates.items()}))
    return 0
