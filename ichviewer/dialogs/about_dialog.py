"""About box and the model card viewer (both creatable and answerable without ``exec()``)."""

from __future__ import annotations

import html
import platform
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

import ichviewer
from ichmodel.flip_axes import flip_words

if TYPE_CHECKING:
    from ichmodel.checkpoint import LoadedModel


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


def model_card_html(model: LoadedModel) -> str:
    """HTML for a loaded model: the card first (its provenance and warning, what it was trained
    on, what it is for and not for), then metrics and technical facts."""
    card = model.card
    parts = [f"<h2>{html.escape(model.name)}</h2>"]
    if card.warning_banner:
        parts.append(
            "<p style='background:#ffb300; color:#1a1a1a; padding:6px'><b>⚠ "
            f"{html.escape(card.warning_banner)}</b></p>"
        )
    rows: dict[str, Any] = {"provenance": card.provenance.value}
    rows.update({title.lower(): text for title, text in card.sections()})
    if card.recommended_cam_flip_axes:
        rows["recommended heatmap flips"] = flip_words(card.recommended_cam_flip_axes)
    parts.append(_value_html(rows))
    if model.metrics:
        parts.append("<h3>Validation metrics</h3>")
        parts.append(_value_html(dict(model.metrics)))
    facts = {
        "file": str(model.path or "(built in, not saved)"),
        "weights SHA-256": model.sha256 or "—",
        "network": model.net_config.to_dict(),
        "preprocessing": model.preprocess_config.to_dict(),
        # how its size output becomes ml (scaled by the input's voxel volume, or not)
        "volume output": model.label_transform.to_dict(),
    }
    parts.append("<h3>Technical details</h3>")
    parts.append(_value_html(facts))
    parts.append(f"<p style='color:#ef5350'><b>{html.escape(card.notice or RESEARCH_NOTICE)}"
                 "</b></p>")
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

    def __init__(self, model: LoadedModel, parent: QWidget | None = None) -> None:
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
