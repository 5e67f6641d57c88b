"""Training/evaluation manifests: a CSV with one study per row, read and validated up front.

Columns: ``study`` (folder, zip or DICOMDIR, relative to the manifest's folder or absolute),
``volume_ml`` (the reference hematoma volume, ml, >= 0), ``poor_outcome`` (0/1, or empty: the row
then trains only the volume head), optional ``split`` (train/val/test, or empty); other columns
are ignored. ``ichmodel synth`` writes this format.

Row numbers count like a spreadsheet: the header is row 1, the first case is row 2. Every problem
of every row is collected before anything is reported, so a user fixes the file in one pass;
rows can be left out explicitly with ``exclude_rows``. Whether each study actually *loads* is
checked while the preprocessing cache is built (:func:`ichmodel.train.cache.build_cache`),
which adds its failures to the same report.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ichmodel.errors import ManifestError

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("study", "volume_ml")
OPTIONAL_COLUMNS = ("poor_outcome", "split")
SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"validation": "val", "valid": "val", "training": "train", "testing": "test"}


@dataclass(frozen=True)
class ManifestRow:
    """One usable case of a manifest."""

    row: int
    study: Path
    volume_ml: float
    poor_outcome: int | None = None
    split: str | None = None
    #: The ``study`` cell as written in the file (for messages and reports).
    study_text: str = ""
    #: Key of the preprocessed input in the cache, once :func:`build_cache` has stored it.
    cache_key: str | None = None

    @property
    def case_id(self) -> str:
        """A stable identifier of the case (the study as written; survives row reordering)."""
        return self.study_text or self.study.as_posix()


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one cell (or the whole row, column ``""``)."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column '{self.column}'" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ManifestReport:
    """The validated manifest: the usable rows, every problem found, and what was excluded."""

    path: Path
    rows: tuple[ManifestRow, ...]
    problems: tuple[RowProblem, ...] = ()
    excluded_rows: tuple[int, ...] = ()
    n_rows_in_file: int = 0
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_rows(self) -> tuple[int, ...]:
        return tuple(sorted({p.row for p in self.problems}))

    def summary(self) -> str:
        return (
            f"{self.path.name}: {self.n_rows_in_file} row(s), {len(self.rows)} usable, "
            f"{len(self.bad_rows)} with problems, {len(self.excluded_rows)} excluded"
        )

    def raise_for_problems(self) -> None:
        """Raise :class:`ManifestError` listing every problem, if there is any."""
        if not self.problems:
            if not self.rows:
                raise ManifestError(f"manifest {self.path} has no usable rows; add cases to it")
            return
        lines = [str(p) for p in self.problems]
        rows = ",".join(str(r) for r in self.bad_rows)
        raise ManifestError(
            f"manifest {self.path} has {len(self.problems)} problem(s) in {len(self.bad_rows)} "
            f"row(s):\n  " + "\n  ".join(lines) + f"\nFix these rows or exclude them explicitly "
            f"(--exclude-rows {rows}).",
            problems=self.problems,
        )

    def with_load_results(
        self, rows: Iterable[ManifestRow], problems: Iterable[RowProblem]
    ) -> ManifestReport:
        """A copy with the rows that loaded (and their cache keys) and the load problems added."""
        new_problems = tuple(problems)
        bad = {p.row for p in new_problems}
        kept = tuple(r for r in rows if r.row not in bad)
        merged = tuple(sorted(self.problems + new_problems, key=lambda p: p.row))
        return replace(self, rows=kept, problems=merged)


def _parse_volume(text: str) -> tuple[float | None, str | None]:
    if not text.strip():
        return None, "is empty; give the reference hematoma volume in ml"
    try:
        value = float(text)
    except ValueError:
        return None, f"'{text}' is not a number (ml)"
    if not math.isfinite(value):
        return None, f"'{text}' is not a finite number"
    if value < 0:
        return None, f"{value:g} ml is negative"
    if value > 500:
        return None, f"{value:g} ml is larger than any head; is it in mm³ instead of ml?"
    return value, None


def _parse_outcome(text: str) -> tuple[int | None, str | None]:
    t = text.strip()
    if not t:
        return None, None
    try:
        value = float(t)
    except ValueError:
        return None, f"'{text}' must be 0, 1 or empty"
    if value not in (0.0, 1.0):
        return None, f"'{text}' must be 0, 1 or empty"
    return int(value), None


def _parse_split(text: str) -> tuple[str | None, str | None]:
    t = text.strip().lower()
    if not t:
        return None, None
    t = _SPLIT_ALIASES.get(t, t)
    if t not in SPLITS:
        return None, f"'{text}' must be one of {', '.join(SPLITS)} or empty"
    return t, None



def read_csv_records(path: Path, what: str) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a UTF-8 CSV file (a BOM is allowed), column names stripped and
    lower-cased; :class:`ManifestError` naming ``what`` when it cannot be read as one."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            return header, list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{what} is not a readable UTF-8 CSV file ({exc})") from exc


def read_manifest(path: str | Path, *, exclude_rows: Iterable[int] = ()) -> ManifestReport:
    """Parse and check every row of a manifest (without loading the studies).

    Raises :class:`ManifestError` only when the file itself is unusable (missing, not a CSV,
    required columns absent); row problems are collected in the returned report.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist; give the path of a CSV file")
    excluded = {int(r) for r in exclude_rows}
    header, records = read_csv_records(path, f"manifest {path}")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(
            f"manifest {path} lacks the column(s) {', '.join(missing)}; its header is "
            f"{', '.join(header) or '(empty)'}. Required: study, volume_ml; optional: "
            "poor_outcome, split."
        )
    root = path.parent
    rows: list[ManifestRow] = []
    problems: list[RowProblem] = []
    seen: dict[Path, int] = {}
    for index, record in enumerate(records):
        row_no = index + 2
        if row_no in excluded:
            continue
        if None in record:  # more cells than header columns
            problems.append(RowProblem(row_no, "", "has more cells than the header has columns"))
            continue
        values = {k: (v or "") for k, v in record.items()}
        if not any(v.strip() for v in values.values()):
            continue  # blank line
        row_problems: list[RowProblem] = []
        study_text = values.get("study", "").strip()
        study = (root / study_text).resolve() if study_text else root
        if not study_text:
            row_problems.append(RowProblem(row_no, "study", "is empty; give a study folder/zip"))
        elif not study.exists():
            row_problems.append(RowProblem(row_no, "study", f"{study} does not exist"))
        elif study in seen:
            row_problems.append(
                RowProblem(row_no, "study", f"the same study is already on row {seen[study]}")
            )
        volume, msg = _parse_volume(values.get("volume_ml", ""))
        if msg:
            row_problems.append(RowProblem(row_no, "volume_ml", msg))
        outcome, msg = _parse_outcome(values.get("poor_outcome", ""))
        if msg:
            row_problems.append(RowProblem(row_no, "poor_outcome", msg))
        split, msg = _parse_split(values.get("split", ""))
        if msg:
            row_problems.append(RowProblem(row_no, "split", msg))
        if row_problems:
            problems.extend(row_problems)
            continue
        seen[study] = row_no
        assert volume is not None
        rows.append(ManifestRow(row_no, study, volume, outcome, split, study_text))
    unknown = sorted(excluded - set(range(2, len(records) + 2)))
    warnings = (f"excluded row(s) {unknown} are not in the file",) if unknown else ()
    report = ManifestReport(
        path=path,
        rows=tuple(rows),
        problems=tuple(problems),
        excluded_rows=tuple(sorted(excluded & set(range(2, len(records) + 2)))),
        n_rows_in_file=len(records),
        warnings=warnings,
    )
    log.info("%s", report.summary())
    return report


def write_manifest(path: str | Path, rows: Iterable[ManifestRow]) -> Path:
    """Write rows as a manifest CSV (study paths relative to its folder where possible)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["study", "volume_ml", "poor_outcome", "split"])
        for r in rows:
            try:
                study = r.study.relative_to(path.parent.resolve())
            except ValueError:
                study = r.study
            writer.writerow(
                [
                    study.as_posix(),
                    f"{r.volume_ml:.6g}",
                    "" if r.poor_outcome is None else r.poor_outcome,
                    r.split or "",
                ]
            )
    return path
