"""Where the workers run: this process, a local process pool, Dask or Ray.

Each backend takes the jobs and yields (job, rows) as jobs finish, in any order; the caller
writes them. Dask and Ray are optional extras (``pip install 'ichviewer[cluster]'``): a missing
one is a clear error, never an import failure at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ichmodel.batch.request import BatchRequest
from ichmodel.batch.rows import Row
from ichmodel.batch.sources import BatchJob
from ichmodel.batch.worker import init_worker, process_job
from ichmodel.errors import InputError

Finished = tuple[BatchJob, list[Row]]


def run_jobs(jobs: Sequence[BatchJob], request: BatchRequest) -> Iterator[Finished]:
    if not jobs:
        return iter(())
    if request.backend == "dask":
        return _dask(jobs, request)
    if request.backend == "ray":
        return _ray(jobs, request)
    if request.jobs == 1:
        return _serial(jobs, request)
    return _process_pool(jobs, request)


def _serial(jobs: Sequence[BatchJob], request: BatchRequest) -> Iterator[Finished]:
    restore_threads = None
    if request.predicts:  # as a worker process would be, restored after: this is the caller's
        import torch

        restore_threads = torch.get_num_threads()
        init_worker()
    try:
        for job in jobs:
            yield job, process_job(job, request)
    finally:
        if restore_threads is not None:
            torch.set_num_threads(restore_threads)


def _process_pool(jobs: Sequence[BatchJob], request: BatchRequest) -> Iterator[Finished]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: a forked child would inherit torch's thread pools and any open GUI/IO state
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(request.jobs, mp_context=context, initializer=init_worker,
                             initargs=(request.predicts,)) as pool:
        # at most two jobs queued per worker: a killed run loses little, memory stays flat
        pending = {}
        queue = list(jobs)
        while queue or pending:
            while queue and len(pending) < 2 * request.jobs:
                job = queue.pop(0)
                pending[pool.submit(process_job, job, request)] = job
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()


def _dask(jobs: Sequence[BatchJob], request: BatchRequest) -> Iterator[Finished]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise InputError(
            "--backend dask needs Dask: pip install 'dask[distributed]' (or the cluster extra)"
        ) from exc
    cluster = None
    if request.scheduler:
        client = Client(request.scheduler)
    else:
        # a local cluster listens on the loopback interface only
        cluster = LocalCluster(n_workers=request.jobs, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    try:
        client.run(init_worker, request.predicts)
        futures = {client.submit(process_job, job, request, pure=False): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _ray(jobs: Sequence[BatchJob], request: BatchRequest) -> Iterator[Finished]:
    try:
        import ray
    except ImportError as exc:
        raise InputError("--backend ray needs Ray: pip install ray (or the cluster extra)") from exc
    started = not ray.is_initialized()
    if started:
        if request.scheduler:
            ray.init(address=request.scheduler)
        else:
            ray.init(num_cpus=request.jobs, include_dashboard=False, log_to_driver=False,
                     _node_ip_address="127.0.0.1")  # a local instance stays on loopback
    try:
        remote = ray.remote(num_cpus=1)(_ray_job)
        refs = {remote.remote(job, request): job for job in jobs}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            yield refs[done[0]], ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def _ray_job(job: BatchJob, request: BatchRequest) -> list[Row]:
    init_worker(request.predicts)
    return process_job(job, request)
