"""The pointing game of a model's volume-head Grad-CAM over held-out phantoms.

Each phantom's map (``ichmodel.predict``, on the study's grid) is scored against its exact
hematoma mask by :func:`ichmodel.train.metrics.pointing_game`; scans without a bleed have
nothing to point at and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from ichmodel.checkpoint import LoadedModel
from ichmodel.phantom import PhantomConfig
from ichmodel.train.metrics import PointingRates, PointingResult, pointing_game, pointing_rates

LAYERS = ("layer4", "layer3")


def pointing_over_phantoms(model: LoadedModel, seeds: Iterable[int],
                           phantom_config: PhantomConfig, *,
                           cam_flip_axes: tuple[str, ...],
                           layers: tuple[str, ...] = LAYERS) -> dict[str, PointingRates]:
    """Pointing rates per Grad-CAM layer over the bleeds among ``seeds``.

    ``cam_flip_axes`` is passed to ``predict`` as given (the card's recommendation is the
    caller's choice, as in the viewer).
    """
    from ichmodel.phantom import make_phantom
    from ichmodel.predict import predict
    from ichmodel.progress import run_to_completion

    results: dict[str, list[PointingResult]] = {layer: [] for layer in layers}
    for seed in seeds:
        phantom = make_phantom(seed, phantom_config)
        if phantom.site == "none" or not phantom.hematoma_mask.any():
            continue
        for layer in layers:
            prediction = run_to_completion(predict(phantom.volume, model, cam_head="volume",
                                                   cam_layer=layer, cam_flip_axes=cam_flip_axes))
            results[layer].append(pointing_game(prediction.cam, phantom.hematoma_mask,
                                                phantom.volume.spacing_mm))
    return {layer: pointing_rates(r) for layer, r in results.items()}



def pointing_report(rates: PointingRates) -> dict[str, float | int | None]:
    """``rates`` under the report keys the shipped card's records use (``n_bleeds``,
    ``pointing_argmax``, ``pointing_plateau``, ``pointing_near``, ``pointing_slice``)."""
    return {
        "n_bleeds": rates.n_bleeds,
        "pointing_argmax": rates.peak_in_bleed,
        "pointing_plateau": rates.plateau_in_bleed,
        "pointing_near": rates.near_bleed,
        "pointing_slice": rates.slice_peak_in_bleed,
    }
