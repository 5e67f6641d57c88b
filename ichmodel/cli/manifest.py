"""``ichmodel manifest build FOLDER --volumes CSV [--out manifest.csv] [--json]``.

Pairs the studies in FOLDER (one sub-folder, zip or DICOMDIR folder per case) with the rows of a
label CSV (a case column: study/case/case_id/folder/name/id; ``volume_ml``; optional
``poor_outcome`` and ``split``), writes the manifest ``ichmodel train`` and ``evaluate`` read
(default ``FOLDER/manifest.csv``), then checks it row by row. Exit 0 when every row is usable;
3 when the inputs cannot be used, or when rows have problems (each listed with its row and
column; the manifest is still written so they can be fixed or excluded with --exclude-rows).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_HELP = "build a training manifest from a folder of studies and a label CSV"
_DESCRIPTION = "Training/evaluation manifests (study, volume_ml, poor_outcome, split)."


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ichmodel.cli._output import action_command

    p, sub = action_command(subparsers, "manifest", help=_HELP, description=_DESCRIPTION)
    build = sub.add_parser(
        "build",
        help="pair a folder's studies with a label CSV and write a manifest",
        description="Write a manifest pairing FOLDER's sub-folders/zips with a label CSV's rows.",
    )
    build.add_argument("folder", type=Path, metavar="FOLDER",
                       help="folder holding one study per case")
    build.add_argument("--volumes", type=Path, required=True, metavar="CSV",
                       help="label CSV: a case column, volume_ml, optional poor_outcome, split")
    build.add_argument("--out", type=Path, metavar="MANIFEST",
                       help="manifest to write (default FOLDER/manifest.csv)")
    build.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _problem(p) -> dict[str, object]:
    return {"row": p.row, "column": p.column, "problem": p.message}


def run(args: argparse.Namespace) -> int:
    from ichmodel.cli import EXIT_INPUT
    from ichmodel.cli._output import print_json, print_table
    from ichmodel.train.manifest_build import build_manifest

    build = build_manifest(args.folder, args.volumes, args.out)
    report = build.validate()
    if args.json:
        print_json({
            "manifest": str(build.path),
            "n_rows": build.n_rows,
            "n_usable": len(report.rows),
            "unmatched_studies": list(build.unmatched_studies),
            "unmatched_labels": [_problem(p) for p in build.label_problems],
            "problems": [_problem(p) for p in report.problems],
        })
    else:
        print(build.summary())
        if build.label_problems:
            print(f"label rows of {args.volumes.name} without a study:")
            print_table(["row", "column", "problem"],
                        [[p.row, p.column, p.message] for p in build.label_problems])
        if report.problems:
            print(f"problems in {build.path.name}:")
            print_table(["row", "column", "problem"],
                        [[p.row, p.column, p.message] for p in report.problems])
    if report.problems:
        rows = ",".join(str(r) for r in report.bad_rows)
        print(f"error: {build.path} has {len(report.problems)} problem(s) in rows {rows}; "
              f"fix them or exclude them (--exclude-rows {rows})", file=sys.stderr)
        return EXIT_INPUT
    return 0
