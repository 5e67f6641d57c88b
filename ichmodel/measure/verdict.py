"""What a measurement says about its hematomas, in words: the status line and the notices that
depend on more than one hematoma or on ABC/2. One place for the automatic measurement
(``MeasureContext.measure``) and the reader's edited one (``ichmodel.edits``)."""

from __future__ import annotations

from collections.abc import Sequence

from ichmodel import notices
from ichmodel.measure.types import ABC2, Hematoma
from ichmodel.notices import Notice, Source

#: ABC/2 further than this fraction from the planimetric volume of the same hematoma is noted.
ABC2_DISAGREEMENT = 0.3
#: The codes :func:`hematoma_notices` decides (an edit re-decides them).
HEMATOMA_NOTICE_CODES = ("measure.several_hematomas", "measure.abc2_differs_from_planimetric")


def hematoma_notices(hematomas: Sequence[Hematoma], abc2: ABC2) -> list[Notice]:
    """Notices for several hematomas (ABC/2 and location describe the largest, listed first)
    and for an ABC/2 far from the planimetric volume of the hematoma it describes."""
    found = []
    if len(hematomas) > 1:
        others_ml = sum(h.volume_ml for h in hematomas[1:])
        found.append(notices.info(
            "measure.several_hematomas",
            f"{len(hematomas)} separate hematomas, each measured on its own; ABC/2 and location "
            f"describe the largest (the others hold {others_ml:.1f} ml)", Source.MEASURE))
    main_ml = hematomas[0].volume_ml if hematomas else 0.0
    if abc2.volume_ml > 0 and main_ml > 0:
        ratio = abc2.volume_ml / main_ml
        if abs(ratio - 1.0) > ABC2_DISAGREEMENT:
            found.append(notices.info(
                "measure.abc2_differs_from_planimetric",
                f"ABC/2 ({abc2.volume_ml:.1f} ml) differs from the planimetric volume of the "
                f"same hematoma ({main_ml:.1f} ml) by {100 * (ratio - 1):+.0f} %: ABC/2 "
                "approximates the bleed from three diameters", Source.MEASURE))
    return found


def measured_status(
    hematomas: Sequence[Hematoma], ivh_ml: float, hu_range: tuple[float, float]
) -> str:
    """The one-line status of a measurement that found blood (or not) in ``hu_range``."""
    lo, hi = hu_range
    if hematomas:
        total_ml = sum(h.volume_ml for h in hematomas)
        return f"hematoma measured: {total_ml:.1f} ml in {lo:g}-{hi:g} HU"
    if ivh_ml > 0:
        return f"intraventricular blood only ({ivh_ml:.1f} ml)"
    return f"no hematoma found above {lo:g} HU"
