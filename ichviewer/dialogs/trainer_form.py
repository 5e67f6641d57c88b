"""The trainer dialog's hyperparameter form: paper defaults, read back as a ``TrainConfig``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ichmodel.train.config import TrainConfig
    from ichmodel.train.fine_tune import StartChoice

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

DEVICES = ("auto", "cpu", "cuda", "mps")


def _double(value: float, lo: float, hi: float, decimals: int, step: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox(decimals=decimals, minimum=lo, maximum=hi, singleStep=step)
    spin.setValue(value)
    return spin


class HyperparameterForm(QGroupBox):
    """SGD lr 1e-4, momentum 0.9, weight decay 5e-4, batch 8, 300 epochs, λ 1 (TrainConfig's
    defaults, which are the paper's), plus start model, freeze, early stopping, device, run folder.
    """

    def __init__(self, device: str = "auto", run_hint: str = "", parent: QWidget | None = None):
        super().__init__("Hyperparameters (defaults: Gong et al. 2023)", parent)
        from ichmodel.train.config import TrainConfig

        defaults = TrainConfig()
        self.init_combo = QComboBox()
        self.init_combo.addItem("the active model (fine-tune)", "active")
        # the rule of ichmodel.train.fine_tune (and `ichmodel train --from-scratch`)
        self.init_combo.addItem("scratch (the paper's ResNet34, new seeded weights)", "scratch")
        self.epochs_spin = QSpinBox(minimum=1, maximum=5000, value=defaults.epochs)
        self.batch_spin = QSpinBox(minimum=1, maximum=512, value=defaults.batch_size)
        self.lr_spin = _double(defaults.lr, 1e-7, 1.0, 7, 1e-5)
        self.momentum_spin = _double(defaults.momentum, 0.0, 0.999, 3, 0.01)
        self.wd_spin = _double(defaults.weight_decay, 0.0, 0.1, 6, 1e-4)
        self.lambda_spin = _double(defaults.outcome_loss_weight, 0.0, 1000.0, 3, 0.1)
        self.class_combo = QComboBox()
        self.class_combo.addItems(["none", "balanced"])
        self.class_combo.setToolTip("balanced: weight rare poor outcomes by inverse frequency")
        self.freeze_check = QCheckBox("train only the heads")
        self.freeze_check.setChecked(defaults.freeze_encoder)
        self.patience_spin = QSpinBox(minimum=0, maximum=1000, value=0)
        self.patience_spin.setSpecialValueText("off")
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=defaults.seed)
        self.seed_spin.setToolTip("seeds the split, the batches, the augmentation and, from "
                                  "scratch, the weights (ichmodel train --seed)")
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        self.device_combo.setCurrentText(device if device in DEVICES else "auto")
        self.precision_combo = QComboBox()
        self.precision_combo.addItems(["auto", "bf16", "fp32"])
        self.precision_combo.setToolTip("auto: bf16 where the device runs it natively")
        self.run_edit = QLineEdit()
        self.run_edit.setPlaceholderText(run_hint)
        self.resume_check = QCheckBox("continue the interrupted run in this folder")

        form = QFormLayout(self)
        rows = (
            ("Start from", self.init_combo),
            ("Epochs", self.epochs_spin),
            ("Batch size", self.batch_spin),
            ("Learning rate (SGD)", self.lr_spin),
            ("Momentum", self.momentum_spin),
            ("Weight decay", self.wd_spin),
            ("λ (outcome loss weight)", self.lambda_spin),
            ("Class weights", self.class_combo),
            ("Freeze encoder", self.freeze_check),
            ("Early stopping patience", self.patience_spin),
            ("Seed", self.seed_spin),
            ("Device", self.device_combo),
            ("Precision", self.precision_combo),
            ("Run folder", self.run_edit),
            ("", self.resume_check),
        )
        for label, widget in rows:
            form.addRow(label, widget)

    @property
    def init(self) -> str:
        """The combo's choice: "active" or "scratch"."""
        return str(self.init_combo.currentData())

    def start_choice(self) -> StartChoice:
        """The start model as the fine-tune session takes it."""
        from ichmodel.train.fine_tune import ActiveModel, ScratchModel

        return ScratchModel() if self.init == "scratch" else ActiveModel()

    def train_config(self) -> TrainConfig:
        """The form as an ``ichmodel.train.config.TrainConfig`` (raises ValueError if refused)."""
        from ichmodel.train.config import TrainConfig

        patience = self.patience_spin.value()
        return TrainConfig(
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=self.lr_spin.value(),
            momentum=self.momentum_spin.value(),
            weight_decay=self.wd_spin.value(),
            outcome_loss_weight=self.lambda_spin.value(),
            class_weights=self.class_combo.currentText(),
            freeze_encoder=self.freeze_check.isChecked(),
            early_stopping_patience=patience if patience > 0 else None,
            seed=self.seed_spin.value(),
            device=self.device_combo.currentText(),
            precision=self.precision_combo.currentText(),
        )

    def set_running(self, running: bool) -> None:
        for child in self.findChildren(QWidget):
            child.setEnabled(not running)
