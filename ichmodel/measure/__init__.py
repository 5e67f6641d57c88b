"""Classical hematoma measurement on head NCCT: segmentation, planimetric volume, ABC/2,
location and intraventricular extension. Works on real CT without any trained weights.

Public API::

    from ichmodel.measure import measure, prepare, MeasureParams, Measurement

    m = measure(volume)                       # one call
    ctx = prepare(volume)                     # or: cache the HU-range independent work ...
    m = ctx.measure(MeasureParams(hu_min=45)) # ... and re-measure fast (live HU slider)
"""

from ichmodel.measure.abc2 import kothari_weights, measure_abc2
from ichmodel.measure.context import EXTRA_AXIAL_CODE, MeasureContext, measure, prepare
from ichmodel.measure.types import (
    ABC2,
    LOCATION_CAVEAT,
    SITES,
    Hematoma,
    Measurement,
    MeasureParams,
)

__all__ = [
    "ABC2",
    "EXTRA_AXIAL_CODE",
    "Hematoma",
    "LOCATION_CAVEAT",
    "SITES",
    "MeasureContext",
    "MeasureParams",
    "Measurement",
    "kothari_weights",
    "measure",
    "measure_abc2",
    "prepare",
]
