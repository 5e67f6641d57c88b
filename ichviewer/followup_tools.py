"""Main-window parts for issue 20: the Scores dock (entries saved per series), the midline
job and its drawing, and File -> Compare with... (kept out of main_window.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFileDialog, QScrollArea

from ichviewer.dialogs.compare_dialog import CompareDialog
from ichviewer.scores_store import ScoreStore
from ichviewer.widgets.midline_overlay import MidlineOverlay
from ichviewer.widgets.scores_panel import ScoresPanel

if TYPE_CHECKING:
    from ichmodel.reading import StudyReading
    from ichviewer.report import ReportExtras

log = logging.getLogger(__name__)


class FollowupToolsMixin:
    """Mixed into MainWindow (needs ``controller``, ``slice_view``, ``docks``, ``statusBar``,
    ``show_error``)."""

    def build_followup_tools(self, store: ScoreStore | None = None) -> None:
        if store is None:
            # settings in an INI file of their own (tests, portable installs): keep the
            # entries beside it, never in the user's real data folder
            location = Path(self.settings.location)
            store = ScoreStore(location.parent / "scores" if location.suffix == ".ini" else None)
        self.score_store = store
        self.scores = ScoresPanel()
        self.midline_overlay = MidlineOverlay(self.slice_view)
        self.compare_dialog: CompareDialog | None = None
        self.last_comparison = None
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.scores)
        dock = QDockWidget("Scores", self)
        dock.setObjectName("dock_scores")
        dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(self.docks["results"], dock)
        self.docks["results"].raise_()
        self.docks["scores"] = dock
        self._midline_for = None  # the Volume the midline job was submitted for
        # after the measurement and the model: the midline's optimiser holds the GIL for
        # a few seconds and must not delay either, nor stutter the window while they run
        self.controller.sig_ready.connect(lambda _token: self._midline_when_ready())
        self.scores.sig_inputs_changed.connect(self._on_score_inputs)

    # --- scores -----------------------------------------------------------------------------
    def followup_study_opened(self) -> None:
        self.scores.clear()
        self.midline_overlay.set_midline(None)

    def followup_volume(self, reading: StudyReading) -> None:
        uid = reading.volume.meta.series_uid
        self.scores.set_inputs(self.score_store.load(uid))
        self.scores.set_reading(reading)
        self.midline_overlay.set_midline(None)

    def followup_measurement(self, reading: StudyReading) -> None:
        self.scores.set_reading(self._current_reading() or reading)

    def _current_reading(self) -> StudyReading | None:
        study = self.controller.study
        return None if study is None else study.reading

    def _on_score_inputs(self, inputs) -> None:
        reading = self._current_reading()
        if reading is not None:
            self.score_store.save(reading.volume.meta.series_uid, inputs)

    def with_panel_scores(self, reading: StudyReading) -> StudyReading:
        """``reading`` with the Scores panel's sheet (what the DICOM SR and the PDF inside it
        list), when the panel shows this reading."""
        sheet = self.scores.sheet
        if sheet is None or self.scores.reading is None or \
                self.scores.reading.volume is not reading.volume:
            return reading
        return reading.with_scores(sheet)

    def report_extras(self, reading: StudyReading) -> ReportExtras:
        """What the report adds to the open study's reading: the scores, the midline and the
        comparison made for it (the reading itself stays the one the controller holds)."""
        from ichviewer.report import ReportExtras  # the report stays out of start-up

        comparison = self.last_comparison
        if comparison is not None and comparison.baseline.volume is not reading.volume:
            comparison = None  # made for another study
        midline = self.midline_overlay.result
        if midline is not None and self._midline_for is not reading.volume:
            midline = None
        return ReportExtras(comparison=comparison, scores=self.scores.sheet, midline=midline)

    # --- midline ----------------------------------------------------------------------------
    def _midline_when_ready(self) -> None:
        reading = self._current_reading()
        if reading is not None and reading.volume is not self._midline_for:
            self._midline_for = reading.volume
            self._submit_midline(reading)

    def _submit_midline(self, reading: StudyReading) -> None:
        from ichviewer.workers import Job

        study = self.controller.study
        volume = reading.volume

        def run():
            from ichmodel.midline import measure_midline_shift

            return measure_midline_shift(volume)

        def done(result) -> None:
            current = self.controller.study
            if current is None or current.reading is None or current.reading.volume is not volume:
                return
            self.midline_overlay.set_midline(result)
            self.scores.set_midline(result)

        self.controller.runner.submit(Job(
            "Measuring the midline shift", run, lane="io",
            token=None if study is None else study.token, on_result=done,
            on_error=lambda e: log.warning("midline shift failed: %s", e.message),
        ))

    def jump_to_midline(self) -> None:
        result = self.midline_overlay.result
        if result is not None and result.slice_index is not None:
            self.slice_view.set_slice(result.slice_index)

    # --- compare ----------------------------------------------------------------------------
    def compare_with_dialog(self) -> None:
        if self._current_reading() is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Compare with a follow-up study")
        if folder:
            self.compare_with(Path(folder))

    def compare_with(self, path: Path, *, allow_different_patients: bool = False) -> None:
        """Read and measure ``path``, register it to the open study and show both (worker)."""
        from ichviewer.workers import Job

        baseline = self._current_reading()
        if baseline is None or baseline.measurement is None:
            self.show_error("Cannot compare yet", "Wait until the open study is measured.", "")
            return

        def run():
            from ichmodel.followup import compare, resample_to_baseline
            from ichmodel.progress import run_to_completion
            from ichmodel.reading import NO_MODEL, read_study

            other = run_to_completion(read_study(path, model=NO_MODEL))
            result = compare(baseline, other, allow_different_patients=allow_different_patients)
            moved = resample_to_baseline(other.volume, baseline.volume, result.registration)
            mask = resample_to_baseline(other.volume, baseline.volume, result.registration,
                                        other.measurement.hematoma_mask, labels=True)
            return result, moved, mask.hu > 0.5

        self.statusBar().showMessage("Comparing with the follow-up (registration)…")
        self.controller.runner.submit(Job(
            "Comparing with the follow-up", run, lane="io", token=None,
            on_result=lambda out: self.show_comparison(*out),
            on_error=lambda e: self.show_error("Could not compare the studies", e.message,
                                               e.traceback_text),
        ))

    def show_comparison(self, comparison, followup_on_baseline, mask=None) -> CompareDialog:
        dialog = CompareDialog(self)
        dialog.set_comparison(comparison, followup_on_baseline, mask)
        self.compare_dialog = dialog
        self.last_comparison = comparison
        dialog.show()
        self.statusBar().showMessage("Comparison ready.")
        return dialog
