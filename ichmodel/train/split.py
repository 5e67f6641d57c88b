"""Study-level train/validation/test split, stratified by outcome, seeded, saved with the run.

Each study lands in exactly one part (there is one row per study, so no study can leak across
parts). Cases whose manifest fixes a ``split`` keep it; the rest are shuffled per outcome stratum
(0, 1 and "unknown") with the seed, so every part sees the same share of poor outcomes. The split
is written to the run folder as ``split.json`` and can be reused by later runs, which then
compare on the same validation set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ichmodel.errors import TrainingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Case identifiers in each part."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...] = ()
    seed: int = 0
    val_fraction: float = 0.2
    test_fraction: float = 0.0

    def part_of(self, case_id: str) -> str | None:
        for name in ("train", "val", "test"):
            if case_id in getattr(self, name):
                return name
        return None

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        for k in ("train", "val", "test"):
            d[k] = list(d[k])
        return d

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Split:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            return cls(
                train=tuple(d["train"]),
                val=tuple(d["val"]),
                test=tuple(d.get("test", ())),
                seed=int(d.get("seed", 0)),
                val_fraction=float(d.get("val_fraction", 0.2)),
                test_fraction=float(d.get("test_fraction", 0.0)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TrainingError(f"split file {path} is unreadable ({exc}); delete it or "
                                "point to another run's split.json") from exc


def make_split(
    case_ids: Sequence[str],
    outcomes: Sequence[int | None],
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    fixed: Mapping[str, str | None] | None = None,
) -> Split:
    """Split cases stratified by outcome; ``fixed`` maps case id -> "train"/"val"/"test"."""
    if len(case_ids) != len(outcomes):
        raise ValueError("case_ids and outcomes differ in length")
    if len(set(case_ids)) != len(case_ids):
        raise TrainingError("case identifiers are not unique; each study may appear only once")
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise TrainingError(
            f"split fractions val={val_fraction} test={test_fraction} must be in [0, 1) "
            "and leave cases for training"
        )
    fixed = dict(fixed or {})
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    strata: dict[str, list[str]] = {}
    for cid, outcome in zip(case_ids, outcomes, strict=True):
        part = fixed.get(cid)
        if part:
            parts[part].append(cid)
        else:
            strata.setdefault("unknown" if outcome is None else str(int(outcome)), []).append(cid)
    rng = np.random.default_rng(seed)
    for name in sorted(strata):
        ids = sorted(strata[name])
        order = rng.permutation(len(ids))
        ids = [ids[i] for i in order]
        n_val = int(round(len(ids) * val_fraction))
        n_test = int(round(len(ids) * test_fraction))
        if n_val + n_test >= len(ids) and len(ids) > 1:  # keep at least one for training
            n_val = min(n_val, len(ids) - 1)
            n_test = min(n_test, len(ids) - 1 - n_val)
        parts["val"].extend(ids[:n_val])
        parts["test"].extend(ids[n_val : n_val + n_test])
        parts["train"].extend(ids[n_val + n_test :])
    if not parts["val"] and val_fraction > 0 and len(parts["train"]) > 1:
        # Tiny data: stratum rounding gave nothing; move one case so validation exists.
        parts["val"].append(parts["train"].pop())
    split = Split(
        train=tuple(sorted(parts["train"])),
        val=tuple(sorted(parts["val"])),
        test=tuple(sorted(parts["test"])),
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
    log.info("split: %d train, %d val, %d test", len(split.train), len(split.val), len(split.test))
    return split


def reconcile_split(split: Split, case_ids: Sequence[str]) -> Split:
    """Check a saved split against the cases at hand: unknown ids are an error, new ones train."""
    known = set(split.train) | set(split.val) | set(split.test)
    current = set(case_ids)
    missing = sorted(known - current)
    if missing:
        raise TrainingError(
            f"the saved split names {len(missing)} case(s) not in this manifest "
            f"(first: {missing[0]}); use the manifest the split was made for, or a new run folder"
        )
    new = sorted(current - known)
    if new:
        log.warning("%d case(s) not in the saved split go to training", len(new))
    return Split(
        train=tuple(sorted(set(split.train) | set(new))),
        val=split.val,
        test=split.test,
        seed=split.seed,
        val_fraction=split.val_fraction,
        test_fraction=split.test_fraction,
    )
