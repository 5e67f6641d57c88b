"""Reading a study: open → measure ‖ predict → :class:`StudyReading`, one path for everyone.

:func:`read_study` runs the whole flow as one progress generator (the CLI). The viewer runs the
same steps in separate worker lanes so the first slice shows as soon as the volume is loaded:
:func:`open_study` (scan + load, yields progress, returns the first reading),
:func:`measure_params` + :class:`~ichmodel.measure.MeasureContext` (the measurement), and
:func:`predict_reading` (the model), each result joined with ``StudyReading.with_*``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ichmodel.errors import InputError
from ichmodel.measure.types import Measurement, MeasureParams
from ichmodel.progress import Progress
from ichmodel.reading import rules
from ichmodel.reading.types import ModelIdentity, StudyReading

if TYPE_CHECKING:  # measuring alone never imports torch
    from ichmodel.checkpoint import LoadedModel
    from ichmodel.io.scan import SeriesInfo, StudyScan
    from ichmodel.predict import Prediction


StudySource = str | Path | Iterable[str | Path]

#: ``model=NO_MODEL``: measure only (``ichmodel measure``).
NO_MODEL = "none"


def source_label(source: StudySource) -> str:
    """A short description of where a study came from, for the window title and reports."""
    if isinstance(source, str | Path):
        return str(source)
    paths = list(source)
    return str(paths[0]) if len(paths) == 1 else f"{len(paths)} files"


def open_study(
    source: StudySource, *, series_uid: str | None = None
) -> Generator[Progress, None, StudyReading]:
    """Scan ``source`` (folder, zip, DICOMDIR or files) and load its picked series (or
    ``series_uid``, a UID or key from the scan); returns a reading holding only the volume."""
    from ichmodel.io.load import select_series
    from ichmodel.io.scan import iter_scan_study

    if not isinstance(source, str | Path):
        source = [Path(p) for p in source]
        source = source[0] if len(source) == 1 else source
    scan = yield from iter_scan_study(source)
    series = select_series(scan, series_uid)
    return (yield from load_reading(scan, series, source_label(source)))


def load_reading(
    scan: StudyScan | None, series: SeriesInfo, label: str = ""
) -> Generator[Progress, None, StudyReading]:
    """Load one series of a scan (the viewer calls this when the reader picks a series)."""
    from ichmodel.io.load import load_series

    volume = yield from load_series(series)
    if scan is not None:
        extra = tuple(n for n in scan.notices if n not in volume.notices)
        volume = volume.with_notices(*extra) if extra else volume
    return StudyReading(volume=volume, source_label=label, scan=scan, series=series)


def measure_params(hu_range: tuple[float, float] | None = None) -> MeasureParams:
    """The measurement's parameters for a blood HU range (None: :data:`rules.DEFAULT_HU_RANGE`),
    with a clear error for a reversed range (:meth:`MeasureParams.for_hu_range`)."""
    return MeasureParams.for_hu_range(hu_range)


def measure_reading(
    reading: StudyReading, hu_range: tuple[float, float] | None = None
) -> Measurement:
    """The classical measurement of the reading's volume (no model)."""
    from ichmodel.measure import measure

    return measure(reading.volume, measure_params(hu_range))


@dataclass(frozen=True)
class HeatmapOptions:
    """Which Grad-CAM a prediction carries: ``head`` 'volume' or 'prognosis' (None: no
    heatmap), ``layer`` 'layer4' (the paper's) or 'layer3' (finer), and the test-time flips it
    is averaged over (None: what the model's card recommends,
    :attr:`~ichmodel.model_card.ModelCard.recommended_cam_flip_axes`)."""

    head: str | None = "volume"
    layer: str = "layer4"
    flip_axes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.head is not None and self.head not in rules.CAM_HEADS:
            raise InputError(f"the heatmap explains one of {rules.CAM_HEADS}, not {self.head!r}")


def predict_reading(
    reading: StudyReading,
    model: LoadedModel,
    *,
    device: str = "auto",
    heatmap: HeatmapOptions = HeatmapOptions(),
) -> Generator[Progress, None, Prediction]:
    """The model's prediction for the reading's volume, with the heatmap ``heatmap`` asks for."""
    from ichmodel.predict import predict

    flips = (model.card.recommended_cam_flip_axes if heatmap.flip_axes is None
             else heatmap.flip_axes)
    return (yield from predict(
        reading.volume, model, device=device, cam_head=heatmap.head, cam_layer=heatmap.layer,
        cam_flip_axes=tuple(flips),
    ))


@dataclass(frozen=True)
class ReadOptions:
    """How a loaded study is measured and predicted (see :func:`read_study`)."""

    model: LoadedModel | str | None = None
    device: str = "auto"
    hu_range: tuple[float, float] | None = None
    measure: bool = True
    heatmap: HeatmapOptions = HeatmapOptions()


def read_study(
    source: StudySource,
    *,
    series_uid: str | None = None,
    model: LoadedModel | str | None = None,
    device: str = "auto",
    hu_range: tuple[float, float] | None = None,
    measure: bool = True,
    heatmap: HeatmapOptions = HeatmapOptions(),
) -> Generator[Progress, None, StudyReading]:
    """Read one study: scan, load, measure and predict; yields :class:`Progress`, returns the
    :class:`StudyReading`.

    ``model``: a loaded model, None for the active one (registry, else the bundled demo, else the
    loudly labelled untrained network), or :data:`NO_MODEL` to measure only (the reading then
    says why it has no prediction). ``hu_range``: the blood range in HU (default 50-90).
    ``measure`` False skips the measurement (``ichmodel predict``); ``heatmap`` chooses the
    Grad-CAM (:class:`HeatmapOptions`). Closing the generator between steps cancels.
    """
    options = ReadOptions(model, device, hu_range, measure, heatmap)
    measure_params(hu_range)  # a bad range fails before anything slow
    reading = yield from open_study(source, series_uid=series_uid)
    return (yield from complete_reading(reading, options))


def complete_reading(
    reading: StudyReading, options: ReadOptions = ReadOptions()
) -> Generator[Progress, None, StudyReading]:
    """Measure and predict a reading that holds its volume (``ichmodel batch`` calls it on each
    study of a folder; :func:`read_study` after opening one)."""
    params = measure_params(options.hu_range)
    if options.measure:
        yield Progress("measure", 0, 1, "Measuring the hematoma")
        from ichmodel.measure import measure as measure_volume

        reading = reading.with_measurement(measure_volume(reading.volume, params))
        yield Progress("measure", 1, 1, "Measured")
    model = options.model
    if isinstance(model, str):
        if model != NO_MODEL:
            raise ValueError(f"model is a LoadedModel, None or {NO_MODEL!r}, got {model!r}")
        return reading.without_prediction("no model was asked for (measurement only)")
    if model is None:
        from ichmodel.active_model import default_model

        model = default_model()
    identity = ModelIdentity.of(model)
    prediction = yield from predict_reading(reading.with_model(identity), model,
                                            device=options.device, heatmap=options.heatmap)
    return reading.with_prediction(prediction, identity)
