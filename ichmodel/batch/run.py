"""``run_batch``: discover, shard, skip what a previous run finished, run, write the table."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator

from ichmodel.batch.backends import run_jobs
from ichmodel.batch.request import BatchRequest, BatchSummary
from ichmodel.batch.sources import discover_jobs, shard
from ichmodel.batch.store import RowLog, read_log, write_table
from ichmodel.progress import Progress

log = logging.getLogger(__name__)


def run_batch(request: BatchRequest) -> Generator[Progress, None, BatchSummary]:
    """Run a cohort; yields progress (with ``metrics["eta_s"]``), returns the summary.

    Rows are appended to ``request.rows_log`` as each job finishes; with ``resume`` the jobs
    found there are skipped, so a killed run finishes with every study exactly once. The table
    at ``request.out`` is written (atomically) at the end from the log.
    """
    t0 = time.perf_counter()
    jobs = shard(discover_jobs(request.source), request.num_parts, request.part_id)
    done = read_log(request.rows_log) if request.resume else {}
    todo = [job for job in jobs if job.key not in done]
    skipped = len(jobs) - len(todo)
    yield Progress("batch", 0, len(todo), f"{len(todo)} job(s) to run, {skipped} already done")
    rows_log = RowLog(request.rows_log, fresh=not request.resume)
    finished = 0
    try:
        for job, rows in run_jobs(todo, request):
            rows_log.append(job.key, rows)
            done[job.key] = rows
            finished += 1
            elapsed = time.perf_counter() - t0
            eta = elapsed / finished * (len(todo) - finished)
            yield Progress("batch", finished, len(todo), f"{job.key} done, ETA {eta:.0f} s",
                           metrics={"eta_s": eta})
    finally:
        rows_log.close()
    wanted = {job.key for job in jobs}
    rows = [row for key, job_rows in done.items() if key in wanted for row in job_rows]
    write_table(request.out, rows)
    summary = BatchSummary(
        out=request.out, n_jobs=len(jobs), n_rows=len(rows),
        n_failed=sum(1 for row in rows if row["status"] != "ok"), n_skipped=skipped,
        seconds=time.perf_counter() - t0,
    )
    log.info("batch: %s", summary.to_dict())
    return summary
