"""The measurement report as a DICOM SR, TID 1500 (Comprehensive 3D SR, highdicom).

One volumetric group per SEG segment (TID 1411) holds its planimetric volume, the threshold
voxel count and, for the hematoma, ABC/2 with A, B and C; a plain group (TID 1501) holds the
model's volume and poor-outcome probability, identified as the model's by its algorithm
identification (name, weights digest, provenance). Units are UCUM (``mL``, ``mm``, ``%``).
ABC/2 is a group of its own for the same segment with its method (CID 7472) on the group,
where dcmqi reads it.

Concepts DICOM has no code for (poor-outcome probability, our location heuristic, the voxel
count) use the private coding scheme ``99ICHV`` (DICOM PS3.16 allows "99"-prefixed local
schemes), so a reader never mistakes them for a standard concept.

With ``reading.scores`` (ICH score, FUNC, max-ICH) the report also holds their inputs and one
group per score (:mod:`.sr_scores`).

The reader's own rulers and ellipse ROIs (``annotations``) are one planar group (TID 1410)
each, "Reader measurement #n": a ruler is a POLYLINE with its Length, an ROI an ELLIPSE with
the HU mean, SD, min and max (Attenuation Coefficient with its derivation, CID 7464) and its
area. Their regions are SCOORD3D in the source's frame of reference, from the Volume's voxel
to patient mapping: no source image need hold the slice (a resampled tilted series or a
coronal / sagittal reformat has none). They carry no algorithm and their measurements are
"Manual" (CID 7230): the reader made them, not ICH Viewer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from ichmodel import __version__
from ichmodel.annotations import (
    EllipseRoi,
    PointPx,
    ReaderMeasurement,
    Ruler,
    ellipse_axes_px,
    plane_point_index,
)
from ichmodel.dicom_out.seg import MANUFACTURER, SegmentSpec, new_instance, tracking_uid
from ichmodel.dicom_out.source import SourceSeries, ascii_text

log = logging.getLogger(__name__)

LOCAL_SCHEME = "99ICHV"


def _local(value: str, meaning: str):
    from pydicom.sr.coding import Code

    return Code(value, LOCAL_SCHEME, meaning)


def _units():
    from pydicom.sr.coding import Code

    return {
        "ml": Code("mL", "UCUM", "milliliter"),
        "mm": Code("mm", "UCUM", "millimeter"),
        "%": Code("%", "UCUM", "percent"),
        "voxels": Code("{voxels}", "UCUM", "voxels"),
        "mm2": Code("mm2", "UCUM", "square millimeter"),
        "HU": Code("[hnsf'U]", "UCUM", "Hounsfield unit"),
    }


#: Our location vocabulary (ichmodel.measure.types.SITES) as local codes: a best-effort
#: heuristic from image geometry, not an atlas label, so no SNOMED anatomy is claimed.
_SITE_MEANINGS = {
    "deep": "Deep (basal ganglia/thalamus), estimated from image geometry",
    "lobar": "Lobar, estimated from image geometry",
    "infratentorial": "Infratentorial, estimated from image geometry",
    "none": "No location (nothing measured)",
}


def _classical_algorithm():
    import highdicom as hd

    return hd.sr.AlgorithmIdentification(
        name="ICH Viewer HU threshold measurement", version=__version__
    )


def _model_algorithm(reading):
    import highdicom as hd

    model = reading.model
    return hd.sr.AlgorithmIdentification(
        name=ascii_text(f"model: {model.name}")[:64],
        version=model.sha256[:16],
        parameters=[
            f"provenance={model.provenance.value}",
            f"weights_sha256={model.sha256}",
            ascii_text(model.banner or "site model"),
        ],
    )


def _measurement(name, value: float, unit: str, algorithm=None):
    import highdicom as hd

    return hd.sr.Measurement(
        name=name, value=float(value), unit=_units()[unit], algorithm_id=algorithm
    )


def _planimetric(volume_ml: float, spec: SegmentSpec | None):
    """The thresholded volume and (with a segment) its voxel count."""
    from pydicom.sr.codedict import codes

    algorithm = _classical_algorithm()
    found = [_measurement(codes.SCT.Volume, volume_ml, "ml", algorithm)]
    if spec is not None:
        found.append(_measurement(_local("voxels", "Voxels in the blood HU window"),
                                  spec.n_source_voxels, "voxels", algorithm))
    return found


def _abc2(measurement):
    """ABC/2 with its A, B and C, or [] when there was no hematoma slice to measure."""
    from pydicom.sr.codedict import codes

    abc2 = measurement.abc2
    if abc2.slice_index is None:
        return []
    algorithm = _classical_algorithm()
    return [
        _measurement(codes.SCT.Volume, abc2.volume_ml, "ml", algorithm),
        _measurement(codes.SCT.LongAxis, abc2.a_mm, "mm", algorithm),
        _measurement(codes.SCT.ShortAxis, abc2.b_mm, "mm", algorithm),
        _measurement(codes.DCM.Height, abc2.c_mm, "mm", algorithm),
    ]


def _qualitative(measurement):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    site = measurement.location if measurement.location in _SITE_MEANINGS else "none"
    return [
        # not "Finding Site": that concept already names the anatomy (Brain) of the group
        hd.sr.QualitativeEvaluation(
            _local("location", "Hematoma location (estimated)"),
            _local(f"site-{site}", _SITE_MEANINGS[site]),
        ),
        hd.sr.QualitativeEvaluation(
            _local("ivh", "Intraventricular extension"),
            codes.SCT.Yes if measurement.ivh else codes.SCT.No,
        ),
    ]


def _segment_group(spec: SegmentSpec, seg, source: SourceSeries, measurements, evaluations,
                   method):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    # Built by hand: ReferencedSegment.from_segmentation fails on a one-segment SEG
    # (highdicom 0.28.2), which is what a study without IVH gives.
    reference = hd.sr.ReferencedSegment(
        sop_class_uid=str(seg.SOPClassUID),
        sop_instance_uid=str(seg.SOPInstanceUID),
        segment_number=spec.number,
        source_series=hd.sr.SourceSeriesForSegmentation(source.series_uid),
    )
    ivh = spec.is_ivh
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=tracking_uid(str(seg.SOPInstanceUID), spec.number), identifier=spec.label
        ),
        referenced_segment=reference,
        finding_type=codes.SCT.Hemorrhage if ivh else codes.SCT.Hematoma,
        finding_sites=[hd.sr.FindingSite(codes.SCT.BrainVentricle if ivh else codes.SCT.Brain)],
        method=method,
        algorithm_id=_classical_algorithm(),
        measurements=measurements,
        qualitative_evaluations=evaluations or None,
    )


def _plain_group(identifier: str, measurements, evaluations=None, algorithm=None, method=None):
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=identifier),
        finding_type=codes.SCT.Hematoma,
        method=method,
        algorithm_id=algorithm,
        measurements=measurements or None,
        qualitative_evaluations=evaluations or None,
    )


def _model_group(reading):
    prediction = reading.prediction
    if prediction is None or reading.model is None:
        return None
    algorithm = _model_algorithm(reading)
    values = []
    from pydicom.sr.codedict import codes

    if math.isfinite(prediction.predicted_volume_ml):
        values.append(_measurement(codes.SCT.Volume, prediction.predicted_volume_ml, "ml",
                                   algorithm))
    if math.isfinite(prediction.poor_outcome_probability):
        values.append(_measurement(
            _local("poor-outcome", "Probability of poor outcome, research model"),
            100.0 * prediction.poor_outcome_probability, "%", algorithm,
        ))
    if not values:
        return None
    name = ascii_text(f"model: {reading.model.name}")[:64]
    return _plain_group(name, values, algorithm=algorithm)


def _lps_points(volume, plane, slice_index: int, points_px: Sequence[PointPx]) -> np.ndarray:
    """(n, 3) LPS mm of pixel points of one slice of ``plane``."""
    return np.array([volume.index_to_physical(plane_point_index(plane, slice_index, p))
                     for p in points_px])


def _reader_group(mark: ReaderMeasurement, volume, frame_of_reference_uid: str):
    """One planar ROI group (TID 1410) for one of the reader's rulers or ROIs."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    a = mark.annotation
    manual = codes.SCT.Manual

    def value(name, number: float, unit: str, derivation=None):
        return hd.sr.Measurement(name=name, value=float(number), unit=_units()[unit],
                                 derivation=derivation, method=manual)

    if isinstance(a, Ruler):
        kind = "ruler"
        region = hd.sr.ImageRegion3D(
            graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE,
            graphic_data=_lps_points(volume, a.plane, a.slice_index, (a.start_px, a.end_px)),
            frame_of_reference_uid=frame_of_reference_uid,
        )
        measurements = [value(codes.SCT.Length, a.length_mm, "mm")]
    elif isinstance(a, EllipseRoi):
        kind = "ellipse ROI"
        region = hd.sr.ImageRegion3D(
            graphic_type=hd.sr.GraphicTypeValues3D.ELLIPSE,
            graphic_data=_lps_points(volume, a.plane, a.slice_index,
                                     ellipse_axes_px(a, volume.spacing_mm)),
            frame_of_reference_uid=frame_of_reference_uid,
        )
        hu = codes.DCM.AttenuationCoefficient
        measurements = [
            value(hu, a.mean_hu, "HU", codes.SCT.Mean),
            value(hu, a.sd_hu, "HU", codes.SCT.StandardDeviation),
            value(hu, a.min_hu, "HU", codes.SCT.Minimum),
            value(hu, a.max_hu, "HU", codes.SCT.Maximum),
            # the voxels the statistics are over, as the viewer and the report show it
            value(codes.SCT.Area, a.area_mm2, "mm2"),
        ]
    else:  # pragma: no cover - ReaderMeasurement holds one of the two
        raise TypeError(f"unknown reader annotation {type(a).__name__}")
    uid = generate_uid()
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=uid, identifier=f"Reader measurement #{mark.number} ({kind}, {mark.where})"
        ),
        referenced_region=region,
        measurements=measurements,
    )


