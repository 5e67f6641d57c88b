"""Held-out figures of one model on a seed range: what the fine-tune and calibrate commands
report before and after."""

from __future__ import annotations

from typing import Any

from ichmodel.checkpoint import LoadedModel
from ichmodel.phantom import PhantomConfig
from ichmodel.progress import run_to_completion
from ichmodel.train.cache import CaseCache
from ichmodel.train.evaluate import evaluate_cases
from ichmodel.train.phantom_cases import cache_phantoms
from research.demo_model.pointing import pointing_over_phantoms, pointing_report


def measure(model: LoadedModel, cache: CaseCache, seeds: range, phantom_config: PhantomConfig,
            *, pointing: bool = True) -> dict[str, Any]:
    """MAE/AUC on the phantoms ``seeds`` and (unless ``pointing`` is off) the layer4 pointing
    game with the flips the model's card recommends."""
    cases = run_to_completion(cache_phantoms(seeds, cache, phantom_config))
    m = run_to_completion(evaluate_cases(model, cache, cases)).metrics
    out: dict[str, Any] = {"seeds": [seeds.start, seeds.stop - 1], "n": m.n, "mae_ml": m.mae_ml,
                           "mse_ml2": m.mse_ml2, "mape_pct": m.mape_pct, "accuracy": m.accuracy,
                           "auc": m.auc}
    if pointing:
        rates = pointing_over_phantoms(model, seeds, phantom_config, layers=("layer4",),
                                       cam_flip_axes=model.card.recommended_cam_flip_axes)
        out.update(pointing_report(rates["layer4"]))
    return out
