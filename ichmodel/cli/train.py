"""``ichmodel train MANIFEST --out RUN_DIR [--epochs N] [--batch-size B] [--lr X]
[--from-scratch|--init FILE] [--freeze-encoder] [--resume] [--device ...]``.

Validates every manifest row first (all problems listed together, exit 3), caches the
preprocessed inputs, then trains with the paper's defaults (SGD, lr 1e-4, momentum 0.9, weight
decay 5e-4, batch 8, up to 300 epochs) starting from the active model unless told otherwise.
``--resume`` continues a stopped run exactly (its saved settings are reused; only --epochs,
--device, --max-steps, --early-stopping and worker settings may change).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


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
    p = subparsers.add_parser(
        "train",
        help="train or fine-tune the model on a manifest of studies",
        description="Train or fine-tune the multi-task model on a manifest CSV (study, "
        "volume_ml, poor_outcome, split). Research use only.",
    )
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
    p.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    p.add_argument("--exclude-rows", type=parse_rows, default=[], metavar="ROWS",
                   help="leave these manifest rows out, e.g. 3,5,7-9")
    p.add_argument("--cache", type=Path, metavar="DIR",
                   help="preprocessing cache (default: the user data folder's cache)")
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
}


def _train_config(args: argparse.Namespace, saved: dict | None):
    from ichmodel.errors import TrainingError
    from ichmodel.train.config import TrainConfig

    given = {dst: getattr(args, src) for src, dst in _FIELDS.items()
             if getattr(args, src) is not None}
    if args.freeze_encoder:
        given["freeze_encoder"] = True
    if saved is None:
        return TrainConfig(**given)
    changed = [k for k, v in given.items()
               if k not in TrainConfig.RESUMABLE_CHANGES and saved.get(k) != v]
    if changed:
        raise TrainingError(
            f"--resume keeps the run's settings; these cannot change: {', '.join(changed)}"
        )
    # --max-steps stops this invocation only; a resumed run does not inherit it.
    return TrainConfig.from_dict(saved | {"max_steps": None} | given)


def _start_model(args: argparse.Namespace, saved: dict | None):
    import torch

    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.labels import LabelTransform
    from ichmodel.nets import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig
    from ichmodel.registry import active_model_path
    from ichmodel.train.loop import StartModel
    from ichmodel.train.run_files import start_model_from_run

    if saved is not None:  # resume: the architecture comes from the run; weights from its state
        return start_model_from_run(saved)
    path = args.init
    if path is None and not args.from_scratch:
        path = active_model_path()
        if path is None:
            log.warning("no active model to fine-tune: training from scratch")
    if path is not None:
        model = load_checkpoint(path)
        net = model.net.train()
        source = f"checkpoint {model.name} (sha256 {model.sha256[:12]}, {Path(path).name})"
        return StartModel(net, model.net_config, model.preprocess_config, source,
                          model.card.recommended_cam_flip_axes, model.label_transform)
    net_config = NetConfig(depth=34, base_width=args.width, size_head=args.size_head,
                           stage_z_strides=args.z_strides, stage_xy_strides=args.xy_strides)
    torch.manual_seed(args.seed or 0)
    return StartModel(ICHNet(net_config), net_config, PreprocessConfig(), "scratch",
                      label_transform=LabelTransform(voxel_exponent=args.voxel_exponent))


def run(args: argparse.Namespace) -> int:
    from ichmodel.cli._output import ProgressBar, print_json, print_table
    from ichmodel.progress import run_to_completion
    from ichmodel.registry import data_dir, register_model
    from ichmodel.train.cache import CaseCache, build_cache
    from ichmodel.train.dataset import cases_from_report
    from ichmodel.train.loop import TrainData, train
    from ichmodel.train.manifest import read_manifest
    from ichmodel.train.split import Split

    saved = None
    if args.resume:
        config_file = args.out / "config.json"
        if config_file.is_file():
            saved = json.loads(config_file.read_text())
    config = _train_config(args, saved["train"] if saved else None)
    start = _start_model(args, saved)

    report = read_manifest(args.manifest, exclude_rows=args.exclude_rows)
    report.raise_for_problems()
    cache_dir = args.cache or (Path(saved["cache_dir"]) if saved else data_dir() / "cache")
    cache = CaseCache(cache_dir, start.preprocess_config)
    bar = ProgressBar(enabled=None if not args.json else False)
    try:
        report = run_to_completion(build_cache(report, cache), bar)
        report.raise_for_problems()  # studies that failed to load, all listed with their rows
        data = TrainData(
            cache,
            tuple(cases_from_report(report)),
            split=Split.load(args.split) if args.split else None,
            description={"manifest": str(args.manifest.resolve()),
                         "excluded_rows": list(report.excluded_rows)},
        )
        result = run_to_completion(
            train(data, start, args.out, config, resume=args.resume), bar
        )
    finally:
        bar.close()
    registered = None
    if args.register and result.best_checkpoint:
        registered = register_model(result.best_checkpoint, args.register, activate=True).name
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
        "final": final,
        "registered": registered,
        "elapsed_s": round(result.elapsed_s, 2),
    }
    if args.json:
        print_json(out)
    else:
        rows = [[k, out[k]] for k in ("run_dir", "stopped", "steps", "epochs", "best_epoch",
                                      "best_val_loss", "best_checkpoint", "registered")]
        rows += [[k, v] for k, v in final.items() if k.startswith("val_") or k == "train_loss"]
        print_table(["field", "value"], rows)
    return 0
