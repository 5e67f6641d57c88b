"""What the trainer dialog asks of ``ichmodel.train``, behind one small Qt-free interface.

:class:`TrainingBackend` is the seam: the dialog only calls ``validate``, ``run`` (a progress
generator the worker drives), ``use_model``, ``rollback`` and ``active_model_name``. The default
:class:`IchmodelBackend` wires them to ``ichmodel.train`` (manifest, cache, loop, metrics,
registry); tests may pass another object with the same methods.

``run`` does what ``ichmodel train`` does: validate the manifest (refusing to start on any
problem), build/reuse the preprocessing cache (which also checks that every study loads), train,
then score the best checkpoint on the validation cases (metrics table and ROC curve).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ichmodel.progress import Progress

log = logging.getLogger(__name__)

INIT_CHOICES = ("active", "scratch")


@dataclass(frozen=True)
class TrainRequest:
    """One fine-tuning run as the dialog's form describes it."""

    manifest: Path
    run_dir: Path
    config: Any  # ichmodel.train.config.TrainConfig
    #: "active": start from the active model's weights; "scratch": same topology, new weights.
    init: str = "active"
    exclude_rows: tuple[int, ...] = ()
    resume: bool = False
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.init not in INIT_CHOICES:
            raise ValueError(f"init must be one of {INIT_CHOICES}, got {self.init!r}")


@dataclass(frozen=True)
class TrainOutcome:
    """A finished run: its result, the final metrics table, the ROC, the model to activate."""

    result: Any  # ichmodel.train.run_files.TrainResult
    checkpoint: Path | None
    metrics: dict[str, float | int | str | None] = field(default_factory=dict)
    roc_fpr: np.ndarray | None = None
    roc_tpr: np.ndarray | None = None


@dataclass(frozen=True)
class ModelSwitch:
    """The active model changed: what to tell the user, and the weights now active (None: the
    default choice of :func:`ichmodel.active_model.default_model`)."""

    message: str
    path: Path | None = None


class TrainingBackend(Protocol):
    def validate(self, manifest: Path, exclude_rows: Sequence[int] = ()) -> Any: ...

    # optional: check_studies(manifest, exclude_rows, init) -> Generator[Progress, None, report]

    def run(self, request: TrainRequest) -> Generator[Progress, None, TrainOutcome]: ...

    def use_model(self, outcome: TrainOutcome) -> ModelSwitch: ...

    def rollback(self) -> ModelSwitch: ...

    def active_model_name(self) -> str: ...


def _data_dir() -> Path:
    from ichmodel.registry import data_dir

    return data_dir()


def default_run_root() -> Path:
    """Where new runs go: ``<user data dir>/runs`` (beside the registry and the cache)."""
    return _data_dir() / "runs"


def _saved_run(request: TrainRequest) -> dict[str, Any] | None:
    path = Path(request.run_dir) / "config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None


