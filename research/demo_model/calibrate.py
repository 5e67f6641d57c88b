"""``python -m research.demo_model calibrate``: fit a model's voxel-volume scaling on phantoms.

Preprocessing resizes every head to the model input's shape, so the network sees a small and a
large head at the same size; phantom heads vary by -10..+8 % in each direction (-27..+26 % in
voxel volume) and the trained demo's volume errors followed that scale (log error vs log voxel
volume: slope about -0.8, r about -0.7). This fits ``LabelTransform.voxel_exponent`` and its
reference voxel volume (:func:`ichmodel.train.calibrate.fit_voxel_scale`, as ``ichmodel
calibrate`` does) on calibration phantoms whose seeds are disjoint from the demo's training
and test seeds, then measures MAE/AUC (and the pointing game, which a positive factor per
study cannot change) on held-out seeds, before and after. Weights are untouched. With
``--ship`` the calibrated model is written to ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

from research.demo_model.logs import configure_logging
from research.demo_model.scale import CALIB_SEED0, add_model_arguments, open_model, seed_range

log = logging.getLogger(__name__)


HELP = "fit a model's voxel-volume scaling on phantoms"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p, "/tmp/ich_calibrate", "write the calibrated model to --out")
    p.add_argument("--calib-seeds", type=seed_range, default=seed_range(f"{CALIB_SEED0}:400"),
                   help="FIRST:N phantoms to fit on (disjoint from training and test seeds)")
    p.add_argument("--eval-seeds", type=seed_range, action="append", default=None,
                   help="FIRST:N held-out phantoms to report on (repeatable)")
    p.add_argument("--no-pointing", action="store_true", help="skip the pointing game")


def run(a: argparse.Namespace) -> int:
    configure_logging()
    from ichmodel.progress import run_to_completion
    from ichmodel.train.calibrate import calibrate_cases, save_calibrated
    from ichmodel.train.phantom_cases import cache_phantoms
    from research.demo_model.measure import measure

    model, cache, phantoms = open_model(a)
    calib = run_to_completion(cache_phantoms(a.calib_seeds, cache, phantoms))
    fit = run_to_completion(calibrate_cases(model, cache, calib))
    calibrated = dataclasses.replace(model, label_transform=fit.label_transform)
    report = {"model": str(a.model), "sha256": model.sha256,
              "calib_seeds": [a.calib_seeds.start, a.calib_seeds.stop - 1],
              "fit": fit.to_dict(), "eval": []}
    log.info("fit: %s", json.dumps(report["fit"]))
    for seeds in a.eval_seeds or []:
        before = measure(model, cache, seeds, phantoms, pointing=False)  # a factor per study
        after = measure(calibrated, cache, seeds, phantoms, pointing=not a.no_pointing)
        report["eval"].append({"before": before, "after": after})
        log.info("seeds %s: MAE %.3f -> %.3f ml, AUC %s -> %s%s", after["seeds"],
                 before["mae_ml"], after["mae_ml"], before["auc"], after["auc"],
                 "" if a.no_pointing else f", pointing {after['pointing_argmax']}")
    print(json.dumps(report, indent=1))
    (a.work / "report.json").write_text(json.dumps(report, indent=1))
    if a.ship:
        save_calibrated(model, fit, a.out, {"script": "python -m research.demo_model calibrate",
                                            "calib_seeds": report["calib_seeds"],
                                            "eval": report["eval"]})
        from ichmodel.checkpoint import load_checkpoint

        log.info("wrote %s (sha256 %s)", a.out, load_checkpoint(a.out).sha256[:12])
    return 0
