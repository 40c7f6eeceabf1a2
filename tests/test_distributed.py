"""Data parallelism: 2 CPU processes (gloo) on halves of the global batch reach the losses of
1 process on the whole batch; only rank 0 writes the sweep table."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from seqlab.experiments.scaling import RunSpec, run_sweep
from seqlab.experiments.sweep_table import read_table
from seqlab.train import distributed as ddp

SPEC = RunSpec("gpt", 1, 2, 16, 0, block_size=16, batch_size=8, max_iters=4, warmup_iters=1,
               learning_rate=3e-3, eval_iters=2, eval_batch_size=8, seed=3)  # fmt: skip


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, table: str, cache: str) -> None:
    """One process as torchrun would start it: its rank and the rendezvous in the env."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      SEQLAB_CACHE_DIR=cache)  # fmt: skip
    torch.set_num_threads(1)  # as torchrun's OMP_NUM_THREADS=1
    run_sweep([SPEC], table, device="cpu", progress=False)
    assert not dist.is_initialized()  # run_sweep cleaned up the group it created


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    one = run_sweep([SPEC], tmp_path / "one.csv", device="cpu", progress=False).iloc[0]
    table = tmp_path / "two.csv"
    cache = os.environ["SEQLAB_CACHE_DIR"]
    mp.spawn(_worker, args=(2, _free_port(), str(table), cache), nprocs=2, join=True)
    two = read_table(table)
    assert len(two) == 1  # rank 0 wrote, once
    two = two.iloc[0]
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["run_id"] == one["run_id"]
    assert two["val_loss"] == pytest.approx(one["val_loss"], abs=1e-5)
    assert two["train_loss"] == pytest.approx(one["train_loss"], abs=1e-5)
    assert two["flops"] == one["flops"] and two["tokens"] == one["tokens"]


def test_shards_and_a_single_process_are_no_ops():
    ctx = ddp.init_from_env("cpu")
    assert ctx.world_size == 1 and ctx.is_main and not ctx.distributed
    model = torch.nn.Linear(2, 2)
    assert ddp.wrap(model, ctx) is model and ddp.unwrap(model) is model
    assert ddp.all_reduce_mean(1.5, ctx) == 1.5 and ddp.broadcast_object([1], ctx) == [1]
    two = ddp.DistContext(rank=1, world_size=2)
    assert ddp.shard(8, two) == slice(4, 8)
    with pytest.raises(ValueError, match="batch_size=7 must be a multiple"):
        ddp.shard(7, two)
    ddp.cleanup(ctx)
