"""A progress strip for the status bar: what runs now, how far, and a Cancel button."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from ichmodel.progress import Progress


class ProgressStrip(QWidget):
    """``show_progress(job_name, Progress)``; ``set_busy(False)`` hides it.
    ``sig_cancel`` fires when the user presses Cancel."""

    sig_cancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setMinimumWidth(220)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(240)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running jobs (Esc)")
        self.cancel_button.clicked.connect(self.sig_cancel.emit)
        self.cancel_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.set_busy(False)

    def set_busy(self, busy: bool, text: str = "Working…") -> None:
        self.bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.bar.setRange(0, 0)  # indeterminate until a fraction arrives
            self.label.setText(text)
        else:
            self.label.setText("")

    def set_active(self, names: list[str]) -> None:
        """The jobs running or queued now; an empty list hides the strip."""
        if not names:
            self.set_busy(False)
            return
        self.bar.setVisible(True)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.label.setText(" · ".join(dict.fromkeys(names)) + "…")

    def show_progress(self, job_name: str, event: Progress) -> None:
        self.bar.setVisible(True)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        fraction = event.fraction
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(round(fraction * 1000)))
        message = event.message or event.stage
        self.label.setText(f"{job_name}: {message}")
