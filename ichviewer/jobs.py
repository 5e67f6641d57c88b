"""The functions the worker threads run (no Qt here).

Each imports its ichmodel module lazily, inside the function, so the window can appear before
torch and SimpleITK have loaded. They return values or ichmodel progress generators for
:class:`ichviewer.workers.Job`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

from ichmodel.progress import Progress
from ichmodel.volume import Volume

log = logging.getLogger(__name__)


def warm_up_readers() -> None:
    """Import the DICOM readers and the measurement (pydicom, scipy.ndimage: ~1 s cold) so
    the first study opened later does not wait for them."""
    import ichmodel.io.load  # noqa: F401
    import ichmodel.io.scan  # noqa: F401
    import ichmodel.measure  # noqa: F401


def scan_study(source: Path | list[Path]) -> Any:
    """``ichmodel.io.scan.scan_study`` (headers only)."""
    from ichmodel.io.scan import scan_study as _scan

    return _scan(source)


def load_series(series_info: Any) -> Generator[Progress, None, Volume]:
    """``ichmodel.io.load.load_series`` (a progress generator returning the Volume)."""
    from ichmodel.io.load import load_series as _load

    return _load(series_info)


class Measurer:
    """Measures one volume; keeps the measurement context so a live HU-range change takes the
    fast path. Used from the io lane only (one job at a time)."""

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        self._context: Any = None
        self._lock = threading.Lock()

    def measure(self, hu_min: float | None = None, hu_max: float | None = None) -> Any:
        from ichmodel import measure as measure_module

        params = measure_module.MeasureParams()
        if hu_min is not None and hu_max is not None:
            from dataclasses import replace

            params = replace(params, hu_min=float(hu_min), hu_max=float(hu_max))
        with self._lock:
            context_cls = getattr(measure_module, "MeasureContext", None)
            if context_cls is None:
                return measure_module.measure(self.volume, params)
            if self._context is None:
                self._context = context_cls(self.volume)
            return self._context.measure(params)


class ModelCache:
    """The active model, loaded once in the model lane and reused by every prediction.

    ``path`` None means ``ichmodel.active_model.default_model()`` (bundled demo weights, or the
    loudly-labelled untrained model). ``set_path`` switches (the next ``get`` loads it).
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> Any:
        return self._model

    def set_path(self, path: Path | None) -> None:
        with self._lock:
            self._path = path
            self._model = None

    def set_model(self, model: Any) -> None:
        """Use an already loaded model (tests pass tiny untrained nets this way)."""
        with self._lock:
            self._model = model

    def get(self) -> Any:
        with self._lock:
            if self._model is None:
                from ichmodel import active_model, checkpoint

                if self._path is None:
                    self._model = active_model.default_model()
                else:
                    self._model = checkpoint.load_checkpoint(self._path)
                log.info("active model: %s", getattr(self._model, "name", self._model))
            return self._model


def load_model(cache: ModelCache, device: str | None = None) -> Any:
    """The active model; with ``device``, also its inference-ready copy for that device
    (BatchNorm folded, memory layout) so the first prediction does not pay for it."""
    model = cache.get()
    if device is not None and hasattr(model, "net"):
        from ichmodel.predict import get_predictor

        get_predictor(model, device)
    return model


def predict(
    volume: Volume, cache: ModelCache, *, device: str = "auto", cam_head: str = "volume"
) -> Generator[Progress, None, Any]:
    """Model inference + Grad-CAM for ``cam_head`` (a progress generator → Prediction)."""
    from ichmodel.predict import predict as _predict

    model = cache.get()
    return _predict(volume, model, device=device, cam_head=cam_head,
                    cam_flip_axes=model.card.recommended_cam_flip_axes)
