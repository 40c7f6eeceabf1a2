"""Data-parallel training with ``torch.distributed``: the plumbing around the one training loop.

Run a script or a ``python -m`` command under ``torchrun --nproc_per_node=N``; torchrun starts
N processes and sets, in each, the environment variables ``RANK`` (0..world_size-1),
``LOCAL_RANK`` (the process's index on its machine), ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT``. Then, in every process::

    ctx = init_from_env(device)                 # a process group: gloo on CPU, NCCL on CUDA
    model = wrap(model.to(ctx.device), ctx)     # DistributedDataParallel (or the model itself)
    data = ShardedBatches(dataset, ctx)         # each rank its slice of the same global batch
    train(model, lambda it: data.batch("train", B, T, g), config)   # seqlab.train, unchanged
    loss = all_reduce_mean(loss, ctx)           # e.g. a validation loss
    cleanup(ctx)

Why N processes equal one process with the same global batch: every rank draws the *same*
global batch of B windows from the same seeded generator and keeps rows
``[rank * B/N, (rank + 1) * B/N)``; its loss is the mean over its B/N rows, and DDP averages the
gradients over the ranks, so the gradient is that of the mean over all B rows (Li et al. 2020,
"PyTorch Distributed", VLDB; the torch DDP notes). Gradient clipping and AdamW then see equal
gradients on every rank and take the same step. Only float rounding differs (the all-reduce
sums in another order): ``tests/test_distributed.py`` checks 2 gloo processes against 1 process
to 1e-5.

Without torchrun (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) every function here is a no-op and
``ctx.world_size == 1``, so the same code runs on a laptop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from seqlab.data.corpus import CharDataset

__all__ = [
    "DistContext",
    "ShardedBatches",
    "all_reduce_mean",
    "broadcast_object",
    "cleanup",
    "init_from_env",
    "shard",
    "unwrap",
    "wrap",
]


@dataclass
class DistContext:
    """Where this process stands: ``rank`` (0 = the one that writes), ``world_size`` processes,
    ``local_rank`` on this machine, the ``device`` it trains on, and whether this context
    created the process group (``owns_group``: :func:`cleanup` then destroys it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise ValueError(f"{name} must be a non-negative int, got {text!r}")
    return int(text)


def init_from_env(device: torch.device | str | None = None) -> DistContext:
    """The process group torchrun asked for, from its environment variables.

    ``WORLD_SIZE`` unset or 1: no process group, ``DistContext(device=device or cpu)``. Else:
    backend NCCL if ``device`` is CUDA (each process on ``cuda:LOCAL_RANK``), gloo otherwise;
    ``init_method="env://"`` reads ``MASTER_ADDR``/``MASTER_PORT``. A group that already exists
    (a caller initialised it) is used as it is. Raises ``ValueError`` for a malformed variable
    or a CUDA device on a machine with fewer GPUs than ``LOCAL_RANK`` + 1.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    world_size = _env_int("WORLD_SIZE", 1)
    if dist.is_available() and dist.is_initialized():
        world_size = dist.get_world_size()
    if world_size <= 1:
        return DistContext(device=device)
    _env_int("RANK", 0)  # checked; the group reports the rank
    local_rank = _env_int("LOCAL_RANK", 0)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK={local_rank} but this machine has {torch.cuda.device_count()} "
                "GPU(s): start at most that many processes per node (--nproc_per_node)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method="env://")
        owns = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)


def wrap(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """``model`` (already on ``ctx.device``) in :class:`DistributedDataParallel` when
    distributed, else ``model`` itself. DDP copies rank 0's weights to every rank at
    construction and averages gradients in backward."""
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (for evaluation, counting, saving), else ``model``."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def shard(batch_size: int, ctx: DistContext) -> slice:
    """The rows of a global batch of ``batch_size`` that rank ``ctx.rank`` trains on.
    Raises ``ValueError`` unless ``batch_size`` is a multiple of ``ctx.world_size`` (unequal
    shards would weight rows unequally in DDP's average)."""
    if batch_size % ctx.world_size:
        raise ValueError(
            f"batch_size={batch_size} must be a multiple of the world size {ctx.world_size} "
            "(each process trains on an equal shard of the global batch)"
        )
    per_rank = batch_size // ctx.world_size
    return slice(ctx.rank * per_rank, (ctx.rank + 1) * per_rank)


class ShardedBatches:
    """A :class:`~seqlab.data.corpus.CharDataset` seen by one rank: :meth:`batch` draws the
    global batch exactly as the dataset does (same generator, same windows on every rank) and
    returns this rank's rows, on ``ctx.device``. With one process it is the dataset's batch.
    Usable wherever a dataset's ``batch`` is called (``seqlab.train.estimate_loss``)."""

    def __init__(self, dataset: CharDataset, ctx: DistContext) -> None:
        self.dataset, self.ctx = dataset, ctx

    def batch(
        self,
        split: str,
        batch_size: int,
        block_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``, ``y`` (batch_size / world_size, block_size) of the global batch."""
        rows = shard(batch_size, self.ctx)
        x, y = self.dataset.batch(split, batch_size, block_size, generator)  # on the CPU
        device = device if device is not None else self.ctx.device
        return x[rows].to(device), y[rows].to(device)


def all_reduce_mean(value: float, ctx: DistContext) -> float:
    """The mean of ``value`` over the ranks (every rank gets it); ``value`` when not
    distributed. Equal shards: the mean of the ranks' means is the mean over the global batch."""
    if not ctx.distributed:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / ctx.world_size


def broadcast_object(obj: object, ctx: DistContext) -> object:
    """Rank 0's ``obj`` on every rank (e.g. which runs are still to do, decided by the rank
    that reads the table); ``obj`` when not distributed."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: DistContext) -> None:
    """Wait until every rank gets here (nothing when not distributed)."""
    if ctx.distributed:
        dist.barrier()


def cleanup(ctx: DistContext) -> None:
    """Destroy the process group if ``ctx`` created it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()
        ctx.owns_group = False
