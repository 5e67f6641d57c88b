"""A small registry of trained models in the user's data folder, and which one is active.

Layout: ``<data dir>/models/<name>/model.safetensors`` (+ its JSON sidecar) per registered model
and ``<data dir>/models/registry.json`` holding ``{"active": name | null}``. The data folder is
``$ICHVIEWER_DATA_DIR`` when set (tests use it), else the platform's user data folder
(``$XDG_DATA_HOME/ichviewer`` or ``~/.local/share/ichviewer`` on Linux,
``~/Library/Application Support/ichviewer`` on macOS, ``%LOCALAPPDATA%\\ichviewer`` on Windows).

The bundled demo model (:func:`ichmodel.resources.demo_model_path`) is always listed as
``"demo"`` and cannot be removed; "rollback" makes it the active model again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ichmodel.errors import InputError
from ichmodel.model_card import Provenance
from ichmodel.resources import demo_model_path

if TYPE_CHECKING:
    from ichmodel.checkpoint import LoadedModel

log = logging.getLogger(__name__)

ENV_DATA_DIR = "ICHVIEWER_DATA_DIR"
BUNDLED_NAME = "demo"
WEIGHTS_NAME = "model.safetensors"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RegistryError(InputError):
    """A model name or registry operation cannot be honoured."""


@dataclass(frozen=True)
class ModelEntry:
    """One model the user can pick."""

    name: str
    path: Path
    bundled: bool
    active: bool
    card: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    registered: str = ""


def data_dir() -> Path:
    """The user's ichviewer data folder (not created)."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "ichviewer"


def models_dir() -> Path:
    return data_dir() / "models"


def _registry_file() -> Path:
    return models_dir() / "registry.json"


def _read_registry() -> dict[str, Any]:
    path = _registry_file()
    if not path.is_file():
        return {"active": None}
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {"active": None}
    except (OSError, ValueError):
        log.warning("model registry %s is unreadable; using the bundled model", path)
        return {"active": None}


def _write_registry(data: dict[str, Any]) -> None:
    path = _registry_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".registry.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def _sidecars(weights: Path) -> list[Path]:
    """The checkpoint's weights file and the files beside it sharing its stem."""
    stem = weights.name[: -len(".safetensors")] if weights.name.endswith(".safetensors") else (
        weights.stem
    )
    return sorted(p for p in weights.parent.glob(f"{stem}.*") if p.is_file())


def _describe(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(card, metrics) of a checkpoint, read from its JSON sidecar/metadata; {} when unreadable."""
    from ichmodel.checkpoint import read_document

    try:
        info = read_document(path)
    except Exception as exc:  # noqa: BLE001 - a broken entry must not break the listing
        log.warning("cannot read model %s: %s", path, exc)
        return {"error": str(exc)}, {}
    card = info.get("card") or {}
    if isinstance(card, str):
        card = {"summary": card}
    return dict(card), dict(info.get("metrics") or {})


def _registered_dirs() -> list[Path]:
    root = models_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / WEIGHTS_NAME).is_file())


def active_name() -> str:
    """The active model's name (``"demo"`` unless the user picked another)."""
    name = _read_registry().get("active")
    if name and (models_dir() / name / WEIGHTS_NAME).is_file():
        return str(name)
    if name:
        log.warning("active model %r is missing from %s; using the bundled model", name,
                    models_dir())
    return BUNDLED_NAME


def active_model_path() -> Path | None:
    """Weights of the active model: the user's pick, else the bundled demo, else None."""
    name = active_name()
    if name != BUNDLED_NAME:
        return models_dir() / name / WEIGHTS_NAME
    demo = demo_model_path()
    return demo if demo.is_file() else None


def list_models(*, with_details: bool = True) -> list[ModelEntry]:
    """The bundled demo (when shipped) and every registered model, the active one flagged."""
    active = active_name()
    entries = []
    demo = demo_model_path()
    if demo.is_file():
        card, metrics = _describe(demo) if with_details else ({}, {})
        entries.append(ModelEntry(BUNDLED_NAME, demo, True, active == BUNDLED_NAME, card, metrics))
    for folder in _registered_dirs():
        weights = folder / WEIGHTS_NAME
        card, metrics = _describe(weights) if with_details else ({}, {})
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(weights.stat().st_mtime))
        entries.append(
            ModelEntry(folder.name, weights, False, active == folder.name, card, metrics, stamp)
        )
    return entries


