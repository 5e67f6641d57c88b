"""``python -m research.demo_model amend``: rewrite a model's card text and metrics with what
later runs measured (weights, gate, temperature, voxel scaling and configs unchanged).

The fine-tune, calibrate and trust stages keep their start model's card, so the shipped file's
summary, training data and metrics are amended afterwards (this used to be done by hand). The
card's provenance stays what it was: this only edits words and measured figures.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from research.demo_model.logs import configure_logging

log = logging.getLogger(__name__)

HELP = "rewrite a model's card text and metrics (weights unchanged)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--summary", type=Path, help="text file: the card's new summary")
    p.add_argument("--training-data", type=Path, help="text file: the card's training data")
    p.add_argument("--limitations", type=Path, help="text file: the card's limitations")
    p.add_argument("--metrics", type=Path,
                   help="JSON object file: metrics to set (merged over the model's)")
    p.add_argument("--drop-metric", action="append", default=[],
                   help="metric key to remove (figures of an earlier model; repeatable)")
    p.add_argument("--record", type=Path,
                   help="JSON object file: stored as training['card_amended']")


def _text(path: Path | None, old: str) -> str:
    return old if path is None else path.read_text().strip()


def run(a: argparse.Namespace) -> int:
    configure_logging()
    import dataclasses

    from ichmodel.checkpoint import load_checkpoint, save_checkpoint

    model = load_checkpoint(a.model)
    card = dataclasses.replace(
        model.card, summary=_text(a.summary, model.card.summary),
        training_data=_text(a.training_data, model.card.training_data),
        limitations=_text(a.limitations, model.card.limitations))
    metrics = {k: v for k, v in (model.metrics or {}).items() if k not in a.drop_metric}
    if a.metrics:
        metrics.update(json.loads(a.metrics.read_text()))
    training = dict(model.training or {})
    if a.record:
        training["card_amended"] = json.loads(a.record.read_text())
    save_checkpoint(a.out, model.net, net_config=model.net_config,
                    preprocess_config=model.preprocess_config, card=card, training=training,
                    metrics=metrics, dtype=model.weights_dtype,
                    label_transform=model.label_transform, gate=model.gate,
                    outcome_temperature=model.outcome_temperature)
    out = load_checkpoint(a.out)
    if out.sha256 != model.sha256:  # fp16 -> fp32 -> fp16 is exact
        raise SystemExit(f"weights changed on re-saving {a.model} (a bug): not amended")
    log.info("wrote %s (weights sha256 %s unchanged)", a.out, out.sha256[:12])
    return 0
