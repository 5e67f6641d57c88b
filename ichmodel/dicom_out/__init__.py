"""A reading's results as DICOM objects a PACS shows: SEG, SR (TID 1500), key images, PDF.

Public API::

    results = build_results(reading, pdf_bytes=None, anonymize=False,   # -> DicomResults
                            annotations=())
    paths = write_results(results, folder)                               # -> list[Path]

Every object is in the source's study (same Study Instance UID and patient module, Type 2
attributes filled when the source lacks them) with its own new series; ``anonymize`` blanks the
patient's name, ID and birth date, as the anonymized PDF does. The source CT is never copied.
The reader's rulers and ROIs (``annotations``) made on a key slice are burned into its key
image, as the PDF report draws them. The SEG lies on the source images (nearest-neighbour from
our grid, see :mod:`.source`); for a tilted series the reading's notices say so, and the key
images are the faithful picture.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ichmodel.dicom_out.seg import SegmentSpec
from ichmodel.dicom_out.source import DicomExportError, SourceSeries, source_of

if TYPE_CHECKING:  # pydicom loads on first use
    from pydicom import Dataset

    from ichmodel.annotations import ReaderMeasurement

__all__ = [
    "DicomExportError",
    "DicomResults",
    "SegmentSpec",
    "build_results",
    "write_results",
]

log = logging.getLogger(__name__)

#: Notice codes that mean our grid is not the source's (the SEG was mapped back).
RESAMPLED_CODES = ("load.gantry_tilt_corrected", "load.uneven_spacing_resampled")


@dataclass(frozen=True, eq=False)
class DicomResults:
    """The result objects of one reading (pydicom Datasets), ready to write or send."""

    study_uid: str
    seg: Dataset | None
    segments: tuple[SegmentSpec, ...]
    sr: Dataset
    key_images: tuple[Dataset, ...]
    pdf: Dataset | None
    #: Why an object is missing or what to know about one ("no blood: no SEG", tilt, ...).
    remarks: tuple[str, ...] = ()

    @property
    def datasets(self) -> tuple[Dataset, ...]:
        """Every object, SEG first (an SR refers to it)."""
        found = [self.seg] if self.seg is not None else []
        found.append(self.sr)
        found += list(self.key_images)
        if self.pdf is not None:
            found.append(self.pdf)
        return tuple(found)

    def series_uids(self) -> dict[str, str]:
        """{kind: series UID} of the objects made (kind: SEG, SR, SC, DOC)."""
        out = {"SR": str(self.sr.SeriesInstanceUID)}
        if self.seg is not None:
            out["SEG"] = str(self.seg.SeriesInstanceUID)
        if self.key_images:
            out["SC"] = str(self.key_images[0].SeriesInstanceUID)
        if self.pdf is not None:
            out["DOC"] = str(self.pdf.SeriesInstanceUID)
        return out


def _uids(source: SourceSeries, n_key: int):
    """New series/instance UIDs, derived from the source series so a re-export of the same
    study makes new ones (a time stamp enters) without a global counter."""
    import time

    from pydicom.uid import generate_uid

    salt = [source.series_uid, str(time.time_ns())]
    return {
        kind: generate_uid(entropy_srcs=salt + [kind])
        for kind in ["seg-series", "seg", "sr-series", "sr", "sc-series", "pdf-series", "pdf"]
        + [f"sc{k}" for k in range(n_key)]
    }


def build_results(
    reading, *, pdf_bytes: bytes | None = None, anonymize: bool = False,
    heatmap_opacity: float = 0.4, annotations: tuple[ReaderMeasurement, ...] = (),
) -> DicomResults:
    """SEG (when blood was measured), SR, key images and (with ``pdf_bytes``) the Encapsulated
    PDF of a measured :class:`~ichmodel.reading.StudyReading` loaded from DICOM. The reader's
    ``annotations`` (the viewer's rulers and ROIs) on the key slices are drawn on the key images.

    Raises :class:`DicomExportError` for a reading without a measurement or without source
    DICOM files, or for bytes that are not a PDF.
    """
    with warnings.catch_warnings():
        # highdicom warns about a single-component PatientName (e.g. "REMOVED"); it is the
        # source's, copied as it is, not ours to rewrite
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        return _build(reading, pdf_bytes=pdf_bytes, anonymize=anonymize,
                      heatmap_opacity=heatmap_opacity, annotations=tuple(annotations))


def _build(reading, *, pdf_bytes, anonymize, heatmap_opacity, annotations) -> DicomResults:
    from ichmodel.dicom_out.pdf import build_encapsulated_pdf
    from ichmodel.dicom_out.sc import build_key_images
    from ichmodel.dicom_out.seg import build_seg
    from ichmodel.dicom_out.sr import build_sr

    measurement = reading.measurement
    if measurement is None:
        raise DicomExportError("the study was not measured: measure it before sending results")
    source = source_of(reading, anonymize=anonymize)
    keys, _ = reading.key_slices()
    uid = _uids(source, len(keys))
    remarks: list[str] = []
    seg, specs = None, ()
    if measurement.found:
        seg, specs = build_seg(
            reading.volume, measurement.hematoma_mask, measurement.ivh_mask, source,
            series_uid=uid["seg-series"], sop_uid=uid["seg"],
        )
    else:
        remarks.append("no blood was measured: no SEG (the SR says 0 ml)")
    if any(n.code in RESAMPLED_CODES for n in reading.notices):
        remarks.append(
            "the series was resampled (gantry tilt or uneven spacing): the SEG was mapped back "
            "onto the source slices by nearest neighbour; some viewers (dcmqi, 3D Slicer) "
            "cannot place a SEG on tilted slices, so read the key images"
        )
    sr = build_sr(reading, source, seg, specs, series_uid=uid["sr-series"], sop_uid=uid["sr"],
                  annotations=annotations)
    key_images = build_key_images(
        reading, source, series_uid=uid["sc-series"],
        sop_uids=[uid[f"sc{k}"] for k in range(len(keys))], heatmap_opacity=heatmap_opacity,
        annotations=annotations,
    )
    pdf = None
    if pdf_bytes is not None:
        pdf = build_encapsulated_pdf(pdf_bytes, source, series_uid=uid["pdf-series"],
                                     sop_uid=uid["pdf"])
    else:
        remarks.append("no PDF report was given: no Encapsulated PDF")
    for ds in [seg, sr, *key_images, pdf]:
        if ds is not None:
            _copy_deidentification(ds, source.first)
    return DicomResults(
        study_uid=source.study_uid, seg=seg, segments=tuple(specs), sr=sr,
        key_images=tuple(key_images), pdf=pdf, remarks=tuple(remarks),
    )


def _copy_deidentification(ds, source) -> None:
    """highdicom copies the patient's identity but not whether it was removed: keep that."""
    for keyword in ("PatientIdentityRemoved", "DeidentificationMethod"):
        if keyword in source and source[keyword].value:
            setattr(ds, keyword, source[keyword].value)


_PREFIX = {"SEG": "SEG", "SR": "SR", "OT": "SC", "DOC": "PDF"}


def write_results(results: DicomResults, folder: str | Path) -> list[Path]:
    """Write every object of ``results`` as a Part 10 file into ``folder`` (created), named by
    kind and SOP Instance UID; returns the paths. Never overwrites: each name is new."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DicomExportError(f"cannot create the output folder {folder}: {exc}") from exc
    paths = []
    for ds in results.datasets:
        kind = _PREFIX.get(str(ds.Modality), str(ds.Modality))
        path = folder / f"{kind}_{ds.SOPInstanceUID}.dcm"
        try:
            ds.save_as(path, enforce_file_format=True)
        except OSError as exc:
            raise DicomExportError(f"cannot write {path}: {exc}") from exc
        paths.append(path)
    log.info("wrote %d DICOM result object(s)", len(paths))
    return paths
