"""Logging for the viewer: a rotating file in the user's log folder (the frozen app has no
console), plus stderr when there is one."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

LOG_NAME = "ichviewer.log"
_FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"
_state: dict[str, Path] = {}


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
        root.addHandler(stream)
    for name in ("ichviewer", "ichmodel"):
        logging.getLogger(name).setLevel(level)
    log.info("logging to %s", path)
    return path