def build_sr(
    reading, source: SourceSeries, seg, specs: Sequence[SegmentSpec],
    *, series_uid: str, sop_uid: str, series_number: int = 9902,
    annotations: tuple[ReaderMeasurement, ...] = (),
):
    """The TID 1500 measurement report (a pydicom Dataset) of ``reading``. ``seg``/``specs``
    are the SEG and its segments (None/() when no blood was measured): every volume whose
    segment exists is tied to it. ``annotations`` (the reader's rulers and ROIs, on any plane
    and slice) are one planar group each."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code
    from pydicom.uid import generate_uid

    measurement = reading.measurement
    if measurement is None:
        from ichmodel.dicom_out.source import DicomExportError

        raise DicomExportError("the study was not measured: measure it before making the SR")
    hematoma_spec = next((s for s in specs if not s.is_ivh), None)
    ivh_spec = next((s for s in specs if s.is_ivh), None)
    voxel_sum = codes.DCM.SumOfSegmentedVoxelMethodForVolume
    # ABC/2: an ellipsoid from two orthogonal diameters on one slice and the height
    two_regions = codes.DCM.VolumeEstimatedFromTwoNonCoplanar2DRegions
    planimetric = _planimetric(measurement.hematoma_volume_ml, hematoma_spec)
    abc2 = _abc2(measurement)
    groups = []
    if hematoma_spec is not None and seg is not None:
        groups.append(_segment_group(hematoma_spec, seg, source, planimetric,
                                     _qualitative(measurement), voxel_sum))
        if abc2:
            groups.append(_segment_group(hematoma_spec, seg, source, abc2, [], two_regions))
    else:
        groups.append(_plain_group("hematoma (none measured)", planimetric,
                                   _qualitative(measurement), _classical_algorithm(), voxel_sum))
    if ivh_spec is not None and seg is not None:
        groups.append(_segment_group(ivh_spec, seg, source,
                                     _planimetric(measurement.ivh_volume_ml, ivh_spec), [],
                                     voxel_sum))
    model_group = _model_group(reading)
    if model_group is not None:
        groups.append(model_group)
    from ichmodel.dicom_out.sr_scores import score_groups

    groups += score_groups(reading.scores)
    frame = str(source.first.FrameOfReferenceUID)
    groups += [_reader_group(mark, reading.volume, frame) for mark in annotations]

    observer = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=generate_uid(entropy_srcs=["ichviewer", __version__]),
                name="ICH Viewer", manufacturer_name=MANUFACTURER, model_name="ichmodel",
            ),
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=observer,
        procedure_reported=Code("24725-4", "LN", "CT Head"),
        imaging_measurements=groups,
    )
    evidence = list(source.datasets) + ([seg] if seg is not None else [])
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        **new_instance(series_uid, series_number, sop_uid),
        is_complete=True,
        series_description="ICH measurement report (research use)",
    )
    log.info("SR: %d measurement group(s)", len(groups))
    return sr
