"""Qt-free helpers of the trainer dialog: a manifest from a folder + a CSV, and the curves' data.

* :func:`build_manifest_from_folder` pairs the studies in a folder (sub-folders, zips,
  DICOMDIRs) with the rows of a label CSV and writes an ``ichmodel`` manifest next to them.
* :class:`TrainingCurves` accumulates the training loop's progress events
  (``stage="train"`` per step, ``stage="validate"`` per epoch) into the series the dialog plots:
  train loss, validation loss, validation MAE (ml) and AUC, and the latest ETA.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ichmodel.errors import ManifestError
from ichmodel.progress import Progress

log = logging.getLogger(__name__)

#: Column names accepted for the case identifier of a label CSV (first match wins).
ID_COLUMNS = ("study", "case", "case_id", "folder", "name", "id")
MANIFEST_NAME = "manifest.csv"


@dataclass(frozen=True)
class ManifestBuild:
    """What :func:`build_manifest_from_folder` wrote and what it could not pair."""

    path: Path
    n_rows: int
    unmatched_studies: tuple[str, ...] = ()
    unmatched_labels: tuple[str, ...] = ()

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


def build_manifest_from_folder(
    folder: str | Path, labels_csv: str | Path, out_path: str | Path | None = None
) -> ManifestBuild:
    """Write a manifest pairing the studies in ``folder`` with the rows of ``labels_csv``.

    ``labels_csv`` needs a case identifier column (one of :data:`ID_COLUMNS`, matched against
    the names of ``folder``'s sub-folders or zip files, with or without ``.zip``) and
    ``volume_ml``; ``poor_outcome`` and ``split`` are copied when present. The manifest goes to
    ``out_path`` (default ``folder/manifest.csv``) with study paths relative to it where they can
    be. Cells are copied as written; the manifest validator checks them afterwards.
    """
    folder = Path(folder)
    labels_csv = Path(labels_csv)
    if not folder.is_dir():
        raise ManifestError(f"{folder} is not a folder; choose the folder holding the studies")
    if not labels_csv.is_file():
        raise ManifestError(f"label file {labels_csv} does not exist; choose a CSV file")
    try:
        with labels_csv.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            records = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{labels_csv} is not a readable UTF-8 CSV file ({exc})") from exc
    id_column = next((c for c in ID_COLUMNS if c in header), None)
    if id_column is None or "volume_ml" not in header:
        raise ManifestError(
            f"{labels_csv} needs a case column (one of {', '.join(ID_COLUMNS)}) and a volume_ml "
            f"column; its header is {', '.join(header) or '(empty)'}"
        )
    entries = _study_entries(folder)
    out = Path(out_path) if out_path is not None else folder / MANIFEST_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, unmatched_labels, used = [], [], set()
    for record in records:
        key = (record.get(id_column) or "").strip()
        if not key and not any((v or "").strip() for v in record.values()):
            continue
        study = entries.get(key) or entries.get(Path(key).name)
        if study is None:
            unmatched_labels.append(key or "(empty)")
            continue
        used.add(study)
        try:
            relative = study.resolve().relative_to(out.parent.resolve()).as_posix()
        except ValueError:
            relative = str(study.resolve())
        rows.append(
            [
                relative,
                (record.get("volume_ml") or "").strip(),
                (record.get("poor_outcome") or "").strip(),
                (record.get("split") or "").strip(),
            ]
        )
    if not rows:
        raise ManifestError(
            f"no row of {labels_csv} names a study in {folder} (column '{id_column}' must hold "
            "the sub-folder or zip names); nothing was written"
        )
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["study", "volume_ml", "poor_outcome", "split"])
        writer.writerows(rows)
    unmatched_studies = sorted({p.name for p in entries.values() if p not in used})
    build = ManifestBuild(out, len(rows), tuple(unmatched_studies), tuple(unmatched_labels))
    log.info("%s", build.summary())
    return build


def format_eta(seconds: float | None) -> str:
    """Seconds as "1 h 02 min", "3 min 05 s" or "12 s"; "" when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def _number(metrics: Mapping[str, float], *names: str) -> float | None:
    for name in names:
        value = metrics.get(name)
        if value is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                return number
    return None


@dataclass
class TrainingCurves:
    """The series the dialog plots, x in epochs (fractional during an epoch)."""

    #: Per optimizer step: the batch's loss (noisy).
    step_x: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    #: Per epoch: the epoch's mean training loss and the validation numbers.
    train_x: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_x: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    mae_x: list[float] = field(default_factory=list)
    val_mae_ml: list[float] = field(default_factory=list)
    auc_x: list[float] = field(default_factory=list)
    val_auc: list[float] = field(default_factory=list)
    eta_s: float | None = None
    epoch: float | None = None
    #: The run's planned epochs: lets per-step points sit at fractional epochs.
    epochs: int | None = None
    last_message: str = ""

    def add(self, event: Progress) -> bool:
        """Take one progress event; True when a plotted series changed."""
        m = event.metrics or {}
        self.last_message = event.message or self.last_message
        eta = _number(m, "eta_s")
        if eta is not None:
            self.eta_s = eta
        epoch = _number(m, "epoch")
        if epoch is not None:
            self.epoch = epoch
        if event.stage == "train":
            loss = _number(m, "batch_loss", "train_loss", "loss")
            step = _number(m, "step")
            if loss is None or (epoch is None and step is None):
                return False
            if step is not None and event.total and self.epochs:
                x = step * self.epochs / float(event.total)  # epochs done, fractional
            else:
                x = epoch if epoch is not None else float(len(self.step_x) + 1)
            self.step_x.append(x)
            self.step_loss.append(loss)
            return True
        if event.stage == "validate":
            changed = False
            x = epoch if epoch is not None else float(len(self.val_x) + 1)
            for xs, ys, names in (
                (self.train_x, self.train_loss, ("train_loss",)),
                (self.val_x, self.val_loss, ("val_loss",)),
                (self.mae_x, self.val_mae_ml, ("val_mae_ml", "mae_ml")),
                (self.auc_x, self.val_auc, ("val_auc", "auc")),
            ):
                value = _number(m, *names)
                if value is not None:
                    xs.append(x)
                    ys.append(value)
                    changed = True
            return changed
        return False

    @property
    def last_validation(self) -> dict[str, float]:
        out = {}
        if self.val_loss:
            out["val_loss"] = self.val_loss[-1]
        if self.val_mae_ml:
            out["val_mae_ml"] = self.val_mae_ml[-1]
        if self.val_auc:
            out["val_auc"] = self.val_auc[-1]
        return out
