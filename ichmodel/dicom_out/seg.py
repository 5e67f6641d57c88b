"""DICOM SEG (binary) of the hematoma and the intraventricular blood, on the source CT images.

BINARY rather than LABELMAP: only OHIF displays LABELMAP today. The frames lie on the source
images (see :mod:`ichmodel.dicom_out.source`), so a tilted series' SEG can be rebuilt by dcmqi
and 3D Slicer; on our resampled grid it would be valid but not reconstructable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from ichmodel import __version__
from ichmodel.dicom_out.source import DicomExportError, SourceSeries, masks_on_source

log = logging.getLogger(__name__)

MANUFACTURER = "ICH Viewer (research use only)"
SOFTWARE = f"ichviewer {__version__}"
HEMATOMA_LABEL = "Intraparenchymal hematoma"
IVH_LABEL = "Intraventricular hemorrhage"


class NewInstance(TypedDict):
    """The identity every object we write carries (highdicom's constructor keywords)."""

    series_instance_uid: str
    series_number: int
    sop_instance_uid: str
    instance_number: int
    manufacturer: str


def new_instance(series_uid: str, series_number: int, sop_uid: str,
                 instance_number: int = 1) -> NewInstance:
    return NewInstance(series_instance_uid=series_uid, series_number=series_number,
                       sop_instance_uid=sop_uid, instance_number=instance_number,
                       manufacturer=MANUFACTURER)


@dataclass(frozen=True)
class SegmentSpec:
    """One segment we write: its number in the SEG, label, and voxel count on the source
    images (what dcmqi gives back)."""

    number: int
    label: str
    #: True for the intraventricular blood, False for the intraparenchymal hematoma.
    is_ivh: bool
    n_source_voxels: int
    #: The measurement's volume (on the Volume grid), ml: what the SR reports.
    volume_ml: float
    #: The segment's volume on the source images (pixel area x each image's slab), ml.
    source_volume_ml: float


def _codes():
    from pydicom.sr.codedict import codes

    return codes


def _description(number: int, label: str, *, ivh: bool, tracking_uid: str):
    import highdicom as hd

    codes = _codes()
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Hemorrhage if ivh else codes.SCT.Hematoma,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="ICH Viewer HU threshold measurement",
            version=__version__,
            # a blood HU window cleaned by morphological operations (ichmodel.measure)
            family=codes.cid7162.MorphologicalOperations,
        ),
        anatomic_regions=[codes.SCT.BrainVentricle if ivh else codes.SCT.Brain],
        tracking_uid=tracking_uid,
        tracking_id=label,
    )


def tracking_uid(seg_sop_uid: str, segment_number: int) -> str:
    """The tracking UID of segment ``segment_number`` of the SEG ``seg_sop_uid`` (stable, so the
    SR can name it without reading the SEG back)."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[seg_sop_uid, "segment", str(segment_number)]))


def build_seg(
    volume, hematoma_mask: np.ndarray, ivh_mask: np.ndarray, source: SourceSeries,
    *, series_uid: str, sop_uid: str, series_number: int = 9901,
) -> tuple[object, tuple[SegmentSpec, ...]]:
    """The SEG (a pydicom Dataset) and the segments it holds, numbered from 1: the hematoma
    when it has voxels, then the IVH when it has voxels. Raises :class:`DicomExportError`
    when neither has any voxel on the source images (there is nothing to segment)."""
    import highdicom as hd

    on_source = masks_on_source(volume, [hematoma_mask, ivh_mask], source)
    first = source.first
    pixel_mm2 = float(first.PixelSpacing[0]) * float(first.PixelSpacing[1])
    slab_ml = _source_slab_mm(source) * pixel_mm2 / 1000.0  # per source image
    wanted = []
    for m, (label, ivh, mask) in enumerate(
        ((HEMATOMA_LABEL, False, hematoma_mask), (IVH_LABEL, True, ivh_mask))
    ):
        count = int(on_source[..., m].sum())
        if count:
            ml = float(mask.sum()) * volume.voxel_volume_ml
            source_ml = float((on_source[..., m].sum(axis=(1, 2)) * slab_ml).sum())
            wanted.append((m, label, ivh, count, ml, source_ml))
    if not wanted:
        raise DicomExportError(
            "no blood was measured, so there is no segmentation to send (the SR and key "
            "images still say so)"
        )
    pixels = np.stack([on_source[..., m] for m, *_ in wanted], axis=-1).astype(np.uint8)
    # The SR's measurement groups name the same tracking UIDs: derived from the SEG's UID
    descriptions = [
        _description(n, label, ivh=ivh, tracking_uid=tracking_uid(sop_uid, n))
        for n, (_, label, ivh, *_) in enumerate(wanted, 1)
    ]
    seg = hd.seg.Segmentation(
        source_images=list(source.datasets),
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        **new_instance(series_uid, series_number, sop_uid),
        manufacturer_model_name="ichmodel",
        software_versions=SOFTWARE,
        device_serial_number="none",
        series_description="ICH blood segmentation (research use)",
        content_label="ICH",
        content_description="hematoma and intraventricular blood, HU threshold (research use)",
    )
    specs = tuple(
        SegmentSpec(number=n, label=label, is_ivh=ivh, n_source_voxels=count, volume_ml=ml,
                    source_volume_ml=source_ml)
        for n, (_, label, ivh, count, ml, source_ml) in enumerate(wanted, 1)
    )
    log.info("SEG: %d segment(s) on %d source images", len(specs), len(source.datasets))
    return seg, specs


def _source_slab_mm(source: SourceSeries) -> np.ndarray:
    """The slab of patient each source image stands for along the normal, mm: half the gap to
    each neighbour (the outer images count their one gap twice), so uneven stacks add up."""
    first = source.first
    iop = np.asarray(first.ImageOrientationPatient, float).reshape(2, 3)
    normal = np.cross(iop[0], iop[1])
    heights = np.array([float(np.dot(np.asarray(d.ImagePositionPatient, float), normal))
                        for d in source.datasets])
    if len(heights) < 2:
        return np.full(1, float(first.get("SliceThickness", 1.0) or 1.0))
    gaps = np.diff(heights)
    return (np.concatenate([[gaps[0]], gaps]) + np.concatenate([gaps, [gaps[-1]]])) / 2.0
