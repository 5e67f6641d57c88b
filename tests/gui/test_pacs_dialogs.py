"""File → Send to PACS and Tools → DICOM listener, driven with real widgets and real sockets."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt


@pytest.fixture(scope="module")
def sample_reading():
    from ichmodel.progress import run_to_completion
    from ichmodel.reading import read_study
    from ichmodel.resources import sample_study_dir

    return run_to_completion(read_study(sample_study_dir() / "DICOM", model="none"))


def test_send_to_a_node_that_is_down_is_an_error_dialog(window, qtbot, sample_reading):
    from ichviewer.dialogs.pacs_dialog import SendToPacsDialog
    from ichviewer.report import ReportOptions
    from tests.orthanc import free_port

    dialog = SendToPacsDialog(window.settings, window._run_network_job, sample_reading,
                              ReportOptions(), window.show_error, window)
    qtbot.addWidget(dialog)
    dialog.show()
    port = free_port()
    dialog.nodes.setEditText(f"PACS@127.0.0.1:{port}")
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(window.error_dialogs), timeout=60_000)
    error = window.error_dialogs[-1]
    assert error.title == "Could not send to PACS"
    assert "cannot connect" in error.message and str(port) in error.message
    assert dialog.send_button.isEnabled()
    assert window.settings.dicom_nodes == [f"PACS@127.0.0.1:{port}"]  # the node is remembered

    dialog.nodes.setEditText("not a node")
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert window.error_dialogs[-1].title == "Not a DICOM node"


def test_listener_dialog_starts_answers_echo_and_reports_a_busy_port(window, qtbot, tmp_path):
    import socket

    from ichmodel.net.nodes import DicomNode
    from ichmodel.net.scu import echo
    from tests.orthanc import free_port

    dialog = window.open_listener()
    port = free_port()
    dialog.port.setValue(port)
    dialog.folder.setText(str(tmp_path / "in"))
    qtbot.mouseClick(dialog.toggle_button, Qt.MouseButton.LeftButton)
    assert dialog.running and dialog.toggle_button.text() == "Stop"
    assert not dialog.nodes.isEnabled()  # no node needed unless results are sent back
    echo(DicomNode("ICHVIEWER", "127.0.0.1", port), timeout_s=5)
    from ichmodel.net.scu import send
    from ichmodel.progress import run_to_completion
    from tests.net.test_pacs import _sample_datasets

    assert run_to_completion(send(_sample_datasets()[:2], DicomNode("ICHVIEWER", "127.0.0.1",
                                                                    port))).ok
    qtbot.waitUntil(lambda: "2 instance(s) received" in dialog.status.text(), timeout=5000)
    qtbot.mouseClick(dialog.toggle_button, Qt.MouseButton.LeftButton)
    assert not dialog.running

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen(1)
        dialog.port.setValue(busy.getsockname()[1])
        qtbot.mouseClick(dialog.toggle_button, Qt.MouseButton.LeftButton)
    assert not dialog.running
    assert window.error_dialogs[-1].title == "Could not start the DICOM listener"
    assert window.settings.listener_port == port
