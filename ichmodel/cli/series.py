"""``ichmodel series PATH [--json]``: list a study's series, which one is picked and why."""

from __future__ import annotations

import argparse
import sys

from ichmodel.cli._output import one_or_many, print_json, print_table, run_with_bar, study_command

_HELP = "list the series of a study (folder, .zip, DICOMDIR or files) and the one picked"
_DESCRIPTION = (
    "Scan DICOM headers only and list each series with the reason it was or was not "
    "picked as the axial non-contrast head CT. Exit 3 when no series can be picked."
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = study_command(subparsers, "series", help=_HELP, description=_DESCRIPTION, series=False)
    return parser


def series_json(scan) -> dict:
    return {
        "series": [
            {
                "series_uid": s.series_uid,
                "key": s.key,
                "description": s.description,
                "modality": s.modality,
                "n_images": s.n_images,
                "picked": s.picked,
                "reason": s.reason,
                "warnings": list(s.warnings),
            }
            for s in scan.series
        ],
        "n_files": scan.n_files,
        "n_skipped_files": scan.n_skipped_files,
        "warnings": list(scan.warnings),
    }


def run(args: argparse.Namespace) -> int:
    from ichmodel.io.load import select_series
    from ichmodel.io.scan import iter_scan_study

    scan = run_with_bar(iter_scan_study(one_or_many(args.path)), quiet=args.json)
    if args.json:
        print_json(series_json(scan))
    else:
        rows = [
            (
                "*" if s.picked else "",
                s.key,
                s.description or "-",
                s.modality or "-",
                s.n_images,
                s.reason,
            )
            for s in scan.series
        ]
        print_table(["", "series", "description", "mod", "images", "reason"], rows)
        print(f"\n{scan.n_files} files, {scan.n_skipped_files} skipped")
        for warning in scan.warnings:
            print(f"warning: {warning}")
    if scan.picked is None:
        select_series(scan)  # raises the specific InputError -> exit 3 with one error line
    return 0


if __name__ == "__main__":  # pragma: no cover
    from ichmodel.cli import main

    sys.exit(main(["series", *sys.argv[1:]]))
