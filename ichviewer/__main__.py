"""Entry point of the ``ichviewer`` GUI (placeholder window until the reading app lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    label = QLabel("ICH Viewer — research use only, not a medical device")
    label.resize(640, 200)
    label.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
