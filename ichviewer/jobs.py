"""The functions the worker threads run (no Qt here): the steps of :mod:`ichmodel.reading`.

Each imports its ichmodel module lazily, inside the function, so the window can appear before
torch and SimpleITK have loaded. They return values or ichmodel progress generators for
:class:`ichviewer.workers.Job`. They are the same steps ``ichmodel.reading.read_study`` runs
for the CLI, taken one by one so the first slice shows before the results.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

from ichmodel.progress import Progress

if TYPE_CHECKING:
    from ichmodel.checkpoint import LoadedModel
    from ichmodel.io.scan import SeriesInfo, StudyScan
    from ichmodel.measure import MeasureContext
    from ichmodel.measure.types import Measurement
    from ichmodel.predict import Prediction
    from ichmodel.reading import ModelIdentity, StudyReading

log = logging.getLogger(__name__)


def warm_up_readers() -> None:
    """Import the DICOM readers and the measurement (pydicom, scipy.ndimage: ~1 s cold) so
    the first study opened later does not wait for them."""
    import ichmodel.io.load  # noqa: F401
    import ichmodel.io.scan  # noqa: F401
    import ichmodel.measure  # noqa: F401


def scan_study(source: Path | list[Path]) -> Generator[Progress, None, StudyScan]:
    """``ichmodel.io.scan.iter_scan_study`` (headers only), as a generator: the worker can
    stop it between files (and at each yield)."""
    from ichmodel.io.scan import iter_scan_study

    return iter_scan_study(source)


def load_reading(
    scan: StudyScan | None, series_info: SeriesInfo, label: str
) -> Generator[Progress, None, StudyReading]:
    """``ichmodel.reading.load_reading``: the series' volume as a first reading."""
    from ichmodel.reading import load_reading as _load

    return _load(scan, series_info, label)


class Measurer:
    """Measures one reading's volume; keeps the measurement context so a live HU-range change
    takes the fast path. Used from the io lane only (one job at a time)."""

    def __init__(self, reading: StudyReading) -> None:
        self.reading = reading
        self._context: MeasureContext | None = None
        self._lock = threading.Lock()

    @property
    def context(self) -> MeasureContext | None:
        """The cached context (None until the first measurement)."""
        return self._context

    def measure(self, hu_range: tuple[float, float] | None = None) -> Measurement:
        from ichmodel.measure import MeasureContext
        from ichmodel.reading import measure_params

        params = measure_params(hu_range)
        with self._lock:
            if self._context is None:
                self._context = MeasureContext(self.reading.volume)
            return self._context.measure(params)


class ModelCache:
    """The active model, loaded once in the model lane and reused by every prediction.

    ``path`` None means ``ichmodel.active_model.default_model()`` (bundled demo weights, or the
    loudly-labelled untrained model). ``set_path`` switches (the next ``get`` loads it).
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._model: LoadedModel | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> LoadedModel | None:
        return self._model

    def set_path(self, path: Path | None) -> None:
        with self._lock:
            self._path = path
            self._model = None

    def set_model(self, model: LoadedModel) -> None:
        """Use an already loaded model (tests pass tiny untrained nets this way)."""
        with self._lock:
            self._model = model

    def get(self) -> LoadedModel:
        with self._lock:
            if self._model is None:
                from ichmodel import active_model, checkpoint

                if self._path is None:
                    self._model = active_model.default_model()
                else:
                    self._model = checkpoint.load_checkpoint(self._path)
                log.info("active model: %s", self._model.name)
            return self._model


def load_model(cache: ModelCache, device: str | None = None) -> LoadedModel:
    """The active model; with ``device``, also its inference-ready copy for that device
    (BatchNorm folded, memory layout) so the first prediction does not pay for it."""
    model = cache.get()
    if device is not None:
        from ichmodel.predict import get_predictor

        get_predictor(model, device)
    return model


def predict(
    reading: StudyReading, cache: ModelCache, *, device: str = "auto", cam_head: str = "volume"
) -> Generator[Progress, None, tuple[Prediction, ModelIdentity]]:
    """``ichmodel.reading.predict_reading`` with the active model and its card's recommended
    Grad-CAM flips; returns the prediction and the identity of the model that made it."""
    from ichmodel.reading import HeatmapOptions, ModelIdentity, predict_reading

    model = cache.get()
    prediction = yield from predict_reading(reading, model, device=device,
                                            heatmap=HeatmapOptions(head=cam_head))
    return prediction, ModelIdentity.of(model)
