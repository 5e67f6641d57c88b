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

import logging
from collections.abc import Generator, Sequence
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


class TrainingBackend(Protocol):
    def validate(self, manifest: Path, exclude_rows: Sequence[int] = ()) -> Any: ...

    def run(self, request: TrainRequest) -> Generator[Progress, None, TrainOutcome]: ...

    def use_model(self, outcome: TrainOutcome) -> str: ...

    def rollback(self) -> str: ...

    def active_model_name(self) -> str: ...


class IchmodelBackend:
    """The real backend: ``ichmodel.train`` and ``ichmodel.checkpoint`` (imported lazily)."""

    def validate(self, manifest: Path, exclude_rows: Sequence[int] = ()) -> Any:
        from ichmodel.train.manifest import read_manifest

        return read_manifest(manifest, exclude_rows=exclude_rows)

    # --- the run --------------------------------------------------------------------------
    def _start_model(self, init: str) -> Any:
        from ichmodel.checkpoint import default_model, load_checkpoint
        from ichmodel.nets.resnet3d import ICHNet
        from ichmodel.train.registry import active_model_path
        from ichmodel.train.run_files import StartModel

        path = active_model_path()
        loaded = load_checkpoint(path) if path is not None else default_model()
        if init == "scratch":
            net = ICHNet(loaded.net_config)
            source = "scratch"
        else:
            net = loaded.net
            source = f"{loaded.name} ({str(loaded.sha256)[:12]})"
        return StartModel(
            net=net,
            net_config=loaded.net_config,
            preprocess_config=loaded.preprocess_config,
            source=source,
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
        start = self._start_model(request.init)
        cache_dir = request.cache_dir or (request.run_dir.parent / "cache")
        cache = CaseCache(cache_dir, start.preprocess_config)
        report = yield from build_cache(report, cache)
        report.raise_for_problems()  # studies that do not load: every row reported at once
        cases = tuple(cases_from_report(report))
        data = TrainData(
            cache=cache,
            cases=cases,
            description={"manifest": str(request.manifest), "excluded_rows": request.exclude_rows},
        )
        result = yield from train(
            data, start, request.run_dir, request.config, resume=request.resume
        )
        yield Progress("evaluate", 0, None, "scoring the best model on the validation cases")
        return self._outcome(result, data, start, request)

    def _outcome(self, result: Any, data: Any, start: Any, request: TrainRequest) -> TrainOutcome:
        """Final metrics (+ ROC) of the best checkpoint on the run's validation cases."""
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
            fpr, tpr, scored = self._score(checkpoint, data, result, request)
            metrics.update(scored)
        except Exception as exc:  # the run is done; a scoring failure must not lose it
            log.exception("scoring %s on the validation cases failed", checkpoint)
            metrics.update(result.final_metrics)
            metrics["scoring_error"] = str(exc)
        return TrainOutcome(result, checkpoint, metrics, fpr, tpr)

    def _score(self, checkpoint: Path | None, data: Any, result: Any, request: TrainRequest):
        from ichmodel.checkpoint import load_checkpoint
        from ichmodel.device import plan_for
        from ichmodel.labels import size_mm_to_ml
        from ichmodel.train.dataset import NO_OUTCOME, CaseDataset, make_loader, ordered_batches
        from ichmodel.train.metrics import evaluation_metrics, roc_curve
        from ichmodel.train.split import Split
        from ichmodel.train.steps import predict_batches

        if checkpoint is None:
            raise ValueError("the run wrote no checkpoint")
        split = Split.load(Path(result.run_dir) / "split.json")
        by_id = {c.case_id: c for c in data.cases}
        val_cases = [by_id[i] for i in split.val if i in by_id]
        if not val_cases:
            return None, None, {"n_val": 0}
        plan = plan_for(request.config.device, precision=request.config.precision)
        net = load_checkpoint(checkpoint).net.to(plan.device, memory_format=plan.memory_format)
        net.eval()
        dataset = CaseDataset(data.cache, val_cases)
        loader = make_loader(
            dataset,
            ordered_batches(len(dataset), request.config.batch_size),
            device=plan.device,
            num_workers=0,
        )
        r = predict_batches(net, loader, plan)
        labels = [None if v == NO_OUTCOME else int(v) for v in r["label"]]
        m = evaluation_metrics(
            size_mm_to_ml(r["size_mm"]), size_mm_to_ml(r["target_size_mm"]), labels, r["prob"]
        )
        scored = {"n_val": m.n, **{k: v for k, v in m.to_dict().items() if k != "n"}}
        known = [(y, p) for y, p in zip(labels, r["prob"], strict=True) if y is not None]
        fpr = tpr = None
        if known and len({y for y, _ in known}) == 2:
            curve = roc_curve([y for y, _ in known], [p for _, p in known])
            fpr, tpr = curve.fpr, curve.tpr
        return fpr, tpr, scored

    # --- the registry ---------------------------------------------------------------------
    def use_model(self, outcome: TrainOutcome) -> str:
        from ichmodel.train import registry

        if outcome.checkpoint is None:
            raise ValueError("this run wrote no checkpoint to use")
        entry = registry.register(outcome.checkpoint, activate=True)
        name = getattr(entry, "name", None) or str(entry)
        return f"{name} is now the active model"

    def rollback(self) -> str:
        from ichmodel.train import registry

        registry.rollback()
        return f"rolled back: the active model is {self.active_model_name()}"

    def active_model_name(self) -> str:
        try:
            from ichmodel.train import registry

            path = registry.active_model_path()
        except Exception as exc:  # registry missing/broken: say so, do not crash the dialog
            log.warning("cannot read the model registry: %s", exc)
            return "unknown"
        return "the bundled demo model" if path is None else Path(path).stem
