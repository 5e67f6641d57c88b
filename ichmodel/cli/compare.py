"""``ichmodel compare BASELINE FOLLOWUP [--allow-different-patients] [--json]``.

Measures both studies, registers the follow-up rigidly to the baseline, and prints both
volumes, the change in ml and %, the expansion flags (standard: >= 6 ml or >= 33 %; revised:
also new IVH or IVH growth >= 1 ml), the scan times and the interval in hours.
"""

from __future__ import annotations

import argparse

from ichmodel.cli._output import STUDY_HELP, print_fields, print_json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "compare",
        help="baseline vs follow-up: volume change, expansion flags, interval",
        description=(
            "Compare a baseline and a follow-up head CT of one patient: rigid registration "
            "(SimpleITK), both measurements, delta ml and %, hematoma expansion (standard and "
            "revised) and the interval in hours. Refuses two different patients unless "
            "--allow-different-patients (anonymized data). Research use only."
        ),
    )
    parser.add_argument("baseline", help=f"the first scan ({STUDY_HELP})")
    parser.add_argument("followup", help=f"the later scan ({STUDY_HELP})")
    parser.add_argument("--allow-different-patients", action="store_true",
                        help="compare even when PatientID/birth date differ (anonymized data)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def run(args: argparse.Namespace) -> int:
    from ichmodel.cli._output import run_with_bar
    from ichmodel.followup import compare
    from ichmodel.reading import NO_MODEL, read_study

    readings = [
        run_with_bar(read_study(path, model=NO_MODEL), quiet=args.json)
        for path in (args.baseline, args.followup)
    ]
    result = compare(*readings, allow_different_patients=args.allow_different_patients)
    out = result.to_dict()
    if args.json:
        print_json(out)
        return 0
    b, f, reg = out["baseline"], out["followup"], out["registration"]
    pct = "-" if out["delta_pct"] is None else f"{out['delta_pct']:+.1f} %"
    interval = "unknown" if out["interval_h"] is None else f"{out['interval_h']:.1f} h"
    rows = [
        ("baseline", f"{b['hematoma_volume_ml']:.2f} ml, IVH {b['ivh_volume_ml']:.2f} ml "
                     f"({b['scan_time'] or 'no time'})"),
        ("follow-up", f"{f['hematoma_volume_ml']:.2f} ml, IVH {f['ivh_volume_ml']:.2f} ml "
                      f"({f['scan_time'] or 'no time'})"),
        ("interval", interval),
        ("change", f"{out['delta_ml']:+.2f} ml ({pct})"),
        ("expansion (standard)", "yes" if out["expansion"]["standard"] else "no"),
        ("expansion (revised)", "yes" if out["expansion"]["revised"] else "no"),
        ("why", "; ".join(out["expansion"]["reasons"]) or "-"),
        ("registration", f"head moved {reg['rms_mm']:.1f} mm rms, intracranial overlap "
                         f"{reg['intracranial_dice']:.2f}"),
    ]
    print_fields(rows, out["warnings"])
    return 0
