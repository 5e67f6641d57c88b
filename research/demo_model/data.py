"""The ``data`` stage: train/val and held-out phantoms, cached as model inputs and pinned.

``cases.json`` in the work folder pins the case lists (the phantom code may change; a cache key
covers the generator version, so a changed generator regenerates rather than reuses).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichmodel.progress import run_to_completion
from ichmodel.train.cache import CaseCache
from ichmodel.train.dataset import Case
from ichmodel.train.phantom_cases import cache_phantoms
from research.demo_model.logs import progress_logger
from research.demo_model.scale import (
    SCALES,
    TAIL_SEED0,
    TEST_SEED0,
    TRAIN_SEED0,
    Scale,
    phantom_config,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataPlan:
    """Which phantoms a run trains and is tested on, and where their inputs are cached."""

    work: Path
    scale: Scale
    n_train: int
    n_test: int
    #: Extra large-bleed training phantoms (seeds from TAIL_SEED0).
    n_tail: int = 0
    #: Processes generating phantoms.
    workers: int = 1

    @property
    def train_seeds(self) -> range:
        return range(TRAIN_SEED0, TRAIN_SEED0 + self.n_train)

    @property
    def tail_seeds(self) -> range:
        return range(TAIL_SEED0, TAIL_SEED0 + self.n_tail)

    @property
    def test_seeds(self) -> range:
        return range(TEST_SEED0, TEST_SEED0 + self.n_test)

    def cache(self) -> CaseCache:
        return CaseCache(self.work / "cache", self.scale.preprocess_config)


def _cache_chunk(work: str, scale_name: str, seeds: list[int], large_bleeds: bool) -> list[dict]:
    """Worker process: generate and cache one chunk of phantoms (one torch thread)."""
    import torch

    torch.set_num_threads(1)
    scale = SCALES[scale_name]
    cache = CaseCache(Path(work) / "cache", scale.preprocess_config)
    config = phantom_config(scale, large_bleeds=large_bleeds)
    return [dataclasses.asdict(c) for c in run_to_completion(cache_phantoms(seeds, cache, config))]


def make_cases(plan: DataPlan, cache: CaseCache, seeds: range, *,
               large_bleeds: bool = False) -> list[Case]:
    """Cases of ``seeds`` (cached, generated where missing), in ``plan.workers`` processes."""
    if not seeds:
        return []
    config = phantom_config(plan.scale, large_bleeds=large_bleeds)
    if plan.workers <= 1:
        return run_to_completion(cache_phantoms(seeds, cache, config), progress_logger())
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [list(seeds[i : i + 8]) for i in range(0, len(seeds), 8)]
    cases: list[Case] = []
    # spawn: the workers must not inherit a parent that may already hold a CUDA context
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(plan.workers, mp_context=context) as pool:
        done_chunks = pool.map(_cache_chunk, [str(plan.work)] * len(chunks),
                               [plan.scale.name] * len(chunks), chunks,
                               [large_bleeds] * len(chunks))
        for i, done in enumerate(done_chunks):
            cases += [Case(**d) for d in done]
            if (i + 1) % max(1, len(chunks) // 10) == 0:
                log.info("data: %d/%d phantoms", len(cases), len(seeds))
    return cases


def stage_data(plan: DataPlan, cache: CaseCache, *,
               need_train: bool = True) -> tuple[list[Case], list[Case]]:
    """Cached train/val and held-out cases, pinned in ``cases.json``.

    Without ``need_train`` (finalize of a run trained elsewhere) only the held-out phantoms
    are made; the train list is still read from the pinned file when there is one.
    """
    pinned = plan.work / "cases.json"
    n_train = plan.n_train + plan.n_tail
    if pinned.is_file():
        saved = json.loads(pinned.read_text())
        train_cases = [Case(**c) for c in saved["train"]][:n_train]
        test_cases = [Case(**c) for c in saved["test"]][: plan.n_test]
        wanted = (train_cases if need_train else []) + test_cases
        complete = len(train_cases) == n_train and len(test_cases) == plan.n_test
        if complete and all(cache.has(c.cache_key) for c in wanted):
            log.info("data: %d + %d cases pinned in %s", len(train_cases), len(test_cases), pinned)
            return train_cases, test_cases
    t = time.time()
    train_cases = []
    if need_train:
        train_cases = make_cases(plan, cache, plan.train_seeds)
        train_cases += make_cases(plan, cache, plan.tail_seeds, large_bleeds=True)
    test_cases = make_cases(plan, cache, plan.test_seeds)
    if not need_train:
        return train_cases, test_cases
    volumes = np.array([c.volume_ml for c in train_cases])
    log.info(
        "data: %d train/val + %d test phantoms in %.0f s; volumes median %.1f ml, max %.1f, "
        "poor outcome %.0f %%",
        len(train_cases), len(test_cases), time.time() - t, np.median(volumes), volumes.max(),
        100 * np.mean([c.poor_outcome for c in train_cases]),
    )
    pinned.write_text(json.dumps({"train": [dataclasses.asdict(c) for c in train_cases],
                                  "test": [dataclasses.asdict(c) for c in test_cases]}))
    return train_cases, test_cases
