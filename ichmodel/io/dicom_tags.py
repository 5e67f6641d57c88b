"""Reading DICOM headers into small typed records (pydicom), tolerant of malformed values.

Everything the scanner and the loader need from a header is gathered once into a
:class:`HeaderRecord`; values that are missing or unparsable become ``None``/"" rather than
exceptions, so one odd tag never makes a study unreadable.
"""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichmodel.volume import SeriesMeta

log = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
LEGACY_ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.2"
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

#: SOP class UID prefixes of objects that carry no image: structured reports (dose reports,
#: 1.2.840.10008.5.1.4.1.1.88.x), presentation states (.11.x), key objects, raw data,
#: RT plans/structures, encapsulated documents (.104.x), spatial registrations (.66.x).
NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",
    "1.2.840.10008.5.1.4.1.1.11.",
    "1.2.840.10008.5.1.4.1.1.66",
    "1.2.840.10008.5.1.4.1.1.104.",
    "1.2.840.10008.5.1.4.1.1.481.",
    MEDIA_STORAGE_DIRECTORY,
)

UNCOMPRESSED_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2",  # implicit VR little endian
        "1.2.840.10008.1.2.1",  # explicit VR little endian
        "1.2.840.10008.1.2.2",  # explicit VR big endian (retired)
        "1.2.840.10008.1.2.1.99",  # deflated explicit VR little endian (pydicom inflates it)
    }
)


def to_str(value: Any) -> str:
    """A DICOM value as a stripped string; multi-values joined with backslashes."""
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


