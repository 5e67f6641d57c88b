"""The typed reading of a study, shared by the CLI, the viewer, the report and every export.

::

    from ichmodel.reading import read_study
    from ichmodel.progress import run_to_completion

    reading = run_to_completion(read_study("path/to/study"))
    reading.measurement.hematoma_volume_ml, reading.prediction.predicted_volume_ml
    reading.model.provenance, reading.volumes_disagree, reading.notices

See :mod:`ichmodel.reading.read` for the steps (the viewer runs them one by one) and
:mod:`ichmodel.reading.rules` for the rules a reader sees the result of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ichmodel.lazy_names import lazy_getattr

#: Imported on first use, so ``from ichmodel.reading import rules`` stays light (no torch):
#: the viewer's widgets read the rules before the model has loaded.
_LAZY = {
    "NO_MODEL": "ichmodel.reading.read",
    "complete_reading": "ichmodel.reading.read",
    "load_reading": "ichmodel.reading.read",
    "measure_params": "ichmodel.reading.read",
    "measure_reading": "ichmodel.reading.read",
    "open_study": "ichmodel.reading.read",
    "predict_reading": "ichmodel.reading.read",
    "read_study": "ichmodel.reading.read",
    "source_label": "ichmodel.reading.read",
    "HeatmapOptions": "ichmodel.reading.read",
    "KeySlice": "ichmodel.reading.key_slices",
    "choose_key_slices": "ichmodel.reading.key_slices",
    "ModelIdentity": "ichmodel.reading.types",
    "ReadOptions": "ichmodel.reading.read",
    "StudyReading": "ichmodel.reading.types",
    "mask_labels": "ichmodel.reading.types",
}

__all__ = [
    "HeatmapOptions",
    "KeySlice",
    "ModelIdentity",
    "NO_MODEL",
    "ReadOptions",
    "StudyReading",
    "choose_key_slices",
    "complete_reading",
    "load_reading",
    "mask_labels",
    "measure_params",
    "measure_reading",
    "open_study",
    "predict_reading",
    "read_study",
    "source_label",
]

if TYPE_CHECKING:
    from ichmodel.reading.key_slices import KeySlice, choose_key_slices
    from ichmodel.reading.read import (
        NO_MODEL,
        HeatmapOptions,
        ReadOptions,
        complete_reading,
        load_reading,
        measure_params,
        measure_reading,
        open_study,
        predict_reading,
        read_study,
        source_label,
    )
    from ichmodel.reading.types import ModelIdentity, StudyReading, mask_labels


__getattr__ = lazy_getattr(__name__, _LAZY)
