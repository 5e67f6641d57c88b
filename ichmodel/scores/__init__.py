"""Validated clinical scores of intracerebral hemorrhage: ICH score (Hemphill 2001), FUNC
(Rost 2008) and max-ICH (Sembill 2017). Pure Python; the items and outcome tables and where
each comes from are in :mod:`ichmodel.scores.tables`.

::

    from ichmodel.scores import ClinicalInputs, score_sheet
    sheet = score_sheet(reading.measurement, reading.volume.meta, ClinicalInputs(gcs=7))
    sheet.by_name("ICH score").total   # None until every item is known
"""

from ichmodel.scores.compute import ScoreSheet, compute_score, score_sheet
from ichmodel.scores.inputs import (
    Age,
    ClinicalInputs,
    ImagingInputs,
    ScoreInputError,
    age_from_meta,
    resolve_age,
)
from ichmodel.scores.tables import FUNC_SCORE, ICH_SCORE, MAX_ICH_SCORE, SPECS, ScoreSpec
from ichmodel.scores.types import ScoreItem, ScoreResult, Straddle

__all__ = [
    "Age",
    "ClinicalInputs",
    "FUNC_SCORE",
    "ICH_SCORE",
    "ImagingInputs",
    "MAX_ICH_SCORE",
    "SPECS",
    "ScoreInputError",
    "ScoreItem",
    "ScoreResult",
    "ScoreSheet",
    "ScoreSpec",
    "Straddle",
    "age_from_meta",
    "compute_score",
    "resolve_age",
    "score_sheet",
]
