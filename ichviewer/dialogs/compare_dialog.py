"""Baseline vs follow-up side by side: linked slices (the follow-up registered onto the
baseline's grid, so one index is one anatomy), the same window, both measurements, the change
and the expansion flags. Created and filled without ``exec()`` (tests drive it directly)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ichmodel.followup.compare import change_pct_text
from ichviewer.widgets.slice_view import SliceView

if TYPE_CHECKING:
    from ichmodel.followup import Comparison
    from ichmodel.volume import Volume


def comparison_html(comparison: Comparison) -> str:
    d = comparison.to_dict()
    b, f = d["baseline"], d["followup"]
    pct = "–" if comparison.delta_pct is None else change_pct_text(comparison.delta_pct)
    interval = "unknown" if d["interval_h"] is None else f"{d['interval_h']:.1f} h"
    exp = d["expansion"]

    def flag(on: bool) -> str:
        return "<b style='color:#ff5252'>yes</b>" if on else "no"

    why = "; ".join(exp["reasons"]) or "no growth criterion met"
    warnings = "".join(f"<br>⚠ {w}" for w in d["warnings"])
    return (
        f"<b>Baseline</b> {b['hematoma_volume_ml']:.1f} ml (IVH {b['ivh_volume_ml']:.2f} ml, "
        f"{b['scan_time'] or 'no time'}) · <b>Follow-up</b> {f['hematoma_volume_ml']:.1f} ml "
        f"(IVH {f['ivh_volume_ml']:.2f} ml, {f['scan_time'] or 'no time'}) · interval "
        f"{interval}<br><b>Change</b> {d['delta_ml']:+.1f} ml ({pct}) · expansion: standard "
        f"{flag(exp['standard'])}, revised {flag(exp['revised'])} <span style='color:#90a4ae'>"
        f"({why})</span><br><span style='color:#90a4ae'>registration: head moved "
        f"{d['registration']['rms_mm']:.1f} mm rms, intracranial overlap "
        f"{d['registration']['intracranial_dice']:.2f}</span>{warnings}"
    )


class CompareDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare with follow-up")
        self.resize(1200, 700)
        self.baseline_view = SliceView()
        self.followup_view = SliceView()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        titles = QHBoxLayout()
        self.baseline_title = QLabel("<b>Baseline</b>")
        self.followup_title = QLabel("<b>Follow-up (registered to the baseline)</b>")
        titles.addWidget(self.baseline_title, 1)
        titles.addWidget(self.followup_title, 1)
        views = QHBoxLayout()
        views.addWidget(self.baseline_view, 1)
        views.addWidget(self.followup_view, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(titles)
        layout.addLayout(views, 1)
        layout.addWidget(self.summary)
        self.comparison: Comparison | None = None
        self._linking = False
        self.baseline_view.sig_slice_changed.connect(
            lambda i: self._link(self.followup_view, i))
        self.followup_view.sig_slice_changed.connect(
            lambda i: self._link(self.baseline_view, i))
        self.baseline_view.sig_window_changed.connect(self.followup_view.set_window)
        self.followup_view.sig_window_changed.connect(self.baseline_view.set_window)

    def _link(self, other: SliceView, index: int) -> None:
        if self._linking:
            return
        self._linking = True
        try:
            other.set_slice(index)
        finally:
            self._linking = False

    def set_comparison(self, comparison: Comparison, followup_on_baseline: Volume,
                       followup_mask_on_baseline=None) -> None:
        """Show ``comparison``; ``followup_on_baseline`` is the follow-up resampled onto the
        baseline's grid with the registration (same shape as the baseline)."""
        self.comparison = comparison
        base = comparison.baseline
        self.baseline_view.set_volume(base.volume)
        self.followup_view.set_volume(followup_on_baseline)
        window = self.baseline_view.window()
        self.followup_view.set_window(window)
        if base.measurement is not None:
            self.baseline_view.set_mask(base.measurement.hematoma_mask)
        if followup_mask_on_baseline is not None:
            self.followup_view.set_mask(followup_mask_on_baseline)
        index = base.largest_hematoma_slice
        if index is not None:
            self.baseline_view.set_slice(index)
        self.summary.setText(comparison_html(comparison))
