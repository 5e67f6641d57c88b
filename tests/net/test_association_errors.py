"""What a reader is told when a port answers TCP but not DICOM (no Orthanc needed)."""

from __future__ import annotations

import socket
import threading

import pytest

from ichmodel.net.nodes import DicomNode, NetworkError
from ichmodel.net.scu import echo


def _serve(behaviour: str) -> tuple[socket.socket, int, list[int]]:
    """A TCP port on 127.0.0.1 that closes each connection at once ("close") or holds it
    without a word ("silent"); returns the socket, its port and a count of connections."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[int] = []
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(1)
            if behaviour == "close":
                conn.close()
            else:
                held.append(conn)

    threading.Thread(target=loop, daemon=True).start()
    return server, server.getsockname()[1], accepted


def test_a_port_that_hangs_up_is_asked_twice_then_named():
    server, port, accepted = _serve("close")
    try:
        with pytest.raises(NetworkError, match="closed the connection without accepting"):
            echo(DicomNode("PACS", "127.0.0.1", port), timeout_s=5)
        # the TCP probe, then two association requests
        assert len(accepted) == 3
    finally:
        server.close()


def test_a_port_that_never_answers_times_out_once():
    server, port, accepted = _serve("silent")
    try:
        with pytest.raises(NetworkError, match="no answer to the association request within 1 s"):
            echo(DicomNode("PACS", "127.0.0.1", port), timeout_s=1)
        assert len(accepted) == 2  # the TCP probe and one request: a timeout is not retried
    finally:
        server.close()
