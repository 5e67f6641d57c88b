"""Baseline vs follow-up: both measurements, the change, the expansion flags, the interval.

Hematoma expansion (the definitions most trials use):

* **standard**: growth of the intraparenchymal hematoma >= 6 ml or >= 33 % of the baseline
  volume (e.g. Dowlatshahi et al., Stroke 2011);
* **revised**: standard, or new intraventricular hemorrhage, or IVH growth >= 1 ml
  (Yogendrakumar et al., "revised hematoma expansion", 2018-2020).

Volumes are the planimetric ones, each measured on its own scan: a rigid move keeps volume, so
the registration does not enter the change; it places the scans side by side.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ichmodel import notices as notice
from ichmodel.errors import InputError
from ichmodel.followup.registration import Registration, register_rigid
from ichmodel.notices import Notice, Source

if TYPE_CHECKING:
    from ichmodel.measure.types import Measurement
    from ichmodel.reading.types import StudyReading
    from ichmodel.volume import SeriesMeta


STANDARD_ABS_ML = 6.0
STANDARD_REL = 0.33
IVH_GROWTH_ML = 1.0
#: A change this close (ml) to a threshold is within what the measurement gets wrong on a
#: change (bench/followup_eval.py: hematoma change errors up to 1.6 ml on phantom pairs,
#: 0.5 ml on real-anatomy pairs; IVH volumes within 0.15 ml on real-anatomy pairs): the flag
#: could go either way and the reader is told so.
NEAR_HEMATOMA_ML = 1.0
NEAR_IVH_ML = 0.2
NEAR_THRESHOLD_CODE = "compare.near_threshold"
_SOURCE = Source.READING


class DifferentPatientsError(InputError):
    """The two studies belong to different patients (by PatientID / birth date)."""


@dataclass(frozen=True)
class Expansion:
    """The expansion flags and the reasons they are set (sentences; empty when not)."""

    standard: bool
    revised: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"standard": self.standard, "revised": self.revised, "reasons": list(self.reasons)}


def expansion_flags(
    baseline_ml: float, followup_ml: float, baseline_ivh_ml: float, followup_ivh_ml: float
) -> Expansion:
    """Standard (>= 6 ml or >= 33 %) and revised (also new IVH or IVH growth >= 1 ml)."""
    delta = followup_ml - baseline_ml
    reasons = []
    if delta >= STANDARD_ABS_ML:
        reasons.append(f"hematoma grew by {delta:.1f} ml (>= {STANDARD_ABS_ML:g} ml)")
    if baseline_ml > 0 and delta / baseline_ml >= STANDARD_REL:
        reasons.append(f"hematoma grew by {100 * delta / baseline_ml:.0f} % (>= 33 %)")
    standard = bool(reasons)
    if baseline_ivh_ml <= 0 < followup_ivh_ml:
        reasons.append(f"new intraventricular blood ({followup_ivh_ml:.1f} ml)")
    elif followup_ivh_ml - baseline_ivh_ml >= IVH_GROWTH_ML:
        reasons.append(
            f"intraventricular blood grew by {followup_ivh_ml - baseline_ivh_ml:.1f} ml (>= 1 ml)"
        )
    return Expansion(standard=standard, revised=bool(reasons), reasons=tuple(reasons))


def change_pct_text(pct: float) -> str:
    """A relative change as shown: whole percent, one decimal within 1 point of the 33 %
    threshold (a rounded "+33 %" beside "standard: no" reads as a contradiction)."""
    return f"{pct:+.1f} %" if abs(pct - 100 * STANDARD_REL) < 1.0 else f"{pct:+.0f} %"


def near_thresholds(
    baseline_ml: float, followup_ml: float, baseline_ivh_ml: float, followup_ivh_ml: float
) -> tuple[str, ...]:
    """The expansion thresholds the measured change lies close to (``NEAR_HEMATOMA_ML``,
    ``NEAR_IVH_ML``), as clauses: there a flag is the measurement's call, not a clear one."""
    delta = followup_ml - baseline_ml
    out = []
    if abs(delta - STANDARD_ABS_ML) < NEAR_HEMATOMA_ML:
        out.append(f"the hematoma's change ({delta:+.1f} ml) is within "
                   f"{NEAR_HEMATOMA_ML:g} ml of {STANDARD_ABS_ML:g} ml")
    relative_ml = STANDARD_REL * baseline_ml
    if baseline_ml > 0 and abs(delta - relative_ml) < NEAR_HEMATOMA_ML:
        out.append(f"its change ({change_pct_text(100 * delta / baseline_ml)}) is within "
                   f"{NEAR_HEMATOMA_ML:g} ml of 33 % ({relative_ml:.1f} ml of this baseline)")
    ivh_delta = followup_ivh_ml - baseline_ivh_ml
    if baseline_ivh_ml > 0 and abs(ivh_delta - IVH_GROWTH_ML) < NEAR_IVH_ML:
        out.append(f"the intraventricular blood's change ({ivh_delta:+.2f} ml) is within "
                   f"{NEAR_IVH_ML:g} ml of {IVH_GROWTH_ML:g} ml")
    return tuple(out)


