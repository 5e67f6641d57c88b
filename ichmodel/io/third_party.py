"""Keeping third-party warnings (pydicom, numpy) off the user's stderr and out of plain logs.

pydicom warns about odd headers by quoting their raw bytes (a patient's name among them) and
can do so tens of thousands of times for one broken file; numpy warns about overflow. What they
say is either already a coded notice of ours (the file was skipped, the slice set aside) or only
useful when debugging, so :func:`capture_third_party_warnings` routes Python warnings to the
``py.warnings`` logger and lets it, and pydicom's own logger, through only in debug mode.
"""

from __future__ import annotations

import logging

#: Loggers that carry third-party chatter.
THIRD_PARTY_LOGGERS = ("py.warnings", "pydicom")


def capture_third_party_warnings(debug: bool = False) -> None:
    """Route ``warnings.warn`` to logging; show it (and pydicom's logs) only when ``debug``."""
    import pydicom.config  # noqa: F401 - it sets its logger's level when first imported

    logging.captureWarnings(True)
    level = logging.DEBUG if debug else logging.CRITICAL
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(level)
