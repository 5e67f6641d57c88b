"""What a measurement says about its hematomas, in words: the status line and the notices that
depend on more than one hematoma or on ABC/2, and the :class:`Measurement` they go into. One
place for the automatic measurement (``MeasureContext.measure``) and the reader's edited one
(``ichmodel.edits``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ichmodel import notices
from ichmodel.measure.types import (
    ABC2,
    LOCATION_CAVEAT,
    EditSummary,
    Hematoma,
    Measurement,
    MeasureParams,
)
from ichmodel.notices import Notice, Source

if TYPE_CHECKING:
    import numpy as np

#: ABC/2 further than this fraction from the planimetric volume of the same hematoma is noted.
ABC2_DISAGREEMENT = 0.3
#: The codes :func:`hematoma_notices` decides (an edit re-decides them).
HEMATOMA_NOTICE_CODES = ("measure.several_hematomas", "measure.abc2_differs_from_planimetric")
#: The notice of a measurement the reader edited (:func:`hematoma_measurement` with ``edited``).
EDITED_CODE = "measure.segmentation_edited"


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


def hematoma_measurement(
    hematomas: Sequence[Hematoma],
    *,
    abc2: ABC2,
    hematoma_mask: np.ndarray,
    hematoma_labels: np.ndarray | None,
    ivh_mask: np.ndarray,
    ivh_volume_ml: float,
    ivh_threshold_volume_ml: float,
    intracranial_volume_ml: float,
    params: MeasureParams,
    found: Sequence[Notice],
    edited: EditSummary | None = None,
    excluded_mask: np.ndarray | None = None,
) -> Measurement:
    """The measurement of ``hematomas`` (largest first; ``abc2`` is the largest's, ``ABC2()``
    when there is none) and ``ivh_volume_ml`` of intraventricular blood
    (``ivh_threshold_volume_ml`` its voxel count): volumes summed over the hematomas, location
    from the largest, ``found`` followed by :func:`hematoma_notices`, and, when ``edited``, a
    status and a notice (:data:`EDITED_CODE`) that say so."""
    status = measured_status(hematomas, ivh_volume_ml, (params.hu_min, params.hu_max))
    said = [*found, *hematoma_notices(hematomas, abc2)]
    if edited is not None:
        status += ", edited by the reader"
        said.append(notices.info(EDITED_CODE, edited.sentence(), Source.MEASURE))
    site, words, number = "none", "no intraparenchymal hematoma", None
    if hematomas:
        site, words, number = hematomas[0].location, hematomas[0].location_description, 1
    description = words if site in ("none", "unknown") else f"{words} ({LOCATION_CAVEAT})"
    return Measurement(
        hematoma_mask=hematoma_mask,
        hematoma_volume_ml=float(sum(h.volume_ml for h in hematomas)),
        abc2=abc2,
        location=site,
        location_description=description,
        ivh=ivh_volume_ml > 0.0,
        ivh_volume_ml=ivh_volume_ml,
        ivh_mask=ivh_mask,
        intracranial_volume_ml=intracranial_volume_ml,
        n_components=len(hematomas),
        status=status,
        notices=tuple(said),
        params=params,
        hematomas=tuple(hematomas),
        hematoma_labels=hematoma_labels,
        threshold_volume_ml=float(sum(h.threshold_volume_ml for h in hematomas)),
        abc2_hematoma_number=number,
        ivh_threshold_volume_ml=ivh_threshold_volume_ml,
        edited=edited,
        excluded_mask=excluded_mask,
    )
