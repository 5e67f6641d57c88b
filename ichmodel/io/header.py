"""Reading one file's header, bounded: never parses what is not DICOM, never raises.

A file that does not show the DICM preamble or a plausible first element within
:data:`~ichmodel.io.limits.SNIFF_BYTES` is not parsed at all (a forced parse of a zero-filled
copy or random bytes can run for minutes); a Part 10 file goes through the fast reader of
:mod:`ichmodel.io.fastheader`, whose length and depth checks make a broken header a skip
reason, and only what it does not handle (big endian, deflate, no preamble) through pydicom.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ichmodel.io import limits
from ichmodel.io.dicom_tags import (
    MEDIA_STORAGE_DIRECTORY,
    WANTED_TAGS,
    HeaderRecord,
    header_record,
    record_from_raw,
)
from ichmodel.io.fastheader import MalformedHeader, read_raw_header


def _sniff(path: Path) -> tuple[bytes, int]:
    """(first bytes, file size) of a regular file; ``b""`` when it cannot be opened."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limits.SNIFF_BYTES), os.fstat(handle.fileno()).st_size
    except OSError:
        return b"", 0


def _starts_like_a_dataset(head: bytes) -> bool:
    """True when a file without the DICM preamble begins with a plausible first element
    (group 0002 or 0008, little endian): only such files are worth a forced parse, which on
    arbitrary bytes (a zero-filled copy, random data) can run for minutes."""
    if len(head) < 8:
        return False
    group, element = struct.unpack_from("<HH", head, 0)
    return group in (0x0002, 0x0008) and element < 0x0100


#: Prefix of every skip reason of a file that is DICOM (has the DICM preamble) but broken.
BROKEN_DICOM = "DICOM file with a broken header"


def read_header(path: Path) -> tuple[HeaderRecord | None, str]:
    """(record, "") or (None, why it was skipped). Never raises for bad files.

    Reads at most :data:`~ichmodel.io.limits.SNIFF_BYTES` of a file that does not look like
    DICOM there; lengths declared in a header are checked against the file's size.
    """
    import pydicom

    head, size = _sniff(path)
    if not head:
        return None, "empty or unreadable file"
    preamble = len(head) >= 132 and head[128:132] == b"DICM"
    if not preamble and not _starts_like_a_dataset(head):
        return None, "not a DICOM file"
    if preamble:
        try:
            raw = read_raw_header(path, WANTED_TAGS)
        except MalformedHeader as exc:
            return None, f"{BROKEN_DICOM}: {exc}"
        if raw is not None:  # fast path: plain little-endian Part 10 file
            if raw.has_directory_records:
                return None, "directory"
            record = record_from_raw(raw, path)
            if record.sop_class_uid == MEDIA_STORAGE_DIRECTORY:
                return None, "directory"
            if record.series_uid:
                return record, ""
    broken = BROKEN_DICOM if preamble else "malformed DICOM header"
    try:
        # pydicom's warnings (which may quote raw header bytes, names included) go to the
        # debug log: the CLI and the viewer capture them (ichmodel.warnings_capture)
        ds = pydicom.dcmread(path, stop_before_pixels=True, defer_size=4096, force=not preamble)
        if not preamble and ("SOPClassUID" not in ds or "SeriesInstanceUID" not in ds):
            return None, "not a DICOM file"
    except (OSError, EOFError) as exc:
        return None, f"{broken} (unreadable: {exc.__class__.__name__})"
    except Exception as exc:  # noqa: BLE001 - truncated/malformed headers raise many types
        return None, f"{broken} ({exc.__class__.__name__}: {str(exc)[:120]})"
    try:
        record = header_record(ds, path)
    except Exception as exc:  # noqa: BLE001
        return None, f"{broken} ({exc.__class__.__name__}: {str(exc)[:120]})"
    if record.sop_class_uid == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return None, "directory"
    if not record.series_uid:
        return None, f"{broken}: no SeriesInstanceUID (0020,000E)" if preamble else (
            "DICOM object without a SeriesInstanceUID"
        )
    return record, ""
