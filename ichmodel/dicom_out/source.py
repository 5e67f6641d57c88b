"""The source CT instances a result refers to, and the mask mapped back onto them.

Our measurement lives on the :class:`~ichmodel.volume.Volume` grid, which for a tilted or
unevenly spaced series is a resampled grid no PACS image has. DICOM SEG frames must lie on
the source images for dcmqi (and so 3D Slicer) to rebuild the segmentation, so each source
pixel's patient position (LPS, mm, from ImagePositionPatient/ImageOrientationPatient/
PixelSpacing) is mapped to the nearest Volume voxel and takes its label.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichmodel.errors import InputError
from ichmodel.volume import Volume

log = logging.getLogger(__name__)

#: Type 2 attributes of the Patient and General Study modules: they must be present (empty is
#: allowed). Source series that lack them (e.g. dcm_qa_ct ``In/GE`` has no PatientBirthDate or
#: PatientSex) make highdicom's constructors fail, so copies get them empty.
TYPE2_PATIENT_STUDY = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
    "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
)  # fmt: skip

ANONYMIZED = ("PatientName", "PatientID", "PatientBirthDate")


class DicomExportError(InputError):
    """A DICOM result object cannot be made from this reading (the message says why)."""


@dataclass(frozen=True)
class SourceSeries:
    """The source CT instances (headers only, sorted along the slice normal), as copies fit to
    hand to highdicom: Type 2 patient/study attributes present, anonymized when asked."""

    datasets: tuple  # tuple[pydicom.Dataset, ...]
    anonymized: bool

    @property
    def first(self):
        return self.datasets[0]

    @property
    def study_uid(self) -> str:
        return str(self.first.StudyInstanceUID)

    @property
    def series_uid(self) -> str:
        return str(self.first.SeriesInstanceUID)


def ascii_text(text: str) -> str:
    """Text safe in any character set the source declares: our results inherit the source's
    (often Latin-1, or the default, which has no "·", "²" or "±")."""
    for fancy, plain in (("—", "-"), ("–", "-"), ("·", "-"), ("’", "'"), ("²", "2"),
                         ("±", "+/-")):
        text = text.replace(fancy, plain)
    return text.encode("ascii", "replace").decode("ascii")


def _usable(ds) -> bool:
    """An image with the geometry and pixel description a SEG frame needs."""
    return all(k in ds for k in (
        "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns",
        "SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "FrameOfReferenceUID",
    ))  # fmt: skip


def prepare(ds, *, anonymize: bool):
    """A copy of ``ds`` with every Type 2 patient/study attribute present, and without the
    patient's name, ID and birth date when ``anonymize`` (what the anonymized PDF omits)."""
    ds = copy.deepcopy(ds)
    for keyword in TYPE2_PATIENT_STUDY:
        if keyword not in ds or ds[keyword].value is None:
            setattr(ds, keyword, "")
    if "DeidentificationMethod" in ds and not ds.DeidentificationMethod:
        # Type 1C when PatientIdentityRemoved is YES: an empty one (dcm_qa_ct In/GE) fails
        # validation of every object that copies the patient module
        if str(ds.get("PatientIdentityRemoved", "")).upper() == "YES":
            ds.DeidentificationMethod = "as received: method not recorded by the source"
        else:
            del ds.DeidentificationMethod
    if anonymize:
        for keyword in ANONYMIZED:
            setattr(ds, keyword, "")
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "ICH Viewer: name, ID and birth date removed"
    return ds


def load_source_series(files: tuple[Path, ...] | list[Path], *, anonymize: bool) -> SourceSeries:
    """Read the headers of ``files`` (the reading's series) and keep the usable images, sorted
    by position along the normal. Raises :class:`DicomExportError` when none is usable."""
    import pydicom

    found = []
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is skipped, as the loader does
            log.warning("skipping %s for the DICOM results: %s", Path(path).name, exc)
            continue
        if _usable(ds):
            found.append(prepare(ds, anonymize=anonymize))
    if not found:
        raise DicomExportError(
            "none of the series' files has the image geometry a DICOM SEG needs "
            "(ImagePositionPatient, ImageOrientationPatient, PixelSpacing); "
            "export the series from the scanner or PACS again"
        )
    normal = np.cross(*np.asarray(found[0].ImageOrientationPatient, float).reshape(2, 3))
    found.sort(key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, float), normal)))
    return SourceSeries(datasets=tuple(found), anonymized=anonymize)


def source_of(reading, *, anonymize: bool) -> SourceSeries:
    """The source series of a :class:`~ichmodel.reading.StudyReading`, or a clear error."""
    if reading.series is None or not reading.series.files:
        raise DicomExportError(
            "this reading has no source DICOM series (it was not loaded from DICOM files), "
            "so there are no images a DICOM SEG or SR could refer to"
        )
    return load_source_series(reading.series.files, anonymize=anonymize)


def pixel_positions_mm(ds) -> np.ndarray:
    """LPS position (x, y, z), mm, of every pixel centre of image ``ds``: (rows, cols, 3)."""
    iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
    row_dir, col_dir = iop[:3], iop[3:]
    dr, dc = (float(v) for v in ds.PixelSpacing)  # row spacing, column spacing
    ipp = np.asarray(ds.ImagePositionPatient, dtype=float)
    r = np.arange(int(ds.Rows), dtype=float)[:, None, None]
    c = np.arange(int(ds.Columns), dtype=float)[None, :, None]
    return ipp + c * dc * row_dir + r * dr * col_dir


def masks_on_source(volume: Volume, masks: list[np.ndarray], source: SourceSeries) -> np.ndarray:
    """Each (z, y, x) mask of the Volume grid resampled by nearest neighbour onto every source
    image: bool (n_images, rows, cols, n_masks). Pixels outside the Volume are False."""
    first = source.first
    rows, cols = int(first.Rows), int(first.Columns)
    out = np.zeros((len(source.datasets), rows, cols, len(masks)), dtype=bool)
    step = volume.direction_matrix * np.asarray(volume.spacing_mm[::-1])[None, :]  # cols x,y,z
    to_index = np.linalg.inv(step)
    origin = np.asarray(volume.origin_mm, dtype=float)
    nz, ny, nx = volume.shape
    for k, ds in enumerate(source.datasets):
        if (int(ds.Rows), int(ds.Columns)) != (rows, cols):
            continue  # an odd-sized image the loader dropped too: left empty
        xyz = (pixel_positions_mm(ds) - origin) @ to_index.T  # fractional (x, y, z) indices
        idx = np.rint(xyz).astype(np.int64)
        ix, iy, iz = idx[..., 0], idx[..., 1], idx[..., 2]
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny) & (iz >= 0) & (iz < nz)
        if not inside.any():
            continue
        for m, mask in enumerate(masks):
            out[k, inside, m] = mask[iz[inside], iy[inside], ix[inside]]
    return out
