"""Forward + backward time of recurrent layers, measured honestly with :mod:`seqlab.bench`.

- :func:`measure_timing` is the compute function of the live timing interactive: one table of
  :func:`seqlab.bench.bench_seqlen` (warm-up, device synchronisation, median of repeats) for a
  set of lengths, a batch size and a device. It re-measures on every call.
- :func:`recurrent_timing` is the experiment behind the chapter's numbers and the static book:
  that table for every static batch size, on the chapter's device (cached).
- :func:`gru_reset_timing`: the GRU with its reset gate applied after the matrix product (as
  ``torch.nn.GRU``) or before it (the paper's form), same layer sizes.

On a CPU every measurement runs on ``cpu_threads`` threads ("recurrent": one), as the training
runs of the book do (:func:`seqlab.device.cpu_threads_for`).

Letters: B batch, T sequence length, H hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch

from seqlab.bench import bench_seqlen, time_fn
from seqlab.device import cpu_threads
from seqlab.experiments.results import experiment
from seqlab.models import GRU


@dataclass
class TimingConfig:
    """The timing comparison: named sets of ``lengths``, the ``batches`` offered live, the
    ``static_batches`` measured for the book (with the first set of lengths), ``repeats``."""

    hidden_size: int = 64
    lengths: dict[str, tuple[int, ...]] = field(default_factory=lambda: {"16, 64": (16, 64)})
    batches: tuple[int, ...] = (1, 16)
    static_batches: tuple[int, ...] = (1, 16)
    repeats: int = 3
    cpu_threads: int | str | None = "recurrent"
    timeout_s: float = 60.0


def measure_timing(
    lengths: Sequence[int],
    batch_size: int,
    device: torch.device | str,
    hidden_size: int = 64,
    repeats: int = 3,
    threads: int | None = 1,
    timeout_s: float = 60.0,
    progress: bool = False,
) -> pd.DataFrame:
    """:func:`seqlab.bench.bench_seqlen` of the fused and from-scratch RNN, GRU and LSTM layers
    at every length in ``lengths``, ``batch_size``, on ``device`` (a fresh measurement)."""
    with cpu_threads(threads, device):
        return bench_seqlen(
            tuple(lengths), batch_size=batch_size, hidden_size=hidden_size, include_transformer=False,
            device=device, repeats=repeats, timeout_s=timeout_s, progress=progress,
        )  # fmt: skip


@experiment("gru.timing")
def recurrent_timing(config: TimingConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``timings``, one :func:`measure_timing` table per static batch size stacked
    (columns model, impl, seq_len, batch_size, status, median_ms, iqr_ms, ...), and ``lengths_name``
    (the set of lengths measured)."""
    name, lengths = next(iter(config.lengths.items()))
    tables = [
        measure_timing(lengths, batch, device, config.hidden_size, config.repeats,
                       config.cpu_threads, config.timeout_s, progress)
        for batch in config.static_batches
    ]  # fmt: skip
    return {"timings": pd.concat(tables, ignore_index=True), "lengths_name": name}


@dataclass
class ResetTimingConfig:
    """One GRU layer (``hidden_size`` in and out) on a batch of ``batch_size`` x ``seq_len``."""

    seq_len: int = 64
    batch_size: int = 32
    hidden_size: int = 128
    repeats: int = 7
    cpu_threads: int | str | None = "recurrent"


@experiment("gru.reset_timing")
def gru_reset_timing(config: ResetTimingConfig, device: torch.device, progress: bool) -> dict:
    """Forward + backward of our GRU with ``reset="after"`` and ``reset="before"``.

    Values: ``ms`` ``{"after": median ms, "before": median ms}``.
    """
    B, T, H = config.batch_size, config.seq_len, config.hidden_size
    x = torch.randn(B, T, H, device=device)  # (B, T, H)
    ms = {}
    for reset in ("after", "before"):
        layer = GRU(H, H, reset=reset).to(device)

        def step(layer: GRU = layer) -> None:
            layer.zero_grad(set_to_none=True)
            layer(x)[0].sum().backward()

        with cpu_threads(config.cpu_threads, device):
            ms[reset] = time_fn(step, warmup=1, repeats=config.repeats).median_s * 1e3
    return {"ms": ms}
