"""Model trust in one run: the demo model without and with its out-of-distribution gate and
outcome temperature, on fresh phantoms and on the real heads of ../shared/data/dcm_qa_ct.

Reference: the same weights without the gate and temperature (the old demo), measured on the
same inputs in the same run. Phantoms: seeds ``--seed0 .. +n`` (3,000,000 on by default: used for
nothing else - not training, the gate's fit, its threshold or the temperature). Real heads are
test data: nothing here was fitted on them.

Goals (issue 17): volume MAE <= 1.5 ml, AUC >= 0.95 (proxy label), ECE <= 0.05, no-bleed mean
predicted volume <= 0.5 ml, <= 2 % of phantoms flagged; each real head either predicted <= 3 ml
with probability <= 0.2, or flagged out of distribution.

Usage: ``python bench/model_trust.py [--n 200] [--checkpoint FILE] [--json]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REAL_HEADS = {
    "GE human head (In/GE)": "In/GE",
    "Philips head phantom 5 mm (In/Philips/S21570/S2010)": "In/Philips/S21570/S2010",
    "Philips head phantom, tilted (In/Philips/S21610/S2010)": "In/Philips/S21610/S2010",
}


def _phantom_rows(model, seeds: range) -> dict[str, np.ndarray]:
    from ichmodel.phantom import make_phantom
    from ichmodel.progress import run_to_completion
    from ichmodel.reading import HeatmapOptions, StudyReading, predict_reading

    rows = {k: [] for k in ("truth", "pred", "prob", "label", "inside", "score", "seconds")}
    for seed in seeds:
        phantom = make_phantom(seed)
        t = time.perf_counter()
        p = run_to_completion(predict_reading(StudyReading(volume=phantom.volume), model,
                                              device="cpu", heatmap=HeatmapOptions(head=None)))
        rows["seconds"].append(time.perf_counter() - t)
        rows["truth"].append(phantom.hematoma_volume_ml)
        rows["pred"].append(p.predicted_volume_ml)
        rows["prob"].append(p.poor_outcome_probability)
        rows["label"].append(int(phantom.poor_outcome))
        rows["inside"].append(True if p.in_distribution is None else p.in_distribution)
        rows["score"].append(np.nan if p.ood_score is None else p.ood_score)
    return {k: np.asarray(v) for k, v in rows.items()}


def _phantom_summary(r: dict[str, np.ndarray]) -> dict[str, float]:
    from ichmodel.train.metrics import brier_score, expected_calibration_error, roc_auc

    no_bleed = r["truth"] == 0
    return {
        "n": int(len(r["truth"])),
        "mae_ml": float(np.mean(np.abs(r["pred"] - r["truth"]))),
        "auc": float(roc_auc(r["label"], r["prob"])),
        "ece": float(expected_calibration_error(r["label"], r["prob"])),
        "brier": float(brier_score(r["label"], r["prob"])),
        "no_bleed_mean_ml": float(np.mean(r["pred"][no_bleed])) if no_bleed.any() else None,
        "n_no_bleed": int(no_bleed.sum()),
        "flagged_pct": float(100 * (1 - np.mean(r["inside"]))),
        "s_per_prediction": float(np.median(r["seconds"])),
    }


def _real_heads(model, data: Path) -> list[dict[str, object]]:
    from ichmodel.progress import run_to_completion
    from ichmodel.reading import HeatmapOptions, read_study

    out = []
    for name, folder in REAL_HEADS.items():
        if not (data / folder).is_dir():
            continue
        reading = run_to_completion(read_study(data / folder, model=model, device="cpu",
                                               heatmap=HeatmapOptions(head=None)))
        p, m = reading.prediction, reading.measurement
        ok = p.predicted_volume_ml <= 3.0 and p.poor_outcome_probability <= 0.2
        out.append({
            "head": name, "model_ml": round(p.predicted_volume_ml, 2),
            "probability": round(p.poor_outcome_probability, 3),
            "in_distribution": p.in_distribution, "ood_score": p.ood_score,
            "planimetric_ml": round(m.hematoma_volume_ml, 2),
            "verdict": ("flagged out of distribution" if p.in_distribution is False
                        else "predicted <= 3 ml and p <= 0.2" if ok else "FAILS the goal"),
        })
    return out


def _gate_cost(model, seconds_with_gate: float) -> float:
    """The gate's share of a prediction: its scoring time over the prediction's median."""
    if model.gate is None:
        return 0.0
    x = np.random.default_rng(0).normal(size=(1, model.gate.n_features))
    t = time.perf_counter()
    for _ in range(50):
        model.gate.scores(x)
    return (time.perf_counter() - t) / 50 / seconds_with_gate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed0", type=int, default=3_000_000)
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "dcm_qa_ct")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    import torch

    from ichmodel.active_model import default_model
    from ichmodel.checkpoint import load_checkpoint

    torch.set_num_threads(2)
    new = load_checkpoint(a.checkpoint) if a.checkpoint else default_model()
    old = dataclasses.replace(new, gate=None, outcome_temperature=1.0)
    seeds = range(a.seed0, a.seed0 + a.n)
    results = {}
    for label, model in (("old demo (no gate, T=1)", old), ("new demo (gate, T)", new)):
        rows = _phantom_rows(model, seeds)
        results[label] = {"phantoms": _phantom_summary(rows),
                          "real_heads": _real_heads(model, a.data)}
    results["gate_share_of_prediction"] = _gate_cost(
        new, results["new demo (gate, T)"]["phantoms"]["s_per_prediction"])
    results["model"] = {"name": new.name, "sha256": new.sha256[:12],
                        "temperature": new.outcome_temperature,
                        "ood_threshold": None if new.gate is None else new.gate.threshold}
    if a.json:
        print(json.dumps(results, indent=1, default=str))
        return 0
    print(f"Model trust on {a.n} fresh phantoms (seeds {seeds.start}..{seeds.stop - 1}) and the "
          f"real heads of dcm_qa_ct; model {new.name} {new.sha256[:12]}")
    print(f"{'':<26}{'MAE ml':>8}{'AUC':>7}{'ECE':>7}{'Brier':>7}{'no-bleed ml':>12}"
          f"{'flagged %':>10}")
    for label in ("old demo (no gate, T=1)", "new demo (gate, T)"):
        s = results[label]["phantoms"]
        nb = "-" if s["no_bleed_mean_ml"] is None else f"{s['no_bleed_mean_ml']:.2f}"
        print(f"{label:<26}{s['mae_ml']:>8.2f}{s['auc']:>7.3f}{s['ece']:>7.3f}{s['brier']:>7.3f}"
              f"{nb:>12}{s['flagged_pct']:>10.1f}")
    for label in ("old demo (no gate, T=1)", "new demo (gate, T)"):
        print(f"\n{label}, real heads:")
        for h in results[label]["real_heads"]:
            score = "" if h["ood_score"] is None else f", score {h['ood_score']:.1f}"
            print(f"  {h['head']}: model {h['model_ml']} ml, p {h['probability']}, "
                  f"planimetric {h['planimetric_ml']} ml{score} -> {h['verdict']}")
    print(f"\ngate scoring: {100 * results['gate_share_of_prediction']:.2f} % of a prediction's "
          f"time; temperature {new.outcome_temperature:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
