"""Cases for training: cached inputs plus labels, and a reproducible batch order.

A :class:`Case` names a cached input (:class:`ichmodel.train.cache.CaseCache`) and its labels.
:class:`CaseDataset` serves ``(input float32 (1, z, y, x), size_mm, outcome)`` with outcome -1
where it is unknown. The batch order of an epoch is a pure function of ``(seed, epoch)``
(:func:`epoch_batches`), so a resumed run replays exactly the batches the killed one would have.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ichmodel.labels import LabelTransform
from ichmodel.train.cache import CaseCache
from ichmodel.train.manifest import ManifestReport

#: Outcome label used where a case has none (ignored by the outcome loss).
NO_OUTCOME = -1


@dataclass(frozen=True)
class Case:
    """One training/evaluation case: where its preprocessed input is, and its labels."""

    case_id: str
    cache_key: str
    volume_ml: float
    poor_outcome: int | None = None
    split: str | None = None


def cases_from_report(report: ManifestReport) -> list[Case]:
    """The cached rows of a manifest report (run :func:`build_cache` first)."""
    cases = []
    for row in report.rows:
        if row.cache_key is None:
            raise ValueError(f"row {row.row} is not cached yet; build the cache first")
        cases.append(Case(row.case_id, row.cache_key, row.volume_ml, row.poor_outcome, row.split))
    return cases


#: Hematoma share used where a case has no mask (ignored by the localization loss).
NO_HEMATOMA_MAP = -1.0


class CaseDataset(Dataset):
    """Cached inputs + labels; items are ``(x, size_mm, outcome, index)`` tensors.

    ``size_mm`` is the target of the network's size output under ``label_transform`` (the
    model's; by default the paper's cube root). With ``with_hematoma`` each item also ends with
    the case's hematoma share per input voxel (1, z, y, x), filled with
    :data:`NO_HEMATOMA_MAP` where the cache holds no mask.
    """

    def __init__(
        self,
        cache: CaseCache,
        cases: Sequence[Case],
        *,
        label_transform: LabelTransform | None = None,
        with_hematoma: bool = False,
    ) -> None:
        self.cache = cache
        self.cases = list(cases)
        self.label_transform = label_transform or LabelTransform()
        self.with_hematoma = with_hematoma
        #: Each case's model-input voxel volume (mm^3), where the label transform needs it.
        self.voxel_mm3: np.ndarray | None = None
        if self.label_transform.needs_voxel_volume:
            volumes = [cache.voxel_mm3(c.cache_key) for c in self.cases]
            missing = [c.case_id for c, v in zip(self.cases, volumes, strict=True) if v is None]
            if missing:
                raise ValueError(
                    f"{len(missing)} cached case(s) do not record their voxel size, which this "
                    f"model needs to convert sizes to ml (first: {missing[0]}); build the cache "
                    "again with this ichmodel"
                )
            self.voxel_mm3 = np.array(volumes, dtype=np.float64)

    def target_size_mm(self, index: int) -> float:
        """The network-space size target of case ``index``."""
        voxel = None if self.voxel_mm3 is None else float(self.voxel_mm3[index])
        return float(self.label_transform.to_size_mm(self.cases[index].volume_ml, voxel))

    def to_ml(self, size_mm: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """Network-space sizes of the cases at ``indices`` as volumes in ml."""
        voxel = None if self.voxel_mm3 is None else self.voxel_mm3[np.asarray(indices)]
        return np.asarray(self.label_transform.to_ml(np.asarray(size_mm, np.float64), voxel))

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, index: int) -> tuple:
        case = self.cases[index]
        x = torch.from_numpy(np.asarray(self.cache.get(case.cache_key), dtype=np.float32))
        size = torch.tensor(self.target_size_mm(index), dtype=torch.float32)
        label = NO_OUTCOME if case.poor_outcome is None else int(case.poor_outcome)
        item = (x, size, torch.tensor(label, dtype=torch.int64), index)
        if not self.with_hematoma:
            return item
        share = self.cache.hematoma(case.cache_key)
        hematoma = (torch.full_like(x, NO_HEMATOMA_MAP) if share is None
                    else torch.from_numpy(share))
        return (*item, hematoma)

    def labels(self) -> np.ndarray:
        return np.array(
            [NO_OUTCOME if c.poor_outcome is None else c.poor_outcome for c in self.cases]
        )


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The shuffled batches of one epoch, a pure function of (seed, epoch).

    A lone last case joins the previous batch (BatchNorm cannot train on a batch of one).
    """
    if n == 0:
        return []
    order = np.random.default_rng([int(seed), int(epoch), 0xBA7C]).permutation(n)
    batches = [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2].extend(batches.pop())
    return batches


def ordered_batches(n: int, batch_size: int) -> list[list[int]]:
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]


def steps_per_epoch(n: int, batch_size: int) -> int:
    steps = math.ceil(n / batch_size) if n else 0
    return steps - 1 if steps > 1 and n % batch_size == 1 else steps


class _FixedBatches(Sampler[list[int]]):
    def __init__(self, batches: Sequence[Sequence[int]]) -> None:
        self.batches = [list(b) for b in batches]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def default_num_workers(device: torch.device) -> int:
    """Loader processes: none on CPU (the cores are busy computing), several for a GPU."""
    if device.type != "cuda":
        return 0
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def make_loader(
    dataset: CaseDataset,
    batches: Iterable[Sequence[int]],
    *,
    device: torch.device,
    num_workers: int | None = None,
) -> DataLoader:
    """A DataLoader that yields exactly ``batches`` in order (pinned memory on CUDA)."""
    workers = default_num_workers(device) if num_workers is None else num_workers
    return DataLoader(
        dataset,
        batch_sampler=_FixedBatches(list(batches)),
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers > 0 else None,
    )
