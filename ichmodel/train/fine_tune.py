"""One fine-tune session: manifest → cache → training run, the same for every caller.

Its data is a manifest CSV (the product: every row validated, every study loaded into the
preprocessing cache) or :class:`CachedCases` already in a cache (research: phantoms cached with
their masks); the rules below hold for both.

``ichmodel train`` (:mod:`ichmodel.cli.train`) and the viewer's trainer dialog
(``ichviewer.dialogs.trainer_backend``) both describe a run as a :class:`FineTuneRequest` and
drive :func:`fine_tune`; the same request gives the same weights, bit for bit, whoever runs it.

The rules, in one place:

* **Start model** (:data:`StartChoice`): :class:`ActiveModel` = the registry's active model
  (the user's pick, else the bundled demo; a fresh copy of its weights); :class:`InitCheckpoint`
  = a checkpoint file; :class:`ScratchModel` = new weights for the network the choice names
  (default: the paper's ResNet34, base width 64, the paper's preprocessing and cube-root label
  transform), drawn after ``torch.manual_seed(config.seed)``. Without any active model or demo,
  :class:`ActiveModel` falls back to :class:`ScratchModel`'s defaults with a warning. A
  fine-tuned model keeps its start model's preprocessing, label transform and Grad-CAM flips.
* **Seed**: ``config.seed`` seeds the scratch weights, the split, the batches and the
  augmentation (the loop reseeds before its first step).
* **Provenance**: the request's (``site`` by default: a user training on their own manifest),
  recorded in every checkpoint the run writes, whatever the start model's was.
* **Resume**: the run folder's own start model, provenance and configs; only the fields of
  :attr:`TrainConfig.RESUMABLE_CHANGES` are taken from the request's config
  (:func:`resumed_config`). The cache folder is the request's, else the run's, else the user
  data folder's.
* **Registration** (:func:`register_run`): the run's best checkpoint (else its latest) is copied
  into the registry and made active; its provenance travels with the file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ichmodel.errors import TrainingError
from ichmodel.labels import LabelTransform
from ichmodel.model_card import Provenance
from ichmodel.nets.resnet3d import NetConfig
from ichmodel.preprocess import PreprocessConfig
from ichmodel.progress import Progress
from ichmodel.registry import ModelEntry
from ichmodel.train.cache import CaseCache
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import Case
from ichmodel.train.distributed import World, main_first
from ichmodel.train.loss_terms import LossTerm
from ichmodel.train.manifest import ManifestReport
from ichmodel.train.run_files import StartModel, TrainData, TrainResult

if TYPE_CHECKING:
    from ichmodel.train.split import Split

log = logging.getLogger(__name__)

#: What a training run may record as its data's origin (a trained model is never "untrained",
#: and a run always knows where its data came from).
TRAINING_PROVENANCES = (Provenance.SITE, Provenance.SYNTHETIC)


@dataclass(frozen=True)
class ActiveModel:
    """Fine-tune the registry's active model (the user's pick, else the bundled demo)."""


@dataclass(frozen=True)
class InitCheckpoint:
    """Fine-tune the model in this checkpoint file."""

    path: Path


@dataclass(frozen=True)
class ScratchModel:
    """New weights (seeded by ``config.seed``) for this network; the paper's by default."""

    net_config: NetConfig = field(default_factory=NetConfig)
    preprocess_config: PreprocessConfig = field(default_factory=PreprocessConfig)
    label_transform: LabelTransform = field(default_factory=LabelTransform)


StartChoice = ActiveModel | InitCheckpoint | ScratchModel


@dataclass(frozen=True)
class CachedCases:
    """Cases already preprocessed into a cache (research sets, phantoms): no manifest to read
    and no study to load. The cache's preprocessing must be the start model's."""

    cache: CaseCache
    cases: tuple[Case, ...]
    #: Saved in the run's config.json as where the data came from (seeds, generator, ...).
    description: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class FineTuneRequest:
    """Everything one fine-tune session needs; ``config.seed`` and ``config.device`` are the
    run's seed and device (one home each)."""

    #: The manifest CSV (study, volume_ml, poor_outcome, split), or cases already cached.
    data: Path | CachedCases
    run_dir: Path
    start: StartChoice = field(default_factory=ActiveModel)
    config: TrainConfig = field(default_factory=TrainConfig)
    #: Where the training data comes from; recorded in every checkpoint the run writes.
    provenance: Provenance = Provenance.SITE
    #: Spreadsheet row numbers of the manifest to leave out (explicitly, never silently).
    exclude_rows: tuple[int, ...] = ()
    #: Continue the stopped run in ``run_dir`` (its own start model and configs).
    resume: bool = False
    #: Preprocessing cache folder (None: the run's when resuming, else the user data folder's).
    cache_dir: Path | None = None
    #: A previous run's ``split.json`` to reuse (the same validation cases).
    split_file: Path | None = None
    #: Loss terms beyond the paper's and the config's (research; the product passes none).
    extra_loss_terms: tuple[LossTerm, ...] = ()

    def __post_init__(self) -> None:
        try:
            provenance = Provenance(self.provenance)
        except ValueError:
            provenance = None
        if provenance not in TRAINING_PROVENANCES:
            raise ValueError(
                f"a training run's provenance must be site or synthetic, got {self.provenance!r}"
            )
        object.__setattr__(self, "provenance", provenance)
        object.__setattr__(self, "exclude_rows", tuple(int(r) for r in self.exclude_rows))
        if isinstance(self.data, CachedCases) and (self.exclude_rows or self.cache_dir):
            raise ValueError("exclude_rows and cache_dir belong to a manifest; cached cases "
                             "come with their cache (leave out the cases you do not want)")


