"""Cohort scale: measure (and predict) every study under a folder tree or in a manifest.

::

    from ichmodel.batch import BatchRequest, run_batch
    from ichmodel.progress import run_to_completion

    summary = run_to_completion(run_batch(BatchRequest(root=Path("cohort"), out=Path("r.csv"))))

One row per study (see :mod:`ichmodel.batch.rows`), written as it finishes (append + fsync), so a
run killed at any moment resumes with ``resume=True`` and ends with every study exactly once.
Backends: the standard-library process pool (default), Dask (``LocalCluster`` or a scheduler
address) and Ray (local or ``ray://``); the last two are optional extras.
"""

from ichmodel.batch.request import BACKENDS, WHAT, BatchRequest, BatchSummary
from ichmodel.batch.run import run_batch
from ichmodel.batch.sources import BatchJob, discover_jobs

__all__ = [
    "BACKENDS",
    "WHAT",
    "BatchJob",
    "BatchRequest",
    "BatchSummary",
    "discover_jobs",
    "run_batch",
]
