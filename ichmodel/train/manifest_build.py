"""A manifest from a folder of studies and a CSV of their labels (``ichmodel manifest build``).

Sites keep one study per sub-folder (or zip, or DICOMDIR folder) and their reference volumes in
a spreadsheet; :func:`build_manifest` pairs the two and writes the manifest that
:func:`ichmodel.train.manifest.read_manifest` checks. The trainer dialog's "Build from folder +
CSV" calls the same function. Label rows that name no study are problems with their row number
and column (:class:`~ichmodel.train.manifest.RowProblem`), never flattened to text.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from ichmodel.errors import ManifestError
from ichmodel.train.manifest import ManifestReport, RowProblem, read_csv_records, read_manifest

log = logging.getLogger(__name__)

#: Column names accepted for the case identifier of a label CSV (first match wins).
ID_COLUMNS = ("study", "case", "case_id", "folder", "name", "id")
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("study", "volume_ml", "poor_outcome", "split")


@dataclass(frozen=True)
class ManifestBuild:
    """What :func:`build_manifest` wrote and what it could not pair."""

    path: Path
    n_rows: int
    #: Studies in the folder that no label row names (by folder/zip name).
    unmatched_studies: tuple[str, ...] = ()
    #: Identifiers of label rows that name no study in the folder.
    unmatched_labels: tuple[str, ...] = ()
    #: The same label rows as problems of the label CSV (its row numbers, header = row 1).
    label_problems: tuple[RowProblem, ...] = ()

    def summary(self) -> str:
        text = f"wrote {self.path} with {self.n_rows} case(s)"
        if self.unmatched_studies:
            text += (
                f"; {len(self.unmatched_studies)} stud(ies) without a label row: "
                + ", ".join(self.unmatched_studies[:8])
                + (" ..." if len(self.unmatched_studies) > 8 else "")
            )
        if self.unmatched_labels:
            text += (
                f"; {len(self.unmatched_labels)} label row(s) without a study: "
                + ", ".join(self.unmatched_labels[:8])
                + (" ..." if len(self.unmatched_labels) > 8 else "")
            )
        return text

    def validate(self) -> ManifestReport:
        """The written manifest, checked row by row (:func:`read_manifest`)."""
        return read_manifest(self.path)


def _study_entries(folder: Path) -> dict[str, Path]:
    """Candidate studies in ``folder``: sub-folders and zip files, by name and by stem."""
    entries: dict[str, Path] = {}
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir() or child.suffix.lower() == ".zip":
            entries[child.name] = child
            entries.setdefault(child.stem, child)
    return entries


def build_manifest(
    folder: str | Path, labels_csv: str | Path, out_path: str | Path | None = None
) -> ManifestBuild:
    """Write a manifest pairing the studies in ``folder`` with the rows of ``labels_csv``.

    ``labels_csv`` needs a case identifier column (one of :data:`ID_COLUMNS`, matched against
    the names of ``folder``'s sub-folders or zip files, with or without ``.zip``) and
    ``volume_ml``; ``poor_outcome`` and ``split`` are copied when present. The manifest goes to
    ``out_path`` (default ``folder/manifest.csv``) with study paths relative to it where they can
    be. Cells are copied as written; :meth:`ManifestBuild.validate` checks them afterwards.
    Raises :class:`ManifestError` when the folder or the CSV cannot be used, or no row pairs.
    """
    folder = Path(folder)
    labels_csv = Path(labels_csv)
    if not folder.is_dir():
        raise ManifestError(f"{folder} is not a folder; choose the folder holding the studies")
    if not labels_csv.is_file():
        raise ManifestError(f"label file {labels_csv} does not exist; choose a CSV file")
    header, records = read_csv_records(labels_csv, str(labels_csv))
    id_column = next((c for c in ID_COLUMNS if c in header), None)
    if id_column is None or "volume_ml" not in header:
        raise ManifestError(
            f"{labels_csv} needs a case column (one of {', '.join(ID_COLUMNS)}) and a volume_ml "
            f"column; its header is {', '.join(header) or '(empty)'}"
        )
    entries = _study_entries(folder)
    out = Path(out_path) if out_path is not None else folder / MANIFEST_NAME
    rows: list[list[str]] = []
    unmatched: list[RowProblem] = []
    names: list[str] = []
    used: set[Path] = set()
    for index, record in enumerate(records):
        key = (record.get(id_column) or "").strip()
        if not key and not any((v or "").strip() for v in record.values()):
            continue  # blank line
        study = entries.get(key) or entries.get(Path(key).name)
        if study is None:
            names.append(key or "(empty)")
            unmatched.append(RowProblem(index + 2, id_column,
                                        f"'{key}' names no sub-folder or zip in {folder}"))
            continue
        used.add(study)
        try:
            relative = study.resolve().relative_to(out.parent.resolve()).as_posix()
        except ValueError:
            relative = str(study.resolve())
        rows.append([relative] + [(record.get(c) or "").strip() for c in MANIFEST_COLUMNS[1:]])
    if not rows:
        raise ManifestError(
            f"no row of {labels_csv} names a study in {folder} (column '{id_column}' must hold "
            "the sub-folder or zip names); nothing was written"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(rows)
    unmatched_studies = sorted({p.name for p in entries.values() if p not in used})
    build = ManifestBuild(out, len(rows), tuple(unmatched_studies), tuple(names),
                          tuple(unmatched))
    log.info("%s", build.summary())
    return build