@dataclass(frozen=True)
class FineTuneResult:
    """A finished (or stopped) session: the run, the data it trained on, its start."""

    run: TrainResult
    #: The cache and cases of the run (to score its model on the validation cases).
    data: TrainData
    #: The manifest report after caching (usable rows, what was excluded); None for
    #: :class:`CachedCases`.
    report: ManifestReport | None
    start_source: str
    provenance: Provenance


@dataclass(frozen=True)
class SavedRun:
    """What a run folder's ``config.json`` says about the run (for resume)."""

    document: dict[str, Any]
    config: TrainConfig
    cache_dir: Path | None


def default_cache_dir() -> Path:
    """The preprocessing cache every caller shares: ``<user data dir>/cache``."""
    from ichmodel.registry import data_dir

    return data_dir() / "cache"


def saved_run(run_dir: str | Path) -> SavedRun | None:
    """The run saved in ``run_dir`` (None when it holds none)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
        config = TrainConfig.from_dict(document["train"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"{path} is unreadable ({exc}); start a new run folder") from exc
    cache = document.get("cache_dir")
    return SavedRun(document, config, Path(cache) if cache else None)


def resumed_config(saved: TrainConfig, requested: TrainConfig) -> TrainConfig:
    """The saved run's config with only :attr:`TrainConfig.RESUMABLE_CHANGES` taken from
    ``requested`` (``max_steps`` included: a resumed run never inherits a smoke-run limit)."""
    wanted = requested.to_dict()
    changes = {k: wanted[k] for k in TrainConfig.RESUMABLE_CHANGES}
    return TrainConfig.from_dict(saved.to_dict() | changes)


def resolve_start(choice: StartChoice, *, seed: int, provenance: Provenance) -> StartModel:
    """The :class:`StartModel` a choice names (see the module's rules)."""
    import torch

    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.nets.resnet3d import ICHNet
    from ichmodel.registry import active_model_path

    path: Path | None = None
    if isinstance(choice, InitCheckpoint):
        path = choice.path
    elif isinstance(choice, ActiveModel):
        path = active_model_path()
        if path is None:
            log.warning("no active model to fine-tune: training the paper's network from scratch")
            choice = ScratchModel()
    if isinstance(choice, ScratchModel):
        torch.manual_seed(seed)
        return StartModel(ICHNet(choice.net_config), choice.net_config, choice.preprocess_config,
                          "scratch", label_transform=choice.label_transform,
                          provenance=provenance)
    assert path is not None
    model = load_checkpoint(path)  # a fresh object: never the viewer's cached model
    source = f"checkpoint {model.name} (sha256 {model.sha256[:12]}, {Path(path).name})"
    return StartModel(model.net.train(), model.net_config, model.preprocess_config, source,
                      model.card.recommended_cam_flip_axes, model.label_transform, provenance)


def start_preprocess_config(choice: StartChoice) -> PreprocessConfig:
    """The preprocessing a run from ``choice`` caches its inputs with (read from the
    checkpoint's document: no weights are loaded)."""
    from ichmodel.checkpoint import read_document
    from ichmodel.registry import active_model_path

    if isinstance(choice, ScratchModel):
        return choice.preprocess_config
    path = choice.path if isinstance(choice, InitCheckpoint) else active_model_path()
    if path is None:  # ActiveModel without any model: the scratch fallback of resolve_start
        return ScratchModel().preprocess_config
    try:
        return PreprocessConfig.from_dict(read_document(path)["preprocess_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TrainingError(f"{Path(path).name}: its preprocessing config is unreadable "
                            f"({exc}); choose another start model") from exc


def fine_tune(
    request: FineTuneRequest, *, world: World | None = None
) -> Generator[Progress, None, FineTuneResult]:
    """Validate the manifest, cache its studies, train; see the module's rules. ``world``: the
    training processes under torchrun (rank 0 caches the studies first, then the others read
    its cache; see :mod:`ichmodel.train.distributed`).

    Refuses (:class:`~ichmodel.errors.ManifestError`, every bad row listed with its number and
    column) a manifest with problems that are not excluded, before and after loading the
    studies. Close the generator to cancel: the loop saves its state for a resume.
    """
    from ichmodel.train.loop import train
    from ichmodel.train.manifest import read_manifest
    from ichmodel.train.run_files import start_model_from_run

    world = world or World()
    report = None
    if not isinstance(request.data, CachedCases):  # refuse a bad manifest before any work
        yield Progress("validate-manifest", 0, None, f"checking {request.data.name}")
        report = read_manifest(request.data, exclude_rows=request.exclude_rows)
        report.raise_for_problems()
    yield Progress("model", 0, None, "loading the start model")
    saved = saved_run(request.run_dir) if request.resume else None
    if saved is not None:  # the run's own architecture; its weights come from its state
        start = start_model_from_run(saved.document)
        config = resumed_config(saved.config, request.config)
    else:
        start = resolve_start(request.start, seed=request.config.seed,
                              provenance=request.provenance)
        config = request.config
    if isinstance(request.data, CachedCases):
        data = _cached_data(request.data, start, request.split_file)
    else:
        assert report is not None
        cache_dir = (request.cache_dir or (saved.cache_dir if saved else None)
                     or default_cache_dir())
        with main_first(world):
            data, report = yield from _manifest_data(
                report, CaseCache(cache_dir, start.preprocess_config), request.split_file
            )
    run = yield from train(data, start, request.run_dir, config, resume=request.resume,
                           extra_loss_terms=request.extra_loss_terms, world=world)
    if world.is_main:
        yield from _fit_trust(run, data, config)
    return FineTuneResult(run, data, report, start.source, start.provenance)


def _fit_trust(run: TrainResult, data: TrainData, config: TrainConfig
               ) -> Generator[Progress, None, None]:
    """The gate and temperature of the run's own cases into its checkpoints (a site model
    trusts the site's scans; see :mod:`ichmodel.train.trust_fit`)."""
    from ichmodel.train.split import Split
    from ichmodel.train.trust_fit import refit_run_checkpoints

    checkpoints = [p for p in (run.best_checkpoint, run.last_checkpoint) if p is not None]
    split_file = Path(run.run_dir) / "split.json"
    if not checkpoints or not split_file.is_file():
        return
    split = Split.load(split_file)
    by_id = {c.case_id: c for c in data.cases}
    yield Progress("trust", 0, None, "fitting the out-of-distribution gate and temperature")
    trust = yield from refit_run_checkpoints(
        checkpoints, data.cache, [by_id[i] for i in split.train if i in by_id],
        [by_id[i] for i in split.val if i in by_id], device=config.device,
    )
    if trust is None:
        log.warning("too few cases to fit the out-of-distribution gate; the run's model has "
                    "none (its predictions are not checked against its training data)")


def _split(split_file: Path | None) -> Split | None:
    from ichmodel.train.split import Split

    return Split.load(split_file) if split_file else None


def _cached_data(cached: CachedCases, start: StartModel, split_file: Path | None) -> TrainData:
    if cached.cache.preprocess_config != start.preprocess_config:
        raise TrainingError(
            f"the cache in {cached.cache.root} holds inputs preprocessed with "
            f"{cached.cache.preprocess_config}, not the start model's "
            f"{start.preprocess_config}; cache the cases with the start model's config"
        )
    return TrainData(cached.cache, cached.cases, _split(split_file), dict(cached.description))


def _manifest_data(
    report: ManifestReport, cache: CaseCache, split_file: Path | None
) -> Generator[Progress, None, tuple[TrainData, ManifestReport]]:
    """Load and preprocess every study not cached yet; refuse the run if any fails."""
    from ichmodel.train.cache import build_cache
    from ichmodel.train.dataset import cases_from_report

    report = yield from build_cache(report, cache)
    report.raise_for_problems()  # studies that do not load, every row reported at once
    data = TrainData(
        cache,
        tuple(cases_from_report(report)),
        split=_split(split_file),
        description={"manifest": str(report.path.resolve()),
                     "excluded_rows": list(report.excluded_rows)},
    )
    return data, report


def register_run(result: TrainResult, name: str | None = None) -> ModelEntry:
    """Copy the run's model (best, else latest) into the registry and make it active.

    ``name`` None picks ``finetune-<run folder>`` (with ``-2``, ``-3``... when taken).
    """
    from ichmodel import registry

    checkpoint = result.model_checkpoint
    if checkpoint is None:
        raise TrainingError(f"run {result.run_dir} wrote no checkpoint to register; "
                            "train at least one epoch (or one step with --max-steps)")
    if name is None:
        taken = {e.name for e in registry.list_models(with_details=False)}
        base = f"finetune-{result.run_dir.name}"[:64]
        name, suffix = base, 2
        while name in taken:
            name = f"{base[:60]}-{suffix}"
            suffix += 1
    return registry.register_model(checkpoint, name, activate=True)
