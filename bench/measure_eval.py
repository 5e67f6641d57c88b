"""Evaluate the classical measurement (ichmodel.measure) on fresh synthetic phantoms.

Generates phantoms with seeds that no test uses (>= 100000), measures each one from its image
alone and compares with the phantom's ground truth:

* planimetric (intraparenchymal) volume: MAE, MAPE, mean signed error, Dice of the mask;
* all blood (hematoma + intraventricular): MAE and Dice, which judges the segmentation
  independently of the best-effort IVH split;
* ABC/2 vs the true volume: mean signed error in ml and %, per bleed shape;
* no-bleed scans: the volume measured (goal < 0.5 ml each);
* location and IVH (best effort): agreement with the phantom's labels;
* time per study (prepare + measure) and per re-measure with a new HU range.

Goals (issue 4): planimetric MAE <= 1 ml, mean Dice >= 0.85, no-bleed < 0.5 ml.

    .venv/bin/python bench/measure_eval.py [--cases 48] [--seed 100000] [--size 256] [-v]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ichmodel.measure import MeasureParams, prepare  # noqa: E402
from ichmodel.phantom import PhantomConfig, make_phantom  # noqa: E402


@dataclass
class Case:
    seed: int
    shape: str
    slice_mm: float
    truth_ml: float
    truth_ivh_ml: float
    truth_site: str
    truth_ivh: bool
    ml: float
    ivh_ml: float
    abc2_ml: float
    abc2_unweighted_ml: float
    site: str
    ivh: bool
    dice: float
    dice_all: float
    seconds: float
    remeasure_s: float


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def config_for(i: int, size: int) -> PhantomConfig:
    """Every 8th case a forced no-bleed scan, every 6th a smooth ellipsoid (ABC/2 check),
    every 5th a deep bleed with intraventricular extension (the IVH split)."""
    if i % 8 == 7:
        return PhantomConfig(size=size, site="none")
    if i % 6 == 5:
        return PhantomConfig(size=size, shape="ellipsoid")
    if i % 5 == 4:
        return PhantomConfig(size=size, site="deep", ivh=True)
    return PhantomConfig(size=size)


def run_case(seed: int, config: PhantomConfig) -> Case:
    ph = make_phantom(seed, config)
    vol = ph.volume
    # CPU time of this process: the machine is shared, so wall time says more about the
    # neighbours than about us.
    t0 = time.process_time()
    ctx = prepare(vol)
    m = ctx.measure(MeasureParams())
    seconds = time.process_time() - t0
    t1 = time.process_time()
    ctx.measure(MeasureParams(hu_min=45.0))
    remeasure_s = time.process_time() - t1
    return Case(
        seed=seed,
        shape=str(getattr(ph, "hematoma_shape", "") or config.shape),
        slice_mm=float(vol.spacing_mm[0]),
        truth_ml=ph.hematoma_volume_ml,
        truth_ivh_ml=ph.ivh_volume_ml,
        truth_site=ph.site,
        truth_ivh=bool(ph.ivh),
        ml=m.hematoma_volume_ml,
        ivh_ml=m.ivh_volume_ml,
        abc2_ml=m.abc2.volume_ml,
        abc2_unweighted_ml=m.abc2.volume_unweighted_ml,
        site=m.location,
        ivh=m.ivh,
        dice=_dice(m.hematoma_mask, ph.hematoma_mask),
        dice_all=_dice(m.hematoma_mask | m.ivh_mask, ph.hematoma_mask | ph.ivh_mask),
        seconds=seconds,
        remeasure_s=remeasure_s,
    )


def _row(name: str, value: str, goal: str = "") -> None:
    print(f"  {name:<46} {value:>18}  {goal}")


def summarize(cases: list[Case]) -> bool:
    bleed = [c for c in cases if c.truth_site != "none"]
    none = [c for c in cases if c.truth_site == "none"]
    err = np.array([c.ml - c.truth_ml for c in bleed])
    truth = np.array([c.truth_ml for c in bleed])
    all_err = np.array([(c.ml + c.ivh_ml) - (c.truth_ml + c.truth_ivh_ml) for c in bleed])
    dice = np.array([c.dice for c in bleed])
    dice_all = np.array([c.dice_all for c in bleed])
    mae = float(np.abs(err).mean())
    mean_dice = float(dice.mean())
    worst_none = max((c.ml + c.ivh_ml for c in none), default=0.0)
    ok = mae <= 1.0 and mean_dice >= 0.85 and worst_none < 0.5

    print(f"\n{len(cases)} phantoms ({len(bleed)} with a bleed, {len(none)} without)")
    print("\nPlanimetric volume (intraparenchymal) vs truth")
    _row("MAE", f"{mae:.2f} ml", "goal <= 1 ml")
    _row("MAPE", f"{100 * float(np.mean(np.abs(err) / truth)):.1f} %")
    _row("mean signed error", f"{err.mean():+.2f} ml ({100 * np.mean(err / truth):+.1f} %)")
    _row(
        "Dice mean / median / min",
        f"{mean_dice:.3f} / {np.median(dice):.3f} / {dice.min():.3f}",
        "goal mean >= 0.85",
    )
    print("All blood (hematoma + IVH) vs truth (segmentation without the IVH split)")
    _row("MAE", f"{np.abs(all_err).mean():.2f} ml")
    _row("Dice mean", f"{dice_all.mean():.3f}")
    print("ABC/2 vs true volume (signed error, mean)")
    for label, attr in (("Kothari C", "abc2_ml"), ("unweighted C", "abc2_unweighted_ml")):
        for shape in sorted({c.shape for c in bleed}):
            sel = [c for c in bleed if c.shape == shape]
            e = np.array([getattr(c, attr) - c.truth_ml for c in sel])
            rel = np.array([(getattr(c, attr) - c.truth_ml) / c.truth_ml for c in sel])
            _row(
                f"{label}, {shape} (n={len(sel)})",
                f"{e.mean():+.2f} ml ({100 * rel.mean():+.1f} %)",
            )
    ratio = np.array([c.abc2_ml / c.ml for c in bleed if c.ml > 0])
    _row("ABC/2 / our planimetric, median", f"{np.median(ratio):.2f}")
    print("No-bleed scans")
    _row("largest volume measured", f"{worst_none:.2f} ml", "goal < 0.5 ml")
    _row("mean volume measured", f"{np.mean([c.ml + c.ivh_ml for c in none]):.3f} ml")
    print("Location and IVH (best effort)")
    site_ok = [c.site == c.truth_site for c in bleed]
    _row("site agreement (bleeds)", f"{100 * np.mean(site_ok):.0f} % of {len(bleed)}")
    for site in ("deep", "lobar", "infratentorial"):
        sel = [c for c in bleed if c.truth_site == site]
        if sel:
            got = np.mean([c.site == site for c in sel])
            _row(f"  {site} (n={len(sel)})", f"{100 * got:.0f} %")
    pos = [c for c in bleed if c.truth_ivh]
    neg = [c for c in bleed if not c.truth_ivh]
    if pos:
        _row(f"IVH sensitivity (n={len(pos)})", f"{100 * np.mean([c.ivh for c in pos]):.0f} %")
        ivh_err = np.array([c.ivh_ml - c.truth_ivh_ml for c in pos])
        _row("IVH volume MAE (IVH cases)", f"{np.abs(ivh_err).mean():.2f} ml")
    if neg:
        _row(f"IVH specificity (n={len(neg)})", f"{100 * np.mean([not c.ivh for c in neg]):.0f} %")
    print("Speed (CPU seconds of this process; the machine is shared)")
    _row(
        "prepare + measure, mean / max",
        f"{np.mean([c.seconds for c in cases]):.2f} / {max(c.seconds for c in cases):.2f} s",
    )
    _row(
        "re-measure (new HU range), mean",
        f"{1000 * np.mean([c.remeasure_s for c in cases]):.0f} ms",
    )
    print(f"\nGoals met: {'yes' if ok else 'NO'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=48)
    parser.add_argument("--seed", type=int, default=100000, help="first seed (>= 100000)")
    parser.add_argument("--size", type=int, default=256, help="in-plane matrix (256 or 512)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    args = parser.parse_args(argv)
    if args.seed < 100000:
        parser.error("use seeds >= 100000: lower seeds belong to tests and training")
    cases = []
    if args.verbose:
        print(
            "seed    shape      slice  site(truth->ours)          truth   ours  abc2   "
            "ivh(truth/ours)  dice"
        )
    for i in range(args.cases):
        seed = args.seed + i
        case = run_case(seed, config_for(i, args.size))
        cases.append(case)
        if args.verbose:
            print(
                f"{seed} {case.shape:<10} {case.slice_mm:4.1f}  "
                f"{case.truth_site:>14}->{case.site:<14} {case.truth_ml:6.2f} {case.ml:6.2f} "
                f"{case.abc2_ml:6.2f}  {case.truth_ivh_ml:5.2f}/{case.ivh_ml:5.2f}  "
                f"{case.dice:.3f}",
                flush=True,
            )
    return 0 if summarize(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
