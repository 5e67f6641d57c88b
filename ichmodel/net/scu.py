"""Calling a DICOM node (pynetdicom): C-ECHO, C-STORE with retries, C-FIND and C-MOVE.

Every failure is a :class:`~ichmodel.net.nodes.NetworkError` naming the node and saying what
to check: nothing listens there, it gave no answer in time, it refused our association (AE
titles), or it refused an object. Nothing here waits without a time limit.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass

from ichmodel.net.nodes import DEFAULT_AET, DicomNode, NetworkError, check_aet
from ichmodel.progress import Progress

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"


@dataclass(frozen=True)
class SendReport:
    """What a C-STORE run did: SOP Instance UIDs stored and (uid, why) of those refused."""

    node: str
    stored: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]

    @property
    def ok(self) -> bool:
        return not self.failed


def _reachable(node: DicomNode, timeout_s: float) -> None:
    """A plain TCP connect first, so 'nothing listens' and 'no answer' read as such."""
    try:
        with socket.create_connection((node.host, node.port), timeout=timeout_s):
            pass
    except TimeoutError as exc:
        raise NetworkError(
            f"{node}: no answer within {timeout_s:g} s; check the host, the port and any firewall"
        ) from exc
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise NetworkError(
            f"{node}: cannot connect ({reason}); is the PACS running and is the port right?"
        ) from exc


def _ae(calling_aet: str, timeout_s: float):
    from pynetdicom import AE

    ae = AE(ae_title=check_aet(calling_aet, "our AE title"))
    ae.acse_timeout = timeout_s
    ae.dimse_timeout = timeout_s
    ae.network_timeout = timeout_s
    ae.connection_timeout = timeout_s
    return ae


def _associate(ae, node: DicomNode, timeout_s: float, **kwargs):
    """An established association, or a NetworkError that says why not.

    A peer that rejects us (wrong AE title) sends A-ASSOCIATE-RJ and closes the connection at
    once; on a loaded machine the close can reach pynetdicom before the reject is read, and the
    association then looks aborted. So an association that ends quickly without an answer is
    asked for once more before it is reported; one that got no answer in time is not."""
    _reachable(node, timeout_s)
    for _ in range(2):
        started = time.monotonic()
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, **kwargs)
        if assoc.is_established:
            return assoc
        if assoc.is_rejected:
            raise NetworkError(
                f"{node} refused the association: it does not accept the called AE title "
                f"{node.ae_title!r} or our AE title {ae.ae_title!r}; check both in its "
                "configuration"
            )
        if time.monotonic() - started >= timeout_s / 2:
            raise NetworkError(
                f"{node}: no answer to the association request within {timeout_s:g} s; "
                "is this a DICOM port?"
            )
    raise NetworkError(
        f"{node} closed the connection without accepting or refusing the association (twice); "
        "is this a DICOM port, and does it accept our AE title?"
    )


def echo(node: DicomNode, *, calling_aet: str = DEFAULT_AET,
         timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """C-ECHO ``node``; returns when it answers Success, else raises NetworkError."""
    ae = _ae(calling_aet, timeout_s)
    ae.add_requested_context(VERIFICATION)
    assoc = _associate(ae, node, timeout_s)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    code = int(status.Status) if status is not None and "Status" in status else None
    if code != 0x0000:
        raise NetworkError(f"{node}: C-ECHO got no success status ({code}); check the node")


def _status_text(status) -> tuple[int | None, str]:
    if status is None or "Status" not in status:
        return None, "no response (timed out or the association was lost)"
    code = int(status.Status)
    return code, f"status 0x{code:04X}"


def send(
    datasets: Sequence, node: DicomNode, *, calling_aet: str = DEFAULT_AET,
    timeout_s: float = DEFAULT_TIMEOUT_S, retries: int = 2, retry_wait_s: float = 1.0,
) -> Generator[Progress, None, SendReport]:
    """C-STORE each dataset (SEG, SR, SC, PDF ...) to ``node``, yielding progress; objects that
    fail are retried ``retries`` times on a new association. Returns a :class:`SendReport`;
    raises NetworkError when the node cannot be reached or refuses us at all."""
    from pynetdicom import build_context

    pending = list(datasets)
    stored: list[str] = []
    failed: dict[str, str] = {}
    total = len(pending)
    yield Progress("send", 0, total, f"sending {total} object(s) to {node}")
    for attempt in range(retries + 1):
        if not pending:
            break
        if attempt:
            log.info("retrying %d object(s) to %s (attempt %d)", len(pending), node, attempt + 1)
            time.sleep(retry_wait_s)
        ae = _ae(calling_aet, timeout_s)
        classes = sorted({str(ds.SOPClassUID) for ds in pending})
        contexts = [build_context(uid) for uid in classes]
        try:
            assoc = _associate(ae, node, timeout_s, contexts=contexts)
        except NetworkError as exc:
            if attempt == retries:
                raise
            log.warning("%s", exc)
            continue
        retry: list = []
        try:
            for ds in pending:
                uid = str(ds.SOPInstanceUID)
                try:
                    status = assoc.send_c_store(ds)
                except (ValueError, RuntimeError) as exc:  # no accepted context, lost link
                    status, why = None, str(exc)
                else:
                    why = ""
                code, text = _status_text(status)
                if code is not None and (code == 0 or code & 0xF000 == 0xB000):
                    stored.append(uid)
                    failed.pop(uid, None)
                    yield Progress("send", len(stored), total, f"stored {len(stored)}/{total}")
                else:
                    failed[uid] = why or text
                    retry.append(ds)
                if not assoc.is_established:
                    retry += [d for d in pending[pending.index(ds) + 1:]]
                    break
        finally:
            if assoc.is_established:
                assoc.release()
        pending = retry
    return SendReport(node=str(node), stored=tuple(stored), failed=tuple(failed.items()))


def find_studies(
    node: DicomNode, *, patient_id: str = "", study_uid: str = "", modality: str = "CT",
    calling_aet: str = DEFAULT_AET, timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[dict[str, str]]:
    """C-FIND (study root) for a patient's studies (or one study): a dict per study with
    StudyInstanceUID, StudyDate, StudyDescription, ModalitiesInStudy, NumberOfStudyRelatedSeries."""
    from pydicom.dataset import Dataset

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = patient_id
    query.StudyInstanceUID = study_uid
    query.StudyDate = ""
    query.StudyDescription = ""
    query.ModalitiesInStudy = modality
    query.NumberOfStudyRelatedSeries = ""
    return [
        {k: str(v.get(k, "")) for k in ("StudyInstanceUID", "StudyDate", "StudyDescription",
                                          "ModalitiesInStudy", "NumberOfStudyRelatedSeries")}
        for v in _find(node, query, calling_aet, timeout_s)
    ]


def find_series(
    node: DicomNode, study_uid: str, *, calling_aet: str = DEFAULT_AET,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[dict[str, str]]:
    """C-FIND the series of one study: SeriesInstanceUID, Modality, SeriesDescription."""
    from pydicom.dataset import Dataset

    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study_uid
    query.SeriesInstanceUID = ""
    query.Modality = ""
    query.SeriesDescription = ""
    return [
        {k: str(v.get(k, "")) for k in ("SeriesInstanceUID", "Modality", "SeriesDescription")}
        for v in _find(node, query, calling_aet, timeout_s)
    ]


def _find(node: DicomNode, query, calling_aet: str, timeout_s: float) -> Iterable:
    ae = _ae(calling_aet, timeout_s)
    ae.add_requested_context(STUDY_ROOT_FIND)
    assoc = _associate(ae, node, timeout_s)
    found = []
    try:
        for status, identifier in assoc.send_c_find(query, STUDY_ROOT_FIND):
            code, text = _status_text(status)
            if code in (0xFF00, 0xFF01) and identifier is not None:
                found.append(identifier)
            elif code != 0x0000:
                raise NetworkError(f"{node}: C-FIND failed ({text})")
    finally:
        if assoc.is_established:
            assoc.release()
    return found


def move(
    node: DicomNode, study_uid: str, destination_aet: str, *, series_uid: str = "",
    calling_aet: str = DEFAULT_AET, timeout_s: float = 60.0,
) -> int:
    """C-MOVE a study (or one of its series) from ``node`` to ``destination_aet`` (our listener,
    which the node must know by that AE title); returns the number of instances moved."""
    from pydicom.dataset import Dataset

    query = Dataset()
    query.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    query.StudyInstanceUID = study_uid
    if series_uid:
        query.SeriesInstanceUID = series_uid
    ae = _ae(calling_aet, timeout_s)
    ae.add_requested_context(STUDY_ROOT_MOVE)
    assoc = _associate(ae, node, timeout_s)
    moved = 0
    try:
        for status, _ in assoc.send_c_move(query, check_aet(destination_aet), STUDY_ROOT_MOVE):
            code, text = _status_text(status)
            if code is None:
                raise NetworkError(f"{node}: C-MOVE got {text}")
            if code == 0xA801:
                raise NetworkError(
                    f"{node} does not know the move destination {destination_aet!r}: add it "
                    "(AE title, our host and listener port) to the node's modalities"
                )
            if code & 0xF000 in (0xA000, 0xC000):
                # Orthanc answers an unknown destination with 0xC000, not 0xA801
                raise NetworkError(
                    f"{node}: C-MOVE failed ({text}); check that the node knows the destination "
                    f"{destination_aet!r} (AE title, our host and listener port) and the study"
                )
            if code in (0x0000, 0xB000) and "NumberOfCompletedSuboperations" in status:
                moved = int(status.NumberOfCompletedSuboperations)
    finally:
        if assoc.is_established:
            assoc.release()
    return moved
