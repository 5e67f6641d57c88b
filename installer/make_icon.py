"""Draw the application icon (resources/icons/ichviewer.png) with Qt, offscreen.

A stylised axial head CT: grey brain in a white skull ring with a bright hematoma.
Run once; the PNG is committed, so building the bundle does not need this script.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPen  # noqa: E402


def draw_icon(size: int = 256) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 256
    p.setBrush(QColor(18, 24, 38))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(QRectF(8 * s, 8 * s, 240 * s, 240 * s), 40 * s, 40 * s)
    p.setBrush(QColor(150, 150, 150))
    p.setPen(QPen(QColor(245, 245, 245), 14 * s))
    p.drawEllipse(QRectF(48 * s, 34 * s, 160 * s, 188 * s))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(95, 95, 95))
    p.drawEllipse(QRectF(110 * s, 100 * s, 14 * s, 44 * s))
    p.drawEllipse(QRectF(132 * s, 100 * s, 14 * s, 44 * s))
    p.setBrush(QColor(235, 235, 235))
    p.drawEllipse(QPointF(92 * s, 132 * s), 26 * s, 20 * s)
    p.setBrush(QColor(230, 60, 40, 160))
    p.drawEllipse(QPointF(92 * s, 132 * s), 34 * s, 28 * s)
    p.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv)  # noqa: F841
    out = Path(__file__).resolve().parent.parent / "resources" / "icons" / "ichviewer.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    draw_icon(256).save(str(out))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
