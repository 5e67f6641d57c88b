"""Training on site data, evaluation with the paper's metrics, and the model registry.

Importable with torch + numpy only: studies are read lazily (SimpleITK/pydicom) when the cache
builder meets a study that is not cached yet.

The product's one way to train is :func:`ichmodel.train.fine_tune.fine_tune` (``ichmodel
train`` and the viewer's trainer dialog both drive it)::

    from ichmodel.train.fine_tune import FineTuneRequest, fine_tune, register_run

    request = FineTuneRequest(Path("manifest.csv"), Path("runs/site-1"))  # active model, site
    session = yield from fine_tune(request)          # manifest -> cache -> train
    register_run(session.run)                        # best (else last) model, made active

What the session does, step by step (research code may call the steps itself)::

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

Modules: :mod:`.fine_tune` (the session), :mod:`.manifest` (CSV validation),
:mod:`.manifest_build` (a manifest from a folder + a label CSV), :mod:`.cache` (preprocessed
inputs on disk),
:mod:`.split` (study-level stratified split), :mod:`.augment` (flip/rotate/shift/intensity),
:mod:`.dataset` (cases, batches), :mod:`.config` (:class:`TrainConfig`, paper defaults),
:mod:`.loop` (the training generator: epoch step, end-of-epoch step), :mod:`.run_setup`
(a run's fixed parts), :mod:`.run_state` (its saved counters), :mod:`.loss_terms` (extra loss
terms plugged into the loop), :mod:`.guarded_step` (one finite-checked optimizer step),
:mod:`.steps` (loss, optimizer, validation),
:mod:`.state` (resumable state without pickle), :mod:`.run_files` (run folder),
:mod:`.metrics` (MAE/MSE/MAPE/accuracy/ROC/AUC in numpy), :mod:`.evaluate`,
:mod:`.plots` (ROC and scatter PNGs without matplotlib), :mod:`.phantom_cases` (phantoms
straight into the cache). The user's models live in :mod:`ichmodel.registry`.
"""

from __future__ import annotations

from ichmodel.lazy_names import lazy_getattr

_LAZY = {
    "FineTuneRequest": "ichmodel.train.fine_tune",
    "FineTuneResult": "ichmodel.train.fine_tune",
    "fine_tune": "ichmodel.train.fine_tune",
    "register_run": "ichmodel.train.fine_tune",
    "LossTerm": "ichmodel.train.loss_terms",
    "TrainConfig": "ichmodel.train.config",
    "StartModel": "ichmodel.train.run_files",
    "TrainData": "ichmodel.train.run_files",
    "TrainResult": "ichmodel.train.run_files",
    "train": "ichmodel.train.loop",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
