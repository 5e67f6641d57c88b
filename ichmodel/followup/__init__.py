"""Follow-up comparison: rigid registration of a follow-up to its baseline, both measurements,
the change and the expansion flags (:func:`compare`), and phantom pairs with known truth."""

from ichmodel.followup.compare import (
    Comparison,
    DifferentPatientsError,
    Expansion,
    check_same_patient,
    compare,
    expansion_flags,
    near_thresholds,
    scan_time,
)
from ichmodel.followup.registration import Registration, register_rigid, resample_to_baseline

__all__ = [
    "Comparison",
    "DifferentPatientsError",
    "Expansion",
    "Registration",
    "check_same_patient",
    "compare",
    "expansion_flags",
    "near_thresholds",
    "register_rigid",
    "resample_to_baseline",
    "scan_time",
]