class IchmodelBackend:
    """The real backend: ``ichmodel.train`` and ``ichmodel.checkpoint`` (imported lazily).

    ``start_model`` (optional) maps "active"/"scratch" to an ``ichmodel.train.StartModel``;
    by default the registry's active model (else the bundled demo, else the untrained model).
    """

    def __init__(self, start_model: Callable[[str], Any] | None = None) -> None:
        self._start_model_factory = start_model

    def validate(self, manifest: Path, exclude_rows: Sequence[int] = ()) -> Any:
        from ichmodel.train.manifest import read_manifest

        return read_manifest(manifest, exclude_rows=exclude_rows)

    def check_studies(
        self, manifest: Path, exclude_rows: Sequence[int] = (), init: str = "active"
    ) -> Generator[Progress, None, Any]:
        """Load + preprocess every study (into the cache a run with this start model reuses);
        returns the manifest report with a problem for each study that does not load."""
        from ichmodel.train.cache import CaseCache, build_cache

        report = self.validate(manifest, exclude_rows)
        if not report.rows:
            return report
        yield Progress("model", 0, None, "reading the start model's preprocessing")
        start = self._start_model(init)
        cache = CaseCache(_data_dir() / "cache", start.preprocess_config)
        checked = yield from build_cache(report, cache)
        return checked

    # --- the run --------------------------------------------------------------------------
    def _start_model(self, init: str) -> Any:
        if self._start_model_factory is not None:
            return self._start_model_factory(init)
        from ichmodel.active_model import default_model
        from ichmodel.checkpoint import load_checkpoint
        from ichmodel.labels import LabelTransform
        from ichmodel.nets.resnet3d import ICHNet
        from ichmodel.registry import active_model_path
        from ichmodel.train.run_files import StartModel

        path = active_model_path()
        loaded = load_checkpoint(path) if path is not None else default_model()
        if init == "scratch":
            net = ICHNet(loaded.net_config)
            source = "scratch"
        else:  # a copy: the viewer may be predicting with the very same (cached) object
            net = copy.deepcopy(loaded.net)
            source = f"{loaded.name} ({str(loaded.sha256)[:12]})"
        return StartModel(
            net=net,
            net_config=loaded.net_config,
            preprocess_config=loaded.preprocess_config,
            source=source,
            cam_flip_axes=() if init == "scratch" else loaded.card.recommended_cam_flip_axes,
            label_transform=LabelTransform() if init == "scratch" else loaded.label_transform,
        )

    def run(self, request: TrainRequest) -> Generator[Progress, None, TrainOutcome]:
        from ichmodel.train.cache import CaseCache, build_cache
        from ichmodel.train.dataset import cases_from_report
        from ichmodel.train.loop import train
        from ichmodel.train.run_files import TrainData

        yield Progress("validate-manifest", 0, None, f"checking {request.manifest.name}")
        report = self.validate(request.manifest, request.exclude_rows)
        report.raise_for_problems()
        yield Progress("model", 0, None, "loading the start model")
        config = request.config
        saved = _saved_run(request) if request.resume else None
        if saved is not None:  # like `ichmodel train --resume`: the run's own configs
            start, config = self._resumed(saved, request)
        else:
            start = self._start_model(request.init)
        cache_dir = request.cache_dir or _data_dir() / "cache"
        if saved is not None and saved.get("cache_dir"):
            cache_dir = Path(saved["cache_dir"])
        cache = CaseCache(cache_dir, start.preprocess_config)
        report = yield from build_cache(report, cache)
        report.raise_for_problems()  # studies that do not load: every row reported at once
        cases = tuple(cases_from_report(report))
        data = TrainData(
            cache=cache,
            cases=cases,
            description={"manifest": str(request.manifest), "excluded_rows": request.exclude_rows},
        )
        result = yield from train(data, start, request.run_dir, config, resume=request.resume)
        outcome = yield from self._outcome(result, data, request)
        return outcome

    def _resumed(self, saved: dict[str, Any], request: TrainRequest) -> tuple[Any, Any]:
        """Start model (architecture from the run; weights come from its state) and config
        (the run's, with only the fields a resume may change taken from the form)."""
        from ichmodel.train.config import TrainConfig
        from ichmodel.train.run_files import start_model_from_run

        start = start_model_from_run(saved)
        form = request.config.to_dict()
        changes = {k: form[k] for k in TrainConfig.RESUMABLE_CHANGES if k in form}
        config = TrainConfig.from_dict(saved["train"] | changes | {"max_steps": None})
        return start, config

    def _outcome(
        self, result: Any, data: Any, request: TrainRequest
    ) -> Generator[Progress, None, TrainOutcome]:
        """Final metrics (+ ROC) of the best checkpoint on the run's validation cases."""
        from ichmodel.checkpoint import load_checkpoint
        from ichmodel.train.evaluate import evaluate_cases
        from ichmodel.train.split import Split

        checkpoint = result.best_checkpoint or result.last_checkpoint
        metrics: dict[str, Any] = {
            "stopped": result.stopped,
            "epochs": result.epochs_done,
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "elapsed_s": round(float(result.elapsed_s), 1),
        }
        fpr = tpr = None
        try:
            if checkpoint is None:
                raise ValueError("the run wrote no checkpoint")
            split = Split.load(Path(result.run_dir) / "split.json")
            by_id = {c.case_id: c for c in data.cases}
            val_cases = [by_id[i] for i in split.val if i in by_id]
            if not val_cases:
                metrics["n_val"] = 0
            else:
                yield Progress("evaluate", 0, len(val_cases), "scoring the best model")
                evaluation = yield from evaluate_cases(
                    load_checkpoint(checkpoint),
                    data.cache,
                    val_cases,
                    device=request.config.device,
                    batch_size=request.config.batch_size,
                )
                m = evaluation.metrics.to_dict()
                metrics["n_val"] = m.pop("n")
                metrics.update(m)
                if evaluation.roc is not None:
                    fpr, tpr = evaluation.roc.fpr, evaluation.roc.tpr
        except Exception as exc:  # the run is done; a scoring failure must not lose it
            log.exception("scoring %s on the validation cases failed", checkpoint)
            metrics.update(result.final_metrics)
            metrics["scoring_error"] = str(exc)
        return TrainOutcome(result, checkpoint, metrics, fpr, tpr)

    # --- the registry ---------------------------------------------------------------------
    def use_model(self, outcome: TrainOutcome) -> ModelSwitch:
        from ichmodel import registry

        if outcome.checkpoint is None:
            raise ValueError("this run wrote no checkpoint to use")
        run_name = Path(getattr(outcome.result, "run_dir", "run")).name
        name = f"finetune-{run_name}"[:64]
        taken = {e.name for e in registry.list_models(with_details=False)}
        suffix = 2
        while name in taken:
            name = f"finetune-{run_name}-{suffix}"[:64]
            suffix += 1
        entry = registry.register_model(outcome.checkpoint, name, activate=True)
        return ModelSwitch(f"{entry.name} is now the active model", entry.path)

    def rollback(self) -> ModelSwitch:
        from ichmodel import registry

        registry.rollback()
        return ModelSwitch(
            f"rolled back: the active model is {self.active_model_name()}",
            registry.active_model_path(),
        )

    def active_model_name(self) -> str:
        try:
            from ichmodel import registry

            return registry.active_name()
        except Exception as exc:  # registry broken: say so, do not crash the dialog
            log.warning("cannot read the model registry: %s", exc)
            return "unknown"
