"""The seed paper's Table 1 shape on a phantom test set: volume errors of three methods.

Rows: automated ABC/2, planimetric segmentation (both from ``ichmodel.measure``) and the model
(``ichmodel.predict``, the active/bundled model unless ``--checkpoint``); columns MAE (ml),
MSE (ml²), MAPE (%, phantoms without a bleed skipped and counted). The reference is each
phantom's ground-truth hematoma volume. Phantoms are generated in memory from seeds
``--seed0 .. --seed0 + n - 1`` (default: the demo model's held-out test seeds, disjoint from its
training seeds and from the tests').

Usage: ``python bench/volume_table.py [--n 40] [--checkpoint FILE] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ichmodel.progress import run_to_completion  # noqa: E402
from ichmodel.train.metrics import regression_metrics  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--seed0", type=int, default=2_000_000)
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    from ichmodel.active_model import default_model
    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.measure import measure
    from ichmodel.phantom import make_phantom
    from ichmodel.predict import predict

    model = load_checkpoint(a.checkpoint) if a.checkpoint else default_model()
    ref, abc2, plan, net = [], [], [], []
    t0 = time.perf_counter()
    for seed in range(a.seed0, a.seed0 + a.n):
        ph = make_phantom(seed)
        m = measure(ph.volume)
        pred = run_to_completion(predict(ph.volume, model, device=a.device, cam_head=None))
        ref.append(ph.hematoma_volume_ml)
        abc2.append(m.abc2.volume_ml)
        plan.append(m.hematoma_volume_ml)
        net.append(pred.predicted_volume_ml)
    rows = {}
    for name, values in (
        ("automated ABC/2", abc2),
        ("planimetric", plan),
        (f"model ({model.name})", net),
    ):
        r = regression_metrics(values, ref)
        rows[name] = {
            "mae_ml": r.mae_ml,
            "mse_ml2": r.mse_ml2,
            "mape_pct": r.mape_pct,
            "mape_skipped_zero": r.n_mape_skipped_zero,
        }
    out = {
        "n": a.n,
        "seeds": [a.seed0, a.seed0 + a.n - 1],
        "model": model.name,
        "model_sha256": model.sha256,
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }
    print(
        f"Volume errors on {a.n} phantoms (seeds {a.seed0}..{a.seed0 + a.n - 1}; "
        f"reference = ground-truth hematoma volume)"
    )
    print(f"{'method':<28}{'MAE (ml)':>10}{'MSE (ml2)':>11}{'MAPE (%)':>10}")
    for name, r in rows.items():
        mape = "n/a" if r["mape_pct"] is None else f"{r['mape_pct']:.1f}"
        print(f"{name:<28}{r['mae_ml']:>10.2f}{r['mse_ml2']:>11.2f}{mape:>10}")
    skipped = next(iter(rows.values()))["mape_skipped_zero"]
    if skipped:
        print(f"(MAPE skips {skipped} phantom(s) without a bleed)")
    if a.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