def _check_name(name: str) -> str:
    if name == BUNDLED_NAME or not _NAME_RE.match(name):
        raise RegistryError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' or '-' (not 'demo')"
        )
    return name


def register_model(
    checkpoint: str | Path,
    name: str | None = None,
    *,
    activate: bool = False,
    provenance: Provenance | str | None = None,
) -> ModelEntry:
    """Copy a checkpoint (weights + sidecar) into the registry after verifying it loads.

    The file's recorded :class:`~ichmodel.model_card.Provenance` is kept: ``provenance`` may
    only repeat it. A file that recorded none (``unrecorded``, checkpoint schema 1) needs
    ``provenance``; it is then registered as a schema 2 copy whose card records it (the
    weights, and so the model's SHA-256, unchanged).
    """
    from ichmodel.checkpoint import load_checkpoint

    checkpoint = Path(checkpoint)
    model = load_checkpoint(checkpoint)  # refuses tampered/mismatched/pickle files clearly
    stated = _registered_provenance(checkpoint, model.provenance, provenance)
    if name is None:
        name = f"model-{time.strftime('%Y%m%d-%H%M%S')}"
    _check_name(name)
    target = models_dir() / name
    if target.exists():
        raise RegistryError(f"a model named {name!r} is already registered; pick another name")
    stem = checkpoint.name[: -len(".safetensors")]
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=_ensure(models_dir())))
    try:
        if stated is None:
            for src in _sidecars(checkpoint):
                shutil.copy2(src, tmp / ("model" + src.name[len(stem):]))
        else:
            _save_with_provenance(model, tmp / WEIGHTS_NAME, stated)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("registered model %s from %s", name, checkpoint)
    if activate:
        set_active(name)
    return next(e for e in list_models() if e.name == name)


def _registered_provenance(
    checkpoint: Path, recorded: Provenance, given: Provenance | str | None
) -> Provenance | None:
    """The provenance to write into the registered copy; None: copy the file as it is."""
    if given is not None:
        try:
            given = Provenance(given)
        except ValueError:
            raise RegistryError(
                f"provenance must be one of site, synthetic, untrained; got {given!r}"
            ) from None
        if given is Provenance.UNRECORDED:
            raise RegistryError("'unrecorded' is not a provenance one can state; give site, "
                                "synthetic or untrained")
    if recorded is Provenance.UNRECORDED:
        if given is None:
            raise RegistryError(
                f"{checkpoint.name} does not record where its training data came from (a file "
                "from before checkpoint schema 2); say it: --provenance site (trained on real "
                "cases), synthetic (phantoms) or untrained"
            )
        return given
    if given is not None and given is not recorded:
        raise RegistryError(
            f"{checkpoint.name} records provenance '{recorded.value}'; a recorded provenance "
            f"is kept, so --provenance {given.value} cannot change it (drop --provenance)"
        )
    return None


def _save_with_provenance(model: LoadedModel, path: Path, provenance: Provenance) -> None:
    from ichmodel.checkpoint import save_checkpoint

    save_checkpoint(
        path,
        model.net,
        net_config=model.net_config,
        preprocess_config=model.preprocess_config,
        card=dataclasses.replace(model.card, provenance=provenance),
        training=model.training,
        metrics=model.metrics,
        dtype=model.weights_dtype,
        label_transform=model.label_transform,
    )
    log.info("recorded provenance %s for %s", provenance.value, model.name)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_active(name: str) -> None:
    """Make ``name`` (a registered model or ``"demo"``) the model predictions use."""
    if name == BUNDLED_NAME:
        rollback()
        return
    if not (models_dir() / name / WEIGHTS_NAME).is_file():
        known = ", ".join([BUNDLED_NAME] + [p.name for p in _registered_dirs()])
        raise RegistryError(f"no model named {name!r}; known models: {known}")
    _write_registry(_read_registry() | {"active": name})
    log.info("active model: %s", name)


def rollback() -> None:
    """Make the bundled demo model active again."""
    _write_registry(_read_registry() | {"active": None})
    log.info("active model: bundled %s", BUNDLED_NAME)


def remove_model(name: str) -> None:
    """Delete a registered model (the active one falls back to the bundled demo)."""
    _check_name(name)
    folder = models_dir() / name
    if not folder.is_dir():
        raise RegistryError(f"no registered model named {name!r}")
    if _read_registry().get("active") == name:
        rollback()
    shutil.rmtree(folder)
