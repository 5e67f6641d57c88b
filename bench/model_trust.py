"""Model trust in one run: two models side by side (by default the shipped demo without and
with its out-of-distribution gate and outcome temperature; ``--old FILE --checkpoint FILE``
compares two checkpoints, each with its own gate and temperature) on the same fresh phantoms
and the real heads of ../shared/data/dcm_qa_ct.

Phantoms: generator ``--phantom-version`` (default 6: skull base, falx/tentorium, sinuses,
streaks, calcifications, subdural negatives), seeds ``--seed0 .. +n`` (v6: 6,000,000 on, v5:
3,000,000 on by default; both used for nothing else - not training, a gate's fit, its
threshold or a temperature). Each phantom is made once and shown to both models. The pointing
game (volume-head Grad-CAM, layer4, the card's recommended flips) is scored on the bleeds.
Real heads are test data: nothing here was fitted on them.

Goals (issue 17): volume MAE <= 1.5 ml, AUC >= 0.95 (proxy label), ECE <= 0.05, no-bleed mean
predicted volume <= 0.5 ml, <= 2 % of phantoms flagged; each real head either predicted <= 3 ml
with probability <= 0.2, or flagged out of distribution.

Usage: ``python bench/model_trust.py [--n 100] [--phantom-version 6] [--old FILE]
[--checkpoint FILE] [--no-pointing] [--json]``
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


SEED0 = {"6": 6_000_000, "5": 3_000_000}
KEYS = ("truth", "pred", "prob", "label", "inside", "score", "seconds", "pointing")


def _phantom(seed: int, config, cache: Path | None):
    """``make_phantom(seed, config)``, kept in ``cache`` when given: a run can make its
    phantoms ahead (``--make-only``) while the CPU is busy elsewhere; the phantoms are
    deterministic, so the figures are the same. The files are this bench's own (pickle: the
    whole Phantom with its Volume and metadata, never read from anywhere else)."""
    import pickle

    from ichmodel.phantom import make_phantom

    if cache is None:
        return make_phantom(seed, config)
    path = cache / f"v{config.version}-{seed}.pkl"
    if path.is_file():
        with path.open("rb") as f:
            return pickle.load(f)  # noqa: S301 - written by this bench, below
    phantom = make_phantom(seed, config)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(phantom, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return phantom


def _phantom_rows(models: dict[str, object], seeds: range, version: str,
                  pointing: bool, cache: Path | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Per model, one row per phantom; each phantom is made once for all models."""
    from ichmodel.phantom import PhantomConfig
    from ichmodel.progress import run_to_completion
    from ichmodel.reading import HeatmapOptions, StudyReading, predict_reading
    from ichmodel.train.metrics import pointing_game

    config = PhantomConfig(version=version)
    rows = {label: {k: [] for k in KEYS} for label in models}
    for seed in seeds:
        phantom = _phantom(seed, config, cache)
        reading = StudyReading(volume=phantom.volume)
        bleed = bool(phantom.hematoma_mask.any())
        for label, model in models.items():
            r = rows[label]
            t = time.perf_counter()
            p = run_to_completion(predict_reading(reading, model, device="cpu",
                                                  heatmap=HeatmapOptions(head=None)))
            r["seconds"].append(time.perf_counter() - t)
            r["truth"].append(phantom.hematoma_volume_ml)
            r["pred"].append(p.predicted_volume_ml)
            r["prob"].append(p.poor_outcome_probability)
            r["label"].append(int(phantom.poor_outcome))
            r["inside"].append(True if p.in_distribution is None else p.in_distribution)
            r["score"].append(np.nan if p.ood_score is None else p.ood_score)
            hit = np.nan
            if pointing and bleed:
                cam = run_to_completion(predict_reading(reading, model, device="cpu")).cam
                hit = float(pointing_game(cam, phantom.hematoma_mask,
                                          phantom.volume.spacing_mm).peak_in_bleed)
            r["pointing"].append(hit)
    return {label: {k: np.asarray(v) for k, v in r.items()} for label, r in rows.items()}


