"""The results panel: the three volumes side by side, prognosis, location/IVH, the model and its
card, loader warnings, the measurement's HU range and the overlay controls.

It only displays what it is given (``set_measurement``, ``set_prediction``, ``set_model``,
``set_loader_warnings``) and reports what the user changes through signals.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

#: Volumes "disagree" when they differ by more than this many ml AND this fraction of the larger.
DISAGREE_ABS_ML = 5.0
DISAGREE_REL = 0.25
DEFAULT_HU_RANGE = (50, 90)
BANNER_TEXT = "Trained on synthetic data — not for clinical use"
PENDING = "…"
BANNER_KEY = "not for clinical use"


def volumes_disagree(volumes_ml: list[float]) -> bool:
    """True when the largest and smallest of the given volumes differ by more than
    :data:`DISAGREE_ABS_ML` ml and :data:`DISAGREE_REL` of the largest."""
    values = [v for v in volumes_ml if v is not None]
    if len(values) < 2:
        return False
    lo, hi = min(values), max(values)
    return (hi - lo) > DISAGREE_ABS_ML and (hi - lo) > DISAGREE_REL * hi


def _ml(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ml"


def _value_label() -> QLabel:
    label = QLabel("—")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class ResultsPanel(QWidget):
    sig_opacity_changed = Signal(float)  # 0..1
    sig_heatmap_visible = Signal(bool)
    sig_cam_head_changed = Signal(str)  # "volume" | "prognosis"
    sig_contour_visible = Signal(bool)
    sig_abc2_visible = Signal(bool)
    sig_jump_largest = Signal()
    sig_hu_range_changed = Signal(float, float)  # HU low, HU high
    sig_model_card = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._measurement: Any = None
        self._prediction: Any = None
        self._loader_warnings: list[str] = []
        self._banner_text = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        self.banner = QLabel(f"⚠  {BANNER_TEXT}")
        self.banner.setWordWrap(True)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setStyleSheet(
            "background:#ffb300; color:#1a1a1a; font-weight:bold; padding:6px; border-radius:3px"
        )
        self.banner.setVisible(False)
        layout.addWidget(self.banner)

        # --- volumes ---
        box = QGroupBox("Hematoma volume")
        column = QVBoxLayout(box)
        form = QFormLayout()
        column.addLayout(form)
        self.model_volume = _value_label()
        self.planimetric_volume = _value_label()
        self.abc2_volume = _value_label()
        self.abc2_axes = _value_label()
        form.addRow("Model (predicted)", self.model_volume)
        form.addRow("Planimetric", self.planimetric_volume)
        form.addRow("ABC/2", self.abc2_volume)
        form.addRow("A × B × C", self.abc2_axes)
        self.disagree = QLabel("")
        self.disagree.setWordWrap(True)
        self.disagree.setStyleSheet(
            "color:#ffcdd2; background:#5d1f1f; border:1px solid #e57373; padding:4px;"
            " border-radius:3px"
        )
        self.disagree.setVisible(False)
        # wrapped labels go in the box's column, not in form rows: a QFormLayout spanning row
        # does not grow with heightForWidth inside a scroll area and the text overlapped
        column.addWidget(self.disagree)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color:#90a4ae")
        self.status.setVisible(False)
        column.addWidget(self.status)
        # HU range of the measurement, live
        self.hu_low = QSpinBox()
        self.hu_high = QSpinBox()
        for spin, value in (
            (self.hu_low, DEFAULT_HU_RANGE[0]),
            (self.hu_high, DEFAULT_HU_RANGE[1]),
        ):
            spin.setRange(-100, 200)
            spin.setSuffix(" HU")
            spin.setValue(value)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._on_hu_changed)
        self.hu_slider_low = QSlider(Qt.Orientation.Horizontal)
        self.hu_slider_high = QSlider(Qt.Orientation.Horizontal)
        for slider, spin in (
            (self.hu_slider_low, self.hu_low),
            (self.hu_slider_high, self.hu_high),
        ):
            slider.setRange(spin.minimum(), spin.maximum())
            slider.setValue(spin.value())
            slider.valueChanged.connect(spin.setValue)
            spin.valueChanged.connect(slider.setValue)
        hu_row = QHBoxLayout()
        hu_row.addWidget(self.hu_low)
        hu_row.addWidget(QLabel("to"))
        hu_row.addWidget(self.hu_high)
        hu_form = QFormLayout()
        hu_form.addRow("Blood HU range", hu_row)
        hu_form.addRow("Low", self.hu_slider_low)
        hu_form.addRow("High", self.hu_slider_high)
        column.addLayout(hu_form)
        layout.addWidget(box)

        # --- prognosis and anatomy ---
        box = QGroupBox("Prognosis and location")
        form = QFormLayout(box)
        self.probability = _value_label()
        self.location = _value_label()
        self.ivh = _value_label()
        form.addRow("Poor outcome", self.probability)
        form.addRow("Location", self.location)
        form.addRow("IVH", self.ivh)
        layout.addWidget(box)

        # --- overlays ---
        box = QGroupBox("Overlays")
        form = QFormLayout(box)
        self.heatmap_check = QCheckBox("Grad-CAM heatmap")
        self.heatmap_check.setChecked(True)
        self.heatmap_check.toggled.connect(self.sig_heatmap_visible.emit)
        self.cam_head = QComboBox()
        self.cam_head.addItem("volume head", "volume")
        self.cam_head.addItem("prognosis head", "prognosis")
        self.cam_head.setToolTip("Which output the heatmap explains")
        self.cam_head.currentIndexChanged.connect(
            lambda i: self.sig_cam_head_changed.emit(str(self.cam_head.itemData(i)))
        )
        row = QHBoxLayout()
        row.addWidget(self.heatmap_check)
        row.addWidget(self.cam_head, 1)
        form.addRow(row)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_label = QLabel("45 %")
        self.opacity_label.setMinimumWidth(40)
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        self.opacity_slider.setValue(45)
        row = QHBoxLayout()
        row.addWidget(self.opacity_slider, 1)
        row.addWidget(self.opacity_label)
        form.addRow("Opacity", row)
        self.contour_check = QCheckBox("Hematoma contour")
        self.contour_check.setChecked(True)
        self.contour_check.toggled.connect(self.sig_contour_visible.emit)
        self.abc2_check = QCheckBox("ABC/2 A and B")
        self.abc2_check.setChecked(True)
        self.abc2_check.toggled.connect(self.sig_abc2_visible.emit)
        row = QHBoxLayout()
        row.addWidget(self.contour_check)
        row.addWidget(self.abc2_check)
        form.addRow(row)
        self.jump_button = QPushButton("Jump to the largest hematoma slice")
        self.jump_button.setEnabled(False)
        self.jump_button.clicked.connect(self.sig_jump_largest.emit)
        form.addRow(self.jump_button)
        layout.addWidget(box)

        # --- model ---
        box = QGroupBox("Model")
        column = QVBoxLayout(box)
        form = QFormLayout()
        column.addLayout(form)
        self.model_name = _value_label()
        self.device = _value_label()
        self.timings = _value_label()
        self.card_button = QPushButton("Model card…")
        self.card_button.setEnabled(False)
        self.card_button.clicked.connect(self.sig_model_card.emit)
        form.addRow("Active model", self.model_name)
        form.addRow("Device", self.device)
        form.addRow("Timings", self.timings)
        self.model_warnings = QLabel("")
        self.model_warnings.setWordWrap(True)
        self.model_warnings.setStyleSheet("color:#ffb300")
        self.model_warnings.setVisible(False)
        column.addWidget(self.model_warnings)
        column.addWidget(self.card_button)
        layout.addWidget(box)

        # --- warnings ---
        self.warnings_box = QGroupBox("Loader warnings")
        wl = QVBoxLayout(self.warnings_box)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color:#e65100")
        self.warnings.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        wl.addWidget(self.warnings)
        self.warnings_box.setVisible(False)
        layout.addWidget(self.warnings_box)
        layout.addStretch(1)

    # --- inputs -----------------------------------------------------------------------------
    def clear(self) -> None:
        self._measurement = None
        self._prediction = None
        for label in (
            self.model_volume,
            self.planimetric_volume,
            self.abc2_volume,
            self.abc2_axes,
            self.probability,
            self.location,
            self.ivh,
            self.timings,
        ):
            label.setText("—")
        self.status.setText("")
        self.status.setVisible(False)
        self.model_warnings.setVisible(False)
        self.disagree.setVisible(False)
        self.jump_button.setEnabled(False)
        self.set_loader_warnings([])

    def set_pending(self, measuring: bool, predicting: bool) -> None:
        """Show "…" where results are on their way."""
        if measuring:
            for label in (
                self.planimetric_volume,
                self.abc2_volume,
                self.abc2_axes,
                self.location,
                self.ivh,
            ):
                label.setText(PENDING)
        if predicting:
            self.model_volume.setText(PENDING)
            self.probability.setText(PENDING)

    def set_measurement(self, m: Any) -> None:
        self._measurement = m
        if m is None:
            return
        self.planimetric_volume.setText(_ml(m.hematoma_volume_ml))
        abc2 = getattr(m, "abc2", None)
        if abc2 is not None:
            self.abc2_volume.setText(_ml(abc2.volume_ml))
            self.abc2_axes.setText(f"{abc2.a_mm:.0f} × {abc2.b_mm:.0f} × {abc2.c_mm:.0f} mm")
        else:
            self.abc2_volume.setText("—")
            self.abc2_axes.setText("no hematoma to measure")
        self.location.setText(str(getattr(m, "location", "") or "—"))
        ivh = getattr(m, "ivh", None)
        ivh_ml = getattr(m, "ivh_volume_ml", None)
        if ivh is None:
            self.ivh.setText("—")
        elif ivh:
            self.ivh.setText(f"yes ({ivh_ml:.1f} ml)" if ivh_ml is not None else "yes")
        else:
            self.ivh.setText("no")
        loader = set(self._loader_warnings)
        notes = [w for w in getattr(m, "warnings", ()) or () if w and w not in loader]
        status = str(getattr(m, "status", "") or "")
        self.status.setText("\n".join([status] + [f"⚠ {w}" for w in notes]).strip())
        self.status.setVisible(bool(self.status.text()))
        mask = getattr(m, "hematoma_mask", None)
        self.jump_button.setEnabled(mask is not None and bool(mask.any()))
        self._update_disagreement()

    def set_prediction(self, p: Any) -> None:
        self._prediction = p
        if p is None:
            return
        self.model_volume.setText(_ml(p.predicted_volume_ml))
        self.probability.setText(f"{100.0 * p.poor_outcome_probability:.0f} %")
        timings = getattr(p, "timings_s", {}) or {}
        if timings:
            parts = [f"{k} {v:.2f} s" for k, v in timings.items()]
            self.timings.setText(", ".join(parts))
        self.device.setText(str(getattr(p, "device", "") or "—"))
        # the untrained/demo warning is the banner already; list the others
        banner = self._banner_text.lower()
        notes = [
            w
            for w in getattr(p, "warnings", ()) or ()
            if w and not (banner and banner in w.lower()) and BANNER_KEY not in w.lower()
        ]
        self.model_warnings.setText("\n".join(f"• {w}" for w in notes))
        self.model_warnings.setVisible(bool(notes))
        self._update_disagreement()

    def set_model(self, name: str | None, *, banner: str = "") -> None:
        """The active model's name; ``banner`` (e.g. "trained on synthetic data — not for
        clinical use") is shown prominently while non-empty."""
        self.model_name.setText(name or "—")
        self.card_button.setEnabled(bool(name))
        self._banner_text = banner
        self.banner.setText(f"⚠  {banner}")
        self.banner.setVisible(bool(banner))

    def set_device(self, text: str) -> None:
        self.device.setText(text)

    def set_loader_warnings(self, warnings: list[str]) -> None:
        items = [w for w in warnings if w]
        self._loader_warnings = list(items)
        self.warnings.setText("\n".join(f"• {w}" for w in items))
        self.warnings_box.setVisible(bool(items))

    def set_opacity(self, opacity: float) -> None:
        self.opacity_slider.setValue(int(round(100 * opacity)))

    def hu_range(self) -> tuple[float, float]:
        return float(self.hu_low.value()), float(self.hu_high.value())

    def set_hu_range(self, low: float, high: float, *, emit: bool = False) -> None:
        for spin, value in ((self.hu_low, low), (self.hu_high, high)):
            spin.blockSignals(not emit)
            spin.setValue(int(round(value)))
            spin.blockSignals(False)
        self.hu_slider_low.blockSignals(True)
        self.hu_slider_high.blockSignals(True)
        self.hu_slider_low.setValue(self.hu_low.value())
        self.hu_slider_high.setValue(self.hu_high.value())
        self.hu_slider_low.blockSignals(False)
        self.hu_slider_high.blockSignals(False)

    # --- internals --------------------------------------------------------------------------
    def _on_opacity(self, value: int) -> None:
        self.opacity_label.setText(f"{value} %")
        self.sig_opacity_changed.emit(value / 100.0)

    def _on_hu_changed(self, _value: int) -> None:
        low, high = self.hu_range()
        if high <= low:
            return
        self.sig_hu_range_changed.emit(low, high)

    def _update_disagreement(self) -> None:
        volumes: list[float] = []
        names: list[str] = []
        m, p = self._measurement, self._prediction
        if p is not None:
            volumes.append(float(p.predicted_volume_ml))
            names.append("model")
        if m is not None:
            volumes.append(float(m.hematoma_volume_ml))
            names.append("planimetric")
            if getattr(m, "abc2", None) is not None:
                volumes.append(float(m.abc2.volume_ml))
                names.append("ABC/2")
        if volumes_disagree(volumes):
            spread = ", ".join(f"{n} {v:.1f}" for n, v in zip(names, volumes, strict=True))
            self.disagree.setText(
                f"⚠ The volumes disagree ({spread} ml): differ by more than "
                f"{DISAGREE_ABS_ML:.0f} ml and {100 * DISAGREE_REL:.0f} %. Check the contour."
            )
            self.disagree.setVisible(True)
        else:
            self.disagree.setVisible(False)
