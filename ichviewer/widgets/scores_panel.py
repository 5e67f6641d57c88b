"""The Scores panel: the reader types GCS, NIHSS, age, anticoagulation and pre-ICH cognitive
impairment; the panel shows the ICH score, FUNC and max-ICH with every item, its source, the
volume each score used, and both results when planimetric and ABC/2 straddle a threshold.

An empty entry leaves its score "incomplete" (never guessed). The panel computes the scores
itself (pure Python, instant); entries are emitted as ``sig_inputs_changed(ClinicalInputs)``
so the window can save them with the study.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ichmodel.scores import ClinicalInputs, ScoreSheet, score_sheet
from ichmodel.scores.inputs import AGE_RANGE_YEARS, GCS_RANGE, NIHSS_RANGE

if TYPE_CHECKING:
    from ichmodel.reading import StudyReading

NOT_ENTERED = "not entered"
_YES_NO = (NOT_ENTERED, "yes", "no")


def _spin(lo: int, hi: int, special: str) -> QSpinBox:
    """A spin box whose value one below ``lo`` means "empty" (shown as ``special``)."""
    box = QSpinBox()
    box.setRange(lo - 1, hi)
    box.setSpecialValueText(special)
    box.setValue(lo - 1)
    return box


class ScoresPanel(QWidget):
    sig_inputs_changed = Signal(object)  # ClinicalInputs
    sig_sheet_changed = Signal(object)  # ScoreSheet

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reading: StudyReading | None = None
        self.sheet: ScoreSheet | None = None
        self.gcs = _spin(GCS_RANGE[0], GCS_RANGE[1], NOT_ENTERED)
        self.nihss = _spin(NIHSS_RANGE[0], NIHSS_RANGE[1], NOT_ENTERED)
        self.age = _spin(AGE_RANGE_YEARS[0] + 1, AGE_RANGE_YEARS[1], "from DICOM")
        self.anticoagulated = QComboBox()
        self.cognitive = QComboBox()
        for combo in (self.anticoagulated, self.cognitive):
            combo.addItems(_YES_NO)
        form_box = QGroupBox("Clinical entries")
        form = QFormLayout(form_box)
        form.addRow("GCS (3-15)", self.gcs)
        form.addRow("NIHSS (0-42)", self.nihss)
        form.addRow("Age (years)", self.age)
        form.addRow("Oral anticoagulation", self.anticoagulated)
        form.addRow("Pre-ICH cognitive impairment", self.cognitive)
        self.age_source = QLabel("")
        self.age_source.setWordWrap(True)
        form.addRow("", self.age_source)
        self.result_label = QLabel("Open a study to compute the scores.")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(self.result_label.textFormat().RichText)
        self.midline_label = QLabel("")
        self.midline_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(form_box)
        layout.addWidget(self.result_label)
        layout.addWidget(self.midline_label)
        layout.addStretch(1)
        self._quiet = False
        for box in (self.gcs, self.nihss, self.age):
            box.valueChanged.connect(self._changed)
        for combo in (self.anticoagulated, self.cognitive):
            combo.currentIndexChanged.connect(self._changed)

    # --- entries ----------------------------------------------------------------------------
    def inputs(self) -> ClinicalInputs:
        def spin(box: QSpinBox) -> int | None:
            return None if box.value() == box.minimum() else int(box.value())

        def yes_no(combo: QComboBox) -> bool | None:
            text = combo.currentText()
            return None if text == NOT_ENTERED else text == "yes"

        return ClinicalInputs(
            gcs=spin(self.gcs), nihss=spin(self.nihss), age_years=spin(self.age),
            anticoagulated=yes_no(self.anticoagulated),
            cognitive_impairment=yes_no(self.cognitive),
        )

    def set_inputs(self, inputs: ClinicalInputs) -> None:
        """Show saved entries (no ``sig_inputs_changed``: they are already saved)."""
        self._quiet = True
        try:
            for box, value in ((self.gcs, inputs.gcs), (self.nihss, inputs.nihss),
                               (self.age, inputs.age_years)):
                box.setValue(box.minimum() if value is None else value)
            for combo, flag in ((self.anticoagulated, inputs.anticoagulated),
                                (self.cognitive, inputs.cognitive_impairment)):
                combo.setCurrentText(NOT_ENTERED if flag is None else ("yes" if flag else "no"))
        finally:
            self._quiet = False
        self._recompute()

    def _changed(self, *_args) -> None:
        if self._quiet:
            return
        self._recompute()
        self.sig_inputs_changed.emit(self.inputs())

    # --- study ------------------------------------------------------------------------------
    def set_reading(self, reading: StudyReading | None) -> None:
        self.reading = reading
        self._recompute()

    def set_midline(self, midline) -> None:
        """Show the midline result (MidlineShift or None) under the scores."""
        self.midline_label.setText("" if midline is None else midline.summary)

    def clear(self) -> None:
        self.reading = None
        self.set_inputs(ClinicalInputs())
        self.midline_label.setText("")

    def _recompute(self) -> None:
        if self.reading is None:
            self.sheet = None
            self.result_label.setText("Open a study to compute the scores.")
            self.age_source.setText("")
            return
        self.sheet = score_sheet(self.reading.measurement, self.reading.volume.meta,
                                 self.inputs())
        age = self.sheet.age
        self.age_source.setText(
            f"age {age.years} ({age.source})" if age.years is not None else age.source)
        self.result_label.setText(sheet_html(self.sheet, measured=self.reading.measurement
                                             is not None))
        self.sig_sheet_changed.emit(self.sheet)


def sheet_html(sheet: ScoreSheet, *, measured: bool) -> str:
    """The scores as rich text: summary, items with points and sources, volume, straddle."""
    parts = []
    if not measured:
        parts.append("<p><i>Waiting for the measurement (volume, IVH, location).</i></p>")
    for score in sheet.scores:
        colour = "#e0e0e0" if score.complete else "#ffb74d"
        if score.complete:
            head = f"{score.name} {score.total} / {score.max_points}"
            # the outcome on its own line: a long "not transcribed" must not bury the total
            outcome = (f"<br><span style='color:#cfd8dc'>{html.escape(score.outcome_label)}: "
                       f"{html.escape(score.outcome_text)}</span>" if score.outcome_text else "")
        else:
            head, outcome = score.summary, ""
        parts.append(f"<p style='margin-bottom:2px'><b style='color:{colour}'>"
                     f"{html.escape(head)}</b>{outcome}<br>"
                     f"<span style='color:#90a4ae'>{html.escape(score.reference)}; volume: "
                     f"{html.escape(score.volume_method_reason)}</span></p><table>")
        for item in score.items:
            points = "?" if item.points is None else str(item.points)
            parts.append(f"<tr><td>{html.escape(item.label)}</td><td align='right'>"
                         f"<b>{points}</b></td><td style='color:#b0bec5'>"
                         f"{html.escape(item.value_text)} · {html.escape(item.source)}</td></tr>")
        parts.append("</table>")
        if score.straddle is not None:
            parts.append(f"<p style='color:#ffb74d'>⚠ {html.escape(score.straddle.reason)}</p>")
    parts.append("<p style='color:#78909c'>Validated scores fed by an automated measurement: "
                 "check each input. Research use only.</p>")
    return "".join(parts)
