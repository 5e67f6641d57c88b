"""Process-wide setup of the Qt application (done once, in ``__main__`` or by tests)."""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

import ichviewer
from ichviewer.settings import APPLICATION, ORGANIZATION

log = logging.getLogger(__name__)

_configured = {"pyqtgraph": False}


def configure_pyqtgraph() -> None:
    """pyqtgraph options, once: arrays are row-major (z, y, x) → (row, col) images."""
    if _configured["pyqtgraph"]:
        return
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="k")
    _configured["pyqtgraph"] = True


def dark_palette() -> QPalette:
    """A calm dark palette: reading rooms are dim and CT is viewed on black."""
    p = QPalette()
    base, window, text = QColor(30, 34, 38), QColor(40, 45, 50), QColor(225, 230, 235)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor(36, 41, 46))
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor(50, 56, 62))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, window)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 82, 82))
    p.setColor(QPalette.ColorRole.Link, QColor(100, 181, 246))
    p.setColor(QPalette.ColorRole.Highlight, QColor(38, 120, 178))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(140, 150, 160))
    disabled = QColor(120, 126, 132)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused when one exists), styled, with pyqtgraph configured."""
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(ichviewer.__version__)
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1] if argv is None else argv)
    app.setApplicationDisplayName("ICH Viewer")
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(dark_palette())
    from ichmodel.resources import resources_dir

    icon = resources_dir() / "icons" / "ichviewer.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    configure_pyqtgraph()
    return app  # type: ignore[return-value]


def install_excepthook(show_error) -> None:
    """Route uncaught exceptions in the GUI thread (a bug in a slot) to the log and to
    ``show_error(title, message, details)`` instead of losing them on a console nobody sees."""
    import traceback

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("uncaught exception:\n%s", details)
        try:
            show_error(
                "Unexpected error",
                f"Something went wrong ({exc_type.__name__}: {exc}). The window keeps working; "
                "the details and the log file help to report it.",
                details,
            )
        except Exception:  # the hook must never raise
            log.exception("could not show the error dialog")

    sys.excepthook = hook
