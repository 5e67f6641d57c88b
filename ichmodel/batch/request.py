"""What a batch run is asked to do, and what it reports at the end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ichmodel.errors import InputError

#: What each study gets: the classical measurement, and optionally the model.
WHAT: tuple[str, ...] = ("measure", "predict")
BACKENDS: tuple[str, ...] = ("process", "dask", "ray")
OUTPUT_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")


@dataclass(frozen=True)
class BatchRequest:
    """A cohort run. ``source`` is a folder tree (every study under it) or a manifest CSV with a
    ``study`` column (paths relative to the CSV). ``out`` ends in .csv or .parquet.

    ``jobs`` worker processes (1: in this process); ``num_parts``/``part_id`` keep every
    ``num_parts``-th job starting at ``part_id`` (shards of one cohort for array jobs);
    ``scheduler`` a Dask scheduler (``tcp://…``) or Ray cluster (``ray://…``) address.
    """

    source: Path
    out: Path
    what: tuple[str, ...] = ("measure",)
    jobs: int = 1
    backend: str = "process"
    scheduler: str | None = None
    num_parts: int = 1
    part_id: int = 0
    resume: bool = False
    device: str = "cpu"
    checkpoint: Path | None = None
    hu_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        unknown = [w for w in self.what if w not in WHAT]
        if unknown or not self.what:
            raise InputError(f"--what takes a comma list of {', '.join(WHAT)}, got {self.what}")
        if "measure" not in self.what:
            raise InputError("--what must include measure (every row holds the measurement)")
        if self.backend not in BACKENDS:
            raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, not {self.backend}")
        if self.jobs < 1:
            raise InputError(f"--jobs must be 1 or more, got {self.jobs}")
        if self.num_parts < 1 or not 0 <= self.part_id < self.num_parts:
            raise InputError(
                f"--part-id must be in 0..{self.num_parts - 1} for --num-parts {self.num_parts},"
                f" got {self.part_id}"
            )
        if self.out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise InputError(f"--out must end in .csv or .parquet, got {self.out.name}")
        if self.scheduler and self.backend == "process":
            raise InputError("--scheduler needs --backend dask or ray")

    @property
    def predicts(self) -> bool:
        return "predict" in self.what

    @property
    def rows_log(self) -> Path:
        """The append-only log of finished rows beside ``out`` (what ``resume`` reads)."""
        return self.out.with_name(f".{self.out.name}.rows.jsonl")


@dataclass(frozen=True)
class BatchSummary:
    """How a run ended: studies done/failed/skipped (already done, on resume), rate, output."""

    out: Path
    n_jobs: int
    n_rows: int
    n_failed: int
    n_skipped: int
    seconds: float

    @property
    def studies_per_minute(self) -> float:
        done = self.n_jobs - self.n_skipped
        return 60.0 * done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "out": str(self.out),
            "jobs": self.n_jobs,
            "rows": self.n_rows,
            "failed": self.n_failed,
            "skipped": self.n_skipped,
            "seconds": round(self.seconds, 2),
            "studies_per_minute": round(self.studies_per_minute, 2),
        }
