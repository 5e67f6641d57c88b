"""``ichmodel score PATH [--gcs N] [--nihss N] [--age N] [--anticoagulated yes|no]
[--cognitive-impairment yes|no] [--json]``.

Measures the study and computes the ICH score (Hemphill 2001), FUNC (Rost 2008) and max-ICH
(Sembill 2017). Imaging items come from the measurement, age from the DICOM unless typed; an
item not given leaves its score incomplete (never guessed). Each score says which volume fed
it, and both results when planimetric and ABC/2 fall on either side of a threshold.
"""

from __future__ import annotations

import argparse

from ichmodel.cli._output import print_fields, print_json, study_command


def _yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value in ("yes", "y", "true", "1"):
        return True
    if value in ("no", "n", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = study_command(
        subparsers,
        "score",
        help="ICH score, FUNC and max-ICH from the measurement and the entries you give",
        description=(
            "Compute the ICH score, FUNC score and max-ICH score. Imaging items (volume, "
            "intraventricular blood, location) come from the measurement; age from the DICOM "
            "unless --age is given; GCS, NIHSS, anticoagulation and pre-ICH cognitive "
            "impairment from the options (a score missing one is shown as incomplete). "
            "Research use only."
        ),
    )
    add_clinical_options(parser)
    return parser


def add_clinical_options(parser: argparse.ArgumentParser) -> None:
    """The reader's score entries (``score`` and ``export`` share them)."""
    parser.add_argument("--gcs", type=int, metavar="N", help="Glasgow Coma Scale 3-15")
    parser.add_argument("--nihss", type=int, metavar="N", help="NIH Stroke Scale 0-42")
    parser.add_argument("--age", type=int, metavar="N", help="age in years (overrides DICOM)")
    parser.add_argument("--anticoagulated", type=_yes_no, metavar="yes|no",
                        help="oral anticoagulation at onset")
    parser.add_argument("--cognitive-impairment", type=_yes_no, metavar="yes|no",
                        help="pre-ICH cognitive impairment")


def clinical_inputs(args: argparse.Namespace):
    """The entries as ClinicalInputs (range errors are InputErrors: one line, exit code 3)."""
    from ichmodel.scores import ClinicalInputs

    return ClinicalInputs(
        gcs=args.gcs, nihss=args.nihss, age_years=args.age,
        anticoagulated=args.anticoagulated, cognitive_impairment=args.cognitive_impairment,
    )


def run(args: argparse.Namespace) -> int:
    from ichmodel.cli._output import one_or_many, run_with_bar
    from ichmodel.reading import NO_MODEL, read_study
    from ichmodel.scores import score_sheet

    clinical = clinical_inputs(args)
    reading = run_with_bar(
        read_study(one_or_many(args.path), series_uid=args.series, model=NO_MODEL),
        quiet=args.json,
    )
    sheet = score_sheet(reading.measurement, reading.volume.meta, clinical)
    if args.json:
        print_json(sheet.to_dict())
        return 0
    rows: list[tuple[str, str]] = [("age", f"{sheet.age.years} ({sheet.age.source})"
                                    if sheet.age.years is not None else sheet.age.source)]
    notes = []
    for score in sheet.scores:
        rows.append((score.name, score.summary))
        for item in score.items:
            points = "?" if item.points is None else str(item.points)
            rows.append((f"  {item.label}", f"{points}  <- {item.value_text} [{item.source}]"))
        rows.append(("  volume used", f"{score.volume_method} ({score.volume_method_reason})"))
        if score.straddle is not None:
            notes.append(score.straddle.reason)
    print_fields(rows, notes)
    return 0
