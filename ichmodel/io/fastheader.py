"""A minimal, fast, bounded reader for the top-level header elements of a DICOM Part 10 file.

pydicom parses a CT header in ~1-1.5 ms (generic element generator, conversion, validation);
a study of 300 files then takes ~0.4 s just to read headers. This reader walks the raw
elements of the common case (little endian, explicit or implicit VR, as all compressed
syntaxes use) with :func:`struct.unpack_from` over a memory map of the file (skipping a large
element costs nothing), keeps the bytes of the few tags we need, skips sequences iteratively,
and stops at PixelData, recording where it starts so the loader can read the pixels without
parsing the header again. Declared lengths are checked against the file's size, nesting depth
and kept value sizes against :mod:`ichmodel.io.limits`; breaking them raises
:class:`MalformedHeader` (the file is skipped with that reason, never handed to pydicom).
Anything merely unusual (no preamble, big endian, deflate, undefined-length UN) returns
``None`` and the caller falls back to pydicom (PS3.5 section 7 for the encoding rules).
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ichmodel.io import limits

_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN"})
_LONG_VRS = _LONG_VRS | frozenset({b"UR", b"UT", b"UV"})
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
PIXEL_DATA_TAG = 0x7FE00010
_U16 = struct.Struct("<HH")
_U32 = struct.Struct("<I")
_U16_1 = struct.Struct("<H")

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
_NOT_HANDLED = frozenset({"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})  # big endian, deflate


class _Unsupported(Exception):
    pass


class _NeedMore(Exception):
    """The header goes on past the bytes read first: parse again over a memory map."""


#: Bytes read at once before falling back to a memory map of the whole file.
_FIRST_BYTES = 65_536


class MalformedHeader(Exception):
    """The header breaks a limit of :mod:`ichmodel.io.limits` or its own lengths: the file is
    skipped with this message, and not handed to pydicom (which would read it whole)."""


@dataclass(frozen=True)
class RawHeader:
    """Raw top-level values (tag -> bytes) and where the pixel data element starts."""

    values: dict[int, bytes]
    transfer_syntax: str
    explicit_vr: bool
    #: Byte offset of the PixelData element's tag, or None when the file has no pixels.
    pixel_data_offset: int | None
    has_directory_records: bool


def _element_header(buf, pos: int, explicit: bool) -> tuple[int, bytes, int, int]:
    """(tag, vr, value length, header size) of the element at ``pos``."""
    group, elem = _U16.unpack_from(buf, pos)
    tag = (group << 16) | elem
    if group == 0xFFFE:  # item / delimiters carry no VR
        return tag, b"", _U32.unpack_from(buf, pos + 4)[0], 8
    if not explicit:
        return tag, b"", _U32.unpack_from(buf, pos + 4)[0], 8
    vr = bytes(buf[pos + 4 : pos + 6])
    if vr in _LONG_VRS:
        return tag, vr, _U32.unpack_from(buf, pos + 8)[0], 12
    if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
        raise _Unsupported("not an explicit VR")
    return tag, vr, _U16_1.unpack_from(buf, pos + 6)[0], 8


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _skip_undefined(buf, pos: int, explicit: bool, end: int) -> int:
    """Position after an undefined-length sequence whose items start at ``pos``.

    Iterative with an explicit stack of open sequences/items, so a header nested 100,000
    deep is refused at :data:`~ichmodel.io.limits.MAX_SEQUENCE_DEPTH` instead of exhausting
    the Python stack.
    """
    depth = 1  # open undefined-length sequences
    in_item = [False]  # per open sequence: inside an undefined-length item?
    while depth:
        if pos + 8 > end:
            raise MalformedHeader("a sequence runs past the end of the file (truncated header)")
        tag, vr, length, size = _element_header(buf, pos, explicit)
        pos += size
        if not in_item[-1]:  # between items of a sequence
            if tag == _SEQ_END:
                depth -= 1
                in_item.pop()
                if depth == 0:
                    return pos
                continue
            if tag != _ITEM:
                raise _Unsupported("unexpected element in a sequence")
            if length == _UNDEFINED:
                in_item[-1] = True
            else:
                pos += _checked(length, pos, end, tag)
            continue
        if tag == _ITEM_END:
            in_item[-1] = False
            continue
        if length == _UNDEFINED:
            if explicit and vr not in (b"SQ", b"UN"):
                raise _Unsupported("undefined length outside a sequence")
            depth += 1
            in_item.append(False)
            if depth > limits.MAX_SEQUENCE_DEPTH:
                raise MalformedHeader(
                    f"sequences nested deeper than {limits.MAX_SEQUENCE_DEPTH} levels "
                    f"(at {_tag_text(tag)}); this is not a plausible CT header"
                )
        else:
            pos += _checked(length, pos, end, tag)
    return pos


def _checked(length: int, pos: int, end: int, tag: int) -> int:
    if pos + length > end:
        raise MalformedHeader(
            f"element {_tag_text(tag)} declares {length} bytes but only {max(0, end - pos)} "
            "remain in the file (truncated or corrupt header)"
        )
    return length


def read_raw_header(path: Path, wanted: frozenset[int]) -> RawHeader | None:
    """Parse ``path``'s header; None when it is not a plain Part 10 file we handle here.

    Raises:
        MalformedHeader: the file is a Part 10 file whose header cannot be right.
    """
    try:
        with open(path, "rb") as handle:
            first = handle.read(_FIRST_BYTES)  # a CT header fits; parsing bytes is fastest
            if len(first) < 144 or first[128:132] != b"DICM":
                return None
            size = os.fstat(handle.fileno()).st_size
            try:
                try:
                    return _parse(first, wanted, size)
                except _NeedMore:
                    # the whole file mapped, not read: skipping a 48 MB element costs nothing
                    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                        return _parse(buf, wanted, size)
            except (_Unsupported, struct.error, UnicodeDecodeError, IndexError):
                return None
    except (OSError, ValueError):
        return None


def _parse(buf, wanted: frozenset[int], end: int) -> RawHeader:
    """Parse ``buf`` (the file's first bytes, or a map of all of it) of a file of ``end``
    bytes; raises :class:`_NeedMore` when ``buf`` ends before the header does."""
    if len(buf) < end:  # a prefix: positions past it need the map
        return _parse_prefix(buf, wanted, end)
    return _parse_all(buf, wanted, end)


def _parse_prefix(buf: bytes, wanted: frozenset[int], end: int) -> RawHeader:
    try:
        raw = _parse_all(buf, wanted, len(buf))
    except (MalformedHeader, struct.error, IndexError) as exc:
        raise _NeedMore() from exc  # maybe only the prefix ended: the map decides
    if raw.pixel_data_offset is None:
        raise _NeedMore()
    return raw


def _parse_all(buf, wanted: frozenset[int], end: int) -> RawHeader:
    values: dict[int, bytes] = {}
    pos = 132
    while pos + 8 <= end:  # file meta group (0002): always explicit VR little endian
        group = _U16_1.unpack_from(buf, pos)[0]
        if group != 0x0002:
            break
        tag, vr, length, size = _element_header(buf, pos, True)
        _checked(length, pos + size, end, tag)
        if tag in (0x00020002, 0x00020010):  # media storage SOP class, transfer syntax
            values[tag] = bytes(buf[pos + size : pos + size + min(length, 256)])
        pos += size + length
    syntax = values.get(0x00020010, b"").decode("ascii").strip("\0 ")
    if not syntax or syntax in _NOT_HANDLED:
        raise _Unsupported(f"transfer syntax {syntax!r}")
    explicit = syntax != IMPLICIT_VR_LE
    pixel_offset = None
    directory = False
    while pos + 8 <= end:
        if pos > limits.MAX_HEADER_BYTES:
            raise MalformedHeader(
                f"the header is longer than {limits.human_bytes(limits.MAX_HEADER_BYTES)}"
            )
        if explicit and pos + 12 <= end:  # inlined _element_header for the common case
            group, elem = _U16.unpack_from(buf, pos)
            tag = (group << 16) | elem
            vr = buf[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                length, size = _U32.unpack_from(buf, pos + 8)[0], 12
            elif group == 0xFFFE or not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
                tag, vr, length, size = _element_header(buf, pos, explicit)
            else:
                length, size = _U16_1.unpack_from(buf, pos + 6)[0], 8
        else:
            tag, vr, length, size = _element_header(buf, pos, explicit)
        if tag == PIXEL_DATA_TAG:
            pixel_offset = pos
            break
        if tag == 0x00041220:
            directory = True
        pos += size
        if length == _UNDEFINED:
            if explicit and vr not in (b"SQ",):
                raise _Unsupported("undefined length on a non-sequence element")
            pos = _skip_undefined(buf, pos, explicit, end)
            continue
        _checked(length, pos, end, tag)
        if tag in wanted:
            if length > limits.MAX_VALUE_BYTES:
                raise MalformedHeader(
                    f"element {_tag_text(tag)} declares {limits.human_bytes(length)}, more "
                    "than any value of a CT header needs"
                )
            values[tag] = bytes(buf[pos : pos + length])
        pos += length
    return RawHeader(values, syntax, explicit, pixel_offset, directory)
