"""The run folder of a training run, and the small records the loop takes and returns.

Layout::

    RUN_DIR/config.json          training, network and preprocessing configs, data, start model
    RUN_DIR/split.json           the study-level split (reusable by later runs)
    RUN_DIR/metrics.csv, .jsonl  one row per epoch (rewritten atomically from the saved history)
    RUN_DIR/checkpoints/best.safetensors (+ sidecar)   best by validation loss
    RUN_DIR/checkpoints/last.safetensors (+ sidecar)   after the latest epoch
    RUN_DIR/checkpoints/state.safetensors              exact resumable state (no pickle)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ichmodel.errors import TrainingError
from ichmodel.labels import LabelTransform
from ichmodel.model_card import Provenance
from ichmodel.train.cache import CaseCache
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import Case
from ichmodel.train.run_state import RunState
from ichmodel.train.split import Split, make_split, reconcile_split

STATE_NAME = "state.safetensors"
RUN_FORMAT = 1


@dataclass(frozen=True)
class StartModel:
    """The network a run starts from, with the configs it must be saved with."""

    net: nn.Module
    net_config: Any
    preprocess_config: Any
    #: "scratch", or where the weights came from (checkpoint name and SHA-256).
    source: str = "scratch"
    #: The start card's recommended Grad-CAM flip averaging, kept in the card the run saves:
    #: fine-tuned weights keep the start model's habits, its evidence offsets included.
    cam_flip_axes: tuple[str, ...] = ()
    #: How the size output maps to ml (the start checkpoint's; the paper's cube root from
    #: scratch). Kept by what the run saves, since the head was trained in its units.
    label_transform: LabelTransform = field(default_factory=LabelTransform)
    #: Where the run's training data comes from; recorded in every checkpoint it saves.
    provenance: Provenance = Provenance.SITE


def start_model_from_run(saved: dict[str, Any]) -> StartModel:
    """The start model of a saved run's ``config.json`` (architecture and configs; the
    weights come from its state on resume)."""
    from ichmodel.nets.resnet3d import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig

    net_config = NetConfig.from_dict(saved["net"])
    return StartModel(
        ICHNet(net_config),
        net_config,
        PreprocessConfig.from_dict(saved["preprocess"]),
        saved.get("start", "resumed"),
        tuple(saved.get("cam_flip_axes", ())),
        LabelTransform.from_dict(saved.get("label_transform", {})),
        Provenance(saved.get("provenance", Provenance.SITE)),
    )


@dataclass(frozen=True)
class TrainData:
    """Cached cases to train on; ``split`` None = make one (stratified, seeded)."""

    cache: CaseCache
    cases: tuple[Case, ...]
    split: Split | None = None
    #: Free-form provenance saved in config.json (manifest path, phantom seeds, ...).
    description: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or stopped) run produced."""

    run_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    best_epoch: int | None
    best_val_loss: float | None
    steps: int
    epochs_done: int
    #: "completed", "early_stopping" or "max_steps".
    stopped: str
    elapsed_s: float
    history: tuple[dict[str, Any], ...]

    @property
    def final_metrics(self) -> dict[str, Any]:
        return dict(self.history[-1]) if self.history else {}

    @property
    def model_checkpoint(self) -> Path | None:
        """The model this run produced: the best by validation loss, else the latest (a run
        stopped by ``max_steps`` before its first epoch ended has only that)."""
        return self.best_checkpoint or self.last_checkpoint


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_dict(config: Any) -> Any:
    return config.to_dict() if hasattr(config, "to_dict") else config


