"""Shared CLI output helpers: JSON, plain tables and a progress bar on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ichmodel.progress import Progress

STUDY_HELP = "folder, .zip, DICOMDIR or DICOM files"


def study_command(
    subparsers, name: str, *, help: str, description: str, series: bool = True
) -> argparse.ArgumentParser:
    """A subcommand that reads one study: ``PATH...``, ``--series`` (unless ``series`` is
    False) and ``--json``, the same words for every command."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.add_argument("path", nargs="+", help=STUDY_HELP)
    if series:
        parser.add_argument("--series", metavar="UID", help="series UID or key (see `series`)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def action_command(subparsers, name: str, *, help: str, description: str):
    """A subcommand with actions of its own (``ichmodel models list``): returns the actions'
    subparsers; one action must be given."""
    parser = subparsers.add_parser(name, help=help, description=description)
    actions = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    actions.required = True
    return parser, actions


def hu_range_option(hu_min: float | None, hu_max: float | None) -> tuple[float, float]:
    """The blood HU range of ``--hu-min``/``--hu-max`` (a missing one takes the reading's
    default), refused up front when it does not rise."""
    from ichmodel.errors import InputError
    from ichmodel.reading.rules import DEFAULT_HU_RANGE

    low = DEFAULT_HU_RANGE[0] if hu_min is None else hu_min
    high = DEFAULT_HU_RANGE[1] if hu_max is None else hu_max
    if not low < high:
        raise InputError(f"--hu-min ({low:g}) must be below --hu-max ({high:g}) HU")
    return float(low), float(high)


def print_json(obj: Any) -> None:
    """JSON on stdout; NaN and infinities become null (JSON has no such numbers)."""
    print(json.dumps(finite(obj), indent=2, default=_json_default, allow_nan=False))


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (numpy ones too) replaced by None."""
    import math

    import numpy as np

    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from ichmodel.cli import one_line

    cells = [[str(h) for h in headers]] + [[one_line(str(c), 2000) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


class ProgressBar:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool | None = None, width: int = 30) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.width = width

    def __call__(self, event: Progress) -> None:
        if not self.enabled:
            return
        frac = event.fraction
        bar = "?" * self.width if frac is None else "#" * int(frac * self.width)
        sys.stderr.write(f"\r{event.stage:<10} [{bar:<{self.width}}] {event.message[:40]:<40}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def run_with_bar(gen, *, quiet: bool):
    """Drive a progress generator with a bar on stderr (none with ``quiet``, e.g. --json)."""
    from ichmodel.progress import run_to_completion

    bar = ProgressBar(enabled=False if quiet else None)
    try:
        return run_to_completion(gen, bar)
    finally:
        bar.close()


def load_volume(paths: Sequence[str], series: str | None, *, quiet: bool):
    """Load the study at ``paths`` (one path or several files) the way every command does."""
    from ichmodel.io.load import iter_load_study

    return run_with_bar(iter_load_study(one_or_many(paths), series), quiet=quiet)


def one_or_many(paths: Sequence[str]):
    """The CLI's PATH... arguments as the scanner takes them: one path, or a list of files."""
    return paths[0] if len(paths) == 1 else list(paths)


def print_fields(rows: Sequence[tuple[str, Any]], warnings: Sequence[str] = ()) -> None:
    """A two-column field/value table followed by one ``warning:`` line per warning."""
    print_table(["field", "value"], rows)
    from ichmodel.cli import one_line

    for warning in warnings:
        print(f"warning: {one_line(warning, 2000)}")
