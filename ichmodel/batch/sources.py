"""Which jobs a cohort run has: one per study folder of a tree, or one per manifest row.

A *job* is the unit of resuming and sharding: a folder or archive whose studies are read by one
worker; a folder holding several studies gives several rows. Jobs are
sorted by key, so shards and resumed runs see the same order on every machine.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ichmodel.errors import InputError


@dataclass(frozen=True)
class BatchJob:
    """One folder, archive or file list to read; ``key`` names it stably (its path relative to
    the cohort root, or the manifest's ``study`` cell)."""

    key: str
    paths: tuple[Path, ...]

    @property
    def source(self) -> Path | list[Path]:
        return self.paths[0] if len(self.paths) == 1 else list(self.paths)


def discover_jobs(source: Path) -> tuple[BatchJob, ...]:
    """The jobs of a cohort: a manifest CSV's rows, or a folder's subfolders and .zip files
    (each a job; a folder without subfolders is itself one job)."""
    if not source.exists():
        raise InputError(f"{source} does not exist; give a cohort folder or a manifest CSV")
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise InputError(f"{source.name} is not a folder or a .csv manifest")
        return _manifest_jobs(source)
    children = sorted(p for p in source.iterdir() if not p.name.startswith("."))
    folders = [p for p in children if p.is_dir()]
    if not folders:  # the folder is one study
        return (BatchJob(".", (source,)),) if children else ()
    # zips beside the study folders are studies too; other loose files (a manifest, notes) are
    # not read
    archives = [p for p in children if p.is_file() and p.suffix.lower() == ".zip"]
    return tuple(sorted((BatchJob(p.name, (p,)) for p in folders + archives),
                        key=lambda j: j.key))


def _manifest_jobs(manifest: Path) -> tuple[BatchJob, ...]:
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "study" not in reader.fieldnames:
                raise InputError(f"{manifest.name} has no 'study' column; add one (see README)")
            cells = [(row.get("study") or "").strip() for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read the manifest {manifest.name}: {exc}") from exc
    problems = [f"row {i + 2}: empty study" for i, cell in enumerate(cells) if not cell]
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        if cell and cell in seen:
            problems.append(f"row {i + 2}: {cell} is listed twice")
        seen.add(cell)
    if problems:
        raise InputError(f"{manifest.name}: " + "; ".join(problems[:10]))
    return tuple(sorted((BatchJob(c, (manifest.parent / c,)) for c in cells),
                        key=lambda j: j.key))


def shard(jobs: tuple[BatchJob, ...], num_parts: int, part_id: int) -> tuple[BatchJob, ...]:
    """Every ``num_parts``-th job from ``part_id`` on: the parts are disjoint and add up."""
    return jobs[part_id::num_parts]
