"""Qt-free helpers of the trainer dialog: the curves' data and the ETA text.

(Building a manifest from a folder + a label CSV is :mod:`ichmodel.train.manifest_build`,
shared with ``ichmodel manifest build``.)

* :class:`TrainingCurves` accumulates the training loop's progress events
  (``stage="train"`` per step, ``stage="validate"`` per epoch) into the series the dialog plots:
  train loss, validation loss, validation MAE (ml) and AUC, and the latest ETA.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ichmodel.progress import Progress


def format_eta(seconds: float | None) -> str:
    """Seconds as "1 h 02 min", "3 min 05 s" or "12 s"; "" when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def _number(metrics: Mapping[str, float], *names: str) -> float | None:
    for name in names:
        value = metrics.get(name)
        if value is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                return number
    return None


@dataclass
class TrainingCurves:
    """The series the dialog plots, x in epochs (fractional during an epoch)."""

    #: Per optimizer step: the batch's loss (noisy).
    step_x: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    #: Per epoch: the epoch's mean training loss and the validation numbers.
    train_x: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_x: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    mae_x: list[float] = field(default_factory=list)
    val_mae_ml: list[float] = field(default_factory=list)
    auc_x: list[float] = field(default_factory=list)
    val_auc: list[float] = field(default_factory=list)
    eta_s: float | None = None
    epoch: float | None = None
    #: The run's planned epochs: lets per-step points sit at fractional epochs.
    epochs: int | None = None
    last_message: str = ""

    def add(self, event: Progress) -> bool:
        """Take one progress event; True when a plotted series changed."""
        m = event.metrics or {}
        self.last_message = event.message or self.last_message
        eta = _number(m, "eta_s")
        if eta is not None:
            self.eta_s = eta
        epoch = _number(m, "epoch")
        if epoch is not None:
            self.epoch = epoch
        if event.stage == "train":
            loss = _number(m, "batch_loss", "train_loss", "loss")
            step = _number(m, "step")
            if loss is None or (epoch is None and step is None):
                return False
            if step is not None and event.total and self.epochs:
                x = step * self.epochs / float(event.total)  # epochs done, fractional
            else:
                x = epoch if epoch is not None else float(len(self.step_x) + 1)
            self.step_x.append(x)
            self.step_loss.append(loss)
            return True
        if event.stage == "validate":
            changed = False
            x = epoch if epoch is not None else float(len(self.val_x) + 1)
            for xs, ys, names in (
                (self.train_x, self.train_loss, ("train_loss",)),
                (self.val_x, self.val_loss, ("val_loss",)),
                (self.mae_x, self.val_mae_ml, ("val_mae_ml", "mae_ml")),
                (self.auc_x, self.val_auc, ("val_auc", "auc")),
            ):
                value = _number(m, *names)
                if value is not None:
                    xs.append(x)
                    ys.append(value)
                    changed = True
            return changed
        return False

    @property
    def last_validation(self) -> dict[str, float]:
        out = {}
        if self.val_loss:
            out["val_loss"] = self.val_loss[-1]
        if self.val_mae_ml:
            out["val_mae_ml"] = self.val_mae_ml[-1]
        if self.val_auc:
            out["val_auc"] = self.val_auc[-1]
        return out
