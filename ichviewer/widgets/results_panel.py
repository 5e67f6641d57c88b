"""The results panel: the three volumes side by side, prognosis, location/IVH, the model and its
card, loader warnings, the measurement's HU range and the overlay controls.

It only displays what it is given (``set_reading``: the study's
:class:`~ichmodel.reading.StudyReading` so far; ``set_model``) and reports what the user changes
through signals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

from ichmodel.notices import Notice, Source
from ichmodel.reading import rules

if TYPE_CHECKING:
    from ichmodel.measure import Measurement
    from ichmodel.reading import StudyReading


PENDING = "…"
#: What the panel says instead of an out-of-distribution model's numbers.
UNTRUSTED_TEXT = "this model has not seen scans like this one"
#: Notices whose text the banner already shows (``LoadedModel.notices``: model.provenance_*).
PROVENANCE_NOTICE_PREFIX = "model.provenance_"


def _ml(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ml"


def _group(title: str) -> tuple[QGroupBox, QVBoxLayout, QFormLayout]:
    """A titled box holding a form, in a column that wrapped labels can be added to below it."""
    box = QGroupBox(title)
    column = QVBoxLayout(box)
    form = QFormLayout()
    column.addLayout(form)
    return box, column, form


def hematoma_lines(m: Measurement) -> str:
    """One line per hematoma: number, ml, where, slices; which one ABC/2 describes."""
    lines = []
    for h in m.hematomas:
        first, last = h.slice_range
        abc2 = " · ABC/2" if h.number == m.abc2_hematoma_number else ""
        lines.append(
            f"#{h.number}: {h.volume_ml:.1f} ml · {h.location_description} · "
            f"slices {first + 1}–{last + 1}{abc2}"
        )
    return "\n".join(lines)


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
        self._reading: StudyReading | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setStyleSheet(
            "background:#ffb300; color:#1a1a1a; font-weight:bold; padding:6px; border-radius:3px"
        )
        self.banner.setVisible(False)
        layout.addWidget(self.banner)

        # --- volumes ---
        box, column, form = _group("Hematoma volume")
        self.model_volume = _value_label()
        self.planimetric_volume = _value_label()
        self.abc2_volume = _value_label()
        self.abc2_axes = _value_label()
        form.addRow("Model (predicted)", self.model_volume)
        self.threshold_volume = _value_label()
        self.threshold_volume.setToolTip(
            "plain voxel count of the contour (what a 3D Slicer threshold segmentation gives); "
            "the planimetric figure above weights edge voxels by their blood fraction"
        )
        form.addRow("Planimetric", self.planimetric_volume)
        form.addRow("Threshold count", self.threshold_volume)
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
        # every hematoma, measured on its own (wrapped text: in the column, not a form row)
        self.hematoma_list = QLabel("")
        self.hematoma_list.setWordWrap(True)
        self.hematoma_list.setVisible(False)
        column.addWidget(self.hematoma_list)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color:#90a4ae")
        self.status.setVisible(False)
        column.addWidget(self.status)
        # HU range of the measurement, live
        self.hu_low = QSpinBox()
        self.hu_high = QSpinBox()
        for spin, value in (
            (self.hu_low, int(rules.DEFAULT_HU_RANGE[0])),
            (self.hu_high, int(rules.DEFAULT_HU_RANGE[1])),
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
        box, column, form = _group("Model")
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
        self._reading = None
        self.hematoma_list.setVisible(False)
        for label in (
            self.model_volume,
            self.planimetric_volume,
            self.threshold_volume,
            self.abc2_volume,
            self.abc2_axes,
            self.probability,
            self.location,
            self.ivh,
            self.timings,
        ):
            label.setText("—")
        self.model_volume.setToolTip("")
        self.status.setText("")
        self.status.setVisible(False)
        self.model_warnings.setVisible(False)
        self.disagree.setVisible(False)
        self.jump_button.setEnabled(False)
        self._show_loader_notices(())

    def set_pending(self, measuring: bool, predicting: bool) -> None:
        """Show "…" where results are on their way."""
        if measuring:
            for label in (
                self.planimetric_volume,
                self.threshold_volume,
                self.abc2_volume,
                self.abc2_axes,
                self.location,
                self.ivh,
            ):
                label.setText(PENDING)
        if predicting:
            self.model_volume.setText(PENDING)
            self.probability.setText(PENDING)

    def set_reading(self, reading: StudyReading) -> None:
        """Show what the study's reading holds so far (a missing part keeps its "…")."""
        self._reading = reading
        self._show_loader_notices(reading.notices_from(Source.SCAN, Source.LOAD))
        if reading.measurement is not None:
            self._show_measurement(reading)
        if reading.prediction is not None:
            self._show_prediction(reading)
        self._update_disagreement(reading)

    def _show_measurement(self, reading: StudyReading) -> None:
        m = reading.measurement
        assert m is not None
        self.planimetric_volume.setText(_ml(m.hematoma_volume_ml))
        self.threshold_volume.setText(_ml(m.threshold_volume_ml))
        self.hematoma_list.setText(hematoma_lines(m))
        self.hematoma_list.setVisible(len(m.hematomas) > 1)
        if reading.abc2_volume_ml is not None:
            abc2 = m.abc2
            self.abc2_volume.setText(_ml(abc2.volume_ml))
            self.abc2_axes.setText(f"{abc2.a_mm:.0f} × {abc2.b_mm:.0f} × {abc2.c_mm:.0f} mm")
        else:
            self.abc2_volume.setText("—")
            self.abc2_axes.setText("no hematoma to measure")
        self.location.setText(m.location or "—")
        self.ivh.setText(f"yes ({m.ivh_volume_ml:.1f} ml)" if m.ivh else "no")
        notes = [n.text for n in reading.notices_from(Source.MEASURE)]
        self.status.setText("\n".join([m.status] + [f"⚠ {w}" for w in notes]).strip())
        self.status.setVisible(bool(self.status.text()))
        self.jump_button.setEnabled(reading.largest_hematoma_slice is not None)

    def _show_prediction(self, reading: StudyReading) -> None:
        p = reading.prediction
        assert p is not None
        if reading.model_trusted:
            self.model_volume.setToolTip("")
            self.model_volume.setText(_ml(p.predicted_volume_ml))
            self.probability.setText(f"{100.0 * p.poor_outcome_probability:.0f} %")
        else:  # greyed and struck through, never a plain number
            for label, value in ((self.model_volume, _ml(p.predicted_volume_ml)),
                                 (self.probability, f"{100.0 * p.poor_outcome_probability:.0f} %")):
                label.setText(f"<span style='color:#78909c'><s>{value}</s> — "
                              f"{UNTRUSTED_TEXT}</span>")
            self.model_volume.setToolTip(
                f"Out-of-distribution score {p.ood_score:.1f} is above the model's "
                f"threshold {p.ood_threshold:.1f}: read the measurement instead.")
        if p.timings_s:
            self.timings.setText(", ".join(f"{k} {v:.2f} s" for k, v in p.timings_s.items()))
        self.device.setText(p.device or "—")
        # the provenance warning is the banner already; list the others
        notes = [
            n.text
            for n in reading.notices_from(Source.MODEL, Source.PREPROCESS)
            if not n.code.startswith(PROVENANCE_NOTICE_PREFIX)
        ]
        self.model_warnings.setText("\n".join(f"• {w}" for w in notes))
        self.model_warnings.setVisible(bool(notes))

    def set_model(self, name: str | None, *, banner: str = "") -> None:
        """The active model's name; ``banner`` (its provenance warning, e.g. "Trained on
        synthetic data — not for clinical use") is shown prominently while non-empty."""
        self.model_name.setText(name or "—")
        self.card_button.setEnabled(bool(name))
        self.banner.setText(f"⚠  {banner}")
        self.banner.setVisible(bool(banner))

    def set_device(self, text: str) -> None:
        self.device.setText(text)

    def _show_loader_notices(self, found: tuple[Notice, ...]) -> None:
        self.warnings.setText("\n".join(f"• {n.text}" for n in found))
        self.warnings_box.setVisible(bool(found))

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

    def _update_disagreement(self, reading: StudyReading) -> None:
        if not reading.volumes_disagree:
            self.disagree.setVisible(False)
            return
        named = (
            ("model", reading.model_volume_ml if reading.model_trusted else None),
            ("planimetric", reading.planimetric_volume_ml),
            ("ABC/2", reading.abc2_volume_ml),
        )
        spread = ", ".join(f"{n} {v:.1f}" for n, v in named if v is not None)
        self.disagree.setText(
            f"⚠ The volumes disagree ({spread} ml): differ by more than "
            f"{rules.DISAGREE_ABS_ML:.0f} ml and {100 * rules.DISAGREE_FRACTION:.0f} %. "
            "Check the contour."
        )
        self.disagree.setVisible(True)
