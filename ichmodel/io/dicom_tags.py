"""Reading DICOM headers into small typed records (pydicom), tolerant of malformed values.

Everything the scanner and the loader need from a header is gathered once into a
:class:`HeaderRecord`; values that are missing or unparsable become ``None``/"" rather than
exceptions, so one odd tag never makes a study unreadable.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ichmodel.io.fastheader import RawHeader
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
    from ichmodel.io import limits

    if elem.length > limits.MAX_VALUE_BYTES:  # a sparse file declaring a 2 GB description
        log.debug("ignored %s: declares %d bytes", keyword, elem.length)
        return None
    vr = elem.VR or dictionary_VR(tag)
    decoded = decode_raw(elem.value, vr, elem.is_little_endian)
    return get(ds, keyword) if decoded is _UNDECODED else decoded


_UNDECODED = object()


def decode_raw(data: bytes | None, vr: str, little_endian: bool = True) -> Any:
    """Decode raw bytes of a text or integer VR; ``_UNDECODED`` for other VRs."""
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
        order = "<" if little_endian else ">"
        values = struct.unpack(f"{order}{len(data) // size}{fmt}", data)
        return values[0] if len(values) == 1 else list(values)
    return _UNDECODED


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
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    #: PixelPaddingValue .. PixelPaddingRangeLimit in stored values, or None.
    padding: tuple[float, float] | None = None
    pixel_representation: int = 0
    bits_allocated: int = 16
    bits_stored: int = 16
    samples_per_pixel: int = 1
    #: Byte offset of the PixelData element (tag) in the file, when known from a fast parse.
    pixel_data_offset: int | None = None
    explicit_vr: bool = True
    #: PatientID, only to refuse series that mix patients (never logged or shown).
    patient_id: str = field(default="", repr=False)
    #: Why this slice's stored values cannot be turned into HU ("" when they can), e.g.
    #: "RescaleIntercept is missing": the loader sets such slices aside, never guesses 0.
    rescale_problem: str = ""

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
    return build_record(lambda kw: fast_get(ds, kw), path, sop_class, syntax)


#: Keywords :func:`build_record` reads.
RECORD_KEYWORDS = (
    "SOPClassUID", "SOPInstanceUID", "Modality", "StudyInstanceUID", "SeriesInstanceUID",
    "SeriesNumber", "SeriesDescription", "ImageType", "Rows", "Columns", "NumberOfFrames",
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
    "ConvolutionKernel", "BodyPartExamined", "ProtocolName", "StudyDescription",
    "ContrastBolusAgent", "InstanceNumber", "GantryDetectorTilt", "RescaleSlope",
    "RescaleIntercept", "PixelPaddingValue", "PixelPaddingRangeLimit", "PixelRepresentation",
    "BitsAllocated", "BitsStored", "SamplesPerPixel", "PatientID",
)  # fmt: skip


#: HeaderRecord fields that hold a tag's text as written (empty when absent).
_TEXT_FIELDS = (
    ("sop_instance_uid", "SOPInstanceUID"),
    ("study_uid", "StudyInstanceUID"),
    ("series_uid", "SeriesInstanceUID"),
    ("series_number", "SeriesNumber"),
    ("series_description", "SeriesDescription"),
    ("kernel", "ConvolutionKernel"),
    ("protocol_name", "ProtocolName"),
    ("study_description", "StudyDescription"),
    ("contrast_agent", "ContrastBolusAgent"),
    ("patient_id", "PatientID"),
)


def build_record(
    value: Callable[[str], Any],
    path: Path,
    sop_class: str,
    syntax: str,
    *,
    pixel_data_offset: int | None = None,
    explicit_vr: bool = True,
) -> HeaderRecord:
    """A :class:`HeaderRecord` from ``value(keyword)`` (decoded, or None when absent)."""
    image_type = tuple(p.upper() for p in to_str(value("ImageType")).split("\\") if p)
    spacing = to_floats(value("PixelSpacing"), 2)
    slope, intercept, rescale_problem = _rescale(value("RescaleSlope"), value("RescaleIntercept"))
    pad_value = to_float(value("PixelPaddingValue"))
    pad_limit = to_float(value("PixelPaddingRangeLimit"))
    padding = None
    if pad_value is not None:
        low, high = sorted((pad_value, pad_limit if pad_limit is not None else pad_value))
        padding = (low, high)
    return HeaderRecord(
        **{name: to_str(value(keyword)) for name, keyword in _TEXT_FIELDS},
        path=path,
        sop_class_uid=to_str(value("SOPClassUID")) or sop_class,
        modality=to_str(value("Modality")).upper(),
        image_type=image_type,
        rows=to_int(value("Rows")),
        columns=to_int(value("Columns")),
        number_of_frames=to_int(value("NumberOfFrames")) or 1,
        position_mm=to_floats(value("ImagePositionPatient"), 3),  # type: ignore[arg-type]
        orientation=to_floats(value("ImageOrientationPatient"), 6),  # type: ignore[arg-type]
        pixel_spacing_mm=spacing if spacing and min(spacing) > 0 else None,  # type: ignore[arg-type]
        slice_thickness_mm=to_float(value("SliceThickness")),
        body_part=to_str(value("BodyPartExamined")).upper(),
        instance_number=to_int(value("InstanceNumber")),
        transfer_syntax=syntax,
        gantry_tilt_deg=to_float(value("GantryDetectorTilt")),
        rescale_slope=slope,
        rescale_intercept=intercept,
        padding=padding,
        pixel_representation=to_int(value("PixelRepresentation")) or 0,
        bits_allocated=to_int(value("BitsAllocated")) or 16,
        bits_stored=to_int(value("BitsStored")) or to_int(value("BitsAllocated")) or 16,
        samples_per_pixel=to_int(value("SamplesPerPixel")) or 1,
        pixel_data_offset=pixel_data_offset,
        explicit_vr=explicit_vr,
        rescale_problem=rescale_problem,
    )


def _shown_value(raw: Any) -> str:
    text = to_str(raw)
    return repr(text if len(text) <= 24 else text[:24] + "...")


def _rescale(raw_slope: Any, raw_intercept: Any) -> tuple[float, float, str]:
    """(slope, intercept, problem): a missing slope is 1; a missing, non-finite or absurd
    intercept or slope is a problem of this slice (PS3.3 C.11.1.1.2: both are type 1 in CT),
    never silently 0 or 1 (that would shift HU by 1024 on those slices)."""
    from ichmodel.io import limits

    slope = to_float(raw_slope)
    intercept = to_float(raw_intercept)
    problem = ""
    if intercept is None:
        problem = (
            "RescaleIntercept is missing"
            if raw_intercept is None or to_str(raw_intercept) == ""
            else f"RescaleIntercept {_shown_value(raw_intercept)} is not a finite number"
        )
    elif abs(intercept) > limits.MAX_RESCALE_INTERCEPT:
        problem = f"RescaleIntercept {intercept:g} is outside +-{limits.MAX_RESCALE_INTERCEPT:g}"
    if raw_slope is not None and to_str(raw_slope) != "":
        if slope is None or slope == 0.0 or abs(slope) > limits.MAX_RESCALE_SLOPE:
            problem = problem or (
                f"RescaleSlope {_shown_value(raw_slope)} is not a usable factor (finite, "
                f"non-zero, at most {limits.MAX_RESCALE_SLOPE:g})"
            )
    usable_slope = slope if slope is not None and 0 < abs(slope) <= 1e3 else 1.0
    return usable_slope, intercept if intercept is not None else 0.0, problem


def record_from_raw(raw: RawHeader, path: Path) -> HeaderRecord:
    """A :class:`HeaderRecord` from :func:`ichmodel.io.fastheader.read_raw_header` output."""
    pixel_rep = decode_raw(raw.values.get(_TAGS["PixelRepresentation"]), "US")

    def value(keyword: str) -> Any:
        tag = _TAGS[keyword]
        vr = _VRS[tag]
        if vr == "US or SS":
            vr = "SS" if pixel_rep == 1 else "US"
        decoded = decode_raw(raw.values.get(tag), vr)
        return None if decoded is _UNDECODED else decoded

    media_class = decode_raw(raw.values.get(0x00020002), "UI")
    return build_record(
        value,
        path,
        media_class if isinstance(media_class, str) else "",
        raw.transfer_syntax,
        pixel_data_offset=raw.pixel_data_offset,
        explicit_vr=raw.explicit_vr,
    )


def _dictionary_vr(tag: int) -> str:
    from pydicom.datadict import dictionary_VR

    return str(dictionary_VR(tag))


def _keyword_tags() -> dict[str, int]:
    from pydicom.datadict import tag_for_keyword

    return {kw: int(tag_for_keyword(kw)) for kw in RECORD_KEYWORDS}  # type: ignore[arg-type]


_TAGS = _keyword_tags()
WANTED_TAGS = frozenset(_TAGS.values())
_VRS = {tag: _dictionary_vr(tag) for tag in WANTED_TAGS}


#: SeriesMeta fields that hold a tag's text as written (empty when absent).
_META_TEXT_FIELDS = (
    ("patient_name", "PatientName"),
    ("patient_id", "PatientID"),
    ("patient_birth_date", "PatientBirthDate"),
    ("patient_sex", "PatientSex"),
    ("patient_age", "PatientAge"),
    ("study_date", "StudyDate"),
    ("study_time", "StudyTime"),
    ("study_description", "StudyDescription"),
    ("study_uid", "StudyInstanceUID"),
    ("series_uid", "SeriesInstanceUID"),
    ("series_number", "SeriesNumber"),
    ("series_description", "SeriesDescription"),
    ("manufacturer", "Manufacturer"),
    ("model", "ManufacturerModelName"),
    ("kernel", "ConvolutionKernel"),
    ("contrast_agent", "ContrastBolusAgent"),
)


def series_meta(ds: Any) -> SeriesMeta:
    """The :class:`SeriesMeta` of a series from one of its datasets."""
    return SeriesMeta(
        **{name: to_str(get(ds, keyword)) for name, keyword in _META_TEXT_FIELDS},
        modality=to_str(get(ds, "Modality")).upper() or "CT",
        slice_thickness_mm=to_float(get(ds, "SliceThickness")),
        window_center_hu=to_float(get(ds, "WindowCenter")),
        window_width_hu=to_float(get(ds, "WindowWidth")),
        body_part=to_str(get(ds, "BodyPartExamined")).upper(),
    )
