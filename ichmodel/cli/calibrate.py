"""``ichmodel calibrate MANIFEST --out FILE [--checkpoint FILE]``: fit a model's voxel scaling.

Preprocessing resizes every head to one grid, so a network sees a small and a large head at the
same size and its volumes drift with head size. This fits how the model's volumes scale with
the input's voxel volume (``LabelTransform.voxel_exponent`` and its reference) on the manifest's
cases and writes the model with that transform to ``--out``; weights, outcome head and Grad-CAM
are unchanged. Fit on cases you will not test on, then ``ichmodel evaluate`` on others.
"""

from __future__ import annotations

import argparse
from pathlib import Path

_HELP = "fit how a model's volumes scale with the input's voxel size (weights unchanged)"
_DESCRIPTION = "Fit a model's voxel-volume scaling on a manifest and save the result."


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ichmodel.cli.evaluate import add_manifest_run_options

    p = subparsers.add_parser("calibrate", help=_HELP, description=_DESCRIPTION)
    p.add_argument("manifest", type=Path, help="manifest CSV (study, volume_ml, ...)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="where to write the calibrated model (.safetensors)")
    p.add_argument("--checkpoint", type=Path, metavar="FILE",
                   help="the model to calibrate (default: the active model)")
    add_manifest_run_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from ichmodel.active_model import default_model
    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.cli._output import ProgressBar, print_json, print_table
    from ichmodel.device import plan_for
    from ichmodel.errors import InputError
    from ichmodel.progress import run_to_completion
    from ichmodel.registry import data_dir
    from ichmodel.train.calibrate import calibrate_and_trust, save_calibrated

    if args.out.suffix.lower() != ".safetensors":
        raise InputError(f"--out must name a .safetensors file, got {args.out.name}")
    plan_for(args.device)
    model = load_checkpoint(args.checkpoint) if args.checkpoint else default_model()
    bar = ProgressBar(enabled=None if not args.json else False)
    try:
        _, fit, trust = run_to_completion(
            calibrate_and_trust(args.manifest, model,
                                cache_dir=args.cache or data_dir() / "cache",
                                device=args.device, exclude_rows=args.exclude_rows),
            bar,
        )
    finally:
        bar.close()
    path = save_calibrated(model, fit, args.out, {"manifest": str(args.manifest),
                                                  "excluded_rows": list(args.exclude_rows)},
                           trust)
    out = {"model": model.name, "from_sha256": model.sha256, "out": str(path), **fit.to_dict(),
           **trust.to_dict(),
           "note": "the MAE after is measured on the cases it was fitted to; evaluate on others"}
    if args.json:
        print_json(out)
        return 0
    print_table(["", "value"], [
        ["cases", fit.n],
        ["voxel exponent", f"{fit.label_transform.voxel_exponent:.4g}"],
        ["reference voxel (mm^3)", f"{fit.label_transform.reference_voxel_mm3:.4g}"],
        ["MAE before (ml)", f"{fit.mae_ml_before:.4g}"],
        ["MAE after (ml, same cases)", f"{fit.mae_ml_after:.4g}"],
        ["out-of-distribution threshold", f"{trust.gate.threshold:.4g}"],
        ["outcome temperature", f"{trust.outcome_temperature:.4g}"],
        ["written", str(path)],
    ])
    print("note: the MAE after is measured on the cases it was fitted to; "
          "check it with `ichmodel evaluate` on other cases")
    return 0