def to_float(value: Any) -> float | None:
    """A DS/IS/number value as float; the first one of a multi-value; None when unparsable."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        if len(value) == 0:
            return None
        value = value[0]
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def to_floats(value: Any, n: int) -> tuple[float, ...] | None:
    """Exactly ``n`` finite floats from a multi-valued element, else None."""
    if value is None:
        return None
    try:
        items = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if len(items) != n or not all(math.isfinite(v) for v in items):
        return None
    return tuple(items)


def to_int(value: Any) -> int | None:
    number = to_float(value)
    return None if number is None else int(round(number))


def get(ds: Any, keyword: str) -> Any:
    """``ds.keyword`` without raising (malformed elements read as None)."""
    try:
        return ds.get(keyword, None)
    except Exception:  # noqa: BLE001 - pydicom raises various errors on malformed values
        log.debug("cannot parse %s", keyword, exc_info=True)
        return None


_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UT"}
)
_INT_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i"}


def fast_get(ds: Any, keyword: str) -> Any:
    """Like :func:`get`, but decodes raw (not yet converted) elements directly.

    pydicom converts an element on first access with validation, which costs ~0.1 ms per
    element; scanning hundreds of headers only needs the plain text and integers, so raw
    text VRs are decoded here (UTF-8, else Latin-1) and raw US/SS/UL/SL unpacked. Anything
    else goes through pydicom.
    """
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        return None
    try:
        elem = ds.get_item(tag)
    except Exception:  # noqa: BLE001
        return None
    if elem is None:
        return None
    if not getattr(elem, "is_raw", False):
        return get(ds, keyword)
    vr = elem.VR or dictionary_VR(tag)
    data = elem.value
    if data is None or len(data) == 0:
        return None
    if vr in _TEXT_VRS:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        text = text.rstrip("\x00 ").strip()
        if "\\" in text:
            return [part.strip() for part in text.split("\\")]
        return text
    fmt = _INT_FORMATS.get(vr)
    if fmt is not None:
        size = struct.calcsize(fmt)
        if len(data) % size:
            return None
        order = "<" if elem.is_little_endian else ">"
        values = struct.unpack(f"{order}{len(data) // size}{fmt}", data)
        return values[0] if len(values) == 1 else list(values)
    return get(ds, keyword)


@dataclass(frozen=True)
class HeaderRecord:
    """What scanning needs to know about one DICOM file (no pixels)."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    modality: str
    study_uid: str
    series_uid: str
    series_number: str
    series_description: str
    image_type: tuple[str, ...]
    rows: int | None
    columns: int | None
    number_of_frames: int
    #: ImagePositionPatient (x, y, z) in mm, LPS.
    position_mm: tuple[float, float, float] | None
    #: ImageOrientationPatient: row direction cosines then column direction cosines.
    orientation: tuple[float, float, float, float, float, float] | None
    #: PixelSpacing as (row spacing, column spacing) = (y, x) in mm.
    pixel_spacing_mm: tuple[float, float] | None
    slice_thickness_mm: float | None
    kernel: str
    body_part: str
    protocol_name: str
    study_description: str
    contrast_agent: str
    instance_number: int | None
    transfer_syntax: str
    gantry_tilt_deg: float | None

    @property
    def is_image(self) -> bool:
        """True for objects that carry pixel rows/columns and are not a known non-image class."""
        if any(self.sop_class_uid.startswith(p) for p in NON_IMAGE_SOP_PREFIXES):
            return False
        return bool(self.rows) and bool(self.columns)

    @property
    def size(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (self.rows or 0, self.columns or 0)


def header_record(ds: Any, path: Path) -> HeaderRecord:
    """Build a :class:`HeaderRecord` from a pydicom dataset read from ``path``."""
    file_meta = getattr(ds, "file_meta", None)
    sop_class = to_str(fast_get(ds, "SOPClassUID")) or to_str(
        get(file_meta, "MediaStorageSOPClassUID") if file_meta is not None else None
    )
    syntax = to_str(get(file_meta, "TransferSyntaxUID")) if file_meta is not None else ""
    image_type = tuple(p.upper() for p in to_str(fast_get(ds, "ImageType")).split("\\") if p)
    spacing = to_floats(fast_get(ds, "PixelSpacing"), 2)
    position = to_floats(fast_get(ds, "ImagePositionPatient"), 3)
    orientation = to_floats(fast_get(ds, "ImageOrientationPatient"), 6)
    return HeaderRecord(
        path=path,
        sop_class_uid=sop_class,
        sop_instance_uid=to_str(fast_get(ds, "SOPInstanceUID")),
        modality=to_str(fast_get(ds, "Modality")).upper(),
        study_uid=to_str(fast_get(ds, "StudyInstanceUID")),
        series_uid=to_str(fast_get(ds, "SeriesInstanceUID")),
        series_number=to_str(fast_get(ds, "SeriesNumber")),
        series_description=to_str(fast_get(ds, "SeriesDescription")),
        image_type=image_type,
        rows=to_int(fast_get(ds, "Rows")),
        columns=to_int(fast_get(ds, "Columns")),
        number_of_frames=to_int(fast_get(ds, "NumberOfFrames")) or 1,
        position_mm=position,  # type: ignore[arg-type]
        orientation=orientation,  # type: ignore[arg-type]
        pixel_spacing_mm=spacing if spacing and min(spacing) > 0 else None,  # type: ignore[arg-type]
        slice_thickness_mm=to_float(fast_get(ds, "SliceThickness")),
        kernel=to_str(fast_get(ds, "ConvolutionKernel")),
        body_part=to_str(fast_get(ds, "BodyPartExamined")).upper(),
        protocol_name=to_str(fast_get(ds, "ProtocolName")),
        study_description=to_str(fast_get(ds, "StudyDescription")),
        contrast_agent=to_str(fast_get(ds, "ContrastBolusAgent")),
        instance_number=to_int(fast_get(ds, "InstanceNumber")),
        transfer_syntax=syntax,
        gantry_tilt_deg=to_float(fast_get(ds, "GantryDetectorTilt")),
    )


def series_meta(ds: Any) -> SeriesMeta:
    """The :class:`SeriesMeta` of a series from one of its datasets."""
    return SeriesMeta(
        patient_name=to_str(get(ds, "PatientName")),
        patient_id=to_str(get(ds, "PatientID")),
        patient_birth_date=to_str(get(ds, "PatientBirthDate")),
        patient_sex=to_str(get(ds, "PatientSex")),
        patient_age=to_str(get(ds, "PatientAge")),
        study_date=to_str(get(ds, "StudyDate")),
        study_time=to_str(get(ds, "StudyTime")),
        study_description=to_str(get(ds, "StudyDescription")),
        study_uid=to_str(get(ds, "StudyInstanceUID")),
        series_uid=to_str(get(ds, "SeriesInstanceUID")),
        series_number=to_str(get(ds, "SeriesNumber")),
        series_description=to_str(get(ds, "SeriesDescription")),
        modality=to_str(get(ds, "Modality")).upper() or "CT",
        manufacturer=to_str(get(ds, "Manufacturer")),
        model=to_str(get(ds, "ManufacturerModelName")),
        kernel=to_str(get(ds, "ConvolutionKernel")),
        slice_thickness_mm=to_float(get(ds, "SliceThickness")),
        window_center_hu=to_float(get(ds, "WindowCenter")),
        window_width_hu=to_float(get(ds, "WindowWidth")),
        body_part=to_str(get(ds, "BodyPartExamined")).upper(),
        contrast_agent=to_str(get(ds, "ContrastBolusAgent")),
    )
