"""The rules a reader sees the result of, each stated once: when the volumes disagree, which
slice is the hematoma's largest, the blood HU range by default, the Grad-CAM heads."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ichmodel.measure.types import Measurement, MeasureParams

#: Two volumes of one bleed "disagree" when they differ by more than this many ml ...
DISAGREE_ABS_ML = 5.0
#: ... and by more than this fraction of the larger one (both must hold: 6 ml apart is noise
#: for an 80 ml bleed, not for a 10 ml one).
DISAGREE_FRACTION = 0.25

#: The blood range of the measurement, HU, unless the reader sets another.
DEFAULT_HU_RANGE: tuple[float, float] = (MeasureParams.hu_min, MeasureParams.hu_max)

#: What a Grad-CAM heatmap can explain: the volume head or the prognosis head.
CAM_HEADS: tuple[str, ...] = ("volume", "prognosis")


def volumes_disagree(volumes_ml: Iterable[float | None]) -> bool:
    """True when the largest and smallest known volume differ by more than
    :data:`DISAGREE_ABS_ML` ml *and* :data:`DISAGREE_FRACTION` of the largest."""
    known = [float(v) for v in volumes_ml if v is not None and np.isfinite(v)]
    if len(known) < 2:
        return False
    lo, hi = min(known), max(known)
    return (hi - lo) > DISAGREE_ABS_ML and (hi - lo) > DISAGREE_FRACTION * hi


def largest_hematoma_slice(measurement: Measurement | None) -> int | None:
    """The slice (z index) a reader is sent to: the one ABC/2 was read on, i.e. the
    largest-area slice of the largest hematoma; for blood that ABC/2 does not describe (only
    IVH, say) the slice with the most hematoma area. None when nothing was segmented."""
    if measurement is None:
        return None
    if measurement.abc2.slice_index is not None:
        return int(measurement.abc2.slice_index)
    mask = measurement.hematoma_mask
    if not mask.any():
        return None
    return int(np.argmax(mask.reshape(mask.shape[0], -1).sum(axis=1)))
