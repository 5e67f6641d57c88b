"""The one typed wrapper around ``QSettings`` for UI preferences.

Everything the viewer remembers between runs goes through :class:`Settings`: last folder,
window preset, heatmap opacity, compute device, window geometry and recent studies. Values are
validated on the way out, so a hand-edited or stale settings file can never crash the app.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

log = logging.getLogger(__name__)

ORGANIZATION = "ICHViewer"
APPLICATION = "ichviewer"
MAX_RECENT = 8
#: What ichmodel.device accepts (auto: CUDA when available, else the CPU).
DEVICES = ("auto", "cpu", "cuda")


class Settings:
    """Typed UI preferences. ``path`` selects an INI file (tests); default: the user's store."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            self._qs = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self._qs = QSettings(ORGANIZATION, APPLICATION)

    @property
    def location(self) -> str:
        return self._qs.fileName()

    def sync(self) -> None:
        self._qs.sync()

    # --- helpers ----------------------------------------------------------------------------
    def _bytes(self, key: str) -> QByteArray | None:
        value = self._qs.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def _str(self, key: str, default: str) -> str:
        value = self._qs.value(key, default)
        return value if isinstance(value, str) else default

    def _float(self, key: str, default: float, lo: float, hi: float) -> float:
        try:
            value = float(self._qs.value(key, default))
        except (TypeError, ValueError):
            return default
        return min(hi, max(lo, value)) if value == value else default

    # --- preferences ------------------------------------------------------------------------
    @property
    def last_folder(self) -> str:
        """The folder the Open dialog starts in (empty: the home folder)."""
        return self._str("paths/last_folder", "")

    @last_folder.setter
    def last_folder(self, folder: str | Path) -> None:
        self._qs.setValue("paths/last_folder", str(folder))

    @property
    def window_preset(self) -> str:
        """Name of the last used window preset (see :mod:`ichviewer.widgets.window_presets`)."""
        return self._str("view/window_preset", "brain")

    @window_preset.setter
    def window_preset(self, name: str) -> None:
        self._qs.setValue("view/window_preset", str(name))

    @property
    def heatmap_opacity(self) -> float:
        """Grad-CAM overlay opacity in [0, 1]."""
        return self._float("view/heatmap_opacity", 0.45, 0.0, 1.0)

    @heatmap_opacity.setter
    def heatmap_opacity(self, value: float) -> None:
        self._qs.setValue("view/heatmap_opacity", float(min(1.0, max(0.0, value))))

    @property
    def device(self) -> str:
        """Compute device for the model: auto, cpu or cuda."""
        value = self._str("model/device", "auto")
        return value if value in DEVICES else "auto"

    @device.setter
    def device(self, value: str) -> None:
        if value not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {value!r}")
        self._qs.setValue("model/device", value)

    @property
    def geometry(self) -> QByteArray | None:
        """The main window's saved geometry (``QWidget.saveGeometry()``), or None."""
        return self._bytes("window/geometry")

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._qs.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        """The main window's dock/toolbar layout (``QMainWindow.saveState()``), or None."""
        return self._bytes("window/state")

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._qs.setValue("window/state", value)

    @property
    def recent_studies(self) -> list[str]:
        """Most recent first, at most :data:`MAX_RECENT` paths."""
        value = self._qs.value("paths/recent", [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            value = [value]
        if not isinstance(value, list):
            return []
        return [str(v) for v in value if isinstance(v, str) and v][:MAX_RECENT]

    def add_recent_study(self, path: str | Path) -> list[str]:
        text = str(path)
        recent = [text] + [p for p in self.recent_studies if p != text]
        self._qs.setValue("paths/recent", recent[:MAX_RECENT])
        return recent[:MAX_RECENT]

    def clear_recent_studies(self) -> None:
        self._qs.setValue("paths/recent", [])

    # --- PACS (issue 19) ---------------------------------------------------------------------
    @property
    def dicom_nodes(self) -> list[str]:
        """Configured nodes as ``AET@HOST:PORT`` or DICOMweb URLs, as entered (valid ones)."""
        from ichmodel.net.nodes import DicomNode, NetworkError
        from ichmodel.net.web import check_url

        value = self._qs.value("pacs/nodes", [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return []
        found = []
        for text in value:
            try:
                text = str(text)
                is_url = text.lower().startswith(("http://", "https://"))
                found.append(check_url(text) if is_url else str(DicomNode.parse(text)))
            except NetworkError:
                log.warning("ignoring a malformed saved DICOM node")
        return found

    @dicom_nodes.setter
    def dicom_nodes(self, nodes: list[str]) -> None:
        self._qs.setValue("pacs/nodes", [str(n) for n in nodes])

    @property
    def listener_port(self) -> int:
        return int(self._float("pacs/listener_port", 11112, 1, 65535))

    @listener_port.setter
    def listener_port(self, port: int) -> None:
        self._qs.setValue("pacs/listener_port", int(port))
