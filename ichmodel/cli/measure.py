"""``ichmodel measure PATH [--hu-min X] [--hu-max Y] [--json] [--mask-out FILE.nii.gz]
[--edits FILE.json]``.

Measures the hematoma straight from the image (no model): planimetric volume, automated
ABC/2 with A, B, C, location and intraventricular extension (best effort). The mask NIfTI lies
on the grid of ``ichmodel load --nifti-out``: 1 = intraparenchymal hematoma, 2 =
intraventricular blood. ``--edits`` replays a reader's saved segmentation edits (the viewer's
record, keyed by SeriesInstanceUID) at the HU range they were made at, through the same code
the viewer runs, and reports the edited volume.
"""

from __future__ import annotations

import argparse

from ichmodel.cli._output import print_fields, print_json, study_command

_HELP = "measure the hematoma from the image: planimetric volume, ABC/2, location, IVH"
_DESCRIPTION = (
    "Segment acute blood (a HU range inside the skull), report its planimetric volume "
    "in ml, the automated ABC/2 (A, B, C in mm), its location and intraventricular "
    "extension (best effort). Research use only."
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = study_command(subparsers, "measure", help=_HELP, description=_DESCRIPTION)
    parser.add_argument(
        "--hu-min", type=float, default=None, metavar="X", help="lower blood HU (default 50)"
    )
    parser.add_argument(
        "--hu-max", type=float, default=None, metavar="Y", help="upper blood HU (default 90)"
    )
    parser.add_argument(
        "--mask-out",
        metavar="FILE",
        help="write the blood mask as NIfTI (1 hematoma, 2 intraventricular) on the load grid",
    )
    parser.add_argument(
        "--edits",
        metavar="FILE",
        help="apply a saved segmentation edit record (JSON from the viewer) to this series",
    )
    return parser


def _edit_record(args: argparse.Namespace):
    """The record of ``--edits`` (None without it), and the HU range to measure at."""
    from ichmodel.cli._output import hu_range_option
    from ichmodel.edits import EditRecordError, load_record

    if not args.edits:
        return None, hu_range_option(args.hu_min, args.hu_max)
    record = load_record(args.edits)
    lo, hi = record.hu_range
    asked = (lo if args.hu_min is None else args.hu_min, hi if args.hu_max is None else args.hu_max)
    if asked != (lo, hi):
        raise EditRecordError(
            f"the edits in {args.edits} were made at {lo:g}-{hi:g} HU; --hu-min/--hu-max ask "
            f"for {asked[0]:g}-{asked[1]:g} HU. Leave them out to measure at the edits' range"
        )
    return record, (lo, hi)


def run(args: argparse.Namespace) -> int:
    from ichmodel.cli._output import hu_range_option, one_or_many, run_with_bar
    from ichmodel.reading import NO_MODEL, mask_labels, read_study

    record, (hu_min, hu_max) = _edit_record(args)
    hu_range_option(hu_min, hu_max)
    reading = run_with_bar(
        read_study(one_or_many(args.path), series_uid=args.series, model=NO_MODEL,
                   hu_range=(hu_min, hu_max), measure=record is None),
        quiet=args.json,
    )
    if record is not None:
        from ichmodel.edits import measure_with_edits

        reading = reading.with_measurement(measure_with_edits(reading.volume, record).measurement)
    result = reading.measurement
    assert result is not None  # read_study measures unless told not to

    mask_path = None
    if args.mask_out:
        from ichmodel.io.sitk_bridge import write_nifti

        mask_path = str(write_nifti(args.mask_out, reading.volume, mask_labels(reading)))

    # Study-level notices (loading, measurement); the "no model asked" one says nothing here.
    shown = [n for n in reading.notices if n.code != "reading.no_prediction"]
    summary = result.to_dict()
    summary["notices"] = [n.to_dict() for n in shown]
    summary["warnings"] = [n.text for n in shown]
    summary["largest_hematoma_slice"] = reading.largest_hematoma_slice
    if mask_path:
        summary["mask"] = mask_path
    if args.json:
        print_json(summary)
        return 0
    abc = result.abc2
    params = result.params
    rows = [
        ("status", result.status),
        ("planimetric volume", f"{result.hematoma_volume_ml:.2f} ml"),
        ("ABC/2", f"{abc.volume_ml:.2f} ml"),
        ("A, B, C", f"{abc.a_mm:.1f}, {abc.b_mm:.1f}, {abc.c_mm:.1f} mm"),
        ("ABC/2 slice", "-" if abc.slice_index is None else str(abc.slice_index)),
        ("location", result.location_description),
        ("intraventricular", f"{'yes' if result.ivh else 'no'} ({result.ivh_volume_ml:.2f} ml; "
         f"threshold count {result.ivh_threshold_volume_ml:.2f} ml)"),
        ("HU range", f"{params.hu_min:g} .. {params.hu_max:g}"),
    ]
    if result.edited is not None:
        rows.append(("edited", result.edited.sentence()))
    if mask_path:
        rows.append(("mask", mask_path))
    print_fields(rows, [n.text for n in shown])
    return 0
