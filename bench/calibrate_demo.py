"""Fit the demo model's voxel-volume scaling on held-out phantoms, and measure what it changes.

Preprocessing resizes every head to 32x224x224, so the network sees a small and a large head at
the same size; phantom heads vary by -10..+8 % in each direction (-27..+26 % in voxel volume)
and the trained demo's volume errors follow that scale (log error vs log voxel volume: slope
about -0.8, r about -0.7). This fits ``LabelTransform.voxel_exponent`` and its reference voxel
volume (:func:`ichmodel.train.calibrate.fit_voxel_scale`) on calibration phantoms whose seeds
are disjoint from the demo's training and test seeds, then measures MAE/AUC (and the pointing
game, which a per-study positive factor cannot change) on held-out seeds, before and after.
Weights are untouched. With ``--ship`` the calibrated model is written to ``--out``.

    .venv/bin/python bench/calibrate_demo.py --work /tmp/ich_calibrate \\
        [--calib-seeds 1200000:400] [--eval-seeds 2000500:200 ...] [--ship --out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from finetune_demo import DEMO, _measure, _seed_range  # noqa: E402

from ichmodel.progress import run_to_completion  # noqa: E402

log = logging.getLogger("calibrate_demo")


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/ich_calibrate"))
    p.add_argument("--model", type=Path, default=DEMO)
    p.add_argument("--calib-seeds", type=_seed_range, default=_seed_range("1200000:400"),
                   help="FIRST:N phantoms to fit on (disjoint from training and test seeds)")
    p.add_argument("--eval-seeds", type=_seed_range, action="append", default=None,
                   help="FIRST:N held-out phantoms to report on (repeatable)")
    p.add_argument("--no-pointing", action="store_true", help="skip the pointing game")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ship", action="store_true", help="write the calibrated model to --out")
    p.add_argument("--out", type=Path, default=DEMO)
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = _args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.calibrate import calibrate_cases, save_calibrated
    from ichmodel.train.phantom_cases import cache_phantoms

    torch.set_num_threads(a.threads)
    model = load_checkpoint(a.model)
    cache = CaseCache(a.work / "cache", model.preprocess_config)
    calib = run_to_completion(cache_phantoms(a.calib_seeds, cache))
    fit = run_to_completion(calibrate_cases(model, cache, calib))
    calibrated = dataclasses.replace(model, label_transform=fit.label_transform)
    report = {"model": str(a.model), "sha256": model.sha256,
              "calib_seeds": [a.calib_seeds.start, a.calib_seeds.stop - 1],
              "fit": fit.to_dict(), "eval": []}
    log.info("fit: %s", json.dumps(report["fit"]))
    for seeds in a.eval_seeds or []:
        before = _measure(model, cache, seeds, pointing=False)  # a positive factor per study
        after = _measure(calibrated, cache, seeds, pointing=not a.no_pointing)  # keeps the maps
        report["eval"].append({"before": before, "after": after})
        log.info("seeds %s: MAE %.3f -> %.3f ml, AUC %.4f -> %.4f%s", after["seeds"],
                 before["mae_ml"], after["mae_ml"], before["auc"], after["auc"],
                 "" if a.no_pointing else f", pointing {after['pointing_argmax']:.3f}")
    print(json.dumps(report, indent=1))
    (a.work / "report.json").write_text(json.dumps(report, indent=1))
    if a.ship:
        save_calibrated(model, fit, a.out, {"script": "bench/calibrate_demo.py",
                                            "calib_seeds": report["calib_seeds"],
                                            "eval": report["eval"]})
        log.info("wrote %s (sha256 %s)", a.out, load_checkpoint(a.out).sha256[:12])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
