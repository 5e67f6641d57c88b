"""``ichmodel train MANIFEST --out RUN_DIR [--epochs N] [--batch-size B] [--lr X]
[--from-scratch|--init FILE] [--provenance site|synthetic] [--freeze-encoder] [--resume]
[--device ...]``.

Validates every manifest row first (all problems listed together, exit 3), caches the
preprocessed inputs, then trains with the paper's defaults (SGD, lr 1e-4, momentum 0.9, weight
decay 5e-4, batch 8, up to 300 epochs) starting from the active model unless told otherwise.
The flags become one :class:`~ichmodel.train.fine_tune.FineTuneRequest` driven by
:func:`~ichmodel.train.fine_tune.fine_tune`, the session the trainer dialog runs too.
``--resume`` continues a stopped run exactly (its saved settings are reused; only --epochs,
--device, --max-steps, --early-stopping and worker settings may change).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ichmodel.train.config import TrainConfig
    from ichmodel.train.fine_tune import FineTuneRequest, SavedRun, StartChoice


_HELP = "train or fine-tune the model on a manifest of studies"
_DESCRIPTION = (
    "Train or fine-tune the multi-task model on a manifest CSV (study, volume_ml, "
    "poor_outcome, split). Research use only."
)


def _parse_strides(text: str, field: str) -> tuple[int, ...]:
    from ichmodel.nets import NetConfig

    try:
        values = tuple(int(v) for v in text.split(","))
        return getattr(NetConfig(**{field: values}), field)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc} (e.g. 1,2,1,1)") from exc


def parse_z_strides(text: str) -> tuple[int, ...]:
    """``"1,2,1,1"`` -> (1, 2, 1, 1), checked by NetConfig (an argparse ``type``)."""
    return _parse_strides(text, "stage_z_strides")


def parse_xy_strides(text: str) -> tuple[int, ...]:
    """In-plane stage strides, like :func:`parse_z_strides`."""
    return _parse_strides(text, "stage_xy_strides")


def parse_voxel_exponent(text: str) -> float:
    """A finite number, checked by LabelTransform (an argparse ``type``)."""
    from ichmodel.labels import LabelTransform

    try:
        return LabelTransform(voxel_exponent=float(text)).voxel_exponent
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc} (e.g. 1)") from exc


def parse_rows(text: str | None) -> list[int]:
    """``"3,5,7-9"`` -> [3, 5, 7, 8, 9] (spreadsheet row numbers)."""
    rows: list[int] = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-", 1))
                rows.extend(range(lo, hi + 1))
            else:
                rows.append(int(part))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad row list {text!r}; use e.g. 3,5,7-9") from exc
    return rows


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help=_HELP, description=_DESCRIPTION)
    p.add_argument("manifest", type=Path, help="manifest CSV")
    p.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="run folder")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--from-scratch", action="store_true", help="random initial weights")
    start.add_argument("--init", type=Path, metavar="FILE", help="start from this checkpoint")
    p.add_argument("--width", type=int, default=64,
                   help="base width of a from-scratch ResNet34 (paper 64; the demo uses 16)")
    p.add_argument("--size-head", choices=("linear", "additive"), default="linear",
                   help="from scratch: 'linear' size head (paper) or 'additive' (cube root of a "
                   "mean of local volumes; its Grad-CAM is where the volume comes from)")
    p.add_argument("--z-strides", type=parse_z_strides, default=(1, 2, 2, 2), metavar="A,B,C,D",
                   help="from scratch: z stride of each stage (paper 1,2,2,2; 1,2,1,1 keeps 8 "
                   "slices in the last stage's map)")
    p.add_argument("--xy-strides", type=parse_xy_strides, default=(1, 2, 2, 2),
                   metavar="A,B,C,D", help="from scratch: in-plane stride of each stage (paper "
                   "1,2,2,2; 1,2,2,1 keeps a 14x14 last map, finer Grad-CAM)")
    p.add_argument("--voxel-exponent", type=parse_voxel_exponent, default=0.0, metavar="K",
                   help="from scratch: scale the size output by (input voxel volume / 1 mm^3)^K "
                   "(paper 0; 1 tells the network each head's physical scale, which the resize "
                   "to 32x224x224 hides; `ichmodel calibrate` fits K for a trained model)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    p.add_argument("--epochs", type=int, help="epochs (default 300)")
    p.add_argument("--batch-size", type=int, help="batch size (default 8)")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-4)")
    p.add_argument("--optimizer", choices=("sgd", "adamw", "adam"), help="default sgd")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, help="default 5e-4")
    p.add_argument("--warmup-steps", type=int, help="linear warm-up steps (default 0)")
    p.add_argument("--schedule", choices=("constant", "cosine"), help="default constant")
    p.add_argument("--outcome-weight", type=float, metavar="LAMBDA",
                   help="weight of the outcome cross-entropy (default 1)")
    p.add_argument("--class-weights", choices=("none", "balanced"),
                   help="weight rare outcomes up (default none)")
    p.add_argument("--freeze-encoder", action="store_true", help="train only the two heads")
    p.add_argument("--early-stopping", type=int, metavar="EPOCHS",
                   help="stop after this many epochs without a better validation loss")
    p.add_argument("--val-fraction", type=float, help="validation share (default 0.2)")
    p.add_argument("--split", type=Path, metavar="SPLIT_JSON",
                   help="reuse a previous run's split.json (same validation set)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--device", help="auto (default), cpu or cuda[:N]")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"),
                   help="default auto: bf16 where the device runs it natively (as the dialog)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    p.add_argument("--exclude-rows", type=parse_rows, default=[], metavar="ROWS",
                   help="leave these manifest rows out, e.g. 3,5,7-9")
    p.add_argument("--cache", type=Path, metavar="DIR",
                   help="preprocessing cache (default: the user data folder's cache)")
    p.add_argument("--provenance", choices=("site", "synthetic"), default="site",
                   help="where the manifest's cases come from, recorded in every checkpoint "
                   "(default site: your own studies; synthetic: phantoms)")
    p.add_argument("--register", metavar="NAME",
                   help="register the best model under NAME and make it active")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


_FIELDS = {
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "optimizer": "optimizer",
    "momentum": "momentum", "weight_decay": "weight_decay", "warmup_steps": "warmup_steps",
    "schedule": "schedule", "outcome_weight": "outcome_loss_weight",
    "class_weights": "class_weights", "early_stopping": "early_stopping_patience",
    "val_fraction": "val_fraction", "seed": "seed", "device": "device", "max_steps": "max_steps",
    "precision": "precision",
}


def _train_config(args: argparse.Namespace, saved: SavedRun | None) -> TrainConfig:
    """The flags as a TrainConfig; resuming, the saved run's with the flags given on top (a
    flag that may not change on resume is a usage error here, where we know it was typed)."""
    from ichmodel.errors import TrainingError
    from ichmodel.train.config import TrainConfig

    given = {dst: getattr(args, src) for src, dst in _FIELDS.items()
             if getattr(args, src) is not None}
    if args.freeze_encoder:
        given["freeze_encoder"] = True
    if saved is None:
        return TrainConfig(**given)
    old = saved.config.to_dict()
    changed = [k for k, v in given.items()
               if k not in TrainConfig.RESUMABLE_CHANGES and old.get(k) != v]
    if changed:
        raise TrainingError(
            f"--resume keeps the run's settings; these cannot change: {', '.join(changed)}"
        )
    # --max-steps stops this invocation only; a resumed run does not inherit it.
    return TrainConfig.from_dict(old | {"max_steps": None} | given)


def _start_choice(args: argparse.Namespace) -> StartChoice:
    from ichmodel.labels import LabelTransform
    from ichmodel.nets import NetConfig
    from ichmodel.train.fine_tune import ActiveModel, InitCheckpoint, ScratchModel

    if args.init is not None:
        return InitCheckpoint(args.init)
    if not args.from_scratch:
        return ActiveModel()
    net_config = NetConfig(depth=34, base_width=args.width, size_head=args.size_head,
                           stage_z_strides=args.z_strides, stage_xy_strides=args.xy_strides)
    return ScratchModel(net_config=net_config,
                        label_transform=LabelTransform(voxel_exponent=args.voxel_exponent))


def fine_tune_request(args: argparse.Namespace) -> FineTuneRequest:
    """The session ``ichmodel train`` runs (the trainer dialog builds the same kind)."""
    from ichmodel.model_card import Provenance
    from ichmodel.train.fine_tune import FineTuneRequest, saved_run

    saved = saved_run(args.out) if args.resume else None
    return FineTuneRequest(
        data=args.manifest,
        run_dir=args.out,
        start=_start_choice(args),
        config=_train_config(args, saved),
        provenance=Provenance(args.provenance),
        exclude_rows=tuple(args.exclude_rows),
        resume=args.resume,
        cache_dir=args.cache,
        split_file=args.split,
    )


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ichmodel.cli._output import print_json, print_table, run_with_bar
    from ichmodel.train.distributed import leave, rank_device, world_from_env
    from ichmodel.train.fine_tune import fine_tune, register_run

    # Under torchrun each process is one rank; rank 0 writes, registers and prints.
    world = world_from_env(args.device)
    request = fine_tune_request(args)
    request = replace(request, config=replace(request.config,
                                              device=rank_device(world, request.config.device)))
    try:
        session = run_with_bar(fine_tune(request, world=world),
                               quiet=args.json or not world.is_main)
    except BaseException:
        leave(world, clean=False)  # torchrun stops the other ranks
        raise
    leave(world)
    if not world.is_main:
        return 0
    result = session.run
    registered = register_run(result, args.register).name if args.register else None
    final = result.final_metrics
    out = {
        "run_dir": str(result.run_dir),
        "stopped": result.stopped,
        "steps": result.steps,
        "epochs": result.epochs_done,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
        "last_checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
        "provenance": session.provenance.value,
        "final": final,
        "registered": registered,
        "elapsed_s": round(result.elapsed_s, 2),
    }
    if args.json:
        print_json(out)
    else:
        rows = [[k, out[k]] for k in ("run_dir", "stopped", "steps", "epochs", "best_epoch",
                                      "best_val_loss", "best_checkpoint", "provenance",
                                      "registered")]
        rows += [[k, v] for k, v in final.items() if k.startswith("val_") or k == "train_loss"]
        print_table(["field", "value"], rows)
    return 0
