"""Three evaluation plots as PNG files, drawn with Pillow (already a dependency of reportlab and
highdicom; no matplotlib in the bundle).

* :func:`roc_png` - the ROC curve with the chance diagonal and the AUC in the title;
* :func:`reliability_png` - observed poor-outcome rate against mean predicted probability;
* :func:`scatter_png` - predicted against reference volume (ml) with the identity line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BLACK, GREY = (0, 0, 0), (170, 170, 170)
BLUE, RED = (31, 90, 180), (200, 40, 40)
SIZE_PX = 480
#: Plot area inside the image: left, right, top, bottom margins in pixels.
MARGIN_PX = (70, 30, 60, 60)
N_TICKS = 5


def _tick_label(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


class _Plot:
    """A square plot of ``[0, top] x [0, top]`` with a frame, ticks, title and axis labels."""

    def __init__(self, top: float, title: str, xlabel: str, ylabel: str) -> None:
        self.image = Image.new("RGB", (SIZE_PX, SIZE_PX), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default(size=14)
        left, right, upper, lower = MARGIN_PX
        self.x0, self.x1, self.y0, self.y1 = left, SIZE_PX - right, upper, SIZE_PX - lower
        self.top = top
        self._frame(title, xlabel, ylabel)

    def px(self, x: float, y: float) -> tuple[float, float]:
        fx, fy = x / self.top, y / self.top
        return self.x0 + fx * (self.x1 - self.x0), self.y1 - fy * (self.y1 - self.y0)

    def _text(self, xy: tuple[float, float], text: str, anchor: str) -> None:
        self.draw.text(xy, text, fill=BLACK, font=self.font, anchor=anchor)

    def _frame(self, title: str, xlabel: str, ylabel: str) -> None:
        self.draw.rectangle((self.x0, self.y0, self.x1, self.y1), outline=BLACK)
        for i in range(N_TICKS + 1):
            value = self.top * i / N_TICKS
            x, y = self.px(value, value)
            self.draw.line((x, self.y1, x, self.y1 + 5), fill=BLACK)
            self.draw.line((self.x0 - 5, y, self.x0, y), fill=BLACK)
            self._text((x, self.y1 + 8), _tick_label(value), "mt")
            self._text((self.x0 - 8, y), _tick_label(value), "rm")
        self._text((SIZE_PX / 2, 20), title, "mm")
        self._text(((self.x0 + self.x1) / 2, self.y1 + 34), xlabel, "mt")
        self._text((6, self.y0 - 12), ylabel, "lm")

    def diagonal(self) -> None:
        self.draw.line((*self.px(0, 0), *self.px(self.top, self.top)), fill=GREY)

    def polyline(self, points: Sequence[tuple[float, float]]) -> None:
        if len(points) > 1:
            self.draw.line([self.px(x, y) for x, y in points], fill=BLUE, width=2)

    def dot(self, x: float, y: float, radius_px: float) -> None:
        cx, cy = self.px(x, y)
        r = radius_px
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=RED)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.image.save(path, format="PNG")
        return path


def roc_png(path: str | Path, fpr: np.ndarray, tpr: np.ndarray, auc: float | None) -> Path:
    """ROC curve PNG (false vs true positive rate)."""
    title = "ROC, AUC = " + ("n/a" if auc is None else f"{auc:.3f}")
    plot = _Plot(1.0, title, "false positive rate", "true positive rate")
    plot.diagonal()
    plot.polyline([(float(x), float(y)) for x, y in zip(fpr, tpr, strict=True)])
    return plot.save(path)


def reliability_png(path: str | Path, mean_probability: np.ndarray, observed_rate: np.ndarray,
                    count: np.ndarray, ece: float | None = None) -> Path:
    """Reliability diagram: the observed rate of poor outcome against the mean predicted
    probability in each bin (dot size grows with the bin's cases), with the diagonal."""
    title = "Reliability" + ("" if ece is None else f", ECE {ece:.3f}")
    plot = _Plot(1.0, title, "mean predicted probability", "observed rate")
    plot.diagonal()
    largest = float(max(1.0, np.nanmax(count) if len(count) else 1.0))
    points = [(float(p), float(r), float(n))
              for p, r, n in zip(mean_probability, observed_rate, count, strict=True)
              if n > 0 and np.isfinite(p) and np.isfinite(r)]
    plot.polyline([(p, r) for p, r, _ in points])
    for p, r, n in points:
        plot.dot(p, r, 2 + 4 * n / largest)
    return plot.save(path)


def scatter_png(path: str | Path, reference_ml: np.ndarray, predicted_ml: np.ndarray,
                mae_ml: float | None = None) -> Path:
    """Predicted against reference hematoma volume (ml) with the identity line."""
    ref = np.asarray(reference_ml, dtype=float)
    pred = np.asarray(predicted_ml, dtype=float)
    largest = float(max(1.0, ref.max(initial=0), pred.max(initial=0)) * 1.05)
    step = next((s for s in (0.2, 0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200) if 5 * s >= largest),
                largest / 5)
    top = N_TICKS * step
    title = "Volume, ml" + ("" if mae_ml is None else f"  (MAE {mae_ml:.2f} ml)")
    plot = _Plot(top, title, "reference ml", "predicted ml")
    plot.diagonal()
    for r, p in zip(ref, pred, strict=True):
        plot.dot(r, min(max(p, 0.0), top), 2)
    return plot.save(path)
