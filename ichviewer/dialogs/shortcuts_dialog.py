"""Help → Keyboard shortcuts: a table made from the window's actual QActions (so it cannot go
stale) plus the slice view's own keys and mouse bindings, which are not actions."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: The slice view's keys and mouse bindings (SliceView.keyPressEvent, SliceViewBox).
VIEW_BINDINGS: tuple[tuple[str, str], ...] = (
    ("Up / Right, Down / Left", "Next / previous slice"),
    ("Page Up / Page Down", "5 slices up / down"),
    ("Home / End", "First / last slice"),
    ("Mouse wheel", "Next / previous slice"),
    ("Ctrl + mouse wheel", "Zoom"),
    ("Left drag", "Pan (or the active tool)"),
    ("Right drag", "Window: horizontal = width, vertical = level"),
    ("Double-click", "Fit the image to the view"),
    ("Left click (no tool)", "Move the crosshair (coronal / sagittal views follow)"),
)


@dataclass(frozen=True)
class ShortcutRow:
    keys: str
    what: str


def action_rows(window: QWidget) -> list[ShortcutRow]:
    """Every action of ``window`` (menus, toolbars, window-wide) that has a shortcut."""
    rows, seen = [], set()
    for action in window.findChildren(QAction):
        keys = [k for k in action.shortcuts() if not k.isEmpty()]
        if not keys:
            continue
        text = action.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
        text = text.rstrip(".…").strip()
        shown = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys)
        if (shown, text) in seen:
            continue
        seen.add((shown, text))
        rows.append(ShortcutRow(shown, text))
    rows.sort(key=lambda r: (len(r.keys) > 1, r.keys))
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = action_rows(window) + [ShortcutRow(k, w) for k, w in VIEW_BINDINGS]
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(("Keys", "Does"))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for i, row in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(row.keys))
            self.table.setItem(i, 1, QTableWidgetItem(row.what))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.rows = tuple(rows)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        column.addWidget(self.table)
        column.addWidget(buttons)
        self.table.resizeRowsToContents()
        # every row visible without scrolling where the screen allows it
        height = sum(self.table.rowHeight(i) for i in range(len(rows)))
        height += self.table.horizontalHeader().height() + buttons.sizeHint().height() + 40
        screen = self.screen().availableGeometry().height() if self.screen() else 800
        width = header.length() + self.table.verticalScrollBar().sizeHint().width() + 40
        self.resize(width, min(height, int(screen * 0.9)))
