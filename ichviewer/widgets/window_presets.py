"""CT display windows (center/width in HU) and a small picker for them."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget


@dataclass(frozen=True)
class Window:
    """A display window: HU values in [center - width/2, center + width/2] map to black..white."""

    center_hu: float
    width_hu: float

    @property
    def levels_hu(self) -> tuple[float, float]:
        half = max(1.0, self.width_hu) / 2.0
        return (self.center_hu - half, self.center_hu + half)


@dataclass(frozen=True)
class WindowPreset:
    key: str
    label: str
    window: Window
    shortcut: str = ""


#: Standard head CT windows (center/width, HU).
PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("brain", "Brain", Window(40, 80), "1"),
    # Acute blood is 50-90 HU: a narrow window around it makes a small bleed stand out.
    WindowPreset("blood", "Blood", Window(60, 60), "2"),
    WindowPreset("subdural", "Subdural", Window(75, 215), "3"),
    WindowPreset("stroke", "Stroke", Window(40, 40), "4"),
    WindowPreset("bone", "Bone", Window(600, 2800), "5"),
)
DICOM_KEY = "dicom"
CUSTOM_KEY = "custom"


def preset(key: str) -> WindowPreset | None:
    return next((p for p in PRESETS if p.key == key), None)


class WindowPresetBox(QComboBox):
    """A combo box of the presets, the DICOM's own window (when the series has one) and the
    current custom window (after a right-drag). Emits ``sig_window(key, Window)``."""

    sig_window = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Display window (center/width in HU); right-drag on the image to adjust")
        self._dicom: Window | None = None
        self._custom: Window | None = None
        self._rebuild("brain")
        self.currentIndexChanged.connect(self._on_index)

    def _rebuild(self, select: str) -> None:
        self.blockSignals(True)
        self.clear()
        for p in PRESETS:
            text = f"{p.label}  {p.window.center_hu:g}/{p.window.width_hu:g}"
            self.addItem(text, p.key)
        if self._dicom is not None:
            w = self._dicom
            self.addItem(f"DICOM  {w.center_hu:g}/{w.width_hu:g}", DICOM_KEY)
        if self._custom is not None:
            w = self._custom
            self.addItem(f"Custom  {w.center_hu:.0f}/{w.width_hu:.0f}", CUSTOM_KEY)
        index = self.findData(select)
        self.setCurrentIndex(index if index >= 0 else 0)
        self.blockSignals(False)

    def window_for(self, key: str) -> Window | None:
        if key == DICOM_KEY:
            return self._dicom
        if key == CUSTOM_KEY:
            return self._custom
        p = preset(key)
        return p.window if p else None

    def current_key(self) -> str:
        return str(self.currentData())

    def current_window(self) -> Window:
        return self.window_for(self.current_key()) or PRESETS[0].window

    def set_dicom_window(self, window: Window | None) -> None:
        """Offer the series' own window (or remove the entry when it has none)."""
        self._dicom = window
        key = self.current_key()
        if key == DICOM_KEY and window is None:
            key = "brain"
        self._rebuild(key)

    def select(self, key: str) -> bool:
        """Select a preset by key (emits ``sig_window``); False when unknown/unavailable."""
        index = self.findData(key)
        if index < 0:
            return False
        if index == self.currentIndex():
            self._on_index(index)
        else:
            self.setCurrentIndex(index)
        return True

    def show_custom(self, window: Window) -> None:
        """Show a window set interactively (does not emit)."""
        self._custom = window
        self._rebuild(CUSTOM_KEY)

    def _on_index(self, index: int) -> None:
        key = str(self.itemData(index))
        window = self.window_for(key)
        if window is not None:
            self.sig_window.emit(key, window)
