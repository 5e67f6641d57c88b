"""Key images as Secondary Capture: the largest hematoma slice and its neighbours, with the
contour, the ABC/2 diameters, the heatmap and the reader's rulers and ROIs made on those slices
burned in (what the PDF report shows); ``ImageComments`` names the reader's marks drawn.

``BurnedInAnnotation`` is YES (the overlay is in the pixels) and ``BodyPartExamined`` HEAD:
dciodvfy flags an SC without it. For a tilted series these are the pictures a PACS viewer shows
faithfully even where it cannot place the SEG.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ichmodel.annotations import Plane, ReaderMeasurement, Ruler
from ichmodel.dicom_out.seg import new_instance
from ichmodel.dicom_out.source import SourceSeries, ascii_text
from ichmodel.render import head_bbox_yx, render_slice
from ichmodel.render_marks import abc2_segments, cover_key_marks, draw_axial_marks, marks_on

log = logging.getLogger(__name__)


def marks_note(marks: Sequence[ReaderMeasurement]) -> str:
    """What of the reader's is burned into a key image: "reader #1 ruler 36.7 mm; reader #2
    ROI 41.0 +/- 3.2 HU (min 30, max 52), 80.4 mm2" (the values the PDF's table gives)."""
    return "; ".join(
        f"reader #{m.number} {'ruler' if isinstance(m.annotation, Ruler) else 'ROI'} "
        f"{ascii_text(m.value_text)}"
        for m in marks
    )


def build_key_images(
    reading, source: SourceSeries, *, series_uid: str, sop_uids: list[str],
    series_number: int = 9903, heatmap_opacity: float = 0.4, max_side_px: int = 512,
    annotations: tuple[ReaderMeasurement, ...] = (),
) -> list:
    """One SC Dataset per key slice of ``reading`` (:meth:`StudyReading.key_slices`); ``sop_uids``
    gives each its SOP Instance UID (at least as many as key slices). The reader's axial
    ``annotations`` made on a key slice are drawn on its image, as the PDF report draws them."""
    import highdicom as hd

    keys, note = reading.key_slices()
    if len(sop_uids) < len(keys):
        raise ValueError(f"{len(keys)} key slices need as many SOP instance UIDs")
    measurement, prediction = reading.measurement, reading.prediction
    volume = reading.volume
    mask = measurement.hematoma_mask if measurement is not None else None
    excluded = measurement.excluded_mask if measurement is not None else None
    ivh = measurement.drawn_ivh_mask if measurement is not None else None
    cam = prediction.cam if prediction is not None else None
    # one crop for all key images (as the PDF's), grown to hold a mark drawn off the head
    crop = cover_key_marks(volume, head_bbox_yx(volume), annotations, [k.index for k in keys])
    images, n_drawn = [], 0
    for number, (key, sop_uid) in enumerate(zip(keys, sop_uids, strict=False), start=1):
        picture = render_slice(
            volume, key.index, hematoma_mask=mask, excluded_mask=excluded, ivh_mask=ivh, cam=cam,
            heatmap_opacity=heatmap_opacity,
            segments_zyx=abc2_segments(measurement), max_side_px=max_side_px, crop_yx=crop,
        )
        mine = marks_on(annotations, Plane.AXIAL, key.index)
        picture = draw_axial_marks(picture, volume, crop, mine)
        n_drawn += len(mine)
        image = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=source.first,
            pixel_array=picture.rgb,
            photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
            bits_allocated=8,
            coordinate_system=hd.CoordinateSystemNames.PATIENT,
            **new_instance(series_uid, series_number, sop_uid, number),
            pixel_spacing=(picture.pixel_mm, picture.pixel_mm),
            # rows run to the patient's posterior, columns to their left (LPS axial, as shown)
            patient_orientation=("L", "P"),
        )
        image.BurnedInAnnotation = "YES"
        image.BodyPartExamined = "HEAD"
        image.SeriesDescription = "ICH key images (research use)"
        drawn = f" Burned in: {marks_note(mine)}." if mine else ""
        image.ImageComments = f"{ascii_text(key.caption)}.{drawn} {note}"[:10240]  # LT: 10240 chars
        image.ConversionType = "WSD"
        images.append(image)
    log.info("SC: %d key image(s), %d reader's mark(s) drawn", len(images), n_drawn)
    return images
