"""Two evaluation plots as PNG files, drawn with numpy and written with zlib (no matplotlib).

* :func:`roc_png` - the ROC curve with the chance diagonal and the AUC in the title;
* :func:`scatter_png` - predicted against reference volume (ml) with the identity line.

The rasteriser is deliberately tiny: anti-aliasing-free lines (Bresenham-like sampling), square
markers and a 5x7 bitmap font for titles and tick labels.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (170, 170, 170)
BLUE, RED = (31, 90, 180), (200, 40, 40)

# 5x7 glyphs, one string of 7 rows of 5 bits per character.
_GLYPHS = {
    "0": "01110100011001110101110011000101110", "1": "00100011000010000100001000010001110",
    "2": "01110100010000100010001000100011111", "3": "11111000100010000010000011000101110",
    "4": "00010001100101010010111110001000010", "5": "11111100001111000001000011000101110",
    "6": "00110010001000011110100011000101110", "7": "11111000010001000100010000100001000",
    "8": "01110100011000101110100011000101110", "9": "01110100011000101111000010001001100",
    ".": "00000000000000000000000000110001100", "-": "00000000000000011111000000000000000",
    " ": "0" * 35, "=": "00000000001111100000111110000000000",
    "(": "00010001000100001000010000010000010", ")": "01000001000001000010000100010001000",
    "%": "11000110010001000100010001001100011", "/": "00000000010001000100010001000000000",
    ",": "00000000000000000000001100010001000", ":": "00000011000110000000011000110000000",
}
_LETTERS = {
    "A": "01110100011000111111100011000110001", "B": "11110100011000111110100011000111110",
    "C": "01110100011000010000100001000101110", "D": "11100100101000110001100011001011100",
    "E": "11111100001000011110100001000011111", "F": "11111100001000011110100001000010000",
    "G": "01110100011000010111100011000101111", "H": "10001100011000111111100011000110001",
    "I": "01110001000010000100001000010001110", "L": "10000100001000010000100001000011111",
    "M": "10001110111010110101100011000110001", "N": "10001100011100110101100111000110001",
    "O": "01110100011000110001100011000101110", "P": "11110100011000111110100001000010000",
    "R": "11110100011000111110101001001010001", "S": "01111100001000001110000010000111110",
    "T": "11111001000010000100001000010000100", "U": "10001100011000110001100011000101110",
    "V": "10001100011000110001100010101000100", "W": "10001100011000110101101011010101010",
    "Y": "10001100010101000100001000010000100", "X": "10001100010101000100010101000110001",
}
_GLYPHS.update(_LETTERS)


class Canvas:
    """An RGB image with drawing helpers; (0, 0) is the top-left pixel."""

    def __init__(self, width: int = 480, height: int = 480) -> None:
        self.img = np.full((height, width, 3), 255, dtype=np.uint8)

    @property
    def size(self) -> tuple[int, int]:
        return self.img.shape[1], self.img.shape[0]

    def dot(self, x: float, y: float, color, radius: int = 0) -> None:
        h, w = self.img.shape[:2]
        xi, yi = int(round(x)), int(round(y))
        y0, y1 = max(0, yi - radius), min(h, yi + radius + 1)
        x0, x1 = max(0, xi - radius), min(w, xi + radius + 1)
        if y0 < y1 and x0 < x1:
            self.img[y0:y1, x0:x1] = color

    def line(self, x0: float, y0: float, x1: float, y1: float, color, width: int = 0) -> None:
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for t in np.linspace(0.0, 1.0, n + 1):
            self.dot(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, color, width)

    def text(self, x: int, y: int, s: str, color=BLACK, scale: int = 2) -> None:
        for i, ch in enumerate(s.upper()):
            glyph = _GLYPHS.get(ch, _GLYPHS[" "])
            bits = np.array([int(b) for b in glyph], dtype=bool).reshape(7, 5)
            for gy, gx in zip(*np.nonzero(bits), strict=True):
                px, py = x + (i * 6 + gx) * scale, y + gy * scale
                self.img[py : py + scale, px : px + scale] = color

    def text_width(self, s: str, scale: int = 2) -> int:
        return len(s) * 6 * scale

    def save_png(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_png(self.img))
        return path


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (h, w, 3) uint8 image (8-bit RGB, no filtering, zlib)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


class _Axes:
    def __init__(self, canvas: Canvas, xlim, ylim, margin=(70, 30, 50, 60)) -> None:
        self.c = canvas
        w, h = canvas.size
        left, right, top, bottom = margin
        self.x0, self.x1, self.y0, self.y1 = left, w - right, top, h - bottom
        self.xlim, self.ylim = xlim, ylim

    def px(self, x: float, y: float) -> tuple[float, float]:
        fx = (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0])
        fy = (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0])
        return self.x0 + fx * (self.x1 - self.x0), self.y1 - fy * (self.y1 - self.y0)

    def frame(self, title: str, xlabel: str, ylabel: str, n_ticks: int = 5) -> None:
        c = self.c
        for (a, b), (d, e) in (((self.x0, self.y0), (self.x1, self.y0)),
                               ((self.x0, self.y1), (self.x1, self.y1)),
                               ((self.x0, self.y0), (self.x0, self.y1)),
                               ((self.x1, self.y0), (self.x1, self.y1))):
            c.line(a, b, d, e, BLACK)
        for i in range(n_ticks + 1):
            xv = self.xlim[0] + (self.xlim[1] - self.xlim[0]) * i / n_ticks
            yv = self.ylim[0] + (self.ylim[1] - self.ylim[0]) * i / n_ticks
            px, _ = self.px(xv, self.ylim[0])
            _, py = self.px(self.xlim[0], yv)
            c.line(px, self.y1, px, self.y1 + 5, BLACK)
            c.line(self.x0 - 5, py, self.x0, py, BLACK)
            label = _fmt(xv)
            c.text(int(px - c.text_width(label) / 2), self.y1 + 9, label)
            label = _fmt(yv)
            c.text(int(self.x0 - 8 - c.text_width(label)), int(py - 7), label)
        w, _ = c.size
        c.text(int((w - c.text_width(title)) / 2), 12, title)
        c.text(int((self.x0 + self.x1 - c.text_width(xlabel)) / 2), self.y1 + 32, xlabel)
        c.text(4, self.y0 - 24 if self.y0 >= 30 else 2, ylabel, scale=2)


def roc_png(path: str | Path, fpr: np.ndarray, tpr: np.ndarray, auc: float | None) -> Path:
    """ROC curve PNG (false vs true positive rate)."""
    c = Canvas()
    ax = _Axes(c, (0.0, 1.0), (0.0, 1.0), margin=(70, 30, 60, 60))
    title = "ROC AUC = " + ("NA" if auc is None else f"{auc:.3f}")
    ax.frame(title, "FALSE POSITIVE RATE", "TPR")
    c.line(*ax.px(0, 0), *ax.px(1, 1), GREY)
    pts = [ax.px(float(x), float(y)) for x, y in zip(fpr, tpr, strict=True)]
    for (xa, ya), (xb, yb) in zip(pts, pts[1:], strict=False):
        c.line(xa, ya, xb, yb, BLUE, width=1)
    return c.save_png(path)


def reliability_png(path: str | Path, mean_probability: np.ndarray, observed_rate: np.ndarray,
                    count: np.ndarray, ece: float | None = None) -> Path:
    """Reliability diagram: the observed rate of poor outcome against the mean predicted
    probability in each bin (dot size grows with the bin's cases), with the diagonal."""
    c = Canvas()
    ax = _Axes(c, (0.0, 1.0), (0.0, 1.0), margin=(70, 30, 60, 60))
    title = "RELIABILITY" + ("" if ece is None else f"  ECE {ece:.3f}")
    ax.frame(title, "MEAN PREDICTED PROBABILITY", "OBSERVED")
    c.line(*ax.px(0, 0), *ax.px(1, 1), GREY)
    largest = float(max(1.0, np.nanmax(count) if len(count) else 1.0))
    points = []
    for p, r, n in zip(mean_probability, observed_rate, count, strict=True):
        if n > 0 and np.isfinite(p) and np.isfinite(r):
            points.append(ax.px(float(p), float(r)))
            c.dot(*points[-1], RED, radius=2 + int(4 * n / largest))
    for (xa, ya), (xb, yb) in zip(points, points[1:], strict=False):
        c.line(xa, ya, xb, yb, BLUE, width=1)
    return c.save_png(path)


def scatter_png(path: str | Path, reference_ml: np.ndarray, predicted_ml: np.ndarray,
                mae_ml: float | None = None) -> Path:
    """Predicted against reference hematoma volume (ml) with the identity line."""
    ref = np.asarray(reference_ml, dtype=float)
    pred = np.asarray(predicted_ml, dtype=float)
    largest = float(max(1.0, ref.max(initial=0), pred.max(initial=0)) * 1.05)
    step = next((s for s in (0.2, 0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200) if 5 * s >= largest),
                largest / 5)
    top = 5 * step
    c = Canvas()
    ax = _Axes(c, (0.0, top), (0.0, top), margin=(70, 30, 60, 60))
    title = "VOLUME ML" + ("" if mae_ml is None else f"  MAE {mae_ml:.2f}")
    ax.frame(title, "REFERENCE ML", "PREDICTED ML")
    c.line(*ax.px(0, 0), *ax.px(top, top), GREY)
    for r, p in zip(ref, pred, strict=True):
        c.dot(*ax.px(r, min(max(p, 0.0), top)), RED, radius=2)
    return c.save_png(path)
