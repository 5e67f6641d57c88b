"""The training loop's own state: what it counts, what it remembers, what a resume restores.

:class:`RunState` is the one mutable record of a run (the loop updates it after every step) and
is saved as JSON inside ``checkpoints/state.safetensors`` (:mod:`ichmodel.train.state`) with
the key names runs have always used, so a run saved before the state was typed still resumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ichmodel.train.distributed import World

#: Why a run ended: all epochs run, early stopping, or ``TrainConfig.max_steps``.
STOP_REASONS = ("completed", "early_stopping", "max_steps")


@dataclass
class RunState:
    """Counters, running sums and history of one run (mutable: the loop owns it)."""

    #: Optimizer steps done (global, all epochs).
    step: int = 0
    #: Epochs finished (0-based index of the epoch being trained).
    epoch: int = 0
    #: Batches of the current epoch already trained (a resume starts at this one).
    batch_in_epoch: int = 0
    #: Sums over the current epoch's good steps, each loss times its batch's case count.
    epoch_loss_sum: float = 0.0
    epoch_volume_loss_sum: float = 0.0
    epoch_outcome_loss_sum: float = 0.0
    #: The same for each extra loss term, by term name.
    epoch_term_loss_sums: dict[str, float] = field(default_factory=dict)
    epoch_samples: int = 0
    best_val_loss: float | None = None
    best_epoch: int | None = None
    epochs_without_improvement: int = 0
    #: One row per finished epoch (what metrics.csv holds).
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Training time before this session (resumed runs add theirs).
    elapsed_s: float = 0.0
    #: Steps skipped because the loss, gradients or BatchNorm statistics were non-finite.
    skipped_steps: int = 0
    #: "early_stopping" once the patience ran out; None while the run may continue.
    stopped: str | None = None

    @classmethod
    def new(cls, term_names: Iterable[str]) -> RunState:
        return cls(epoch_term_loss_sums=dict.fromkeys(term_names, 0.0))

    def start_next_epoch(self) -> None:
        """Reset the per-epoch sums (the epoch counter is advanced by the caller)."""
        self.batch_in_epoch = 0
        self.epoch_samples = 0
        self.epoch_loss_sum = self.epoch_volume_loss_sum = self.epoch_outcome_loss_sum = 0.0
        self.epoch_term_loss_sums = dict.fromkeys(self.epoch_term_loss_sums, 0.0)

    def to_info(self) -> dict[str, Any]:
        """The JSON document saved in the training state (the historical key names)."""
        info: dict[str, Any] = {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "epoch_loss_sum": self.epoch_loss_sum,
            "epoch_volume_loss_sum": self.epoch_volume_loss_sum,
            "epoch_outcome_loss_sum": self.epoch_outcome_loss_sum,
            "epoch_samples": self.epoch_samples,
            "best_val_loss": self.best_val_loss,
            "best_epoch": self.best_epoch,
            "epochs_without_improvement": self.epochs_without_improvement,
            "history": self.history,
            "elapsed_s": self.elapsed_s,
            "skipped_steps": self.skipped_steps,
        }
        info |= {f"epoch_{name}_loss_sum": v for name, v in self.epoch_term_loss_sums.items()}
        if self.stopped is not None:
            info["stopped"] = self.stopped
        return info

    @classmethod
    def from_info(cls, info: Mapping[str, Any], term_names: Iterable[str]) -> RunState:
        """The state saved by :meth:`to_info` for a run with these loss terms."""
        return cls(
            step=int(info["step"]),
            epoch=int(info["epoch"]),
            batch_in_epoch=int(info["batch_in_epoch"]),
            epoch_loss_sum=float(info["epoch_loss_sum"]),
            epoch_volume_loss_sum=float(info["epoch_volume_loss_sum"]),
            epoch_outcome_loss_sum=float(info["epoch_outcome_loss_sum"]),
            epoch_term_loss_sums={
                n: float(info.get(f"epoch_{n}_loss_sum", 0.0)) for n in term_names
            },
            epoch_samples=int(info["epoch_samples"]),
            best_val_loss=info.get("best_val_loss"),
            best_epoch=info.get("best_epoch"),
            epochs_without_improvement=int(info.get("epochs_without_improvement", 0)),
            history=list(info.get("history", [])),
            elapsed_s=float(info.get("elapsed_s", 0.0)),
            skipped_steps=int(info.get("skipped_steps", 0)),
            stopped=info.get("stopped"),
        )

    def add_other_ranks(self, world: World) -> None:
        """Make the epoch's loss sums those of the whole world's samples (each rank saw its
        share of every batch); the sums only feed the epoch's metrics row."""
        names = list(self.epoch_term_loss_sums)
        local = [self.epoch_loss_sum, self.epoch_volume_loss_sum, self.epoch_outcome_loss_sum,
                 float(self.epoch_samples)] + [self.epoch_term_loss_sums[n] for n in names]
        total = world.sum_over_ranks(local)
        self.epoch_loss_sum, self.epoch_volume_loss_sum, self.epoch_outcome_loss_sum = total[:3]
        self.epoch_samples = int(round(total[3]))
        self.epoch_term_loss_sums = dict(zip(names, total[4:], strict=True))

    def epoch_row(self, lr: float) -> dict[str, Any]:
        """The finished epoch's training numbers (validation adds its own)."""
        n = max(1, self.epoch_samples)
        row: dict[str, Any] = {
            "epoch": self.epoch + 1,
            "step": self.step,
            "lr": lr,
            "train_loss": self.epoch_loss_sum / n,
            "train_volume_loss": self.epoch_volume_loss_sum / n,
            "train_outcome_loss": self.epoch_outcome_loss_sum / n,
        }
        # only runs with a term log it (the metrics files of other runs stay as they were)
        row |= {f"train_{name}_loss": s / n for name, s in self.epoch_term_loss_sums.items()}
        return row
