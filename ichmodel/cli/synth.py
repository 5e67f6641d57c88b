"""``ichmodel synth OUT --cases N [--seed S]``: write synthetic head-CT phantom studies.

``ichmodel synth OUT --into SERIES --bleed SITE:ML [...]``: insert synthetic hematomas of
exactly known volume into a real head CT (:mod:`ichmodel.phantom.insert`); writes
``OUT/series/`` (DICOM), ``OUT/truth_fraction.nii.gz`` (blood fraction per voxel),
``OUT/truth_mask.nii.gz`` (fraction >= 0.5) and ``OUT/TRUTH.json``.

Each case is a DICOM series in ``OUT/case_XXX/``; ``OUT/manifest.csv`` lists them with the
true hematoma volume (ml), the *proxy* poor-outcome label and the site, ready for
``ichmodel train`` / ``ichmodel evaluate``.
"""

from __future__ import annotations

import argparse
import time

from ichmodel.cli._output import ProgressBar, print_json, print_table

_HELP = "write synthetic head-CT phantoms (DICOM) with a manifest of true volumes"
_DESCRIPTION = (
    "Generate synthetic head NCCT phantoms with a hematoma of known volume and write "
    "each as a DICOM series plus OUT/manifest.csv (study,volume_ml,poor_outcome,site). "
    "poor_outcome is a proxy label (>= 30 ml supratentorial, >= 15 ml "
    "infratentorial), not a patient outcome."
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ichmodel.phantom.config import SITES

    parser = subparsers.add_parser("synth", help=_HELP, description=_DESCRIPTION)
    parser.add_argument("out", metavar="OUT", help="output folder (created; must hold no manifest)")
    parser.add_argument("--cases", type=_positive_int, help="number of studies (phantoms)")
    parser.add_argument(
        "--into",
        metavar="SERIES",
        help="insert bleeds into this real head CT (folder, file or zip) instead of phantoms",
    )
    parser.add_argument(
        "--bleed",
        action="append",
        metavar="SITE:ML",
        help="with --into: a bleed to insert, e.g. lobar:12 (repeat for several; sites "
        "deep, lobar, convexity, infratentorial, periventricular; default lobar:10)",
    )
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="dataset seed (0)")
    parser.add_argument(
        "--size", type=int, default=256, choices=(128, 192, 256, 384, 512), help="matrix (256)"
    )
    parser.add_argument(
        "--slice-thickness",
        type=float,
        metavar="MM",
        help="force one slice thickness in mm (default: a mix of 1, 2.5, 3 and 5 mm)",
    )
    parser.add_argument("--site", choices=SITES, help="force the bleed site ('none': no bleed)")
    parser.add_argument("--volume-ml", type=float, metavar="ML", help="force the bleed volume")
    parser.add_argument("--masks", action="store_true", help="also write case_XXX_mask.nii.gz")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing manifest")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    return parser


def _parse_bleeds(texts: list[str] | None):
    from ichmodel.errors import InputError
    from ichmodel.phantom.insert import BleedRequest

    out = []
    for text in texts or ["lobar:10"]:
        site, _, ml = text.partition(":")
        try:
            out.append(BleedRequest(site.strip(), float(ml)))
        except ValueError as exc:
            raise InputError(f"--bleed {text!r}: {exc} (write SITE:ML, e.g. lobar:12)") from None
    return out


def run_into(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ichmodel.errors import InputError
    from ichmodel.io.load import load_study
    from ichmodel.io.sitk_bridge import write_nifti
    from ichmodel.io.write import write_dicom_series
    from ichmodel.phantom.insert import InsertionError, insert_hematomas

    requests = _parse_bleeds(args.bleed)
    out = Path(args.out)
    if (out / "TRUTH.json").exists() and not args.overwrite:
        raise InputError(f"{out} already holds TRUTH.json; pass --overwrite or another OUT")
    volume = load_study(args.into)
    try:
        inserted = insert_hematomas(volume, requests, seed=args.seed)
    except InsertionError as exc:
        raise InputError(str(exc)) from None
    description = f"{volume.meta.series_description or 'CT'} + synthetic hematoma (research)"
    write_dicom_series(
        inserted.volume, out / "series", seed=args.seed, series_description=description[:64]
    )
    write_nifti(out / "truth_fraction.nii.gz", inserted.volume, inserted.fraction)
    write_nifti(out / "truth_mask.nii.gz", inserted.volume, inserted.mask)
    truth = {**inserted.truth(), "source": str(args.into), "seed": args.seed}
    (out / "TRUTH.json").write_text(json.dumps(truth, indent=2))
    if args.json:
        print_json(truth)
        return 0
    rows = [
        (f"bleed {i}", f"{b.site} {b.volume_ml:.2f} ml ({b.shape}, {b.blood_hu:.0f} HU)")
        for i, b in enumerate(inserted.bleeds, start=1)
    ]
    print_table(
        ("field", "value"),
        [("series", out / "series"), ("truth ml", f"{inserted.volume_ml:.3f}"), *rows],
    )
    return 0


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ichmodel.errors import InputError
    from ichmodel.phantom import PhantomConfig
    from ichmodel.phantom.dataset import iter_write_synth_dataset, read_manifest_rows
    from ichmodel.progress import run_to_completion

    if args.into:
        return run_into(args)
    if args.cases is None:
        raise InputError("give --cases N (phantoms) or --into SERIES (insert into a real CT)")
    try:
        config = PhantomConfig(
            size=args.size,
            slice_thickness_mm=args.slice_thickness,
            site=args.site,
            volume_ml=args.volume_ml,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    bar = ProgressBar(enabled=None if not args.json else False)
    start = time.perf_counter()
    try:
        manifest = run_to_completion(
            iter_write_synth_dataset(
                args.out,
                args.cases,
                args.seed,
                config,
                masks=args.masks,
                overwrite=args.overwrite,
            ),
            bar,
        )
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    rows = read_manifest_rows(manifest)
    volumes = np.array([float(r["volume_ml"]) for r in rows])
    sites = {
        s: sum(r["site"] == s for r in rows) for s in ("none", "deep", "lobar", "infratentorial")
    }
    summary = {
        "manifest": str(manifest),
        "n_cases": len(rows),
        "seed": args.seed,
        "sites": sites,
        "volume_ml": {
            "min": float(volumes.min()),
            "median": float(np.median(volumes)),
            "mean": float(volumes.mean()),
            "max": float(volumes.max()),
            "n_over_30": int((volumes >= 30).sum()),
            "n_over_60": int((volumes >= 60).sum()),
        },
        "poor_outcome": int(sum(int(r["poor_outcome"]) for r in rows)),
        "ivh": int(sum(int(r["ivh"]) for r in rows)),
        "seconds": round(seconds, 2),
    }
    if args.json:
        print_json(summary)
        return 0
    v = summary["volume_ml"]
    print_table(
        ("field", "value"),
        [
            ("manifest", manifest),
            ("cases", f"{len(rows)} ({seconds / len(rows):.2f} s each)"),
            ("sites", ", ".join(f"{k} {n}" for k, n in sites.items())),
            (
                "volume ml",
                f"min {v['min']:.1f}, median {v['median']:.1f}, mean {v['mean']:.1f}, "
                f"max {v['max']:.1f}; >= 30 ml: {v['n_over_30']}, >= 60 ml: {v['n_over_60']}",
            ),
            ("poor outcome (proxy)", summary["poor_outcome"]),
            ("with IVH", summary["ivh"]),
        ],
    )
    return 0
