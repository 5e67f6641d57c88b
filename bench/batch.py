"""Cohort throughput: studies per minute of ``ichmodel batch``, serial against ``--jobs 2``, for
measure-only and measure+predict, on the same phantom studies in one run; peak memory per study.

The reference is the serial run (one worker, one torch thread) on the same studies in the same
run; the figure is the ratio. Each run is a fresh ``ichmodel batch`` process, so start-up
(imports, spawning workers, loading the model) is counted as a user pays it.

Usage: ``python bench/batch.py [--n 40] [--size 256] [--jobs 2] [--json]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _batch(cohort: Path, out: Path, what: str, jobs: int) -> tuple[float, float]:
    """(seconds, peak RSS of the run's processes in MiB) of one ``ichmodel batch`` run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ichmodel", "batch", str(cohort), "--out", str(out),
         "--what", what, "--jobs", str(jobs), "--json"],
        cwd=ROOT, check=True, capture_output=True,
    )
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024.0


def _one_study_peak_mib(study: Path, what: str) -> float:
    """Peak RSS (MiB) of a process that reads one study, start-up included."""
    code = (
        "import resource, sys\n"
        "from ichmodel.progress import run_to_completion\n"
        "from ichmodel.reading import NO_MODEL, HeatmapOptions, read_study\n"
        f"run_to_completion(read_study({str(study)!r}, "
        f"model={'None' if 'predict' in what else 'NO_MODEL'}, device='cpu', "
        "heatmap=HeatmapOptions(head=None)))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=40, help="phantom studies (default 40)")
    p.add_argument("--size", type=int, default=256, help="in-plane size of the phantoms")
    p.add_argument("--seed", type=int, default=4_000_000, help="dataset seed")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ich_bench_batch_"))
    cohort = work / "cohort"
    subprocess.run([sys.executable, "-m", "ichmodel", "synth", str(cohort), "--cases",
                    str(a.n), "--size", str(a.size), "--seed", str(a.seed), "--json"],
                   cwd=ROOT, check=True, capture_output=True)
    for path in cohort.rglob("*"):  # the file cache warm for every run alike
        if path.is_file():
            path.read_bytes()
    _batch(cohort, work / "warm.csv", "measure,predict", 1)  # imports and model file warm too
    results = {}
    for what in ("measure", "measure,predict"):
        serial_s, serial_mib = _batch(cohort, work / f"serial_{what}.csv", what, 1)
        pool_s, pool_mib = _batch(cohort, work / f"pool_{what}.csv", what, a.jobs)
        study = sorted(p for p in cohort.iterdir() if p.is_dir())[0]
        results[what] = {
            "studies": a.n,
            "serial_studies_per_min": round(60 * a.n / serial_s, 1),
            f"jobs{a.jobs}_studies_per_min": round(60 * a.n / pool_s, 1),
            "speedup": round(serial_s / pool_s, 2),
            "serial_s_per_study": round(serial_s / a.n, 3),
            "peak_mib_one_study": round(_one_study_peak_mib(study, what), 0),
            "peak_mib_largest_process": round(max(serial_mib, pool_mib), 0),
        }
    if a.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"ichmodel batch on {a.n} phantom studies ({a.size}px, seed {a.seed}); reference: the "
          "serial run (1 worker) in this run")
    print(f"{'what':<17}{'serial /min':>12}{f'jobs {a.jobs} /min':>13}{'speed-up':>10}"
          f"{'s/study':>9}{'peak MiB/study':>16}")
    for what, r in results.items():
        print(f"{what:<17}{r['serial_studies_per_min']:>12}"
              f"{r[f'jobs{a.jobs}_studies_per_min']:>13}{r['speedup']:>9}x"
              f"{r['serial_s_per_study']:>9}{r['peak_mib_one_study']:>16}")
    for what, r in results.items():
        per_study = r["serial_s_per_study"]
        print(f"{what}: one core reads {60 / per_study:.0f} studies/min; a cluster of M machines "
              f"with C cores each reads about M x C x {60 / per_study:.0f} studies/min "
              f"(10,000 studies: {10_000 * per_study / 3600:.1f} core-hours)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
