"""The error dialog: a plain message, expandable details and where the log file is.

It can be created and answered without ``exec()`` (tests call :meth:`ErrorDialog.accept`), and
:func:`show_error` opens it non-modally so a failing background job never blocks the window.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)


class ErrorDialog(QDialog):
    """``title``: what failed ("Could not open the study"); ``message``: the plain sentence
    (what was wrong, what to do); ``details``: technical text (traceback), hidden until asked.
    """

    def __init__(
        self,
        title: str,
        message: str,
        details: str = "",
        log_path: Path | str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("error_dialog")
        self.title = title
        self.message = message
        self.details = details
        self.setMinimumWidth(480)

        icon = QLabel()
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(40, 40)
        )
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        heading = QLabel(f"<b>{_escape(title)}</b>")
        self.message_label = QLabel(message)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text_column = QVBoxLayout()
        text_column.addWidget(heading)
        text_column.addWidget(self.message_label)
        if log_path:
            self.log_label = QLabel(f"The log file is <code>{_escape(str(log_path))}</code>")
            self.log_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.log_label.setWordWrap(True)
            self.log_label.setStyleSheet("color: #607d8b")
            text_column.addWidget(self.log_label)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addLayout(text_column, 1)

        self.details_edit = QPlainTextEdit(details)
        self.details_edit.setReadOnly(True)
        self.details_edit.setVisible(False)
        self.details_edit.setMinimumHeight(180)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.accepted.connect(self.accept)
        self.details_button = QPushButton("Show details")
        self.details_button.setCheckable(True)
        self.details_button.setEnabled(bool(details))
        self.details_button.toggled.connect(self.set_details_visible)
        copy_button = QPushButton("Copy")
        copy_button.setToolTip("Copy the message and the details to the clipboard")
        copy_button.clicked.connect(self.copy_to_clipboard)
        buttons.addButton(self.details_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(copy_button, QDialogButtonBox.ButtonRole.ActionRole)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details_edit, 1)
        layout.addWidget(buttons)

    def set_details_visible(self, visible: bool) -> None:
        self.details_edit.setVisible(visible)
        self.details_button.setText("Hide details" if visible else "Show details")
        self.adjustSize()

    def full_text(self) -> str:
        return f"{self.title}\n\n{self.message}\n\n{self.details}".strip()

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.full_text())


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def show_error(
    parent: QWidget | None,
    title: str,
    message: str,
    details: str = "",
    log_path: Path | str | None = None,
) -> ErrorDialog:
    """Open an :class:`ErrorDialog` without blocking (window-modal) and return it."""
    log.warning("%s: %s", title, message)
    dialog = ErrorDialog(title, message, details, log_path, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.show()
    return dialog
