"""``ichmodel evaluate MANIFEST [--checkpoint FILE] [--json] [--plots DIR]``.

The paper's metrics of a model on a manifest: ``{"n", "mae_ml", "mse_ml2", "mape_pct",
"accuracy", "auc"}`` (MAPE skips reference volumes of 0 ml and says how many; accuracy and AUC
use the rows with an outcome). Without ``--checkpoint`` the active model is used (registry, else
the bundled demo). ``--plots DIR`` writes ``roc.png`` and ``scatter.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

_HELP = "the paper's metrics (MAE, MSE, MAPE, accuracy, AUC) of a model on a manifest"
_DESCRIPTION = "Evaluate a model on a manifest CSV with the seed paper's metrics."


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help=_HELP, description=_DESCRIPTION)
    p.add_argument("manifest", type=Path, help="manifest CSV (study, volume_ml, poor_outcome)")
    p.add_argument("--checkpoint", type=Path, metavar="FILE",
                   help="a .safetensors model (default: the active model)")
    p.add_argument("--plots", type=Path, metavar="DIR", help="write roc.png and scatter.png")
    p.add_argument("--cases", action="store_true", help="include per-case predictions in JSON")
    add_manifest_run_options(p)
    return p


def add_manifest_run_options(p: argparse.ArgumentParser) -> None:
    """--device, --exclude-rows, --cache and --json, as every command that runs a model over
    a manifest takes them (evaluate, calibrate)."""
    from ichmodel.cli.train import parse_rows

    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda[:N]")
    p.add_argument("--exclude-rows", type=parse_rows, default=[], metavar="ROWS",
                   help="leave these manifest rows out, e.g. 3,5,7-9")
    p.add_argument("--cache", type=Path, metavar="DIR",
                   help="preprocessing cache (default: the user data folder's cache)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ichmodel.active_model import default_model
    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.cli._output import ProgressBar, print_json, print_table
    from ichmodel.device import plan_for
    from ichmodel.progress import run_to_completion
    from ichmodel.registry import data_dir
    from ichmodel.train.evaluate import evaluate_manifest
    from ichmodel.train.metrics import reliability_bins
    from ichmodel.train.plots import reliability_png, roc_png, scatter_png

    plan_for(args.device)
    model = load_checkpoint(args.checkpoint) if args.checkpoint else default_model()
    bar = ProgressBar(enabled=None if not args.json else False)
    try:
        result = run_to_completion(
            evaluate_manifest(
                args.manifest,
                model,
                cache_dir=args.cache or data_dir() / "cache",
                device=args.device,
                exclude_rows=args.exclude_rows,
            ),
            bar,
        )
    finally:
        bar.close()
    out = result.to_dict()
    if not args.cases:
        out.pop("cases")
    warnings = list(model.warnings) + list(result.warnings)
    out["warnings"] = warnings
    if args.plots:
        ref = np.array([c.reference_ml for c in result.cases])
        pred = np.array([c.predicted_ml for c in result.cases])
        plots = {"scatter": str(scatter_png(args.plots / "scatter.png", ref, pred,
                                            result.metrics.mae_ml))}
        if result.roc is not None:
            plots["roc"] = str(roc_png(args.plots / "roc.png", result.roc.fpr, result.roc.tpr,
                                       result.metrics.auc))
        else:
            warnings.append("no ROC plot: the labelled cases do not hold both outcomes")
        labelled = [(c.poor_outcome, c.poor_outcome_probability) for c in result.cases
                    if c.poor_outcome is not None]
        if labelled:
            bins = reliability_bins([y for y, _ in labelled], [p for _, p in labelled])
            plots["reliability"] = str(reliability_png(args.plots / "reliability.png", *bins,
                                                       ece=result.metrics.ece))
        out["plots"] = plots
    if args.json:
        print_json(out)
        return 0
    m = result.metrics
    rows = [
        ["n", m.n],
        ["mae_ml", _f(m.mae_ml)],
        ["mse_ml2", _f(m.mse_ml2)],
        ["mape_pct", _f(m.mape_pct) + (f" ({m.n_mape_skipped_zero} zero-volume case(s) skipped)"
                                       if m.n_mape_skipped_zero else "")],
        ["accuracy", _f(m.accuracy) + f" (n={m.n_outcome})"],
        ["auc", _f(m.auc)],
        ["ece", _f(m.ece)],
        ["brier", _f(m.brier)],
        ["out of distribution", "no gate" if result.flagged_fraction is None
         else f"{100 * result.flagged_fraction:.1f} % of cases flagged"],
        ["model", f"{result.model_name} ({result.model_sha256[:12]})"],
        ["device", result.device],
    ]
    rows += [["plot", p] for p in out.get("plots", {}).values()]
    print_table(["metric", "value"], rows)
    for w in warnings:
        print(f"warning: {w}")
    return 0


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"
