"""Real anatomy for bench/measure_eval.py: synthetic bleeds inserted into a real head CT.

The background (the GE head of ../shared/data/dcm_qa_ct) is TEST data: nothing is tuned on
it. Insertion seeds are fixed (default 300000 + i); the measurement was developed on phantom
seeds 200000+ and on GE insertions with seeds 400000+, never on these.

Re-scans (:mod:`ichmodel.phantom.rescan`: the bleed-free head moved rigidly, with noise of
its own) test what must hold on every position of a bleed-free head: no blood. Seeds
310000 + i (fixed before any tuning); development used 410000+.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ichmodel.measure import Measurement, measure
from ichmodel.phantom.insert import (
    INSERT_SITES,
    BleedRequest,
    HeadAnalysis,
    Inserted,
    InsertionError,
    analyse_head,
    insert_hematomas,
)
from ichmodel.phantom.rescan import rescan
from ichmodel.volume import Volume


@dataclass
class RealCase:
    seed: int
    sites: tuple[str, ...]
    truth_ml: float  # the first bleed's truth
    pv_ml: float  # measured (partial volume) of the hematomas on the first bleed
    threshold_ml: float
    total_minus_original_ml: float  # PV total of the study minus that of the original head
    truth_total_ml: float
    dice: float
    seconds: float
    alone_pv_ml: float | None = None  # two-bleed cases: the first bleed measured alone


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def matched_ml(m: Measurement, truth: np.ndarray) -> tuple[float, float]:
    """(partial-volume ml, threshold ml) of the measured hematomas lying on ``truth`` (bool):
    each measured hematoma with at least half its voxels on the truth counts."""
    if m.hematoma_labels is None:
        return 0.0, 0.0
    pv = thr = 0.0
    for h in m.hematomas:
        own = m.hematoma_labels == h.number
        if np.count_nonzero(own & truth) >= 0.5 * np.count_nonzero(own):
            pv += h.volume_ml
            thr += h.threshold_volume_ml
    return pv, thr


def _bleed_mask(ins: Inserted, index: int) -> np.ndarray:
    return (ins.labels == index) & (ins.fraction >= 0.5)


@dataclass(frozen=True)
class Insertion:
    """One evaluation case: the bleeds asked for, inserted with ``seed``."""

    index: int
    seed: int
    requests: tuple[BleedRequest, ...]
    inserted: Inserted

    @property
    def two(self) -> bool:
        return len(self.requests) > 1


def insertions(
    volume: Volume, n_cases: int, first_seed: int, two_bleed_every: int = 4,
    head: HeadAnalysis | None = None,
) -> Iterator[Insertion]:
    """The cases of :func:`run_real` (the model bench inserts the same ones): case ``i``
    has seed ``first_seed + i``, a bleed at site ``INSERT_SITES[i % 5]`` of a log-uniform
    1-40 ml and, every ``two_bleed_every``-th, a second one of 8-25 ml two sites on."""
    head = head if head is not None else analyse_head(volume)
    for i in range(n_cases):
        seed = first_seed + i
        rng = np.random.default_rng(seed)
        site = INSERT_SITES[i % len(INSERT_SITES)]
        ml = float(math.exp(rng.uniform(math.log(1.0), math.log(40.0))))
        requests = [BleedRequest(site, ml)]
        if two_bleed_every > 0 and i % two_bleed_every == two_bleed_every - 1:
            other = INSERT_SITES[(i + 2) % len(INSERT_SITES)]
            requests.append(BleedRequest(other, float(rng.uniform(8.0, 25.0))))
        try:
            ins = insert_hematomas(volume, requests, seed=seed, head=head)
        except InsertionError:
            if len(requests) == 1:
                raise
            # no room for the second bleed apart from the first (touching, they are one
            # region): the case is a single bleed
            requests = requests[:1]
            ins = insert_hematomas(volume, requests, seed=seed, head=head)
        yield Insertion(i, seed, tuple(requests), ins)


def run_real(
    volume: Volume, n_cases: int, first_seed: int, two_bleed_every: int = 4
) -> tuple[list[RealCase], Measurement, float]:
    """Insert and measure ``n_cases`` studies; returns them, the original's measurement and
    its CPU seconds."""
    t0 = time.process_time()
    original = measure(volume)
    original_s = time.process_time() - t0
    head = analyse_head(volume)
    cases = []
    for case in insertions(volume, n_cases, first_seed, two_bleed_every, head):
        seed, requests, ins = case.seed, case.requests, case.inserted
        t1 = time.process_time()
        m = measure(ins.volume)
        seconds = time.process_time() - t1
        first = _bleed_mask(ins, 1)
        pv, thr = matched_ml(m, first)
        alone = None
        if case.two:
            solo = insert_hematomas(volume, list(requests[:1]), seed=seed, head=head)
            alone = matched_ml(measure(solo.volume), _bleed_mask(solo, 1))[0]
        cases.append(
            RealCase(
                seed=seed,
                sites=tuple(r.site for r in requests),
                truth_ml=ins.bleeds[0].volume_ml,
                pv_ml=pv,
                threshold_ml=thr,
                total_minus_original_ml=m.hematoma_volume_ml - original.hematoma_volume_ml,
                truth_total_ml=ins.volume_ml,
                dice=_dice(m.hematoma_mask, ins.mask),
                seconds=seconds,
                alone_pv_ml=alone,
            )
        )
    return cases, original, original_s


@dataclass
class RescanCase:
    seed: int
    hematoma_ml: float  # all of it false: the head has no bleed
    ivh_ml: float
    n_hematomas: int


def run_rescans(volume: Volume, n_cases: int, first_seed: int) -> list[RescanCase]:
    """Measure ``n_cases`` re-scans of the bleed-free ``volume``."""
    cases = []
    for i in range(n_cases):
        m = measure(rescan(volume, first_seed + i).volume)
        cases.append(RescanCase(first_seed + i, m.hematoma_volume_ml, m.ivh_volume_ml,
                                len(m.hematomas)))
    return cases
