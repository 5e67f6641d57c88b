"""The resumable training state, stored without pickle: safetensors for tensors, JSON for the rest.

One file (``state.safetensors``) holds the model's state dict (``model.*``), the optimizer's
per-parameter tensors (``optim.<param index>.<name>``), the torch RNG states (``rng.*``) and, in
the safetensors metadata, a JSON document with everything else (step, epoch, position in the
epoch, best validation loss, history, configs, the optimizer's non-tensor state). Writing goes
to a temporary file that is renamed over the old one, so a killed run always leaves either the
previous state or the new one, never a torn file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ichmodel.errors import TrainingError

log = logging.getLogger(__name__)

STATE_FORMAT = 1
_META_KEY = "ichmodel_train_state"


@dataclass(frozen=True)
class TrainState:
    """What :func:`load_train_state` returns."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: dict[str, torch.Tensor]
    info: dict[str, Any]


def _tensor(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu").contiguous().clone()


def save_train_state(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    info: dict[str, Any],
) -> Path:
    """Atomically write model + optimizer + RNG + ``info`` (JSON-able) to ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        tensors[f"model.{name}"] = _tensor(value)
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in opt["state"].items():
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = _tensor(value)
            else:
                scalars.setdefault(str(pid), {})[key] = value
    tensors["rng.torch"] = _tensor(torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = _tensor(torch.cuda.get_rng_state())
    document = {
        "format": STATE_FORMAT,
        "info": info,
        "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
    }
    metadata = {_META_KEY: json.dumps(document)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.debug("saved training state to %s (step %s)", path, info.get("step"))
    return path


def load_train_state(path: str | Path) -> TrainState:
    """Read a state written by :func:`save_train_state`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise TrainingError(
            f"no training state at {path}; nothing to resume (start without --resume)"
        )
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        document = json.loads(metadata[_META_KEY])
    except (OSError, KeyError, ValueError) as exc:
        raise TrainingError(
            f"training state {path} is unreadable ({exc}); start a new run folder"
        ) from exc
    if document.get("format") != STATE_FORMAT:
        raise TrainingError(f"training state {path} has format {document.get('format')}, "
                            f"this version reads {STATE_FORMAT}")
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, values in document["optimizer"]["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    optimizer = {"state": state, "param_groups": document["optimizer"]["param_groups"]}
    rng = {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}
    return TrainState(model=model, optimizer=optimizer, rng=rng, info=document["info"])


def restore_rng(rng: dict[str, torch.Tensor]) -> None:
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
