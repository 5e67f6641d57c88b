"""Data-parallel training over several processes (``torchrun --nproc_per_node N -m ichmodel
train …``): gloo on CPU, nccl on CUDA.

Each global batch (the same batches a single process draws, :func:`epoch_batches`) is split
across the ranks, the role of torch's ``DistributedSampler`` taken per batch so that a world of N
processes takes exactly the optimizer steps one process takes at the same global batch. After the
backward pass the gradients are all-reduced, weighted by each rank's share of the batch (what
``DistributedDataParallel`` does in buckets; done here on the one list of trainable parameters so
the loss terms keep reading the bare network's activations), and the BatchNorm running statistics
are averaged after each step, so every rank holds the same weights and buffers throughout. Each
rank needs 2 samples of every batch (BatchNorm), so a last batch smaller than twice the world
is left out of the epoch by all ranks. Only
rank 0 writes the run folder, checkpoints, logs and the registry; resuming needs the same world
size (the saved state records it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ichmodel.errors import TrainingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and logs progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    # --- collectives (no-ops in a world of one) -------------------------------------------
    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def agree(self, ok: bool) -> bool:
        """True only when every rank says True (a step is taken by all or by none)."""
        if not self.distributed:
            return ok
        flag = torch.tensor([1 if ok else 0], dtype=torch.int32, device=_device())
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        return bool(flag.item())

    def average_gradients(self, params: Sequence[torch.nn.Parameter], n_local: int) -> None:
        """Each gradient becomes the mean over the global batch: Σ_r n_r g_r / Σ_r n_r."""
        if not self.distributed:
            return
        total = torch.tensor([float(n_local)], device=_device())
        torch.distributed.all_reduce(total)
        for p in params:
            if p.grad is None:  # a parameter no rank used this step (all ranks alike)
                continue
            p.grad.mul_(float(n_local))
            torch.distributed.all_reduce(p.grad)
            p.grad.div_(total.to(p.grad.device))

    def average_buffers(self, buffers: Sequence[torch.Tensor]) -> None:
        """BatchNorm running statistics: the ranks' mean, so every rank holds the same."""
        if not self.distributed:
            return
        with torch.no_grad():
            for b in buffers:
                torch.distributed.all_reduce(b)
                b.div_(self.size)

    def sum_over_ranks(self, values: Sequence[float]) -> list[float]:
        """Each value summed over the ranks (the epoch's loss sums of the whole batch)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(list(values), dtype=torch.float64, device=_device())
        torch.distributed.all_reduce(t)
        return [float(v) for v in t.cpu()]

    def same_everywhere(self, tensors: Sequence[torch.Tensor]) -> bool:
        """True when every rank holds the same values (a checksum's min equals its max)."""
        if not self.distributed:
            return True
        sums = torch.stack([t.detach().double().sum() for t in tensors]).to(_device())
        low, high = sums.clone(), sums.clone()
        torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
        torch.distributed.all_reduce(high, op=torch.distributed.ReduceOp.MAX)
        return bool(torch.equal(low, high))

    def shard(self, batch: Sequence[int]) -> list[int]:
        """This rank's part of a global batch (every size-th sample from its rank on)."""
        return list(batch[self.rank :: self.size])


def _device() -> torch.device:
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def world_from_env(device: str = "auto") -> World:
    """The world torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK), its process group joined
    (nccl when this rank trains on CUDA, else gloo); a plain run is a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    wants_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if wants_cuda:
        if torch.cuda.device_count() <= local_rank:
            raise TrainingError(
                f"rank {rank} wants GPU {local_rank} but {torch.cuda.device_count()} are "
                "visible; start at most one process per GPU (torchrun --nproc_per_node)"
            )
        torch.cuda.set_device(local_rank)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if wants_cuda else "gloo")
    log.info("distributed training: rank %d of %d (%s)", rank, size,
             torch.distributed.get_backend())
    return World(rank=rank, size=size, local_rank=local_rank)


def rank_device(world: World, device: str) -> str:
    """The device this rank trains on: its own GPU under torchrun with CUDA."""
    if world.distributed and torch.distributed.get_backend() == "nccl":
        return f"cuda:{world.local_rank}"
    return device


@contextmanager
def main_first(world: World) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. builds the cache); the others then run it too (and
    find its work done)."""
    if not world.is_main:
        world.barrier()
    try:
        yield
    finally:
        if world.is_main:
            world.barrier()


def leave(world: World, *, clean: bool = True) -> None:
    """Leave the process group at the end of a run (``clean`` False after a failure: no
    barrier, the other ranks may never reach it)."""
    if world.distributed and torch.distributed.is_initialized():
        if clean:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()
