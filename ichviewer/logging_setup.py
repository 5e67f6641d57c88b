"""Logging for the viewer: a rotating file in the user's log folder (the frozen app has no
console), plus stderr when there is one.

Both go through :class:`PrivacyFilter`: the log is read by whoever fixes a bug, so it never
holds a patient's name, ID or birth date. Identifiers the viewer has seen (registered with
:func:`register_identifiers` when a study is scanned and loaded) and anything shaped like a
DICOM person name (``Family^Given``) are replaced; folder paths are replaced by a short hash
(the study folder is often named after the patient), keeping a file's own name. Third-party
warnings (pydicom quotes raw header bytes) are not logged at all unless in debug mode.
"""

from __future__ import annotations

import hashlib
import logging
import logging.handlers
import os
import re
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

LOG_NAME = "ichviewer.log"
_FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"
_state: dict[str, Path] = {}


_PERSON_NAME = re.compile(r"[^\s\\/'\"=:,;()\[\]]+\^[^\s\\/'\",;()\[\]]*")
#: an absolute path (POSIX or Windows) up to a separator-free end
_PATH = re.compile(r"(?:[A-Za-z]:\\|/)(?:[^\s'\",;:()\[\]<>|]+[\\/])+[^\s'\",;:()\[\]<>|]*")
_identifiers: set[str] = set()
_lock = threading.Lock()


def register_identifiers(*values: str) -> None:
    """Strings never to write to the log (a patient's name and its parts, ID, birth date)."""
    with _lock:
        for value in values:
            value = (value or "").strip()
            if len(value) < 3:
                continue
            _identifiers.add(value)
            for part in re.split(r"[\^ ]+", value):
                if len(part) >= 3:
                    _identifiers.add(part)


def _hash_path(match: re.Match[str]) -> str:
    path = match.group(0)
    head, _, name = path.replace("\\", "/").rstrip("/").rpartition("/")
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    keep = name if "." in name and len(name) <= 64 else ""  # a file's name, not a folder's
    return f"<folder {digest}>/{keep}" if keep else f"<path {digest}>"


def redact(text: str) -> str:
    """``text`` without registered identifiers, person names and folder names."""
    text = _PATH.sub(_hash_path, text)
    text = _PERSON_NAME.sub("<name>", text)
    with _lock:
        known = sorted(_identifiers, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "<id>")
    return text


class PrivacyFilter(logging.Filter):
    """Rewrites each record's message (and traceback) through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call still must not leak
            message = str(record.msg)
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            message += "\n" + record.exc_text
            record.exc_text = None
        record.msg = redact(message)
        record.args = None
        return True


def log_dir() -> Path:
    """The user's log folder for this app (QStandardPaths state/app-data location + /logs).

    ``$ICHVIEWER_LOG_DIR`` overrides it (tests, kiosks).
    """
    env = os.environ.get("ICHVIEWER_LOG_DIR")
    if env:
        return Path(env)
    from PySide6.QtCore import QStandardPaths

    kind = getattr(QStandardPaths.StandardLocation, "StateLocation", None)
    base = QStandardPaths.writableLocation(kind) if kind is not None else ""
    if not base:
        base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    if not base:
        base = str(Path.home() / ".ichviewer")
    # Logging starts before QApplication knows its name, when Qt answers with the generic
    # folder (~/.local/state): keep our logs in a folder of our own there.
    if "ichviewer" not in base.lower():
        base = str(Path(base) / "ichviewer")
    return Path(base) / "logs"


def log_file() -> Path | None:
    """The file the viewer logs to, once :func:`setup_logging` ran (None before)."""
    return _state.get("file")


def setup_logging(level: int = logging.INFO, *, to_stderr: bool | None = None) -> Path | None:
    """Send ichviewer/ichmodel logs to a rotating file (and stderr if there is one).

    Returns the log file's path, or None when no log folder could be created. Safe to call
    more than once (later calls only return the path).
    """
    if "file" in _state:
        return _state["file"]
    root = logging.getLogger()
    root.setLevel(min(root.level or logging.WARNING, level))
    formatter = logging.Formatter(_FORMAT)
    path: Path | None = None
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LOG_NAME
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        handler.setFormatter(formatter)
        handler.setLevel(level)
        handler.addFilter(PrivacyFilter())
        root.addHandler(handler)
        _state["file"] = path
    except OSError as exc:  # read-only home etc.: keep going without a file
        sys.stderr.write(f"ichviewer: cannot write logs ({exc}); logging to stderr only\n")
    if to_stderr is None:
        to_stderr = sys.stderr is not None and not getattr(sys, "frozen", False)
    if to_stderr:
        stream = logging.StreamHandler()
        stream.setFormatter(formatter)
        stream.setLevel(max(level, logging.WARNING))
        stream.addFilter(PrivacyFilter())
        root.addHandler(stream)
    for name in ("ichviewer", "ichmodel"):
        logging.getLogger(name).setLevel(level)
    from ichmodel.io.third_party import capture_third_party_warnings

    capture_third_party_warnings(debug=level <= logging.DEBUG)
    log.info("logging to %s", path.name if path else None)
    return path
