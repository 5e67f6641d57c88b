"""Training on site data, evaluation with the paper's metrics, and the model registry.

Importable with torch + numpy only: studies are read lazily (SimpleITK/pydicom) when the cache
builder meets a study that is not cached yet.

Typical flow (what ``ichmodel train`` does)::

    from ichmodel.train.manifest import read_manifest
    from ichmodel.train.cache import CaseCache, build_cache
    from ichmodel.train.dataset import cases_from_report
    from ichmodel.train.loop import StartModel, TrainData, train
    from ichmodel.train.config import TrainConfig

    report = read_manifest("manifest.csv")           # every row checked, problems collected
    report.raise_for_problems()                      # ManifestError listing all bad rows
    cache = CaseCache(cache_dir, start.preprocess_config)
    report = yield from build_cache(report, cache)   # loads + preprocesses, resumable
    report.raise_for_problems()                      # studies that do not load
    data = TrainData(cache, tuple(cases_from_report(report)))
    result = yield from train(data, start, run_dir, TrainConfig(), resume=False)

Modules: :mod:`.manifest` (CSV validation), :mod:`.cache` (preprocessed inputs on disk),
:mod:`.split` (study-level stratified split), :mod:`.augment` (flip/rotate/shift/intensity),
:mod:`.dataset` (cases, batches), :mod:`.config` (:class:`TrainConfig`, paper defaults),
:mod:`.loop` (the training generator), :mod:`.steps` (loss, optimizer, validation),
:mod:`.state` (resumable state without pickle), :mod:`.run_files` (run folder),
:mod:`.metrics` (MAE/MSE/MAPE/accuracy/ROC/AUC in numpy), :mod:`.evaluate`,
:mod:`.plots` (ROC and scatter PNGs without matplotlib), :mod:`.phantom_cases` (phantoms
straight into the cache). The user's models live in :mod:`ichmodel.registry`.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "TrainConfig": "ichmodel.train.config",
    "StartModel": "ichmodel.train.run_files",
    "TrainData": "ichmodel.train.run_files",
    "TrainResult": "ichmodel.train.run_files",
    "train": "ichmodel.train.loop",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ichmodel.train' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
