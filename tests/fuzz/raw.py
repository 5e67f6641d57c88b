"""Byte-level ways to break a DICOM file that pydicom will not write for us."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

PIXEL_TAG = struct.pack("<HH", 0x7FE0, 0x0010)


def find_element(data: bytes, group: int, element: int) -> int:
    """Offset of the first element (group, element) after the preamble (explicit VR LE)."""
    pos = data.find(struct.pack("<HH", group, element), 132)
    if pos < 0:
        raise ValueError(f"({group:04X},{element:04X}) not in the file")
    return pos


def element_end(data: bytes, pos: int) -> int:
    vr = data[pos + 4 : pos + 6]
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR", b"OF", b"OD", b"OL"):
        return pos + 12 + struct.unpack_from("<I", data, pos + 8)[0]
    return pos + 8 + struct.unpack_from("<H", data, pos + 6)[0]


def insert_before_pixels(path: Path, raw: bytes) -> None:
    data = path.read_bytes()
    pos = find_element(data, 0x7FE0, 0x0010)
    path.write_bytes(data[:pos] + raw + data[pos:])


def nested_sequence(depth: int) -> bytes:
    """A private (7FDF,0010) sequence nested ``depth`` deep, undefined lengths throughout."""
    start = struct.pack("<HH", 0x7FDF, 0x0010) + b"SQ\0\0" + b"\xff\xff\xff\xff"
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    item_end = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    seq_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return (start + item) * depth + (item_end + seq_end) * depth


def declare_huge_value(
    path: Path, group: int, element: int, length: int, *, sparse: bool = True
) -> None:
    """Replace (group, element) by a UN element declaring ``length`` bytes, and make the file
    long enough (sparse: the hole costs no disk) for the rest of the header to follow it;
    with ``sparse=False`` the declared value runs past the end of the file."""
    data = path.read_bytes()
    pos = find_element(data, group, element)
    end = element_end(data, pos)
    head = data[:pos] + struct.pack("<HH", group, element) + b"UN\0\0" + struct.pack("<I", length)
    with open(path, "wb") as handle:
        handle.write(head)
        if sparse:
            handle.seek(len(head) + length)
        handle.write(data[end:])


def set_us(path: Path, group: int, element: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    pos = find_element(bytes(data), group, element)
    struct.pack_into("<H", data, pos + 8, value)
    path.write_bytes(bytes(data))


def flip_bytes(path: Path, rng, n: int, region: str) -> None:
    data = bytearray(path.read_bytes())
    pixel = bytes(data).find(PIXEL_TAG, 132)
    low, high = (132, pixel if pixel > 0 else len(data)) if region == "header" else (132, len(data))
    for _ in range(n):
        k = int(rng.integers(low, max(low + 1, high)))
        data[k] ^= int(rng.integers(1, 256))
    path.write_bytes(bytes(data))


def sparse_zero_file(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)


def zip_folder(folder: Path, out: Path, *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                archive.write(p, p.relative_to(folder).as_posix())
    return out


def patch_zip_members(path: Path, *, flag_bits: int | None = None, method: int | None = None,
                      only_first: bool = False) -> None:  # fmt: skip
    """Rewrite the general-purpose flags / compression method of members in place (local and
    central headers), as an encrypting or Deflate64/AES archiver would have written them."""
    data = bytearray(path.read_bytes())
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        pos = 0
        count = 0
        while True:
            pos = bytes(data).find(signature, pos)
            if pos < 0 or (only_first and count):
                break
            if flag_bits is not None:
                old = struct.unpack_from("<H", data, pos + flag_at)[0]
                struct.pack_into("<H", data, pos + flag_at, old | flag_bits)
            if method is not None:
                struct.pack_into("<H", data, pos + method_at, method)
            count += 1
            pos += 4
    path.write_bytes(bytes(data))


def zip_bomb(out: Path, inflated_bytes: int, name: str = "IM0001.dcm") -> Path:
    """One entry of zeros that inflates to ``inflated_bytes`` (written in 1 MiB chunks)."""
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w", force_zip64=True) as entry:
            left = inflated_bytes
            while left > 0:
                entry.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
    return out


def make_fifo(path: Path) -> None:
    os.mkfifo(path)
