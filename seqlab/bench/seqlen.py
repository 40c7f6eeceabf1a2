"""Forward+backward time vs sequence length: RNN, LSTM, GRU and Transformer (:func:`bench_seqlen`).

Letters: B batch, T time (sequence length), H hidden size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import torch

from seqlab.bench.timing import sweep
from seqlab.checks import check_choice
from seqlab.device import get_device
from seqlab.models.recurrent import make_recurrent
from seqlab.models.transformer import TransformerBlock

SEQLEN_MODELS: tuple[str, ...] = ("rnn", "lstm", "gru", "transformer")
IMPLS: tuple[str, ...] = ("scratch", "fused")


def _seqlen_factory(
    batch: int, hidden: int, layers: int, heads: int, device: torch.device, seed: int
):
    """Build ``fn_factory(model, impl, seq_len)`` for :func:`sweep`: one forward+backward."""

    def build(model: str, impl: str) -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):  # same weights for a seed; caller's RNG untouched
            torch.manual_seed(seed)
            if model != "transformer":
                return make_recurrent(model, hidden, hidden, layers, impl=impl).to(device)
            blocks = [TransformerBlock(hidden, heads, 4 * hidden) for _ in range(layers)]
        for block in blocks:  # scratch: softmax(q k^T / sqrt(hs)) v written out
            block.attn.fused = impl == "fused"
        return torch.nn.Sequential(*blocks).to(device)

    def factory(model: str, impl: str, seq_len: int) -> Callable[[], None]:
        net = build(model, impl)
        if model == "transformer":

            def run(x: torch.Tensor) -> torch.Tensor:
                for block in net:
                    x = block(x, causal=True)  # (B, T, H)
                return x
        else:

            def run(x: torch.Tensor) -> torch.Tensor:
                return net(x)[0]  # (B, T, H)

        g = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, seq_len, hidden, generator=g).to(device)  # (B, T, H)

        def forward_backward() -> None:
            net.zero_grad(set_to_none=True)  # gradients are part of the measured memory
            run(x).sum().backward()

        return forward_backward

    return factory


def check_seqlen_args(
    lengths: Sequence[int],
    cells: Sequence[str],
    impls: Sequence[str],
    include_transformer: bool,
    batch_size: int,
    hidden_size: int,
    num_layers: int,
    nhead: int,
) -> None:
    """Raise ``ValueError`` (one line, naming the argument) unless :func:`bench_seqlen` can run
    these settings."""
    for cell in cells:
        check_choice(cell, SEQLEN_MODELS[:3], "cell")
    for impl in impls:
        check_choice(impl, IMPLS, "impl")
    sizes = (("batch_size", batch_size), ("hidden_size", hidden_size), ("num_layers", num_layers),
             ("nhead", nhead))  # fmt: skip
    for name, value in sizes:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not lengths or any(isinstance(t, bool) or int(t) != t or t < 1 for t in lengths):
        raise ValueError(f"lengths must be positive ints, got {list(lengths)!r}")
    if include_transformer and hidden_size % nhead != 0:
        raise ValueError(
            f"hidden_size={hidden_size} must be a multiple of nhead={nhead} for the Transformer"
        )


def bench_seqlen(
    lengths: Sequence[int] = (16, 64, 256),
    batch_size: int = 8,
    hidden_size: int = 64,
    cells: Sequence[str] = ("rnn", "lstm", "gru"),
    impls: Sequence[str] = IMPLS,
    include_transformer: bool = True,
    device: torch.device | str | None = None,
    num_layers: int = 1,
    nhead: int = 4,
    warmup: int = 1,
    repeats: int = 3,
    timeout_s: float | None = 30.0,
    progress: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """Forward+backward time of one layer vs sequence length: RNN, LSTM, GRU and Transformer.

    Each model maps x (B, T, H) -> (B, T, H) with ``num_layers`` layers of width
    ``hidden_size`` (H); the loss is the sum of the outputs. "scratch" is our Python loop over
    time steps (recurrent) or the written-out softmax(q k^T / sqrt(hs)) v (Transformer: causal,
    ``nhead`` heads, MLP 4H);
    "fused" is ``torch.nn.RNN/LSTM/GRU`` (cuDNN on a GPU) or ``F.scaled_dot_product_attention``.
    The defaults take a few seconds on a 2-core CPU.

    Outputs: a DataFrame with one row per (model, impl, seq_len): status ("ok"|"oom"|"timeout"),
    median_ms, iqr_ms, tokens_per_s (B*T / median), peak_mem_mb (:mod:`seqlab.bench.memory`),
    n (timed calls), batch_size, hidden_size, num_layers, device, error. Invalid settings raise
    ``ValueError`` (:func:`check_seqlen_args`) before anything is timed.
    """
    check_seqlen_args(lengths, cells, impls, include_transformer, batch_size, hidden_size,
                      num_layers, nhead)  # fmt: skip
    device = torch.device(device) if device is not None else get_device()
    models = [*cells, "transformer"] if include_transformer else list(cells)
    factory = _seqlen_factory(batch_size, hidden_size, num_layers, nhead, device, seed)
    grid = {"model": models, "impl": list(impls), "seq_len": [int(t) for t in lengths]}
    df = sweep(
        factory, grid, warmup, repeats, 0.0, timeout_s, device, progress=progress, desc="seqlen"
    )
    df["median_ms"] = df["median_s"] * 1e3
    df["iqr_ms"] = df["iqr_s"] * 1e3
    df["tokens_per_s"] = batch_size * df["seq_len"] / df["median_s"]
    df["peak_mem_mb"] = df["peak_mem_bytes"] / 2**20
    df["batch_size"], df["hidden_size"], df["num_layers"] = batch_size, hidden_size, num_layers
    df["device"] = device.type
    columns = ["model", "impl", "seq_len", "status", "median_ms", "iqr_ms", "tokens_per_s"]
    columns += ["peak_mem_mb", "mem_kind", "n", "batch_size", "hidden_size", "num_layers"]
    columns += ["device", "error"]
    return df[columns]
