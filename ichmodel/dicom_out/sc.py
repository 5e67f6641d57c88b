"""Key images as Secondary Capture: the largest hematoma slice and its neighbours, with the
contour, the ABC/2 diameters and the heatmap burned in (what the PDF report shows).

``BurnedInAnnotation`` is YES (the overlay is in the pixels) and ``BodyPartExamined`` HEAD:
dciodvfy flags an SC without it. For a tilted series these are the pictures a PACS viewer shows
faithfully even where it cannot place the SEG.
"""

from __future__ import annotations

import logging

from ichmodel.dicom_out.seg import MANUFACTURER
from ichmodel.dicom_out.source import SourceSeries
from ichmodel.render import A_SEGMENT_RGB, B_SEGMENT_RGB, head_bbox_yx, render_slice

log = logging.getLogger(__name__)


def _segments(measurement):
    if measurement is None:
        return []
    pairs = ((measurement.abc2.a_segment_zyx, A_SEGMENT_RGB),
             (measurement.abc2.b_segment_zyx, B_SEGMENT_RGB))
    return [(segment, colour) for segment, colour in pairs if segment is not None]


def build_key_images(
    reading, source: SourceSeries, *, series_uid: str, sop_uids: list[str],
    series_number: int = 9903, heatmap_opacity: float = 0.4, max_side_px: int = 512,
) -> list:
    """One SC Dataset per key slice of ``reading`` (:meth:`StudyReading.key_slices`); ``sop_uids``
    gives each its SOP Instance UID (at least as many as key slices)."""
    import highdicom as hd

    keys, note = reading.key_slices()
    if len(sop_uids) < len(keys):
        raise ValueError(f"{len(keys)} key slices need as many SOP instance UIDs")
    measurement, prediction = reading.measurement, reading.prediction
    volume = reading.volume
    mask = measurement.hematoma_mask if measurement is not None else None
    excluded = measurement.excluded_mask if measurement is not None else None
    cam = prediction.cam if prediction is not None else None
    crop = head_bbox_yx(volume)
    images = []
    for number, (key, sop_uid) in enumerate(zip(keys, sop_uids, strict=False), start=1):
        picture = render_slice(
            volume, key.index, hematoma_mask=mask, excluded_mask=excluded, cam=cam,
            heatmap_opacity=heatmap_opacity,
            segments_zyx=_segments(measurement), max_side_px=max_side_px, crop_yx=crop,
        )
        image = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=source.first,
            pixel_array=picture.rgb,
            photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
            bits_allocated=8,
            coordinate_system=hd.CoordinateSystemNames.PATIENT,
            series_instance_uid=series_uid,
            series_number=series_number,
            sop_instance_uid=sop_uid,
            instance_number=number,
            manufacturer=MANUFACTURER,
            pixel_spacing=(picture.pixel_mm, picture.pixel_mm),
            # rows run to the patient's posterior, columns to their left (LPS axial, as shown)
            patient_orientation=("L", "P"),
        )
        image.BurnedInAnnotation = "YES"
        image.BodyPartExamined = "HEAD"
        image.SeriesDescription = "ICH key images (research use)"
        # plain ASCII: the source's character set may be Latin-1, which has no "·"
        caption = key.caption.replace("·", "-").replace("²", "2")
        image.ImageComments = f"{caption}. {note}"[:10240]
        image.ConversionType = "WSD"
        images.append(image)
    log.info("SC: %d key image(s)", len(images))
    return images
