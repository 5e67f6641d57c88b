"""The trainer dialog's plots (pyqtgraph): live loss / MAE / AUC curves and the final ROC."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ichviewer.dialogs.trainer_data import TrainingCurves

#: Rows of the final metrics table: key in TrainOutcome.metrics -> label.
METRIC_LABELS = {
    "n_val": "validation cases",
    "mae_ml": "volume MAE (ml)",
    "mse_ml2": "volume MSE (ml²)",
    "mape_pct": "volume MAPE (%)",
    "n_mape_skipped_zero": "MAPE: cases skipped (0 ml)",
    "n_outcome": "cases with an outcome",
    "accuracy": "outcome accuracy",
    "auc": "outcome AUC",
    "best_epoch": "best epoch",
    "epochs": "epochs run",
    "best_val_loss": "best validation loss",
    "stopped": "stopped by",
    "elapsed_s": "training time (s)",
    "scoring_error": "scoring error",
}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


STEP_PEN = pg.mkPen((160, 160, 160), width=1)
TRAIN_PEN = pg.mkPen((31, 119, 180), width=2)
VAL_PEN = pg.mkPen((255, 127, 14), width=2)
MAE_PEN = pg.mkPen((44, 160, 44), width=2)
AUC_PEN = pg.mkPen((214, 39, 40), width=2)


class TrainingPlots(QWidget):
    """Three stacked plots against epochs: loss (steps, train, val), val MAE (ml), val AUC."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self.loss_plot = self.graphics.addPlot(row=0, col=0, title="Loss")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.loss_plot.setLabel("left", "loss (mm² + λ·CE)")
        self.mae_plot = self.graphics.addPlot(row=1, col=0, title="Validation MAE")
        self.mae_plot.setLabel("left", "MAE (ml)")
        self.auc_plot = self.graphics.addPlot(row=2, col=0, title="Validation AUC")
        self.auc_plot.setLabel("left", "AUC")
        self.auc_plot.setLabel("bottom", "epoch")
        self.auc_plot.setYRange(0.0, 1.0)
        self.auc_plot.enableAutoRange(axis="y", enable=False)
        for plot in (self.loss_plot, self.mae_plot, self.auc_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
        self.mae_plot.setXLink(self.loss_plot)
        self.auc_plot.setXLink(self.loss_plot)

        self.step_curve = self.loss_plot.plot(pen=STEP_PEN, name="batch")
        self.train_curve = self.loss_plot.plot(
            pen=TRAIN_PEN, symbol="o", symbolSize=5, name="train"
        )
        self.val_curve = self.loss_plot.plot(pen=VAL_PEN, symbol="o", symbolSize=5, name="val")
        self.mae_curve = self.mae_plot.plot(pen=MAE_PEN, symbol="o", symbolSize=5)
        self.auc_curve = self.auc_plot.plot(pen=AUC_PEN, symbol="o", symbolSize=5)

    def show_curves(self, curves: TrainingCurves) -> None:
        self.step_curve.setData(curves.step_x, curves.step_loss)
        self.train_curve.setData(curves.train_x, curves.train_loss)
        self.val_curve.setData(curves.val_x, curves.val_loss)
        self.mae_curve.setData(curves.mae_x, curves.val_mae_ml)
        self.auc_curve.setData(curves.auc_x, curves.val_auc)

    def clear_curves(self) -> None:
        self.show_curves(TrainingCurves())

    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """What is plotted now, by curve name (for tests)."""
        items = {
            "batch": self.step_curve,
            "train": self.train_curve,
            "val": self.val_curve,
            "val_mae_ml": self.mae_curve,
            "val_auc": self.auc_curve,
        }
        out = {}
        for name, item in items.items():
            x, y = item.getData()
            out[name] = (
                np.asarray([] if x is None else x, dtype=float),
                np.asarray([] if y is None else y, dtype=float),
            )
        return out


class RocPlot(QWidget):
    """The ROC curve of the final model on the validation cases, with the chance diagonal."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget(background="w")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        plot = self.plot_widget.getPlotItem()
        plot.setTitle("ROC (validation)")
        plot.setLabel("bottom", "false-positive rate")
        plot.setLabel("left", "true-positive rate")
        plot.setRange(xRange=(0.0, 1.0), yRange=(0.0, 1.0), padding=0.02)
        plot.disableAutoRange()
        plot.setLimits(xMin=-0.05, xMax=1.05, yMin=-0.05, yMax=1.05)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.plot([0, 1], [0, 1], pen=pg.mkPen((150, 150, 150), style=pg.QtCore.Qt.DashLine))
        self.curve = plot.plot(pen=AUC_PEN)

    def set_roc(self, fpr: np.ndarray | None, tpr: np.ndarray | None, auc: float | None) -> None:
        plot = self.plot_widget.getPlotItem()
        if fpr is None or tpr is None or len(fpr) == 0:
            self.curve.setData([], [])
            plot.setTitle("ROC (validation): no outcome labels to compute it")
            return
        self.curve.setData(np.asarray(fpr, float), np.asarray(tpr, float))
        plot.setTitle("ROC (validation)" + (f", AUC {auc:.3f}" if auc is not None else ""))


class FinalMetricsPanel(QWidget):
    """The finished run's metrics table (best checkpoint on the validation cases) and ROC."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["metric", "value"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        self.roc = RocPlot()
        layout = QHBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.roc, 1)

    def show_outcome(self, metrics: dict[str, Any], fpr, tpr) -> None:
        order = list(METRIC_LABELS)
        keys = sorted(metrics, key=lambda k: order.index(k) if k in order else len(order))
        self.table.setRowCount(len(keys))
        for i, key in enumerate(keys):
            self.table.setItem(i, 0, QTableWidgetItem(METRIC_LABELS.get(key, key)))
            self.table.setItem(i, 1, QTableWidgetItem(_fmt(metrics[key])))
        auc = metrics.get("auc")
        self.roc.set_roc(fpr, tpr, float(auc) if isinstance(auc, int | float) else None)

    def metrics_shown(self) -> dict[str, str]:
        t = self.table
        return {t.item(i, 0).text(): t.item(i, 1).text() for i in range(t.rowCount())}
