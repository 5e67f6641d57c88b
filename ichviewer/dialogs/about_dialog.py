"""About box and the model card viewer (both creatable and answerable without ``exec()``)."""

from __future__ import annotations

import html
import json
import logging
import platform
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

import ichviewer

log = logging.getLogger(__name__)

RESEARCH_NOTICE = (
    "Research use only. Not a medical device. The bundled model is trained on synthetic "
    "head-CT phantoms with a proxy outcome label; nothing here claims clinical validity."
)


def _value_html(value: Any, depth: int = 0) -> str:
    if isinstance(value, Mapping):
        if not value:
            return "<i>none</i>"
        rows = "".join(
            f"<tr><td style='padding-right:12px; vertical-align:top; color:#546e7a'>"
            f"{html.escape(str(k).replace('_', ' '))}</td><td>{_value_html(v, depth + 1)}</td></tr>"
            for k, v in value.items()
        )
        return f"<table cellspacing='2'>{rows}</table>"
    if isinstance(value, list | tuple):
        if not value:
            return "<i>none</i>"
        if all(not isinstance(v, Mapping | list | tuple) for v in value):
            return html.escape(", ".join(_fmt(v) for v in value))
        return "<ul>" + "".join(f"<li>{_value_html(v, depth + 1)}</li>" for v in value) + "</ul>"
    return html.escape(_fmt(value))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _as_mapping(obj: Any) -> Mapping[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    try:
        return json.loads(str(obj))
    except (TypeError, ValueError):
        return {"card": str(obj)}


def model_card_html(model: Any) -> str:
    """HTML for a loaded model (``ichmodel.checkpoint.LoadedModel``): the card first (what it
    was trained on, what it is for and not for, its warning), then metrics and technical facts."""
    name = getattr(model, "name", "unknown model")
    parts = [f"<h2>{html.escape(str(name))}</h2>"]
    card = {
        k: v for k, v in _as_mapping(getattr(model, "card", None)).items() if v not in ("", None)
    }
    banner = card.pop("banner", "")
    notice = card.pop("notice", "")
    card.pop("name", None)
    if banner:
        parts.append(
            "<p style='background:#ffb300; color:#1a1a1a; padding:6px'><b>⚠ "
            f"{html.escape(str(banner))}</b></p>"
        )
    if card:
        parts.append(_value_html(card))
    metrics = _as_mapping(getattr(model, "metrics", None))
    if metrics:
        parts.append("<h3>Validation metrics</h3>")
        parts.append(_value_html(metrics))
    facts = {
        "file": str(getattr(model, "path", "") or "(built in, not saved)"),
        "weights SHA-256": str(getattr(model, "sha256", "") or "—"),
        "network": _as_mapping(getattr(model, "net_config", None)),
        "preprocessing": _as_mapping(getattr(model, "preprocess_config", None)),
        # how its size output becomes ml (scaled by the input's voxel volume, or not)
        "volume output": _as_mapping(getattr(model, "label_transform", None)),
    }
    parts.append("<h3>Technical details</h3>")
    parts.append(_value_html(facts))
    parts.append(f"<p style='color:#ef5350'><b>{html.escape(notice or RESEARCH_NOTICE)}</b></p>")
    return "".join(parts)


class _HtmlDialog(QDialog):
    def __init__(self, title: str, body_html: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(620, 560)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(body_html)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)

    def text(self) -> str:
        return self.browser.toPlainText()


class ModelCardDialog(_HtmlDialog):
    """Shows the active model's card (what it was trained on, metrics, intended use)."""

    def __init__(self, model: Any, parent: QWidget | None = None) -> None:
        super().__init__("Model card", model_card_html(model), parent)


class AboutDialog(_HtmlDialog):
    def __init__(self, parent: QWidget | None = None, log_path: str | None = None) -> None:
        from PySide6 import __version__ as pyside_version

        body = (
            f"<h2>ICH Viewer {html.escape(ichviewer.__version__)}</h2>"
            "<p>Head non-contrast CT in intracerebral hemorrhage: hematoma volume (model, "
            "planimetric, ABC/2), a poor-outcome probability and a Grad-CAM heatmap.</p>"
            "<p>Model after Gong et al. 2023, <i>Front. Neurosci.</i> 17:1118340 "
            "(3D ResNet, multi-task volume + prognosis).</p>"
            f"<p style='color:#ef5350'><b>{html.escape(RESEARCH_NOTICE)}</b></p>"
            f"<p style='color:#607d8b'>Python {platform.python_version()} · PySide6 "
            f"{pyside_version}"
            + (f"<br>Log file: {html.escape(log_path)}" if log_path else "")
            + "</p>"
        )
        super().__init__("About ICH Viewer", body, parent)
        self.browser.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
