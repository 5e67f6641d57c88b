"""The training configuration: a frozen dataclass saved in the run folder (``config.json``).

The defaults are the seed paper's (Gong et al. 2023): SGD, lr 1e-4, momentum 0.9, weight decay
5e-4, batch 8, up to 300 epochs, loss = MSE(size mm) + λ·CE(outcome).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ichmodel.config_fields import config_kwargs
from ichmodel.train.augment import AugmentConfig

OPTIMIZERS = ("sgd", "adamw", "adam")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (paper defaults)."""

    epochs: int = 300
    batch_size: int = 8
    optimizer: str = "sgd"
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    #: Linear warm-up from 0 over this many steps, then ``schedule``.
    warmup_steps: int = 0
    schedule: str = "constant"
    #: λ: weight of the outcome cross-entropy against the size MSE (mm²).
    outcome_loss_weight: float = 1.0
    #: μ: weight of the localization term (not in the paper; 0 = off). Where a cached case
    #: also holds its hematoma mask (phantoms do; manifest rows do not), a cross-entropy pulls
    #: the volume head's per-location contributions, i.e. its last-stage Grad-CAM, onto the
    #: blood (:func:`ichmodel.train.steps.localization_loss`). Needs ``with_hematoma`` caches.
    localization_loss_weight: float = 0.0
    #: "none", "balanced" (inverse class frequency in the training set) or explicit (w0, w1).
    class_weights: str | tuple[float, float] = "none"
    freeze_encoder: bool = False
    #: Stop when the validation loss has not improved for this many epochs (None: never).
    early_stopping_patience: int | None = None
    seed: int = 0
    val_fraction: float = 0.2
    device: str = "auto"
    #: "auto" (bf16 on CUDA and on CPUs with native bf16), "bf16" or "fp32".
    precision: str = "auto"
    #: DataLoader processes (None: 0 on CPU, several on CUDA).
    num_workers: int | None = None
    #: torch CPU threads (None: the CPUs this process may use).
    threads: int | None = None
    #: Also write the resumable state every this many steps (None: at each epoch's end only).
    checkpoint_every_steps: int | None = None
    #: Stop after this global step (smoke tests; None: run all epochs).
    max_steps: int | None = None
    grad_clip_norm: float | None = None
    #: Steps in a row whose loss, gradients or BatchNorm statistics are NaN/inf that are skipped
    #: (weights unchanged, with a warning) before the run stops with NonFiniteLossError;
    #: 0 stops at the first one.
    nonfinite_patience: int = 3
    #: From scratch, start the volume head's bias at the training set's mean size (mm), so the
    #: first steps fit the spread of sizes instead of their mean (not in the paper).
    init_volume_bias: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.localization_loss_weight >= 0:
            raise ValueError(
                f"localization_loss_weight must be >= 0, got {self.localization_loss_weight}"
            )
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        cw = self.class_weights
        if isinstance(cw, str):
            if cw not in ("none", "balanced"):
                raise ValueError(f"class_weights must be none, balanced or (w0, w1), got {cw!r}")
        else:
            cw = tuple(float(w) for w in cw)
            if len(cw) != 2 or min(cw) <= 0:
                raise ValueError(f"class_weights must be two positive numbers, got {cw}")
            object.__setattr__(self, "class_weights", cw)
        if isinstance(self.augment, dict):
            aug = dict(self.augment)
            if "max_shift_fraction" in aug:
                aug["max_shift_fraction"] = tuple(aug["max_shift_fraction"])
            object.__setattr__(self, "augment", AugmentConfig(**aug))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(self.class_weights, tuple):
            d["class_weights"] = list(self.class_weights)
        d["augment"]["max_shift_fraction"] = list(self.augment.max_shift_fraction)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return cls(**config_kwargs(cls, data, tuples=("class_weights",)))

    #: Fields that may differ when resuming (they do not change what was already computed).
    RESUMABLE_CHANGES = ("epochs", "max_steps", "device", "num_workers", "threads",
                         "checkpoint_every_steps", "early_stopping_patience",
                         "nonfinite_patience")
