"""A configured DICOM node (AE title, host, port) and the errors talking to one can give."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ichmodel.errors import ICHError

#: Our AE title unless the user configures another.
DEFAULT_AET = "ICHVIEWER"
_AET = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # 16 printable chars, no backslash


class NetworkError(ICHError):
    """Talking to a DICOM node failed; the message says which node, what happened and what to
    check (the CLI prints it as one line and exits 3)."""


def check_aet(title: str, what: str = "AE title") -> str:
    title = title.strip()
    if not _AET.match(title):
        raise NetworkError(
            f"{what} {title!r} is not valid: 1-16 printable ASCII characters without a backslash"
        )
    return title


@dataclass(frozen=True)
class DicomNode:
    """A DICOM application entity we can call: its AE title, host and TCP port."""

    ae_title: str
    host: str
    port: int

    def __post_init__(self) -> None:
        check_aet(self.ae_title, "the node's AE title")
        if not 0 < int(self.port) < 65536:
            raise NetworkError(f"port {self.port} is not a TCP port (1-65535)")
        if not self.host.strip():
            raise NetworkError("the node has no host name or address")

    @classmethod
    def parse(cls, text: str) -> DicomNode:
        """``AET@HOST:PORT`` (e.g. ``ORTHANC@127.0.0.1:4242``) to a node, or a clear error."""
        match = re.fullmatch(r"\s*([^@]+)@(\[[^\]]+\]|[^:]+):(\d+)\s*", text)
        if not match:
            raise NetworkError(
                f"{text!r} is not a DICOM node: write AET@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242"
            )
        title, host, port = match.groups()
        return cls(title.strip(), host.strip("[]"), int(port))

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"
