"""The trainer dialog's data panel: pick or build a manifest and read its validation report.

Two levels of checks, as in ``ichmodel train``: the manifest's rows (parsed on the spot: numbers,
labels, that each study exists) and, on request, whether every study actually *loads* (the
preprocessing cache is built for that, in the dialog's worker; training reuses it). Problems of
both kinds are listed with their row numbers; training is refused until they are fixed or the
rows are excluded explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ichmodel.errors import ManifestError

if TYPE_CHECKING:
    from ichmodel.train.manifest import ManifestReport, RowProblem
    from ichviewer.dialogs.trainer_backend import TrainingBackend
    from ichviewer.settings import Settings


class ManifestPanel(QGroupBox):
    """Manifest path, "build from folder + CSV", the validation report, explicit exclusion."""

    sig_changed = Signal()  # the report (or the exclusion) changed
    sig_check_requested = Signal()  # the user asked whether every study loads

    def __init__(
        self, backend: TrainingBackend, settings: Settings | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__("Training data", parent)
        self.backend = backend
        self.settings = settings
        self.report: ManifestReport | None = None
        self.exclude_rows: tuple[int, ...] = ()
        #: Problems of the last study check (or refused run) not already in the parse report,
        #: by row.
        self.load_problems: dict[int, list[RowProblem]] = {}

        self.manifest_edit = QLineEdit()
        self.manifest_edit.setPlaceholderText("manifest CSV: study, volume_ml, poor_outcome, split")
        self.manifest_edit.editingFinished.connect(
            lambda: self.set_manifest(self.manifest_edit.text())
        )
        browse = QPushButton("Manifest…")
        browse.clicked.connect(self._browse_manifest)
        build = QPushButton("Build from folder + CSV…")
        build.clicked.connect(self._browse_build)
        self.check_button = QPushButton("Check that every study loads")
        self.check_button.setToolTip(
            "Loads and preprocesses every study (cached for training) and lists the failures"
        )
        self.check_button.clicked.connect(self.sig_check_requested)
        self.exclude_check = QCheckBox("Exclude the rows with problems and train on the rest")
        self.exclude_check.toggled.connect(lambda _: self.revalidate())
        self.report_view = QPlainTextEdit(readOnly=True)
        self.report_view.setPlaceholderText("Pick a manifest to see its validation report.")
        self.report_view.setMaximumBlockCount(2000)

        row = QHBoxLayout()
        row.addWidget(self.manifest_edit, 1)
        row.addWidget(browse)
        row.addWidget(build)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        options = QHBoxLayout()
        options.addWidget(self.exclude_check, 1)
        options.addWidget(self.check_button)
        layout.addLayout(options)
        layout.addWidget(self.report_view)
        self._inputs = [self.manifest_edit, browse, build, self.check_button, self.exclude_check]

    # --- state ----------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path | None:
        text = self.manifest_edit.text().strip()
        return Path(text) if text else None

    @property
    def ready(self) -> bool:
        """A manifest with usable rows and no problem left that is not excluded."""
        if self.report is None or not self.report.rows:
            return False
        if self.exclude_check.isChecked():
            return True
        return self.report.ok and not self.load_problems

    def set_running(self, running: bool) -> None:
        for widget in self._inputs:
            widget.setEnabled(not running)

    # --- picking --------------------------------------------------------------------------
    def _start_folder(self) -> str:
        return self.settings.last_folder if self.settings is not None else ""

    def _browse_manifest(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Training manifest", self._start_folder(), "CSV (*.csv)"
        )
        if path:
            self.set_manifest(path)

    def _browse_build(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder holding one study per case", self._start_folder()
        )
        if not folder:
            return
        labels, _ = QFileDialog.getOpenFileName(
            self, "Label CSV (case, volume_ml, poor_outcome)", folder, "CSV (*.csv)"
        )
        if labels:
            self.build_manifest(folder, labels)

    def build_manifest(self, folder: str | Path, labels_csv: str | Path) -> Path | None:
        """Write ``folder/manifest.csv`` from the folder's studies and a label CSV (the same
        :func:`ichmodel.train.manifest_build.build_manifest` as ``ichmodel manifest build``),
        then load it."""
        from ichmodel.train.manifest_build import build_manifest

        try:
            build = build_manifest(folder, labels_csv)
        except ManifestError as exc:
            self.show_text(f"Could not build a manifest:\n{exc}")
            return None
        self.set_manifest(build.path)
        self.report_view.appendPlainText("\n" + build.summary())
        return build.path

    def set_manifest(self, path: str | Path) -> None:
        """Pick a manifest and show its validation report."""
        text = str(path).strip()
        if self.manifest_edit.text() != text:
            self.manifest_edit.setText(text)
        self.load_problems = {}
        self.revalidate()

    # --- validation -----------------------------------------------------------------------
    def revalidate(self) -> None:
        """Re-read the manifest (and apply the exclusion); cheap: no study is loaded."""
        path = self.manifest_path
        self.report = None
        self.exclude_rows = ()
        if path is not None:
            try:
                report = self.backend.validate(path)
                bad = set(report.bad_rows) | set(self.load_problems)
                if self.exclude_check.isChecked() and bad:
                    self.exclude_rows = tuple(sorted(bad))
                    report = self.backend.validate(path, self.exclude_rows)
                self.report = report
                self._show_report(report)
            except ManifestError as exc:
                self.show_text(f"This manifest cannot be used:\n{exc}")
        self.sig_changed.emit()

    def show_load_check(self, problems: Iterable[RowProblem]) -> None:
        """Take the problems of a study-load check (or of a refused run); rows whose trouble
        is already a parse problem are left to the manifest report."""
        parse_rows = set(self.report.bad_rows) if self.report is not None else set()
        self.load_problems = {}
        for problem in problems:
            if problem.row not in parse_rows:
                self.load_problems.setdefault(problem.row, []).append(problem)
        self.revalidate()

    def _show_report(self, report: ManifestReport) -> None:
        lines = [report.summary()]
        if report.problems:
            lines.append("Problems (fix or exclude):")
            lines += [f"  {p}" for p in report.problems]
        else:
            lines.append("No problems: every row parses and every study exists.")
        loads = [p for r, ps in self.load_problems.items() if r not in report.excluded_rows
                 for p in ps]
        if loads:
            lines.append("Studies that do not load (fix or exclude):")
            lines += [f"  {p}" for p in loads]
        n_outcome = sum(1 for r in report.rows if r.poor_outcome is not None)
        n_poor = sum(1 for r in report.rows if r.poor_outcome == 1)
        lines.append(
            f"{len(report.rows)} usable case(s); {n_outcome} with an outcome label "
            f"({n_poor} poor); rows without one train only the volume head."
        )
        lines += list(report.warnings)
        if report.excluded_rows:
            lines.append(f"Excluded rows: {', '.join(map(str, report.excluded_rows))}")
        self.show_text("\n".join(lines))

    def show_text(self, text: str) -> None:
        self.report_view.setPlainText(text)
