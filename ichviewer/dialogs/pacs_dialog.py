"""File → Send to PACS… and Tools → DICOM listener: the app's face of :mod:`ichmodel.net`.

Both dialogs can be driven without ``exec()``. Network work runs in the controller's io lane;
every failure (node down, AE title refused, time-out) comes back as an error dialog with the
one-line reason ichmodel gives. Nothing is sent unless the user presses Send.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ichviewer.settings import Settings

if TYPE_CHECKING:
    from ichmodel.reading import StudyReading
    from ichviewer.report import ReportExtras, ReportOptions


def _parse(text: str):
    from ichmodel.net.nodes import DicomNode

    return DicomNode.parse(text)


def pdf_bytes(
    reading: StudyReading, options: ReportOptions, extras: ReportExtras | None = None
) -> bytes:
    """The PDF report of ``reading`` as bytes (for the Encapsulated PDF object): the same
    report File → Export report writes, with the viewer's ``extras`` (comparison, scores,
    midline, the reader's rulers and ROIs)."""
    from ichviewer.report import export_report

    with tempfile.TemporaryDirectory() as tmp:
        return Path(export_report(Path(tmp) / "report.pdf", reading, options, extras)).read_bytes()


class NodeBox(QComboBox):
    """An editable list of the configured nodes (``AET@HOST:PORT``)."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditable(True)
        self.setObjectName("node_box")
        self.settings = settings
        self.addItems(settings.dicom_nodes)
        self.lineEdit().setPlaceholderText("ORTHANC@127.0.0.1:4242")

    def node(self):
        """The node typed or chosen: a DicomNode, or a DICOMweb URL (str) for STOW-RS; raises
        NetworkError with the reason when malformed. A new valid one is saved in the settings."""
        text = self.currentText().strip()
        if text.lower().startswith(("http://", "https://")):
            from ichmodel.net.web import check_url

            node = check_url(text)
        else:
            node = _parse(text)
        known = self.settings.dicom_nodes
        if str(node) not in known:
            self.settings.dicom_nodes = [str(node)] + known
        return node


class SendToPacsDialog(QDialog):
    """Choose a node, test it (C-ECHO) and send the open study's SEG/SR/key images/PDF."""

    def __init__(self, settings: Settings, run_job: Callable, reading, report_options,
                 show_error: Callable[[str, str], None], parent: QWidget | None = None,
                 extras: ReportExtras | None = None) -> None:
        """``extras``: what the viewer adds to the PDF sent (the reader's rulers and ROIs are
        drawn on the key images too), taken when the dialog opens."""
        super().__init__(parent)
        self.setWindowTitle("Send to PACS")
        self.setObjectName("send_to_pacs_dialog")
        self.run_job, self.reading, self.options = run_job, reading, report_options
        self.extras = extras
        self.show_error = show_error
        self.nodes = NodeBox(settings, self)
        self.anonymize = QCheckBox("Anonymize (name, ID, birth date)")
        self.anonymize.setChecked(bool(report_options.anonymize))
        self.status = QLabel("Sends the segmentation, the measurement report, the key images "
                             "and the PDF report; never the CT itself.")
        self.status.setWordWrap(True)
        self.test_button = QPushButton("Test connection")
        self.send_button = QPushButton("Send")
        self.test_button.clicked.connect(self.test_connection)
        self.send_button.clicked.connect(self.send)
        form = QFormLayout()
        form.addRow("Node (AET@HOST:PORT or DICOMweb URL)", self.nodes)
        form.addRow("", self.anonymize)
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

    def _node_or_error(self):
        from ichmodel.net.nodes import NetworkError

        try:
            return self.nodes.node()
        except NetworkError as exc:
            self.show_error("Not a DICOM node", str(exc))
            return None

    def test_connection(self) -> None:
        from ichmodel.net.scu import echo

        node = self._node_or_error()
        if node is None:
            return
        if isinstance(node, str):
            self.status.setText("A DICOMweb URL is tested by sending; press Send.")
            return
        self.status.setText(f"Testing {node}…")
        self.run_job("Testing the PACS connection", lambda: echo(node, timeout_s=5),
                     lambda _: self.status.setText(f"{node} answered (C-ECHO ok)."),
                     lambda msg: self._failed("The PACS did not answer", msg))

    def send(self) -> None:
        node = self._node_or_error()
        if node is None:
            return
        anonymize = self.anonymize.isChecked()
        # the PDF inside follows the dialog's Anonymize box, as the SEG/SR/key images do
        reading, options = self.reading, replace(self.options, anonymize=anonymize)
        extras = self.extras
        annotations = extras.annotations if extras is not None else ()

        def work():
            from ichmodel.dicom_out import build_results
            from ichmodel.net.scu import echo, send
            from ichmodel.progress import run_to_completion

            results = build_results(reading, pdf_bytes=pdf_bytes(reading, options, extras),
                                    anonymize=anonymize, annotations=annotations)
            if isinstance(node, str):
                from ichmodel.net.web import stow

                report = stow(results.datasets, node)
            else:
                echo(node, timeout_s=10)
                report = run_to_completion(send(results.datasets, node))
            if report.failed:
                from ichmodel.net.nodes import NetworkError

                raise NetworkError(f"{node} refused {len(report.failed)} object(s): "
                                   f"{report.failed[0][1]}")
            return len(report.stored), results.remarks

        self.status.setText(f"Sending to {node}…")
        self.send_button.setEnabled(False)
        self.run_job("Sending results to PACS", work, self._sent,
                     lambda msg: self._failed("Could not send to PACS", msg))

    def _sent(self, result) -> None:
        n, remarks = result
        self.send_button.setEnabled(True)
        self.status.setText(f"Sent {n} object(s). " + " ".join(remarks))

    def _failed(self, title: str, message: str) -> None:
        self.send_button.setEnabled(True)
        self.status.setText(message)
        self.show_error(title, message)


