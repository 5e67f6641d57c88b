"""The Measurements dock: every ruler and ellipse ROI of the open volume (where, value), with
Delete (key and button); a double-click goes to the measurement's slice."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ichviewer.widgets.annotation_items import AnnotationStore

HEADER = ("#", "Kind", "Slice", "Value")


class _Table(QTableWidget):
    sig_delete = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.sig_delete.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class MeasurementsPanel(QWidget):
    """Shows ``store``; ``sig_go_to(entry)`` asks the window to show an entry's slice."""

    sig_go_to = Signal(object)

    def __init__(self, store: AnnotationStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.table = _Table(0, len(HEADER))
        self.table.setHorizontalHeaderLabels(HEADER)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for col in range(len(HEADER) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(HEADER) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected measurement (Delete key)")
        self.clear_button = QPushButton("Delete all")
        self.hint = QLabel("Measure ▸ Ruler (D) or Ellipse ROI (O), then drag on the image.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color:#90a4ae")
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self.table, 1)
        column.addLayout(buttons)
        column.addWidget(self.hint)
        self.delete_button.clicked.connect(self.delete_selected)
        self.clear_button.clicked.connect(self._delete_all)
        self.table.sig_delete.connect(self.delete_selected)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        store.sig_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        entries = self.store.entries()
        self.table.blockSignals(True)
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            cells = (str(entry.number), entry.kind, entry.where, entry.value_text)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.number)
                self.table.setItem(row, col, item)
            if entry.number == self.store.selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.table.resizeRowsToContents()
        has = bool(entries)
        self.delete_button.setEnabled(has)
        self.clear_button.setEnabled(has)
        self.hint.setVisible(not has)

    def selected_number(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return 0
        item = self.table.item(rows[0].row(), 0)
        return int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else 0

    def delete_selected(self) -> None:
        number = self.selected_number()
        if number:
            row = self.table.currentRow()
            self.store.remove(number)
            if self.table.rowCount():  # keep a row selected so Delete can be pressed again
                self.table.selectRow(min(row, self.table.rowCount() - 1))

    def _delete_all(self) -> None:
        for entry in self.store.entries():
            self.store.remove(entry.number)

    def _on_selection(self) -> None:
        self.store.select(self.selected_number())

    def _on_double_click(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        if item is None:
            return
        number = int(item.data(Qt.ItemDataRole.UserRole))
        entry = next((e for e in self.store.entries() if e.number == number), None)
        if entry is not None:
            self.sig_go_to.emit(entry)
