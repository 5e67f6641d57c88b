"""``ichmodel predict PATH [--checkpoint FILE] [--device auto|cpu|cuda]
[--cam-head volume|prognosis] [--cam-flips z,y|none|card] [--cam-out FILE.nii.gz]
[--json]``.

Runs the multi-task model on a study: predicted hematoma volume (ml), poor-outcome probability,
and a Grad-CAM heatmap. Without ``--checkpoint`` the active model is used (registry, else the
bundled demo model, else a loudly labelled untrained one). The heatmap NIfTI lies on the grid of
``ichmodel load --nifti-out``.
"""

from __future__ import annotations

import argparse

from ichmodel.cli._output import study_command

_HELP = "model: predicted hematoma volume, poor-outcome probability, Grad-CAM heatmap"
_DESCRIPTION = (
    "Run the multi-task 3D ResNet on a head NCCT study: predicted hematoma volume in ml, "
    "poor-outcome probability and a Grad-CAM heatmap of where the model looked. "
    "Research use only, not a medical device."
)


def _flips_arg(text: str) -> str:
    from ichmodel.flip_axes import check_flip_axes

    if text in ("card", "none"):
        return text
    try:
        check_flip_axes(_flip_axes(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = study_command(subparsers, "predict", help=_HELP, description=_DESCRIPTION)
    parser.add_argument(
        "--checkpoint", metavar="FILE", help="a .safetensors model (default: the active model)"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]"
    )
    parser.add_argument(
        "--cam-head",
        choices=("volume", "prognosis"),
        default="volume",
        help="which head the heatmap explains (default volume)",
    )
    parser.add_argument(
        "--cam-layer",
        choices=("layer4", "layer3"),
        default="layer4",
        help="Grad-CAM target: layer4 (paper, coarse) or layer3 (finer)",
    )
    parser.add_argument(
        "--cam-flips",
        default="card",
        metavar="AXES",
        type=_flips_arg,
        help="average the heatmap over flips of these axes (e.g. z,y), 'none', or 'card' "
        "(default: what the model card recommends)",
    )
    parser.add_argument(
        "--cam-out", metavar="FILE", help="write the heatmap (0..1) as NIfTI on the load grid"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from ichmodel.active_model import default_model
    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.cli._output import one_or_many, print_json, print_table, run_with_bar
    from ichmodel.device import plan_for
    from ichmodel.reading import HeatmapOptions, read_study

    plan_for(args.device)  # a bad --device fails before anything slow happens
    model = load_checkpoint(args.checkpoint) if args.checkpoint else default_model()
    flips = None if args.cam_flips == "card" else _flip_axes(args.cam_flips)

    reading = run_with_bar(
        read_study(one_or_many(args.path), series_uid=args.series, model=model,
                   device=args.device, measure=False,
                   heatmap=HeatmapOptions(args.cam_head, args.cam_layer, flips)),
        quiet=args.json,
    )
    prediction = reading.prediction
    assert prediction is not None and reading.model is not None  # a model was given

    cam_path = None
    if args.cam_out:
        from ichmodel.io.sitk_bridge import write_nifti

        cam_path = str(write_nifti(args.cam_out, reading.volume, prediction.cam))

    summary = prediction.to_dict()
    summary["model"] = reading.model.to_dict()
    summary["notices"] = [n.to_dict() for n in reading.notices]
    summary["warnings"] = [n.text for n in reading.notices]
    if cam_path:
        summary["cam"] = cam_path
    if args.json:
        print_json(summary)
        return 0
    flipped = ", averaged over " + "/".join(prediction.cam_flip_axes) + " flips"
    rows = [
        ("predicted volume", f"{prediction.predicted_volume_ml:.2f} ml"),
        ("poor-outcome probability", f"{prediction.poor_outcome_probability:.3f}"),
        ("in distribution", _gate_text(prediction)),
        ("model", f"{prediction.model_name} (sha256 {prediction.model_sha256[:12]}, "
                  f"{reading.model.provenance.value})"),
        ("device", prediction.device),
        ("heatmap", f"{prediction.cam_head} head, {prediction.cam_layer}"
                    + (flipped if prediction.cam_flip_axes else "")),
        ("time", ", ".join(f"{k} {v:.2f} s" for k, v in prediction.timings_s.items())),
    ]
    if cam_path:
        rows.append(("heatmap file", cam_path))
    print_table(["field", "value"], rows)
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    return 0


def _gate_text(prediction) -> str:
    if prediction.in_distribution is None:
        return "not checked (the model has no out-of-distribution gate)"
    verdict = "yes" if prediction.in_distribution else "NO: the model has not seen scans like this"
    return f"{verdict} (score {prediction.ood_score:.1f}, threshold {prediction.ood_threshold:.1f})"


def _flip_axes(text: str) -> tuple[str, ...]:
    if text == "none":
        return ()
    return tuple(a.strip() for a in text.split(",") if a.strip())