class ListenerDialog(QDialog):
    """Start/stop a Storage SCP receiving studies into a folder; optionally measure each
    complete study and send its results to a configured node."""

    def __init__(self, settings: Settings, show_error: Callable[[str, str], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("DICOM listener")
        self.setObjectName("listener_dialog")
        self.settings, self.show_error = settings, show_error
        self.listener = None
        self.aet = QLineEdit("ICHVIEWER")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(settings.listener_port)
        self.folder = QLineEdit(str(Path.home() / "ICHViewer" / "incoming"))
        self.process = QCheckBox("Measure each complete study and send results to:")
        self.nodes = NodeBox(settings, self)
        self.predict = QCheckBox("also predict with the active model")
        for widget in (self.nodes, self.predict):
            widget.setEnabled(False)
            self.process.toggled.connect(widget.setEnabled)
        self.status = QLabel("Stopped.")
        # the listener's counters are read from its threads once a second
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(1000)
        self.refresh_timer.timeout.connect(self.refresh_status)
        self.toggle_button = QPushButton("Start")
        self.toggle_button.clicked.connect(self.toggle)
        form = QFormLayout()
        form.addRow("Our AE title", self.aet)
        form.addRow("Port", self.port)
        form.addRow("Folder", self.folder)
        form.addRow(self.process)
        form.addRow("Node", self.nodes)
        form.addRow("", self.predict)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.toggle_button)

    @property
    def running(self) -> bool:
        return self.listener is not None

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        from ichmodel.errors import ICHError
        from ichmodel.net.listen import StorageListener

        try:
            node = self.nodes.node() if self.process.isChecked() else None
            out = Path(self.folder.text())
            on_complete = (self._processor(out, node, self.predict.isChecked())
                           if node is not None else None)
            self.listener = StorageListener(out, port=self.port.value(),
                                            ae_title=self.aet.text(), host="0.0.0.0",
                                            on_complete=on_complete).start()
        except ICHError as exc:
            self.listener = None
            self.show_error("Could not start the DICOM listener", str(exc))
            return
        self.settings.listener_port = self.port.value()
        self.refresh_status()
        self.refresh_timer.start()
        self.toggle_button.setText("Stop")

    def refresh_status(self) -> None:
        if self.listener is None:
            return
        stats = self.listener.stats
        self.status.setText(
            f"Listening as {self.listener.ae_title} on port {self.listener.port}: "
            f"{stats.received} instance(s) received, {len(stats.studies_completed)} study(ies) "
            f"complete, {stats.duplicates} duplicate(s), {stats.refused} refused."
        )

    @staticmethod
    def _processor(out: Path, node, predict: bool):
        def process(folder: Path) -> None:
            from ichmodel.net.process import process_study
            from ichviewer.report import ReportOptions

            # model None: the active model (registry, else the bundled demo), as the viewer
            process_study(folder, results_dir=out / "results", send_to=node,
                          model=None if predict else "none",
                          make_pdf=lambda reading: pdf_bytes(reading, ReportOptions()))

        return process

    def stop(self) -> None:
        self.refresh_timer.stop()
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self.status.setText("Stopped.")
        self.toggle_button.setText("Start")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)
