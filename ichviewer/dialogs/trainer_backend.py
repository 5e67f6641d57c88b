"""What the trainer dialog asks of ``ichmodel.train``, behind one small Qt-free interface.

:class:`TrainingBackend` is the seam: the dialog only calls ``validate``, ``check_studies``,
``run`` (a progress generator the worker drives), ``use_model``, ``rollback`` and
``active_model_name``. :class:`IchmodelBackend` wires them to ``ichmodel``.

``run`` is :func:`ichmodel.train.fine_tune.fine_tune`, the session ``ichmodel train`` runs (same
request type, same defaults, seeding and start-model rules, so the same request gives the same
weights), followed by scoring the run's model on its validation cases (the dialog's metrics
table and ROC curve). ``use_model`` is :func:`ichmodel.train.fine_tune.register_run`, the
registration ``ichmodel train --register`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ichmodel.progress import Progress

if TYPE_CHECKING:
    from ichmodel.train.fine_tune import FineTuneRequest, FineTuneResult, StartChoice
    from ichmodel.train.manifest import ManifestReport
    from ichmodel.train.run_files import TrainResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOutcome:
    """A finished run: its result, the final metrics table, the ROC, the model to activate."""

    result: TrainResult
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
    def validate(self, manifest: Path, exclude_rows: Sequence[int] = ()) -> ManifestReport: ...

    def check_studies(
        self, manifest: Path, exclude_rows: Sequence[int], start: StartChoice
    ) -> Generator[Progress, None, ManifestReport]: ...

    def run(self, request: FineTuneRequest) -> Generator[Progress, None, TrainOutcome]: ...

    def use_model(self, outcome: TrainOutcome) -> ModelSwitch: ...

    def rollback(self) -> ModelSwitch: ...

    def active_model_name(self) -> str: ...


def default_run_root() -> Path:
    """Where new runs go: ``<user data dir>/runs`` (beside the registry and the cache)."""
    from ichmodel.registry import data_dir

    return data_dir() / "runs"


class IchmodelBackend:
    """The real backend: ``ichmodel.train.fine_tune`` and the registry (imported lazily)."""

    def validate(self, manifest: Path, exclude_rows: Sequence[int] = ()) -> ManifestReport:
        from ichmodel.train.manifest import read_manifest

        return read_manifest(manifest, exclude_rows=exclude_rows)

    def check_studies(
        self, manifest: Path, exclude_rows: Sequence[int], start: StartChoice
    ) -> Generator[Progress, None, ManifestReport]:
        """Load + preprocess every study (into the cache a run from ``start`` reuses);
        returns the manifest report with a problem for each study that does not load."""
        from ichmodel.train.cache import CaseCache, build_cache
        from ichmodel.train.fine_tune import default_cache_dir, start_preprocess_config

        report = self.validate(manifest, exclude_rows)
        if not report.rows:
            return report
        yield Progress("model", 0, None, "reading the start model's preprocessing")
        preprocess = start_preprocess_config(start)
        checked = yield from build_cache(report, CaseCache(default_cache_dir(), preprocess))
        return checked

    def run(self, request: FineTuneRequest) -> Generator[Progress, None, TrainOutcome]:
        from ichmodel.train.fine_tune import fine_tune

        session = yield from fine_tune(request)
        outcome = yield from self._outcome(session, request)
        return outcome

    def _outcome(
        self, session: FineTuneResult, request: FineTuneRequest
    ) -> Generator[Progress, None, TrainOutcome]:
        """Final metrics (+ ROC) of the run's model on its validation cases."""
        from ichmodel.checkpoint import load_checkpoint
        from ichmodel.train.evaluate import evaluate_cases
        from ichmodel.train.split import Split

        result, data = session.run, session.data
        checkpoint = result.model_checkpoint
        metrics: dict[str, float | int | str | None] = {
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
            split = Split.load(result.run_dir / "split.json")
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
        from ichmodel.train.fine_tune import register_run

        entry = register_run(outcome.result)
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
