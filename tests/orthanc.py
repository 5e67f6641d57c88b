"""A real PACS for the tests: Orthanc (Debian package ``orthanc``) on 127.0.0.1.

The test starts it with its own config file and storage in a temporary folder and stops it
after (apt's postinst cannot start a service in a container). Where Orthanc is not installed,
the tests that need it skip with a message saying how to get it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ORTHANC_AET = "ORTHANC"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orthanc:
    dicom_port: int
    http_port: int
    process: subprocess.Popen
    log: Path

    @property
    def dicomweb_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    @property
    def node(self):
        from ichmodel.net.nodes import DicomNode

        return DicomNode(ORTHANC_AET, "127.0.0.1", self.dicom_port)


DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def start_orthanc(
    work: Path, *, listener_aet: str, listener_port: int, dicomweb: bool = False
) -> Orthanc:
    binary = shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    if binary is None:
        pytest.skip("Orthanc is not installed (apt-get install orthanc; .ci/run does it)")
    if dicomweb and not DICOMWEB_PLUGIN.exists():
        pytest.skip("Orthanc's DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)")
    work.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = free_port(), free_port()
    config = {
        "Name": "ich-test", "DicomAet": ORTHANC_AET, "DicomPort": dicom_port,
        "HttpPort": http_port, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "StorageDirectory": str(work / "db"), "IndexDirectory": str(work / "db"),
        "DicomCheckCalledAet": True, "DicomScpTimeout": 10,
        "DicomModalities": {"ich": [listener_aet, "127.0.0.1", listener_port]},
        "Plugins": [str(DICOMWEB_PLUGIN)] if dicomweb else [],
        "DicomWeb": {"Enable": dicomweb, "Root": "/dicom-web/"},
        "HttpServerEnabled": True, "StableAge": 1,
        "UnknownSopClassAccepted": True,
    }  # fmt: skip
    (work / "orthanc.json").write_text(json.dumps(config))
    log = work / "orthanc.log"
    process = subprocess.Popen(
        [binary, str(work / "orthanc.json")], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Orthanc exited at start: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", dicom_port), timeout=0.5):
                return Orthanc(dicom_port, http_port, process, log)
        except OSError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("Orthanc did not open its DICOM port within 30 s")


def stop_orthanc(orthanc: Orthanc) -> None:
    orthanc.process.terminate()
    try:
        orthanc.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        orthanc.process.kill()
        orthanc.process.wait(timeout=5)