def _phantom_summary(r: dict[str, np.ndarray]) -> dict[str, float]:
    from ichmodel.train.metrics import brier_score, expected_calibration_error, roc_auc

    no_bleed = r["truth"] == 0
    return {
        "n": int(len(r["truth"])),
        "mae_ml": float(np.mean(np.abs(r["pred"] - r["truth"]))),
        # AUC needs both labels (a handful of phantoms may hold one only)
        "auc": (float(roc_auc(r["label"], r["prob"])) if len(set(r["label"])) == 2
                else float("nan")),
        "ece": float(expected_calibration_error(r["label"], r["prob"])),
        "brier": float(brier_score(r["label"], r["prob"])),
        "no_bleed_mean_ml": float(np.mean(r["pred"][no_bleed])) if no_bleed.any() else None,
        "n_no_bleed": int(no_bleed.sum()),
        "flagged_pct": float(100 * (1 - np.mean(r["inside"]))),
        "s_per_prediction": float(np.median(r["seconds"])),
        "n_bleeds_pointed": int(np.isfinite(r["pointing"]).sum()),
        "pointing_pct": (float(100 * np.nanmean(r["pointing"]))
                         if np.isfinite(r["pointing"]).any() else None),
    }


def _real_heads(models: dict[str, object], data: Path) -> dict[str, list[dict[str, object]]]:
    """Per model, its verdict on each real head (each head is read and measured once)."""
    from ichmodel.progress import run_to_completion
    from ichmodel.reading import NO_MODEL, HeatmapOptions, predict_reading, read_study

    out: dict[str, list[dict[str, object]]] = {label: [] for label in models}
    for name, folder in REAL_HEADS.items():
        if not (data / folder).is_dir():
            continue
        reading = run_to_completion(read_study(data / folder, model=NO_MODEL, device="cpu"))
        m = reading.measurement
        for label, model in models.items():
            p = run_to_completion(predict_reading(reading, model, device="cpu",
                                                  heatmap=HeatmapOptions(head=None)))
            ok = p.predicted_volume_ml <= 3.0 and p.poor_outcome_probability <= 0.2
            out[label].append({
                "head": name, "model_ml": round(p.predicted_volume_ml, 2),
                "probability": round(p.poor_outcome_probability, 3),
                "in_distribution": p.in_distribution, "ood_score": p.ood_score,
                "planimetric_ml": round(m.hematoma_volume_ml, 2),
                "verdict": ("flagged out of distribution" if p.in_distribution is False
                            else "predicted <= 3 ml and p <= 0.2" if ok else "FAILS the goal"),
            })
    return out


