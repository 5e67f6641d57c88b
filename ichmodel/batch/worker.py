"""What one worker does with one job: read each study in it and return its rows.

Runs in a worker process (or in the caller's for ``jobs=1``), so it is a plain top-level
function of picklable arguments. Every failure becomes an error row: one bad study never ends
the cohort. The model is loaded once per process and reused.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from pathlib import Path

from ichmodel.batch.request import BatchRequest
from ichmodel.batch.rows import Row, error_row, reading_row
from ichmodel.batch.sources import BatchJob
from ichmodel.errors import ICHError

log = logging.getLogger(__name__)

_models: dict[str, object] = {}


def init_worker(predicts: bool = True) -> None:
    """One torch thread per worker: the workers are the parallelism, and results then do not
    depend on how many threads a machine has (rows are identical whatever the backend). A
    measure-only worker never imports torch (it starts ~2 s sooner)."""
    if predicts:
        import torch

        torch.set_num_threads(1)


def _model(request: BatchRequest):
    from ichmodel.active_model import default_model
    from ichmodel.checkpoint import load_checkpoint

    key = str(request.checkpoint or "")
    if key not in _models:
        checkpoint = request.checkpoint
        _models[key] = load_checkpoint(checkpoint) if checkpoint else default_model()
    return _models[key]


def process_job(job: BatchJob, request: BatchRequest) -> list[Row]:
    """The rows of one job: one per study found in it (an error row when it holds none)."""
    from ichmodel.io.scan import scan_study

    try:
        scan = scan_study(job.source)
    except ICHError as exc:
        return [error_row(job.key, str(exc))]
    except Exception as exc:  # noqa: BLE001 - an unexpected failure is that job's row
        log.exception("batch: job %s failed while scanning", job.key)
        return [error_row(job.key, f"internal error ({type(exc).__name__}: {exc})")]
    studies: dict[str, list[Path]] = defaultdict(list)
    for series in scan.series:
        studies[series.study_uid].extend(series.files)
    if len(studies) <= 1:
        return [_read_one(job.key, scan, scan.series[0].study_uid if scan.series else "",
                          request)]
    return [_read_one(job.key, scan_study(sorted(files)), uid, request)
            for uid, files in sorted(studies.items())]


def _read_one(key: str, scan, study_uid: str, request: BatchRequest) -> Row:
    from ichmodel.io.load import select_series
    from ichmodel.progress import run_to_completion
    from ichmodel.reading import (
        NO_MODEL,
        HeatmapOptions,
        ReadOptions,
        complete_reading,
        load_reading,
    )

    t0 = time.perf_counter()
    try:
        series = select_series(scan, None)
        reading = run_to_completion(load_reading(scan, series, key))
        model = _model(request) if request.predicts else NO_MODEL
        options = ReadOptions(model=model, device=request.device, hu_range=request.hu_range,
                              heatmap=HeatmapOptions(head=None))
        reading = run_to_completion(complete_reading(reading, options))
    except ICHError as exc:
        return error_row(key, str(exc), study_uid=study_uid)
    except Exception as exc:  # noqa: BLE001 - an unexpected failure is that study's row
        log.exception("batch: a study of job %s failed", key)
        return error_row(key, f"internal error ({type(exc).__name__}: {exc})",
                         study_uid=study_uid)
    return reading_row(key, reading, time.perf_counter() - t0)
