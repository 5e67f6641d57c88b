"""Write a :class:`~ichmodel.volume.Volume` as a DICOM CT Image Storage series (pydicom).

One file per slice, explicit VR little endian, int16 storage with RescaleSlope 1 and a
RescaleIntercept chosen so the HU range fits (usually -1024 or 0 for synthetic data). Geometry:
ImagePositionPatient of slice k is ``origin + k * spacing_z * normal``; ImageOrientationPatient
is the first two columns of the volume's direction matrix (DICOM PS3.3 C.7.6.2).

NIfTI output lives in :func:`ichmodel.io.sitk_bridge.write_nifti`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import random
from pathlib import Path

import numpy as np

from ichmodel.volume import Volume

log = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _ds(value: float) -> str:
    """A DICOM DS string (at most 16 characters) for ``value``."""
    text = f"{value:.10g}"
    if len(text) > 16:
        text = f"{value:.6e}" if abs(value) >= 1e10 or (0 < abs(value) < 1e-4) else f"{value:.8g}"
    return text[:16]


def _storage_for(hu: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) so round(HU) fits int16 exactly; slope 1 whenever possible."""
    lo = float(np.nanmin(hu)) if hu.size else 0.0
    hi = float(np.nanmax(hu)) if hu.size else 0.0
    if lo >= -32768 and hi <= 32767:
        return 1.0, 0.0
    # Only for absurd ranges: shift, and scale if the span still does not fit.
    span = hi - lo
    slope = 1.0 if span <= 65000 else span / 65000.0
    intercept = lo + 32768 * slope
    return slope, intercept


def hu_to_stored(hu: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """int16 stored values for HU (rounded), given RescaleSlope/Intercept."""
    stored = np.rint((np.asarray(hu, dtype=np.float64) - intercept) / slope)
    return np.clip(stored, -32768, 32767).astype(np.int16)


def write_dicom_series(
    volume: Volume,
    folder: str | Path,
    *,
    shuffle_names: bool = True,
    seed: int = 0,
    series_description: str | None = None,
    window: tuple[float, float] | None = None,
    transfer_syntax: str | None = None,
) -> list[Path]:
    """Write ``volume`` as a CT Image Storage series into ``folder`` (created if needed).

    Args:
        volume: HU (z, y, x) on a regular grid; HU are rounded to integers (int16 storage).
        folder: output folder; existing files there are left alone.
        shuffle_names: name files in a random order (``IMG_xxxx.dcm`` not matching the slice
            order) so readers must sort by ImagePositionPatient, as with real PACS exports.
        seed: seeds the UIDs' entropy and the file-name shuffle (reproducible output).
        series_description: overrides ``volume.meta.series_description``.
        window: (center, width) in HU written as WindowCenter/WindowWidth; defaults to the
            meta's window when present.
        transfer_syntax: ``None`` for explicit VR little endian (uncompressed), or a
            pydicom UID such as ``pydicom.uid.RLELossless`` to compress each slice.

    Returns:
        The written paths, in slice order (z = 0 first).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = volume.meta
    nz, ny, nx = volume.shape
    sz, sy, sx = (float(v) for v in volume.spacing_mm)
    direction = volume.direction_matrix
    row_dir, col_dir, normal = direction[:, 0], direction[:, 1], direction[:, 2]
    origin = np.asarray(volume.origin_mm, dtype=float)
    slope, intercept = _storage_for(volume.hu)

    rng = random.Random(seed)
    sample = np.ascontiguousarray(volume.hu[::2, ::7, ::7]).tobytes()
    digest = hashlib.sha1(sample).hexdigest()  # different volumes get different UIDs
    entropy = [f"ichmodel-write-{seed}-{meta.series_uid}-{meta.study_uid}-{digest}"]
    study_uid = meta.study_uid or generate_uid(entropy_srcs=entropy + ["study"])
    series_uid = meta.series_uid or generate_uid(entropy_srcs=entropy + ["series"])
    frame_uid = generate_uid(entropy_srcs=entropy + ["frame", study_uid])
    now = _dt.datetime(2024, 1, 1, 12, 0, 0)
    study_date = meta.study_date or now.strftime("%Y%m%d")
    study_time = meta.study_time or now.strftime("%H%M%S")
    description = series_description if series_description is not None else meta.series_description
    if window is None and meta.window_center_hu is not None and meta.window_width_hu is not None:
        window = (meta.window_center_hu, meta.window_width_hu)

    names = [f"IMG_{i:04d}.dcm" for i in range(nz)]
    if shuffle_names:
        rng.shuffle(names)

    paths: list[Path] = []
    for k in range(nz):
        sop_uid = generate_uid(entropy_srcs=entropy + ["sop", series_uid, str(k)])
        fm = FileMetaDataset()
        fm.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        fm.MediaStorageSOPInstanceUID = sop_uid
        fm.TransferSyntaxUID = ExplicitVRLittleEndian
        fm.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = fm
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = study_date
        ds.SeriesDate = study_date
        ds.ContentDate = study_date
        ds.StudyTime = study_time
        ds.SeriesTime = study_time
        ds.ContentTime = study_time
        ds.AccessionNumber = ""
        ds.Modality = meta.modality or "CT"
        ds.Manufacturer = meta.manufacturer or "ichmodel"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = meta.study_description
        ds.SeriesDescription = description or ""
        ds.ManufacturerModelName = meta.model or "synthetic"
        ds.PatientName = meta.patient_name
        ds.PatientID = meta.patient_id
        ds.PatientBirthDate = meta.patient_birth_date
        ds.PatientSex = meta.patient_sex
        if meta.patient_age:
            ds.PatientAge = meta.patient_age
        ds.BodyPartExamined = meta.body_part or "HEAD"
        if meta.contrast_agent:
            ds.ContrastBolusAgent = meta.contrast_agent
        ds.SliceThickness = _ds(meta.slice_thickness_mm if meta.slice_thickness_mm else sz)
        ds.KVP = "120"
        if meta.kernel:
            ds.ConvolutionKernel = meta.kernel
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = meta.series_number or "1"
        ds.AcquisitionNumber = "1"
        ds.InstanceNumber = str(k + 1)
        position = origin + k * sz * normal
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_dir, *col_dir)]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds(float(position @ normal))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ny
        ds.Columns = nx
        ds.PixelSpacing = [_ds(sy), _ds(sx)]  # row spacing (between rows), column spacing
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        if window is not None:
            ds.WindowCenter = _ds(window[0])
            ds.WindowWidth = _ds(window[1])
        ds.RescaleIntercept = _ds(intercept)
        ds.RescaleSlope = _ds(slope)
        ds.RescaleType = "HU"
        stored = hu_to_stored(volume.hu[k], slope, intercept)
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
        ds["PixelData"].VR = "OW"
        if transfer_syntax is not None and transfer_syntax != ExplicitVRLittleEndian:
            ds.compress(transfer_syntax, stored)
        path = folder / names[k]
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    log.info("wrote %d DICOM slices (%s) to %s", nz, volume.shape, folder)
    return paths
