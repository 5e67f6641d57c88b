"""The model on real anatomy with bleeds of exact volume: the cases of bench/measure_eval.py.

Bleeds inserted into the real GE head of ../shared/data/dcm_qa_ct (TEST data: nothing is
trained or tuned on it) with the evaluation seeds of ``bench/measure_eval.py`` (300000 + i;
the same sites, volumes and second bleeds, see ``bench/_measure_real.insertions``). For each:
the truth (all inserted blood, ml), the model's volume, probability, gate score and verdict,
and the planimetric measurement beside it. The question it answers: on a real head, is the
model's volume near the truth where its gate says "in distribution"?

    python bench/model_real_insertions.py [--n 40] [--seed 300000] [--checkpoint X.safetensors]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--seed", type=int, default=300000,
                   help="first insertion seed (300000: the evaluation set; 400000+: development)")
    p.add_argument("--checkpoint", type=Path, help="model (default: the active or demo model)")
    p.add_argument("--data", type=Path, default=None,
                   help="the folder holding dcm_qa_ct (default ../shared/data)")
    args = p.parse_args(argv)

    from bench._measure_real import insertions
    from bench.measure_eval import GE
    from ichmodel.active_model import default_model
    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.io.load import load_study
    from ichmodel.measure import measure
    from ichmodel.predict import predict
    from ichmodel.progress import run_to_completion

    ge = (args.data / "dcm_qa_ct" / "In" / "GE") if args.data else GE
    if not Path(ge).is_dir():
        print(f"no GE head at {ge}: nothing to run")
        return 0
    model = load_checkpoint(args.checkpoint) if args.checkpoint else default_model()
    print(f"model {model.name} ({model.sha256[:12]}), gate threshold "
          f"{model.gate.threshold if model.gate else None}")
    volume = load_study(ge)
    alone = run_to_completion(predict(volume, model, device="cpu", cam_head=None))
    print(f"the head alone: model {alone.predicted_volume_ml:.2f} ml, in distribution "
          f"{alone.in_distribution} (score {alone.ood_score:.2f})")
    rows = []
    for case in insertions(volume, args.n, args.seed):
        ins = case.inserted
        pred = run_to_completion(predict(ins.volume, model, device="cpu", cam_head=None))
        m = measure(ins.volume)
        rows.append((ins.volume_ml, pred.predicted_volume_ml, bool(pred.in_distribution),
                     pred.ood_score, pred.poor_outcome_probability, m.hematoma_volume_ml))
        print(f"{case.seed} {'+'.join(r.site for r in case.requests):32s} truth "
              f"{ins.volume_ml:6.2f} model {pred.predicted_volume_ml:6.2f} "
              f"({'in' if pred.in_distribution else 'OUT'}, score {pred.ood_score:.2f}) "
              f"p {pred.poor_outcome_probability:.3f} measured {m.hematoma_volume_ml:6.2f}",
              flush=True)
    truth, model_ml, inside, _, _, measured = (
        np.array(c, dtype=float) for c in zip(*rows, strict=True))
    inside = inside.astype(bool)
    print(f"\n{len(rows)} insertions into the real GE head, seeds {args.seed}-"
          f"{args.seed + args.n - 1} (all inserted blood)")
    print(f"  model volume MAE / signed        {np.abs(model_ml - truth).mean():6.2f} / "
          f"{(model_ml - truth).mean():+6.2f} ml")
    print(f"  flagged out of distribution      {int((~inside).sum())} / {len(rows)}")
    if inside.any():
        err = model_ml[inside] - truth[inside]
        print(f"  in distribution only: MAE / signed {np.abs(err).mean():6.2f} / "
              f"{err.mean():+6.2f} ml (n={int(inside.sum())})")
    print(f"  measurement (planimetric) MAE    {np.abs(measured - truth).mean():6.2f} ml")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
