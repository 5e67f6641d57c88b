"""``ichmodel batch ROOT|MANIFEST --out results.csv|results.parquet [--what measure,predict]
[--jobs N] [--backend process|dask|ray] [--scheduler ADDRESS] [--num-parts K --part-id I]
[--resume] [--device cpu|cuda] [--json]``: one row per study of a cohort."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_HELP = "measure (and predict) every study of a cohort: one row per study, resumable"
_DESCRIPTION = (
    "Read every study under a folder (each subfolder is a job; a folder holding "
    "several studies gives a row per study) or listed in a manifest CSV (column "
    "'study'), and write one row per study with every measured number, the model's "
    "numbers and the notices' codes. A study that fails is a row with its error. Rows "
    "are kept as they finish, so a killed run goes on with --resume."
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ichmodel.batch import BACKENDS

    parser = subparsers.add_parser("batch", help=_HELP, description=_DESCRIPTION)
    parser.add_argument("source", type=Path, help="cohort folder or manifest CSV")
    parser.add_argument("--out", type=Path, required=True, help="results .csv or .parquet")
    parser.add_argument("--what", default="measure",
                        help="comma list: measure (always), predict (default: measure)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--backend", choices=BACKENDS, default="process")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler tcp://host:port, or Ray cluster ray://host:port")
    parser.add_argument("--num-parts", type=int, default=1, metavar="K",
                        help="split the cohort into K shards (e.g. a SLURM array)")
    parser.add_argument("--part-id", type=int, default=0, metavar="I", help="this shard, 0..K-1")
    parser.add_argument("--resume", action="store_true",
                        help="skip the studies a previous run of the same --out finished")
    parser.add_argument("--device", default="cpu", help="model device: cpu, cuda or auto")
    parser.add_argument("--checkpoint", type=Path, help="a .safetensors model (default: active)")
    parser.add_argument("--hu-min", type=float, help="lower blood HU (default 50)")
    parser.add_argument("--hu-max", type=float, help="upper blood HU (default 90)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from ichmodel.batch import BatchRequest, run_batch
    from ichmodel.cli._output import hu_range_option, print_json, run_with_bar

    hu_range = hu_range_option(args.hu_min, args.hu_max)  # a bad range: one error, no rows
    request = BatchRequest(
        source=args.source, out=args.out,
        what=tuple(w.strip() for w in args.what.split(",") if w.strip()),
        jobs=args.jobs, backend=args.backend, scheduler=args.scheduler,
        num_parts=args.num_parts, part_id=args.part_id, resume=args.resume,
        device=args.device, checkpoint=args.checkpoint, hu_range=hu_range,
    )
    summary = run_with_bar(run_batch(request), quiet=args.json)
    if args.json:
        print_json(summary.to_dict())
    else:
        s = summary
        print(f"{s.n_rows} row(s) in {s.out}: {s.n_rows - s.n_failed} ok, {s.n_failed} failed, "
              f"{s.n_skipped} job(s) skipped (done before); {s.seconds:.1f} s, "
              f"{s.studies_per_minute:.1f} studies/min", file=sys.stderr)
    return 0
