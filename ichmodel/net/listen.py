"""A Storage SCP: receives studies into a folder per study and says when one is complete.

Each instance is written to ``OUT/<StudyInstanceUID>/<SOPInstanceUID>.dcm`` through a temporary
file and an atomic rename, so a reader never sees half a file and a sender that disconnects
mid-study leaves only whole instances. An instance whose SOP Instance UID is already there is
acknowledged and kept once. A study is *complete* when no instance has arrived for it for
``quiet_s`` seconds; ``on_complete(folder)`` then runs on one worker thread (it may measure,
predict and send results back). Malformed instances are refused with a status, never a crash.
No patient names are logged: studies are named by UID only.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ichmodel.net.nodes import DEFAULT_AET, NetworkError, check_aet

log = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
STATUS_OK = 0x0000
STATUS_CANNOT_UNDERSTAND = 0xC210
STATUS_OUT_OF_RESOURCES = 0xA700


@dataclass
class ListenerStats:
    """Counts since start (read them from any thread)."""

    received: int = 0
    duplicates: int = 0
    refused: int = 0
    studies_completed: list[str] = field(default_factory=list)


class StorageListener:
    """``StorageListener(out, port=11112).start()`` ... ``.stop()``; also a context manager."""

    def __init__(
        self, out: str | Path, *, port: int = 11112, ae_title: str = DEFAULT_AET,
        host: str = "127.0.0.1", quiet_s: float = 10.0,
        on_complete: Callable[[Path], None] | None = None,
    ) -> None:
        self.out = Path(out)
        self.port = int(port)
        self.host = host
        self.ae_title = check_aet(ae_title, "the listener's AE title")
        self.quiet_s = float(quiet_s)
        self.on_complete = on_complete
        self.stats = ListenerStats()
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = None
        self._watcher: threading.Thread | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ich-study")

    # --- lifetime ---------------------------------------------------------------------------
    def start(self) -> StorageListener:
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification

        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NetworkError(f"cannot create the listener's folder {self.out}: {exc}") from exc
        ae = AE(ae_title=self.ae_title)
        ae.supported_contexts = AllStoragePresentationContexts
        ae.add_supported_context(Verification)
        ae.network_timeout = 30
        ae.acse_timeout = 30
        ae.dimse_timeout = 30
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, lambda event: 0)]
        try:
            self._server = ae.start_server((self.host, self.port), block=False,
                                           evt_handlers=handlers)
        except OSError as exc:
            raise NetworkError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "is another program using that port?"
            ) from exc
        self._watcher = threading.Thread(target=self._watch, name="ich-listener-watch",
                                         daemon=True)
        self._watcher.start()
        log.info("listening as %s on %s:%d into %s", self.ae_title, self.host, self.port,
                 self.out)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self._worker.shutdown(wait=True)

    def __enter__(self) -> StorageListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- receiving --------------------------------------------------------------------------
    def _on_store(self, event) -> int:
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            study_uid = str(ds.StudyInstanceUID)
            sop_uid = str(ds.SOPInstanceUID)
        except Exception as exc:  # noqa: BLE001 - any undecodable instance is refused, not fatal
            self.stats.refused += 1
            log.warning("refused a malformed instance (%s)", exc.__class__.__name__)
            return STATUS_CANNOT_UNDERSTAND
        if not (_UID.match(study_uid) and _UID.match(sop_uid)):
            self.stats.refused += 1
            log.warning("refused an instance with an invalid Study/SOP Instance UID")
            return STATUS_CANNOT_UNDERSTAND
        folder = self.out / study_uid
        target = folder / f"{sop_uid}.dcm"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if target.exists():
                self.stats.duplicates += 1
                log.info("duplicate instance of study %s kept once", study_uid)
            else:
                self._write_atomically(ds, folder, target)
                self.stats.received += 1
        except OSError as exc:
            log.error("cannot store an instance of study %s: %s", study_uid, exc)
            return STATUS_OUT_OF_RESOURCES
        except Exception as exc:  # noqa: BLE001 - pydicom cannot write it: refuse this one
            self.stats.refused += 1
            log.warning("refused an instance that cannot be written (%s)", exc)
            return STATUS_CANNOT_UNDERSTAND
        with self._lock:
            self._last[study_uid] = time.monotonic()
        return STATUS_OK

    @staticmethod
    def _write_atomically(ds, folder: Path, target: Path) -> None:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                ds.save_as(handle, enforce_file_format=True)
                handle.flush()
                os.fsync(handle.fileno())
            try:  # link fails if another association stored the same UID meanwhile
                os.link(tmp, target)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)

    # --- completion -------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(min(0.5, self.quiet_s / 4)):
            now = time.monotonic()
            with self._lock:
                done = [uid for uid, t in self._last.items() if now - t >= self.quiet_s]
                for uid in done:
                    del self._last[uid]
            for uid in done:
                self.stats.studies_completed.append(uid)
                log.info("study %s complete (%g s without a new instance)", uid, self.quiet_s)
                if self.on_complete is not None:
                    self._worker.submit(self._run_complete, self.out / uid)

    def _run_complete(self, folder: Path) -> None:
        try:
            self.on_complete(folder)  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - one study's failure must not stop the listener
            log.exception("processing study %s failed", folder.name)
