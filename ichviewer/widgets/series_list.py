"""The series list: what the scan found, the auto-picked series first, and why the others were
not picked. Choosing another series asks the window to load it (``sig_series_chosen``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from ichmodel.io.scan import SeriesInfo, StudyScan

log = logging.getLogger(__name__)


class SeriesList(QWidget):
    """``set_scan(StudyScan)`` fills the list; ``sig_series_chosen(SeriesInfo)`` fires when the
    user picks a series (not when the list is filled)."""

    sig_series_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No study open")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color:#78909c")
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.itemActivated.connect(self._on_activated)
        self.list.itemClicked.connect(self._on_activated)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        self._series: list[SeriesInfo] = []
        self._current_uid: str | None = None

    def clear(self) -> None:
        self.list.clear()
        self._series = []
        self._current_uid = None
        self.summary.setText("No study open")

    def set_scan(self, scan: StudyScan, current_uid: str | None = None) -> None:
        """Fill from a ``StudyScan``; the row of ``current_uid`` (default: the picked one) is
        selected."""
        self.list.clear()
        self._series = list(scan.series)
        picked = scan.picked
        if current_uid is None and picked is not None:
            current_uid = picked.series_uid
        self._current_uid = current_uid
        skipped = scan.n_skipped_files
        text = f"{len(self._series)} series found"
        if skipped:
            text += f", {skipped} file{'s' if skipped != 1 else ''} skipped"
        self.summary.setText(text)
        for info in self._series:
            item = QListWidgetItem(self._label(info))
            item.setData(Qt.ItemDataRole.UserRole, info)
            item.setToolTip(self._tooltip(info))
            if info.picked:
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
            else:
                item.setForeground(QBrush(QColor("#78909c")))
            self.list.addItem(item)
            if info.series_uid == current_uid:
                item.setSelected(True)
                self.list.setCurrentItem(item)

    def set_current(self, series_uid: str) -> None:
        self._current_uid = series_uid
        for row in range(self.list.count()):
            item = self.list.item(row)
            info = item.data(Qt.ItemDataRole.UserRole)
            if info.series_uid == series_uid:
                self.list.blockSignals(True)
                self.list.setCurrentItem(item)
                self.list.blockSignals(False)

    def series(self) -> list[SeriesInfo]:
        return list(self._series)

    def choose(self, series_uid: str) -> bool:
        """Pick a series as the user would (emits ``sig_series_chosen``); False if absent."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole).series_uid == series_uid:
                self.list.setCurrentItem(item)
                self._on_activated(item)
                return True
        return False

    @staticmethod
    def _label(info: SeriesInfo) -> str:
        desc = info.description or "(no description)"
        head = f"{'★ ' if info.picked else ''}{desc}  ·  {info.modality} · {info.n_images} images"
        return f"{head}\n{info.reason}" if info.reason else head

    @staticmethod
    def _tooltip(info: SeriesInfo) -> str:
        lines = [f"Series UID: {info.series_uid}"]
        lines += [f"⚠ {n.text}" for n in info.notices]
        return "\n".join(lines)

    def _on_activated(self, item: QListWidgetItem) -> None:
        info = item.data(Qt.ItemDataRole.UserRole)
        if info is None or info.series_uid == self._current_uid:
            return
        self._current_uid = info.series_uid
        log.info("user picked series %s", info.series_uid)
        self.sig_series_chosen.emit(info)
