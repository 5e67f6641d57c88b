"""What the scores are computed from: imaging items (the measurement), age (DICOM or the
reader) and the reader's clinical entries, each typed and range-checked.

An item that is ``None`` is *not known*: a score that needs it is incomplete and says which
items are missing; nothing is ever guessed or defaulted.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ichmodel.errors import InputError

if TYPE_CHECKING:
    from ichmodel.measure.types import Measurement
    from ichmodel.volume import SeriesMeta

#: Ranges a reader may type in (inclusive). GCS is 3-15 by definition; the NIHSS sums to
#: 0-42; ages outside 0-130 years are typing errors.
GCS_RANGE = (3, 15)
NIHSS_RANGE = (0, 42)
AGE_RANGE_YEARS = (0, 130)

#: Locations in the measurement's vocabulary (:data:`ichmodel.measure.types.SITES`).
LOCATIONS = ("none", "deep", "lobar", "infratentorial")


class ScoreInputError(InputError):
    """A clinical entry is out of its range or of the wrong kind."""


def _check_int(name: str, value: int | None, lo: int, hi: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScoreInputError(f"{name} must be a whole number {lo}-{hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ScoreInputError(f"{name} must be {lo}-{hi}, got {value}: correct the entry")


@dataclass(frozen=True)
class ClinicalInputs:
    """The reader's entries. ``None`` = not entered (the score that needs it is incomplete).

    * ``gcs``: Glasgow Coma Scale at presentation, 3-15.
    * ``nihss``: NIH Stroke Scale at admission, 0-42.
    * ``age_years``: typed age; overrides the DICOM age (anonymized studies have none).
    * ``anticoagulated``: oral anticoagulation (VKA or direct oral anticoagulant) at onset.
    * ``cognitive_impairment``: pre-ICH cognitive impairment (FUNC's item).
    """

    gcs: int | None = None
    nihss: int | None = None
    age_years: int | None = None
    anticoagulated: bool | None = None
    cognitive_impairment: bool | None = None

    def __post_init__(self) -> None:
        _check_int("GCS", self.gcs, *GCS_RANGE)
        _check_int("NIHSS", self.nihss, *NIHSS_RANGE)
        _check_int("age", self.age_years, *AGE_RANGE_YEARS)
        for name in ("anticoagulated", "cognitive_impairment"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ScoreInputError(f"{name} must be yes, no or empty, got {value!r}")

    def to_dict(self) -> dict[str, int | bool | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClinicalInputs:
        """From :meth:`to_dict` (a saved study); unknown keys are an error, missing ones None."""
        known = set(cls.__dataclass_fields__)
        extra = set(data) - known
        if extra:
            raise ScoreInputError(
                f"unknown clinical entries {sorted(extra)}; expected {sorted(known)}"
            )
        return cls(**{k: data.get(k) for k in known})

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in asdict(self).values())


@dataclass(frozen=True)
class ImagingInputs:
    """The imaging items, from the measurement. Volumes in ml; ``abc2_ml`` None when no ABC/2
    could be measured. ``location`` is one of :data:`LOCATIONS` (best effort from geometry)."""

    planimetric_ml: float
    abc2_ml: float | None
    location: str
    ivh: bool

    def __post_init__(self) -> None:
        if self.location not in LOCATIONS:
            raise ScoreInputError(f"location must be one of {LOCATIONS}, got {self.location!r}")
        if self.planimetric_ml < 0 or (self.abc2_ml is not None and self.abc2_ml < 0):
            raise ScoreInputError("hematoma volumes cannot be negative")

    @classmethod
    def from_measurement(cls, measurement: Measurement) -> ImagingInputs:
        abc2 = measurement.abc2
        return cls(
            planimetric_ml=float(measurement.hematoma_volume_ml),
            abc2_ml=None if abc2.slice_index is None else float(abc2.volume_ml),
            location=measurement.location,
            ivh=bool(measurement.ivh),
        )

    def volume_ml(self, method: str) -> float | None:
        """The volume by ``method`` ("abc2" or "planimetric"), ml."""
        if method == "abc2":
            return self.abc2_ml
        if method == "planimetric":
            return self.planimetric_ml
        raise ValueError(f"volume method is 'abc2' or 'planimetric', not {method!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Age:
    """An age in whole years and where it came from ("reader", "DICOM PatientAge",
    "DICOM birth date + study date"), or ``years`` None with the reason."""

    years: int | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"years": self.years, "source": self.source}


_AGE_STRING = re.compile(r"^(\d{3})([DWMY])$")
_UNIT_YEARS = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}


def _parse_da(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text.strip(), "%Y%m%d").date()
    except ValueError:
        return None


def age_from_meta(meta: SeriesMeta) -> Age:
    """The patient's age from DICOM: PatientAge (AS, "065Y"; PS3.5 6.2), else whole years
    between PatientBirthDate and StudyDate; ``years`` None with the reason otherwise."""
    text = meta.patient_age.strip().upper()
    if text:
        m = _AGE_STRING.match(text)
        if m:
            return Age(int(int(m.group(1)) * _UNIT_YEARS[m.group(2)]), "DICOM PatientAge")
    birth, study = _parse_da(meta.patient_birth_date), _parse_da(meta.study_date)
    if birth is not None and study is not None and birth <= study:
        years = study.year - birth.year - ((study.month, study.day) < (birth.month, birth.day))
        return Age(years, "DICOM birth date + study date")
    if text:
        return Age(None, f"the DICOM PatientAge {text!r} is not a DICOM age string: type the age")
    return Age(None, "no age in the DICOM (anonymized?): type the age")


def resolve_age(clinical: ClinicalInputs, meta: SeriesMeta | None) -> Age:
    """The reader's typed age wins over the DICOM's (the reader may correct it)."""
    if clinical.age_years is not None:
        return Age(clinical.age_years, "reader")
    if meta is None:
        return Age(None, "no DICOM header: type the age")
    return age_from_meta(meta)
