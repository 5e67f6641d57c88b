"""The clinical scores in the SR (TID 1501 groups inside the TID 1500 report).

One group holds the inputs the scores were computed from: the reader's entries (GCS as LOINC
9269-2, NIHSS as LOINC 72089-6, anticoagulation and pre-ICH cognitive impairment), the age and
where it came from (typed by the reader or read from the DICOM), and the imaging items of the
measurement (planimetric and ABC/2 volumes, location, IVH). Then one group per score: its
total (only when complete), the points of every known item, the volume that fed it with that
volume's method, and, as the group's algorithm parameters (free text), every item with its
input and source, the outcome row of the paper's table, what is missing, and the straddle
sentence when planimetric and ABC/2 fall on either side of a threshold.

An item the reader left empty has no coded value: it is listed as "not entered" in the
parameters, so the SR never claims a value that was not given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ichmodel import __version__
from ichmodel.dicom_out.source import ascii_text
from ichmodel.dicom_out.sr import _SITE_MEANINGS, _local, _units

if TYPE_CHECKING:
    from ichmodel.scores import ScoreResult, ScoreSheet

#: Our local codes for each score (meanings are LO: at most 64 characters).
SCORE_CODES = {
    "ICH score": ("ich-score", "ICH score (Hemphill 2001)"),
    "FUNC score": ("func-score", "FUNC score (Rost 2008)"),
    "max-ICH score": ("max-ich-score", "max-ICH score (Sembill 2017)"),
}


def _code(value: str, scheme: str, meaning: str):
    from pydicom.sr.coding import Code

    return Code(value, scheme, meaning)


def _score_unit():
    return _code("{score}", "UCUM", "score")


def _number(name, value: float, unit):
    import highdicom as hd

    return hd.sr.Measurement(name=name, value=float(value), unit=unit)


def _yes_no(name, value: bool):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.sr.QualitativeEvaluation(name, codes.SCT.Yes if value else codes.SCT.No)


def _algorithm(name: str, parameters: list[str]):
    import highdicom as hd

    return hd.sr.AlgorithmIdentification(
        name=ascii_text(name)[:64], version=__version__,
        parameters=[ascii_text(p) for p in parameters] or None,
    )


def _group(identifier: str, measurements, evaluations, algorithm, method=None):
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(),
                                                     identifier=ascii_text(identifier)[:64]),
        finding_type=codes.SCT.Hematoma,
        method=method,
        algorithm_id=algorithm,
        measurements=measurements or None,
        qualitative_evaluations=evaluations or None,
    )


def _volume_method(method: str):
    from pydicom.sr.codedict import codes

    if method == "abc2":
        return codes.DCM.VolumeEstimatedFromTwoNonCoplanar2DRegions
    return codes.DCM.SumOfSegmentedVoxelMethodForVolume


def inputs_group(sheet: ScoreSheet):
    """The reader's entries, the age and the imaging items the scores were computed from."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    clinical, imaging, age = sheet.clinical, sheet.imaging, sheet.age
    measurements, evaluations = [], []
    params = []
    if clinical.gcs is not None:
        measurements.append(_number(_code("9269-2", "LN", "Glasgow coma score total"),
                                    clinical.gcs, _score_unit()))
    if clinical.nihss is not None:
        measurements.append(_number(_code("72089-6", "LN", "Total score [NIHSS]"),
                                    clinical.nihss, _score_unit()))
    if age.years is not None:
        measurements.append(_number(codes.DCM.SubjectAge, age.years,
                                    _code("a", "UCUM", "year")))
    if clinical.anticoagulated is not None:
        evaluations.append(_yes_no(_local("oac", "Oral anticoagulation at onset"),
                                   clinical.anticoagulated))
    if clinical.cognitive_impairment is not None:
        evaluations.append(_yes_no(_local("pre-ich-ci", "Pre-ICH cognitive impairment"),
                                   clinical.cognitive_impairment))
    for label, value in (("GCS", clinical.gcs), ("NIHSS", clinical.nihss),
                         ("oral anticoagulation", clinical.anticoagulated),
                         ("pre-ICH cognitive impairment", clinical.cognitive_impairment)):
        shown = "not entered" if value is None else (
            ("yes" if value else "no") if isinstance(value, bool) else str(value))
        params.append(f"{label}: {shown} (reader)")
    params.append(f"age: {'unknown' if age.years is None else age.years} ({age.source})")
    if imaging is not None:
        measurements.append(hd.sr.Measurement(
            name=codes.SCT.Volume, value=float(imaging.planimetric_ml), unit=_units()["ml"],
            method=_volume_method("planimetric")))
        if imaging.abc2_ml is not None:
            measurements.append(hd.sr.Measurement(
                name=codes.SCT.Volume, value=float(imaging.abc2_ml), unit=_units()["ml"],
                method=_volume_method("abc2")))
        site = imaging.location if imaging.location in _SITE_MEANINGS else "none"
        evaluations.append(hd.sr.QualitativeEvaluation(
            _local("location", "Hematoma location (estimated)"),
            _local(f"site-{site}", _SITE_MEANINGS[site])))
        evaluations.append(_yes_no(_local("ivh", "Intraventricular extension"), imaging.ivh))
        params.append(f"imaging: planimetric {imaging.planimetric_ml:.2f} ml, ABC/2 "
                      f"{'none' if imaging.abc2_ml is None else f'{imaging.abc2_ml:.2f} ml'}, "
                      f"location {imaging.location}, IVH {'yes' if imaging.ivh else 'no'} "
                      "(measurement; location is best effort)")
    else:
        params.append("imaging: not measured")
    return _group("clinical score inputs", measurements, evaluations,
                  _algorithm("ICH Viewer clinical score inputs", params))


def score_group(score: ScoreResult):
    """One score: total (when complete), item points, the volume that fed it, and its text."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    key, meaning = SCORE_CODES[score.name]
    measurements = []
    if score.total is not None:
        measurements.append(_number(_local(f"{key}-total", f"{meaning}, total"), score.total,
                                    _score_unit()))
    for item in score.items:
        if item.points is not None:
            measurements.append(_number(
                _local(f"{key}-{item.key}", ascii_text(f"{score.name} item: {item.label}")[:64]),
                item.points, _score_unit()))
    if score.volume_ml is not None:
        measurements.append(hd.sr.Measurement(
            name=codes.SCT.Volume, value=float(score.volume_ml), unit=_units()["ml"],
            method=_volume_method(score.volume_method)))
    params = [f"reference: {score.reference}",
              f"volume: {score.volume_method} ({score.volume_method_reason})"]
    params += [f"item {i.label}: {i.value_text} ({i.source}) -> "
               f"{'unknown' if i.points is None else i.points} points" for i in score.items]
    if score.complete:
        params.append(f"total {score.total} / {score.max_points}; {score.outcome_label}: "
                      f"{score.outcome_text or 'none'}")
    else:
        params.append(f"incomplete: missing {', '.join(score.missing)}")
    if score.straddle is not None:
        params.append(f"straddle: {score.straddle.reason}")
    return _group(score.name, measurements, [],
                  _algorithm(f"ICH Viewer {score.name}", params),
                  method=_local(key, meaning))


def score_groups(sheet: ScoreSheet | None) -> list:
    """The inputs group and one group per score ([] without a score sheet)."""
    if sheet is None:
        return []
    return [inputs_group(sheet)] + [score_group(s) for s in sheet.scores]
