"""``ichmodel load PATH [--series UID] [--json] [--nifti-out FILE]``: load a series as HU."""

from __future__ import annotations

import argparse

from ichmodel.cli._output import load_volume, print_fields, print_json, study_command

_HELP = "load the picked (or chosen) series into a HU volume; optionally write NIfTI"
_DESCRIPTION = (
    "Load a CT series with correct geometry (tilt and uneven spacing corrected) and "
    "print its shape, spacing, origin and warnings."
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = study_command(subparsers, "load", help=_HELP, description=_DESCRIPTION)
    parser.add_argument("--nifti-out", metavar="FILE", help="write the HU volume as NIfTI")
    return parser


def run(args: argparse.Namespace) -> int:
    volume = load_volume(args.path, args.series, quiet=args.json)
    nifti = None
    if args.nifti_out:
        from ichmodel.io.sitk_bridge import write_nifti

        nifti = str(write_nifti(args.nifti_out, volume))
    result = {
        "series_uid": volume.meta.series_uid,
        "description": volume.meta.series_description,
        "shape_zyx": list(volume.shape),
        "spacing_mm_zyx": [float(v) for v in volume.spacing_mm],
        "origin_mm": [float(v) for v in volume.origin_mm],
        "direction": [float(v) for v in volume.direction],
        "orientation": volume.orientation_code,
        "hu_range": [float(volume.hu.min()), float(volume.hu.max())],
        "warnings": list(volume.warnings),
    }
    if nifti:
        result["nifti"] = nifti
    if args.json:
        print_json(result)
        return 0
    rows = [
        ("series", f"{volume.meta.series_description or '-'} ({volume.meta.series_uid})"),
        ("shape (z, y, x)", " x ".join(str(v) for v in volume.shape)),
        ("spacing mm (z, y, x)", ", ".join(f"{v:.4g}" for v in volume.spacing_mm)),
        ("origin mm (x, y, z LPS)", ", ".join(f"{v:.2f}" for v in volume.origin_mm)),
        ("orientation", volume.orientation_code),
        ("HU range", f"{result['hu_range'][0]:.0f} .. {result['hu_range'][1]:.0f}"),
    ]
    if nifti:
        rows.append(("NIfTI", nifti))
    print_fields(rows, volume.warnings)
    return 0