class RunFiles:
    """Paths and writers of one run folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.checkpoints = self.root / "checkpoints"
        self.config = self.root / "config.json"
        self.split = self.root / "split.json"
        self.metrics_csv = self.root / "metrics.csv"
        self.metrics_jsonl = self.root / "metrics.jsonl"
        self.state = self.checkpoints / STATE_NAME

    def checkpoint(self, which: str) -> Path:
        return self.checkpoints / f"{which}.safetensors"

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        columns: list[str] = []
        for row in history:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        _atomic_text(self.metrics_csv, buf.getvalue())
        _atomic_text(self.metrics_jsonl, "".join(json.dumps(r) + "\n" for r in history))

    def save_model(
        self,
        net: nn.Module,
        start: StartModel,
        config: TrainConfig,
        state: RunState,
        which: str,
        card_text: str = "",
    ) -> Path:
        """Write ``checkpoints/<which>.safetensors`` (+ sidecar) atomically via a temp name."""
        from ichmodel.checkpoint import save_checkpoint

        final = self.checkpoint(which)
        tmp_stem = f".tmp-{which}-{os.getpid()}"
        tmp = self.checkpoints / f"{tmp_stem}.safetensors"
        last = state.history[-1] if state.history else {}
        training = {
            "run_dir": str(self.root),
            "start": start.source,
            "step": state.step,
            "epoch": state.epoch,
            "best_epoch": state.best_epoch,
            "train_config": config.to_dict(),
        }
        metrics = {
            k: (v if v is None or math.isfinite(v) else None)
            for k, v in last.items()
            if isinstance(v, int | float) or v is None
        }
        card = {
            "name": f"{self.root.name}-{which}",
            "summary": card_text
            or (
                f"Trained with ichmodel from {start.source} (run {self.root.name}, epoch "
                f"{state.epoch}, step {state.step})."
            ),
            "provenance": start.provenance.value,
            "recommended_cam_flip_axes": list(start.cam_flip_axes),
        }
        was_training = net.training
        try:
            save_checkpoint(
                tmp,
                net,
                net_config=start.net_config,
                preprocess_config=start.preprocess_config,
                card=card,
                training=training,
                metrics=metrics,
                label_transform=start.label_transform,
            )
        finally:
            net.train(was_training)
        for produced in sorted(self.checkpoints.glob(f"{tmp_stem}*")):
            target = self.checkpoints / (f"{which}" + produced.name[len(tmp_stem):])
            os.replace(produced, target)
        return final

    def result(self, state: RunState, stopped: str, elapsed_s: float) -> TrainResult:
        best = self.checkpoint("best")
        last = self.checkpoint("last")
        return TrainResult(
            run_dir=self.root,
            best_checkpoint=best if best.is_file() else None,
            last_checkpoint=last if last.is_file() else None,
            best_epoch=state.best_epoch,
            best_val_loss=state.best_val_loss,
            steps=state.step,
            epochs_done=state.epoch,
            stopped=stopped,
            elapsed_s=elapsed_s,
            history=tuple(state.history),
        )


def _compare_configs(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [
        k
        for k in sorted(set(saved) | set(current))
        if k not in TrainConfig.RESUMABLE_CHANGES and saved.get(k) != current.get(k)
    ]


def read_prepared_run(run_dir: str | Path) -> tuple[RunFiles, Split]:
    """The files and split of a run folder another process (rank 0) has just prepared."""
    files = RunFiles(run_dir)
    if not files.split.is_file():
        raise TrainingError(f"{files.root} holds no split.json; rank 0 did not prepare the run")
    return files, Split.load(files.split)


def prepare_run_dir(
    run_dir: str | Path,
    data: TrainData,
    start: StartModel,
    config: TrainConfig,
    *,
    resume: bool,
) -> tuple[RunFiles, Split]:
    """Create (or, resuming, check) the run folder; returns its files and the split to use."""
    files = RunFiles(run_dir)
    ids = [c.case_id for c in data.cases]
    document = {
        "format": RUN_FORMAT,
        "train": config.to_dict(),
        "net": _to_dict(start.net_config),
        "preprocess": _to_dict(start.preprocess_config),
        "start": start.source,
        "cam_flip_axes": list(start.cam_flip_axes),
        "provenance": start.provenance.value,
        "label_transform": start.label_transform.to_dict(),
        "cache_dir": str(data.cache.root),
        "n_cases": len(ids),
        "data": data.description,
    }
    if resume:
        if not files.state.is_file() or not files.config.is_file():
            raise TrainingError(
                f"{files.root} holds no resumable run (no {files.state.name}); "
                "start it without --resume"
            )
        saved = json.loads(files.config.read_text())
        changed = _compare_configs(saved.get("train", {}), document["train"])
        if changed:
            raise TrainingError(
                f"cannot resume {files.root}: these settings differ from the saved run: "
                f"{', '.join(changed)} (only {', '.join(TrainConfig.RESUMABLE_CHANGES)} may)"
            )
        if saved.get("net") != document["net"] or saved.get("preprocess") != document["preprocess"]:
            raise TrainingError(
                f"cannot resume {files.root}: the network or preprocessing config differs "
                "from the saved run"
            )
        split = Split.load(files.split)
        if set(split.train) | set(split.val) | set(split.test) != set(ids):
            raise TrainingError(
                f"cannot resume {files.root}: its cases differ from the saved split; "
                "use the same manifest"
            )
        _atomic_text(files.config, json.dumps(saved | {"train": document["train"]}, indent=1))
        return files, split
    if files.state.is_file():
        raise TrainingError(
            f"{files.root} already holds a training run; use --resume to continue it or "
            "choose another --out folder"
        )
    files.checkpoints.mkdir(parents=True, exist_ok=True)
    if data.split is not None:
        split = reconcile_split(data.split, ids)
    else:
        split = make_split(
            ids,
            [c.poor_outcome for c in data.cases],
            val_fraction=config.val_fraction,
            seed=config.seed,
            fixed={c.case_id: c.split for c in data.cases if c.split},
        )
    split.save(files.split)
    _atomic_text(files.config, json.dumps(document, indent=1, default=str))
    return files, split