def near_threshold_notices(
    baseline_ml: float, followup_ml: float, baseline_ivh_ml: float, followup_ivh_ml: float
) -> list[Notice]:
    """The ``NEAR_THRESHOLD_CODE`` warning for :func:`near_thresholds`' clauses (none when
    the change is clear of every threshold)."""
    near = near_thresholds(baseline_ml, followup_ml, baseline_ivh_ml, followup_ivh_ml)
    if not near:
        return []
    return [notice.warning(
        NEAR_THRESHOLD_CODE,
        "close to an expansion threshold: " + "; ".join(near) + ". A measurement error of "
        "this size would change the flag: compare the two scans by eye", _SOURCE)]


def scan_time(meta: SeriesMeta) -> dt.datetime | None:
    """StudyDate + StudyTime (DA/TM, PS3.5 6.2) as a naive datetime, or None."""
    date = meta.study_date.strip()
    if not date:
        return None
    time = (meta.study_time.strip().split(".")[0] + "000000")[:6]
    try:
        return dt.datetime.strptime(date + time, "%Y%m%d%H%M%S")
    except ValueError:
        return None


def check_same_patient(baseline: SeriesMeta, followup: SeriesMeta, *, override: bool) -> Notice:
    """Refuse two different patients (DifferentPatientsError) unless ``override``; the notice
    says what was checked."""
    pairs = [(k, getattr(baseline, k).strip(), getattr(followup, k).strip())
             for k in ("patient_id", "patient_birth_date", "patient_sex")]
    differ = [k for k, a, b in pairs if a and b and a != b]
    known = [k for k, a, b in pairs if a and b]
    if differ:
        what = ", ".join(k.replace("patient_", "") for k in differ)
        if not override:
            raise DifferentPatientsError(
                f"the two studies belong to different patients (their {what} differ): open "
                "a baseline and a follow-up of the same patient, or override for anonymized "
                "data you know to be one patient"
            )
        return notice.warning("compare.patients_overridden",
                              f"the studies' {what} differ; compared anyway (reader override)",
                              _SOURCE)
    if "patient_id" not in known:
        return notice.warning("compare.patient_unchecked",
                              "the patient could not be checked (no PatientID in one study: "
                              "anonymized?); make sure both scans are the same patient",
                              _SOURCE)
    return notice.info("compare.same_patient", "same PatientID in both studies", _SOURCE)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Baseline and follow-up readings compared. Volumes ml, interval hours."""

    baseline: StudyReading
    followup: StudyReading
    registration: Registration
    baseline_time: dt.datetime | None
    followup_time: dt.datetime | None
    expansion: Expansion
    notices: tuple[Notice, ...]

    @property
    def _measurements(self) -> tuple[Measurement, Measurement]:
        a, b = self.baseline.measurement, self.followup.measurement
        assert a is not None and b is not None  # compare() measures both
        return a, b

    @property
    def interval_h(self) -> float | None:
        if self.baseline_time is None or self.followup_time is None:
            return None
        return (self.followup_time - self.baseline_time).total_seconds() / 3600.0

    @property
    def delta_ml(self) -> float:
        a, b = self._measurements
        return b.hematoma_volume_ml - a.hematoma_volume_ml

    @property
    def delta_pct(self) -> float | None:
        a, _ = self._measurements
        return None if a.hematoma_volume_ml <= 0 else 100.0 * self.delta_ml / a.hematoma_volume_ml

    @property
    def delta_ivh_ml(self) -> float:
        a, b = self._measurements
        return b.ivh_volume_ml - a.ivh_volume_ml

    def to_dict(self) -> dict[str, Any]:
        a, b = self._measurements

        def side(m: Measurement, t: dt.datetime | None, r: StudyReading) -> dict[str, Any]:
            out = m.to_dict()
            out["scan_time"] = None if t is None else t.isoformat(timespec="minutes")
            out["series_uid"] = r.volume.meta.series_uid
            return out

        pct = self.delta_pct
        interval = self.interval_h
        return {
            "baseline": side(a, self.baseline_time, self.baseline),
            "followup": side(b, self.followup_time, self.followup),
            "interval_h": None if interval is None else round(interval, 2),
            "delta_ml": round(self.delta_ml, 2),
            "delta_pct": None if pct is None else round(pct, 1),
            "delta_ivh_ml": round(self.delta_ivh_ml, 2),
            "expansion": self.expansion.to_dict(),
            "registration": self.registration.to_dict(),
            "notices": [n.to_dict() for n in self.notices],
            "warnings": [n.text for n in self.notices if n.severity != "info"],
        }


def compare(
    baseline: StudyReading, followup: StudyReading, *, allow_different_patients: bool = False
) -> Comparison:
    """Compare two measured readings of one patient: register, diff, flag."""
    if baseline.measurement is None or followup.measurement is None:
        raise InputError("both studies must be measured before they can be compared")
    if baseline.volume.meta.series_uid and (
        baseline.volume.meta.series_uid == followup.volume.meta.series_uid
    ):
        raise InputError("the baseline and the follow-up are the same series: open two scans")
    found = [check_same_patient(baseline.volume.meta, followup.volume.meta,
                                override=allow_different_patients)]
    t0, t1 = scan_time(baseline.volume.meta), scan_time(followup.volume.meta)
    if t0 is None or t1 is None:
        found.append(notice.warning("compare.no_time",
                                    "a study has no StudyDate/StudyTime: interval unknown",
                                    _SOURCE))
    elif t1 < t0:
        found.append(notice.warning("compare.order",
                                    "the follow-up was scanned before the baseline: swap them?",
                                    _SOURCE))
    elif t1 == t0:
        found.append(notice.warning("compare.same_time",
                                    "both studies carry the same scan time: interval 0 h",
                                    _SOURCE))
    registration = register_rigid(baseline.volume, followup.volume)
    dice = registration.intracranial_dice
    if dice < 0.85:
        found.append(notice.warning(
            "compare.registration_poor",
            f"the registration may be poor (intracranial overlap {dice:.2f} < 0.85): check "
            "the linked views before trusting positions", _SOURCE))
    a, b = baseline.measurement, followup.measurement
    volumes = (a.hematoma_volume_ml, b.hematoma_volume_ml, a.ivh_volume_ml, b.ivh_volume_ml)
    flags = expansion_flags(*volumes)
    found += near_threshold_notices(*volumes)
    found += [n for n in (*baseline.notices, *followup.notices)
              if n.severity != "info" and n.code != "reading.no_prediction"]
    return Comparison(baseline, followup, registration, t0, t1, flags, notice.unique(found))
