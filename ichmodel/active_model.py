"""Which model ``predict`` uses when none is named: the registry's active model, else the bundled
demo, else a loudly labelled untrained network; and a memoised loader for them.

Kept apart from :mod:`ichmodel.checkpoint` (the file format) and :mod:`ichmodel.registry` (the
user's models folder) so that neither imports the other's callers.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

import torch

from ichmodel.checkpoint import LoadedModel, load_checkpoint, weights_sha256
from ichmodel.errors import CheckpointError
from ichmodel.nets.resnet3d import ICHNet, NetConfig
from ichmodel.preprocess import PreprocessConfig

log = logging.getLogger(__name__)

UNTRAINED_NET_CONFIG = NetConfig(depth=34, base_width=16)
UNTRAINED_SEED = 0

_cache_lock = threading.Lock()
_cache: dict[tuple, LoadedModel] = {}


def untrained_model() -> LoadedModel:
    """A deterministic randomly initialised ResNet34 (width 16), named 'untrained'.

    Every prediction made with it carries a loud warning (see :attr:`LoadedModel.warnings`).
    The same object is returned on every call.
    """
    from ichmodel.model_card import UNTRAINED_CARD

    with _cache_lock:
        cached = _cache.get(("untrained",))
        if cached is not None:
            return cached
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(UNTRAINED_SEED)
            net = ICHNet(UNTRAINED_NET_CONFIG).eval()
        model = LoadedModel(
            name="untrained",
            sha256=weights_sha256(net.state_dict()),
            net=net,
            net_config=UNTRAINED_NET_CONFIG,
            preprocess_config=PreprocessConfig(),
            card=UNTRAINED_CARD,
            training={"seed": UNTRAINED_SEED, "epochs": 0},
        )
        _cache[("untrained",)] = model
        return model


def load_cached(path: str | Path) -> LoadedModel:
    """:func:`load_checkpoint`, memoised on (path, size, mtime) so re-use is free."""
    path = Path(path).resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} does not exist; check the path") from exc
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    model = load_checkpoint(path)
    with _cache_lock:
        for old in [k for k in _cache if k[0] == key[0]]:
            del _cache[old]
        _cache[key] = model
    return model


def _candidate_paths() -> list[tuple[str, Path]]:
    candidates: list[tuple[str, Path]] = []
    from ichmodel.registry import active_model_path

    try:
        active = active_model_path()
    except Exception as exc:  # noqa: BLE001 - a broken registry must not stop predictions
        log.warning("the model registry could not be read: %s", exc)
        active = None
    if active is not None:
        candidates.append(("active model", Path(active)))
    from ichmodel.resources import demo_model_path

    demo = demo_model_path()
    if demo.is_file() and all(p.resolve() != demo.resolve() for _, p in candidates):
        candidates.append(("bundled demo model", demo))
    return candidates


def default_model() -> LoadedModel:
    """The model ``predict`` uses without ``--checkpoint``.

    The registry's active model (``ichmodel.registry.active_model_path()``) when there is
    one, else the bundled demo model (``ichmodel.resources.demo_model_path()``), else
    :func:`untrained_model`. A candidate that fails to load is skipped, and the reason travels in
    the chosen model's ``load_warnings`` (never a silent fallback).
    """
    problems: list[str] = []
    for label, path in _candidate_paths():
        try:
            model = load_cached(path)
        except CheckpointError as exc:
            log.warning("%s %s could not be loaded: %s", label, path, exc)
            problems.append(f"the {label} ({path.name}) could not be loaded: {exc}")
            continue
        if problems:
            model = dataclasses.replace(model, load_warnings=tuple(problems))
        return model
    model = untrained_model()
    if problems:
        model = dataclasses.replace(model, load_warnings=tuple(problems))
    return model
