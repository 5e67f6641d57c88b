"""Fit the demo model's out-of-distribution gate and outcome temperature on phantoms (weights
unchanged): the gate's Gaussians on training phantoms, its threshold and the temperature on the
calibration phantoms (disjoint from the test seeds). Real heads are never used here: they are
test data (bench/model_trust.py reports on them)."""

from __future__ import annotations

import argparse
import json
import logging

from research.demo_model.logs import configure_logging
from research.demo_model.scale import (
    CALIB_SEED0,
    TRAIN_SEED0,
    add_model_arguments,
    open_model,
    seed_range,
)

log = logging.getLogger(__name__)

HELP = "fit a model's out-of-distribution gate and outcome temperature on phantoms"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p, "/tmp/ich_trust", "write the model with them to --out")
    p.add_argument("--fit-seeds", type=seed_range, default=seed_range(f"{TRAIN_SEED0}:300"),
                   help="FIRST:N training phantoms whose features the gate's Gaussians fit")
    p.add_argument("--held-seeds", type=seed_range,
                   default=seed_range(f"{CALIB_SEED0 + 400}:200"),
                   help="FIRST:N held-out phantoms for the threshold and the temperature")


def run(a: argparse.Namespace) -> int:
    configure_logging()
    from ichmodel.progress import run_to_completion
    from ichmodel.train.phantom_cases import cache_phantoms
    from ichmodel.train.trust_fit import save_with_trust, trust_cases

    model, cache, phantoms = open_model(a)
    fit_cases = run_to_completion(cache_phantoms(a.fit_seeds, cache, phantoms))
    held_cases = run_to_completion(cache_phantoms(a.held_seeds, cache, phantoms))
    described = (f"phantom generator seeds {a.fit_seeds.start}..{a.fit_seeds.stop - 1} (fit) "
                 f"and {a.held_seeds.start}..{a.held_seeds.stop - 1} (threshold, temperature)")
    trust = run_to_completion(trust_cases(model, cache, fit_cases, held_cases,
                                          fitted_on=described))
    report = {"model": str(a.model), "sha256": model.sha256, **trust.to_dict()}
    print(json.dumps(report, indent=1))
    (a.work / "trust_report.json").write_text(json.dumps(report, indent=1))
    if a.ship:
        save_with_trust(model, trust, a.out, {"script": "python -m research.demo_model trust"})
        log.info("wrote %s", a.out)
    return 0
