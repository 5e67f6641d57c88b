"""Phantom generator benchmark: time per case and the dataset's volume distribution.

Usage::

    .venv/bin/python bench/phantom_bench.py [--cases 100] [--seed 1000] [--size 256]

Prints wall and CPU seconds per case (overall and per slice thickness) and the distribution of
sites, true volumes, IVH and the proxy outcome, for ``make_phantom`` at the given config
(default: the training default, PhantomConfig()). Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ichmodel.phantom import PhantomConfig, case_seed, make_phantom  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1000, help="dataset seed (not a test seed)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--slice-thickness", type=float, default=None)
    args = parser.parse_args()
    config = PhantomConfig(size=args.size, slice_thickness_mm=args.slice_thickness)
    make_phantom(0, PhantomConfig(size=64))  # warm-up (imports, caches)
    rows = []
    by_thickness: dict[float, list[tuple[float, float]]] = defaultdict(list)
    t_start = time.perf_counter()
    for i in range(args.cases):
        w0, c0 = time.perf_counter(), time.process_time()
        p = make_phantom(case_seed(args.seed, i), config)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        thickness = p.volume.spacing_mm[0]
        by_thickness[thickness].append((wall, cpu))
        rows.append((p.site, p.hematoma_volume_ml, p.poor_outcome, p.ivh, p.ivh_volume_ml, wall))
    total = time.perf_counter() - t_start

    walls = np.array([r[5] for r in rows])
    print(f"{args.cases} phantoms, size {args.size}, {total:.1f} s wall in all")
    print(f"time per case: mean {walls.mean():.3f} s wall, median {np.median(walls):.3f} s")
    print("slice thickness  n   wall s/case  cpu s/case")
    for t in sorted(by_thickness):
        arr = np.array(by_thickness[t])
        print(
            f"  {t:4.2f} mm     {len(arr):4d}   {arr[:, 0].mean():8.3f}   {arr[:, 1].mean():8.3f}"
        )
    sites = [r[0] for r in rows]
    vols = np.array([r[1] for r in rows])
    bleeds = vols[vols > 0]
    print(
        "sites: "
        + ", ".join(f"{s} {sites.count(s)}" for s in ("none", "deep", "lobar", "infratentorial"))
    )
    if bleeds.size:
        q = np.percentile(bleeds, [0, 10, 25, 50, 75, 90, 100])
        print(
            "bleed volume ml: min {:.1f} p10 {:.1f} p25 {:.1f} median {:.1f} p75 {:.1f} "
            "p90 {:.1f} max {:.1f}".format(*q)
        )
        hist, edges = np.histogram(bleeds, bins=[0, 5, 10, 20, 30, 45, 60, 90, 200])
        print(
            "histogram: "
            + ", ".join(
                f"{int(a)}-{int(b)} ml: {n}"
                for a, b, n in zip(edges[:-1], edges[1:], hist, strict=True)
            )
        )
    print(
        f">= 30 ml: {(vols >= 30).sum()}, >= 60 ml: {(vols >= 60).sum()}, "
        f"poor outcome (proxy): {sum(r[2] for r in rows)}, "
        f"IVH: {sum(r[3] for r in rows)} "
        f"(mean {np.mean([r[4] for r in rows if r[3]] or [0]):.1f} ml)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