def _shared_data() -> Path:
    """``$ICH_SHARED_DATA`` if set, else ``../shared/data`` beside the checkout (as the tests)."""
    import os

    return Path(os.environ.get("ICH_SHARED_DATA") or ROOT.parent / "shared" / "data")


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
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--phantom-version", choices=tuple(SEED0), default="6")
    p.add_argument("--seed0", type=int, help="first phantom seed (default: by version)")
    p.add_argument("--checkpoint", type=Path, help="the new model (default: the shipped demo)")
    p.add_argument("--old", type=Path, help="the old model, with its own gate and temperature "
                   "(default: the new one without gate and temperature)")
    p.add_argument("--no-pointing", action="store_true", help="skip the Grad-CAM pointing game")
    p.add_argument("--data", type=Path, default=_shared_data() / "dcm_qa_ct",
                   help="dcm_qa_ct root (default ../shared/data or $ICH_SHARED_DATA)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--phantom-cache", type=Path,
                   help="folder keeping the generated phantoms (made once, reused by later runs)")
    p.add_argument("--make-only", action="store_true",
                   help="only make the phantoms into --phantom-cache, measure nothing")
    p.add_argument("--json", action="store_true")
    p.add_argument("--json-out", type=Path, help="also write the results as JSON to this file")
    a = p.parse_args(argv)
    if a.make_only:
        from ichmodel.phantom import PhantomConfig

        if a.phantom_cache is None:
            p.error("--make-only needs --phantom-cache")
        seed0 = SEED0[a.phantom_version] if a.seed0 is None else a.seed0
        for seed in range(seed0, seed0 + a.n):
            _phantom(seed, PhantomConfig(version=a.phantom_version), a.phantom_cache)
        return 0

    import torch

    from ichmodel.active_model import default_model
    from ichmodel.checkpoint import load_checkpoint

    torch.set_num_threads(a.threads)
    new = load_checkpoint(a.checkpoint) if a.checkpoint else default_model()
    if a.old:
        models = {f"old {load_checkpoint(a.old).sha256[:12]}": load_checkpoint(a.old),
                  f"new {new.sha256[:12]}": new}
    else:
        models = {"old demo (no gate, T=1)": dataclasses.replace(new, gate=None,
                                                                 outcome_temperature=1.0),
                  "new demo (gate, T)": new}
    seed0 = SEED0[a.phantom_version] if a.seed0 is None else a.seed0
    seeds = range(seed0, seed0 + a.n)
    t0 = time.perf_counter()
    rows = _phantom_rows(models, seeds, a.phantom_version, not a.no_pointing, a.phantom_cache)
    heads = _real_heads(models, a.data)
    results: dict[str, object] = {
        "phantoms": {"version": a.phantom_version, "seeds": [seeds.start, seeds.stop - 1]}}
    for label, model in models.items():
        results[label] = {"phantoms": _phantom_summary(rows[label]),
                          "real_heads": heads[label],
                          "model": {"sha256": model.sha256[:12],
                                    "temperature": model.outcome_temperature,
                                    "ood_threshold": (None if model.gate is None
                                                      else model.gate.threshold)}}
    last = list(models)[-1]
    results["gate_share_of_prediction"] = _gate_cost(
        new, results[last]["phantoms"]["s_per_prediction"])
    results["wall_s"] = time.perf_counter() - t0
    if a.json_out:
        a.json_out.write_text(json.dumps(results, indent=1, default=str))
    if a.json:
        print(json.dumps(results, indent=1, default=str))
        return 0
    print(f"Model trust on {a.n} fresh v{a.phantom_version} phantoms (seeds {seeds.start}.."
          f"{seeds.stop - 1}) and the real heads of dcm_qa_ct")
    print(f"{'':<26}{'MAE ml':>8}{'AUC':>7}{'ECE':>7}{'Brier':>7}{'no-bleed ml':>12}"
          f"{'flagged %':>10}{'pointing %':>11}")
    for label in models:
        s = results[label]["phantoms"]
        nb = "-" if s["no_bleed_mean_ml"] is None else f"{s['no_bleed_mean_ml']:.2f}"
        pt = "-" if s["pointing_pct"] is None else f"{s['pointing_pct']:.0f}"
        print(f"{label:<26}{s['mae_ml']:>8.2f}{s['auc']:>7.3f}{s['ece']:>7.3f}{s['brier']:>7.3f}"
              f"{nb:>12}{s['flagged_pct']:>10.1f}{pt:>11}")
    if not any(heads.values()):
        print(f"\nno real heads under {a.data} (give --data or $ICH_SHARED_DATA)")
    for label in models:
        m = results[label]["model"]
        print(f"\n{label} (T {m['temperature']:.3f}, threshold {m['ood_threshold']}), real heads:")
        for h in results[label]["real_heads"]:
            score = "" if h["ood_score"] is None else f", score {h['ood_score']:.1f}"
            print(f"  {h['head']}: model {h['model_ml']} ml, p {h['probability']}, "
                  f"planimetric {h['planimetric_ml']} ml{score} -> {h['verdict']}")
    print(f"\ngate scoring: {100 * results['gate_share_of_prediction']:.2f} % of a prediction's "
          f"time; {results['wall_s']:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
