"""The PDF report as an Encapsulated PDF object (Modality DOC, PS3.3 A.45.1), with pydicom.

The PDF itself is made by the viewer's report (``ichviewer.report``); ichmodel never imports the
viewer, so callers hand the PDF's bytes in.
"""

from __future__ import annotations

import datetime as _dt

from ichmodel import __version__
from ichmodel.dicom_out.seg import MANUFACTURER
from ichmodel.dicom_out.source import TYPE2_PATIENT_STUDY, DicomExportError, SourceSeries

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"

#: Patient and study attributes copied from the source (the others of the modules are Type 3).
_COPIED = TYPE2_PATIENT_STUDY + (
    "StudyInstanceUID", "PatientAge", "StudyDescription", "PatientIdentityRemoved",
    "DeidentificationMethod", "SpecificCharacterSet",
)  # fmt: skip


def build_encapsulated_pdf(
    pdf_bytes: bytes, source: SourceSeries, *, series_uid: str, sop_uid: str,
    series_number: int = 9904, title: str = "ICH Viewer report (research use)",
):
    """An Encapsulated PDF Storage Dataset holding ``pdf_bytes`` in the source's study."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    if not pdf_bytes.startswith(b"%PDF"):
        raise DicomExportError("the report given is not a PDF file (it does not start with %PDF)")
    ref = source.first
    ds = Dataset()
    for keyword in _COPIED:
        if keyword in ref:
            setattr(ds, keyword, ref[keyword].value)
    now = _dt.datetime.now()
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = title[:64]
    ds.Manufacturer = MANUFACTURER
    ds.SoftwareVersions = f"ichviewer {__version__}"
    ds.ConversionType = "WSD"  # SC Equipment module: a workstation made it
    ds.InstanceNumber = 1
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"  # the report prints the patient's data unless anonymized
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    # OB must have even length: pad with one NUL and record the true length
    ds.EncapsulatedDocumentLength = len(pdf_bytes)
    ds.EncapsulatedDocument = pdf_bytes + (b"\x00" if len(pdf_bytes) % 2 else b"")
    ds.InstanceCreationDate, ds.InstanceCreationTime = ds.ContentDate, ds.ContentTime
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds
