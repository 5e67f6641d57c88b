"""The typed result of the midline-shift measurement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FLAG_MM = 5.0
#: A shift this close to :data:`FLAG_MM` (mm) cannot decide the flag: the issue's error goal
#: for the measurement is 1 mm (on phantoms it is within 1.1 mm of the septum's truth).
NEAR_FLAG_MM = 1.0


@dataclass(frozen=True)
class MidlineShift:
    """The midline shift of one volume, or why it could not be measured.

    Points are (z, y, x) voxel indices on :attr:`slice_index` (fractional): the falx's
    ``anterior_zyx`` and ``posterior_zyx`` attachments (draw the ideal midline between them),
    the ``septum_zyx`` point and its perpendicular ``foot_zyx`` on the ideal midline (draw the
    shift between them). ``shift_mm`` is unsigned; ``direction`` says where the septum moved
    ("to the patient's left"/"right"); ``signed_shift_mm`` is positive towards the left."""

    measured: bool
    reason: str = ""
    signed_shift_mm: float | None = None
    slice_index: int | None = None
    anterior_zyx: tuple[float, float, float] | None = None
    posterior_zyx: tuple[float, float, float] | None = None
    septum_zyx: tuple[float, float, float] | None = None
    foot_zyx: tuple[float, float, float] | None = None
    #: Length of frontal horn along which the septum was measured, mm.
    septum_length_mm: float = 0.0

    @property
    def shift_mm(self) -> float | None:
        return None if self.signed_shift_mm is None else abs(self.signed_shift_mm)

    @property
    def flagged(self) -> bool:
        return self.shift_mm is not None and self.shift_mm > FLAG_MM

    @property
    def near_flag(self) -> bool:
        """Within :data:`NEAR_FLAG_MM` of the 5 mm threshold, on either side."""
        return self.shift_mm is not None and abs(self.shift_mm - FLAG_MM) <= NEAR_FLAG_MM

    @property
    def near_flag_note(self) -> str:
        """What the reader is asked when :attr:`near_flag` holds (summary and report), else ""."""
        if not self.near_flag:
            return ""
        return f"within {NEAR_FLAG_MM:g} mm of the {FLAG_MM:g} mm threshold, so check the drawing"

    @property
    def direction(self) -> str:
        if self.signed_shift_mm is None or abs(self.signed_shift_mm) < 0.05:
            return ""
        return "to the patient's left" if self.signed_shift_mm > 0 else "to the patient's right"

    @property
    def summary(self) -> str:
        if not self.measured:
            return f"midline shift could not be measured: {self.reason}"
        text = f"midline shift {self.shift_mm:.1f} mm"
        if self.direction:
            text += f" {self.direction}"
        text += f" (> {FLAG_MM:g} mm)" if self.flagged else ""
        return text + (f"; {self.near_flag_note}" if self.near_flag else "")

    def to_dict(self) -> dict[str, Any]:
        def r(p):
            return None if p is None else [round(float(c), 2) for c in p]

        return {
            "measured": self.measured,
            "reason": self.reason or None,
            "shift_mm": None if self.shift_mm is None else round(self.shift_mm, 2),
            "signed_shift_mm": None if self.signed_shift_mm is None
            else round(self.signed_shift_mm, 2),
            "direction": self.direction or None,
            "flagged": self.flagged,
            "flag_mm": FLAG_MM,
            "near_flag": self.near_flag,
            "slice_index": self.slice_index,
            "anterior_zyx": r(self.anterior_zyx),
            "posterior_zyx": r(self.posterior_zyx),
            "septum_zyx": r(self.septum_zyx),
            "foot_zyx": r(self.foot_zyx),
            "septum_length_mm": round(self.septum_length_mm, 1),
            "method": "septum pellucidum vs the cavity's symmetry axis (falx attachments)",
        }


def not_measured(reason: str, slice_index: int | None = None) -> MidlineShift:
    return MidlineShift(measured=False, reason=reason, slice_index=slice_index)


