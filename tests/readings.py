"""Real readings for tests: a tiny real model and a phantom study read through ichmodel.reading.

Everything here is the product's own types built by the product's own functions (no
look-alikes): a width-2 ResNet10 on a 16x64x64 input predicts with Grad-CAM in well under a
second on one CPU thread.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from ichmodel.model_card import ModelCard, Provenance


def tiny_model(
    name: str = "tiny-test",
    *,
    provenance: Provenance = Provenance.SYNTHETIC,
    summary: str = "test network",
    training_data: str = "synthetic head-CT phantoms",
    banner: str = "",
    seed: int = 0,
):
    """A real :class:`~ichmodel.checkpoint.LoadedModel` with a tiny untrained-weights net."""
    import torch

    from ichmodel.checkpoint import LoadedModel, weights_sha256
    from ichmodel.nets.resnet3d import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = NetConfig(depth=10, base_width=2)
        net = ICHNet(config).eval()
    card = ModelCard(name=name, summary=summary, training_data=training_data, banner=banner,
                     provenance=provenance)
    return LoadedModel(
        name=name,
        sha256=weights_sha256(net.state_dict()),
        net=net,
        net_config=config,
        preprocess_config=PreprocessConfig(output_shape=(16, 64, 64)),
        card=card,
        metrics={"mae_ml": 1.5},
    )


@functools.lru_cache(maxsize=4)
def phantom_reading(seed: int = 3, provenance: Provenance = Provenance.SYNTHETIC):
    """A phantom (64 px, 5 mm slices, 25 ml deep bleed) with a tilt notice, measured and
    predicted by :func:`tiny_model` through the reading's own steps; returns the reading."""
    import torch

    from ichmodel import notices
    from ichmodel.notices import Source
    from ichmodel.phantom import PhantomConfig, make_phantom
    from ichmodel.progress import run_to_completion
    from ichmodel.reading import ModelIdentity, StudyReading, measure_reading, predict_reading

    torch.set_num_threads(1)
    phantom = make_phantom(
        seed, PhantomConfig(size=64, slice_thickness_mm=5.0, site="deep", volume_ml=25.0)
    )
    tilt = notices.info("load.gantry_tilt_corrected", "gantry tilt of 12 degrees corrected",
                        Source.LOAD)
    reading = StudyReading(volume=phantom.volume.with_notices(tilt), source_label="phantom")
    reading = reading.with_measurement(measure_reading(reading))
    model = tiny_model(provenance=provenance)
    prediction = run_to_completion(predict_reading(reading, model, device="cpu"))
    return reading.with_prediction(prediction, ModelIdentity.of(model))


def with_model_volume(reading, volume_ml: float):
    """The same reading with the model's volume changed (to test rules that read it)."""
    assert reading.prediction is not None and reading.model is not None
    return reading.with_prediction(
        replace(reading.prediction, predicted_volume_ml=volume_ml), reading.model
    )
