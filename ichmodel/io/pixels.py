"""Reading the stored pixel values of one single-frame grayscale DICOM image.

Uncompressed little-endian 16-bit images (what most CT exports are) are read straight from
the file at the PixelData offset found while scanning, without parsing the header again.
Everything else (compressed syntaxes: JPEG lossless, JPEG-LS, JPEG 2000, RLE; deflate; big
endian; 8/32-bit) goes through pydicom's pixel handlers with the pylibjpeg plugins.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np

from ichmodel.errors import PixelDataError
from ichmodel.io.dicom_tags import UNCOMPRESSED_SYNTAXES, HeaderRecord

log = logging.getLogger(__name__)

_FAST_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})
_RLE = "1.2.840.10008.1.2.5"


def _fix_bits(stored: np.ndarray, signed: bool, bits_stored: int) -> np.ndarray:
    """Clear (unsigned) or sign-extend (signed) the bits above BitsStored (overlays, junk)."""
    if bits_stored >= 16:
        return stored
    shift = 16 - bits_stored
    if signed:
        return (stored << shift) >> shift
    return stored & np.uint16((1 << bits_stored) - 1)


def _truncated(name: str, have: int, rows: int, cols: int) -> PixelDataError:
    return PixelDataError(
        f"{name}: pixel data holds {have} bytes but Rows x Columns ({rows}x{cols}) needs "
        f"{rows * cols * 2} (truncated file); re-export or re-copy it"
    )


def _read_direct(record: HeaderRecord) -> np.ndarray:
    rows, cols = record.size
    needed = rows * cols * 2
    with open(record.path, "rb") as handle:
        handle.seek(record.pixel_data_offset or 0)
        head = handle.read(12)
        if len(head) < 8 or head[:4] != b"\xe0\x7f\x10\x00":
            raise PixelDataError(f"{record.path.name}: pixel data element not found")
        if record.explicit_vr:
            if head[4:6] in (b"OB", b"OW", b"UN") and len(head) == 12:
                length = struct.unpack_from("<I", head, 8)[0]
                handle.seek((record.pixel_data_offset or 0) + 12)
            else:
                raise PixelDataError(f"{record.path.name}: unexpected pixel data encoding")
        else:
            length = struct.unpack_from("<I", head, 4)[0]
            handle.seek((record.pixel_data_offset or 0) + 8)
        if length == 0xFFFFFFFF:
            raise PixelDataError(f"{record.path.name}: encapsulated pixel data in a native syntax")
        data = handle.read(min(length, needed))
    if length < needed or len(data) < needed:
        raise _truncated(record.path.name, min(length, len(data)), rows, cols)
    signed = record.pixel_representation == 1
    stored = np.frombuffer(data, dtype="<i2" if signed else "<u2").reshape(rows, cols)
    return _fix_bits(stored, signed, record.bits_stored)


def _encapsulated_frame(record: HeaderRecord) -> bytes:
    """The single frame of encapsulated (compressed) pixel data, fragments joined (PS3.5 A.4)."""
    with open(record.path, "rb") as handle:
        handle.seek(record.pixel_data_offset or 0)
        head = handle.read(12)
        if head[:4] != b"\xe0\x7f\x10\x00" or head[8:12] != b"\xff\xff\xff\xff":
            raise ValueError("not encapsulated pixel data")
        fragments: list[bytes] = []
        first = True
        while True:
            item = handle.read(8)
            if len(item) < 8:
                raise ValueError("pixel data ends before its sequence delimiter")
            tag, length = struct.unpack("<II", item)
            if tag == 0xE0DDFFFE:  # sequence delimiter (group/element read as one LE int)
                break
            if tag != 0xE000FFFE:
                raise ValueError("unexpected element in encapsulated pixel data")
            data = handle.read(length)
            if len(data) < length:
                raise ValueError("pixel data fragment truncated")
            if not first:  # the first item is the Basic Offset Table
                fragments.append(data)
            first = False
    return b"".join(fragments)


def _read_rle_direct(record: HeaderRecord) -> np.ndarray:
    from rle.utils import decode_pixel_data

    rows, cols = record.size
    frame = _encapsulated_frame(record)
    decoded = decode_pixel_data(
        frame, version=2, rows=rows, columns=cols, bits_allocated=16, byteorder="<"
    )
    signed = record.pixel_representation == 1
    stored = np.frombuffer(decoded, dtype="<i2" if signed else "<u2", count=rows * cols)
    return _fix_bits(stored.reshape(rows, cols), signed, record.bits_stored)


def stored_from_dataset(ds, path: Path) -> np.ndarray:
    """Stored values (rows, columns) of a fully read pydicom dataset."""
    if "PixelData" not in ds:
        raise PixelDataError(f"{path.name} has no pixel data")
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if samples != 1 or frames != 1:
        raise PixelDataError(
            f"{path.name} is not a single-frame grayscale image "
            f"(SamplesPerPixel {samples}, NumberOfFrames {frames})"
        )
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    bits = int(ds.get("BitsAllocated", 16) or 16)
    if syntax in UNCOMPRESSED_SYNTAXES and syntax != "1.2.840.10008.1.2.2" and bits == 16:
        data = ds.PixelData
        if len(data) < rows * cols * 2:
            raise _truncated(path.name, len(data), rows, cols)
        signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        stored = np.frombuffer(data, dtype="<i2" if signed else "<u2", count=rows * cols)
        return _fix_bits(stored.reshape(rows, cols), signed, int(ds.get("BitsStored", 16) or 16))
    try:
        if syntax == _RLE:  # pylibjpeg-rle decodes several times faster than pydicom's numpy
            try:
                ds.pixel_array_options(decoding_plugin="pylibjpeg")
                array = ds.pixel_array
            except Exception:  # noqa: BLE001 - fall back to pydicom's own RLE decoder
                ds.pixel_array_options(decoding_plugin="")
                array = ds.pixel_array
        else:
            array = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        raise PixelDataError(
            f"{path.name}: cannot decode pixel data ({type(exc).__name__}: {exc}); "
            "the file may be truncated or use an unsupported compression"
        ) from exc
    if array.shape != (rows, cols):
        raise PixelDataError(f"{path.name}: decoded {array.shape}, expected {(rows, cols)}")
    return array


def read_stored_pixels(record: HeaderRecord) -> np.ndarray:
    """Stored values (rows, columns) of the image ``record`` describes.

    Raises:
        PixelDataError: missing, truncated or undecodable pixel data.
    """
    if (
        record.pixel_data_offset is not None
        and record.transfer_syntax in _FAST_SYNTAXES
        and record.bits_allocated == 16
        and record.samples_per_pixel == 1
        and record.number_of_frames == 1
    ):
        return _read_direct(record)
    if (
        record.pixel_data_offset is not None
        and record.transfer_syntax == _RLE
        and record.bits_allocated == 16
        and record.samples_per_pixel == 1
        and record.number_of_frames == 1
    ):
        try:  # pylibjpeg-rle on the raw fragments: no second header parse
            return _read_rle_direct(record)
        except Exception as exc:  # noqa: BLE001 - fall back to pydicom, which explains errors
            log.debug("direct RLE read of %s failed (%s); using pydicom", record.path, exc)
    import pydicom

    try:
        ds = pydicom.dcmread(record.path, force=True)  # force: files without a preamble
        if "TransferSyntaxUID" not in ds.file_meta:  # a raw dataset: take what was read
            implicit, little = ds.original_encoding
            ds.file_meta.TransferSyntaxUID = (
                pydicom.uid.ImplicitVRLittleEndian
                if implicit
                else pydicom.uid.ExplicitVRLittleEndian
                if little
                else pydicom.uid.ExplicitVRBigEndian
            )
    except Exception as exc:  # noqa: BLE001 - truncated/malformed files raise many types
        raise PixelDataError(
            f"{record.path.name}: unreadable ({type(exc).__name__}: {exc})"
        ) from exc
    return stored_from_dataset(ds, record.path)
