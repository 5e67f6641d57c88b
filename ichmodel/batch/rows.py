"""One row per study: the reading's numbers as flat columns, or the error that stopped it.

The columns are fixed (:data:`COLUMNS`), so every backend, job count and shard writes the same
table; only the ``seconds_*`` columns depend on the machine.
"""

from __future__ import annotations

import math

from ichmodel.reading import StudyReading

COLUMNS: tuple[str, ...] = (
    "job", "study_uid", "series_uid", "series_description", "status", "error",
    "planimetric_volume_ml", "abc2_volume_ml", "abc2_a_mm", "abc2_b_mm", "abc2_c_mm",
    "abc2_slice_index", "location", "ivh", "ivh_volume_ml", "n_hematomas", "hu_min", "hu_max",
    "model_name", "model_sha256", "model_provenance", "model_in_distribution", "model_ood_score",
    "model_volume_ml", "poor_outcome_probability", "volumes_disagree", "notice_codes",
    "seconds_read", "seconds_measure", "seconds_predict",
)
#: Columns that may differ between two runs of the same cohort.
TIMING_COLUMNS = ("seconds_read", "seconds_measure", "seconds_predict")

Row = dict[str, str | int | float | bool | None]


def _number(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def reading_row(job: str, reading: StudyReading, seconds_read: float) -> Row:
    """The row of a finished reading."""
    meta = reading.volume.meta
    m, p, model = reading.measurement, reading.prediction, reading.model
    row: Row = dict.fromkeys(COLUMNS)
    row.update(job=job, study_uid=meta.study_uid, series_uid=meta.series_uid,
               series_description=meta.series_description, status="ok", error="",
               volumes_disagree=reading.volumes_disagree,
               notice_codes=" ".join(sorted({n.code for n in reading.notices})),
               seconds_read=_number(seconds_read, 3))
    if m is not None:
        row.update(
            planimetric_volume_ml=_number(m.hematoma_volume_ml),
            abc2_volume_ml=_number(m.abc2.volume_ml), abc2_a_mm=_number(m.abc2.a_mm, 2),
            abc2_b_mm=_number(m.abc2.b_mm, 2), abc2_c_mm=_number(m.abc2.c_mm, 2),
            abc2_slice_index=m.abc2.slice_index, location=m.location, ivh=m.ivh,
            ivh_volume_ml=_number(m.ivh_volume_ml), n_hematomas=m.n_components,
            hu_min=m.params.hu_min, hu_max=m.params.hu_max,
            seconds_measure=_number(sum(m.timings_s.values()), 3),
        )
    if p is not None and model is not None:
        row.update(
            model_name=model.name, model_sha256=model.sha256,
            model_provenance=model.provenance.value,
            model_in_distribution=p.in_distribution,
            model_ood_score=_number(p.ood_score),
            model_volume_ml=_number(p.predicted_volume_ml),
            poor_outcome_probability=_number(p.poor_outcome_probability, 6),
            seconds_predict=_number(p.timings_s.get("total"), 3),
        )
    return row


def error_row(job: str, error: str, *, study_uid: str = "", series_uid: str = "") -> Row:
    """The row of a study (or a whole job) that could not be read: its one-line error."""
    row: Row = dict.fromkeys(COLUMNS)
    row.update(job=job, study_uid=study_uid, series_uid=series_uid, status="error",
               error=" ".join(error.split())[:500])
    return row


def row_key(row: Row) -> tuple[str, str, str]:
    """Rows are sorted by job, then study and series UID."""
    return (str(row["job"]), str(row["study_uid"] or ""), str(row["series_uid"] or ""))
