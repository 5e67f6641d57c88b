"""Rows on disk: an append-only JSON-lines log (one line per finished job, fsync'd) that a
resumed run reads back, and the final sorted table (CSV, or Parquet with pyarrow).

A line is written whole or not at all as far as a reader is concerned: a run killed while
writing leaves a partial last line, which is dropped (its job runs again).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ichmodel.batch.rows import COLUMNS, Row, row_key
from ichmodel.errors import InputError


def read_log(path: Path) -> dict[str, list[Row]]:
    """The rows already done, by job key (a torn last line is ignored)."""
    done: dict[str, list[Row]] = {}
    if not path.is_file():
        return done
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line a killed run was writing
            if isinstance(entry, dict) and "job" in entry and "rows" in entry:
                done[str(entry["job"])] = list(entry["rows"])
    return done


class RowLog:
    """Appends each finished job's rows as one line and syncs it to disk."""

    def __init__(self, path: Path, *, fresh: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            path.unlink(missing_ok=True)
        else:
            _drop_torn_tail(path)
        self._fh = path.open("a", encoding="utf-8")

    def append(self, job: str, rows: list[Row]) -> None:
        self._fh.write(json.dumps({"job": job, "rows": rows}, allow_nan=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def _drop_torn_tail(path: Path) -> None:
    """Cut a partial last line (a killed writer's) so the next append starts a fresh line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def write_table(out: Path, rows: Iterable[Row]) -> Path:
    """The rows sorted by (job, study, series), atomically written as CSV or Parquet."""
    ordered = sorted(rows, key=row_key)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        if out.suffix.lower() == ".parquet":
            _write_parquet(Path(tmp), ordered)
        else:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=COLUMNS)
                writer.writeheader()
                writer.writerows({k: _cell(row.get(k)) for k in COLUMNS} for row in ordered)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _cell(value: object) -> object:
    return "" if value is None else value


def _write_parquet(path: Path, rows: list[Row]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(
            "writing .parquet needs pyarrow (pip install pyarrow); or choose --out results.csv"
        ) from exc
    table = pa.Table.from_pylist([{k: row.get(k) for k in COLUMNS} for row in rows])
    pq.write_table(table, path)
