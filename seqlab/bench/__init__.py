"""Honest timing and the book's benchmarks.

- :mod:`seqlab.bench.timing`: :func:`time_fn` (warm-up, device synchronisation, median of
  repeats, peak memory) returning a :class:`Timing`; :func:`sweep` over a grid, with
  out-of-memory and time-outs recorded as rows; :func:`matmul_peak_flops` (this device's matmul
  FLOP/s, the denominator of MFU).
- :mod:`seqlab.bench.memory`: :class:`MemoryProbe`, what ``peak_mem_bytes`` measures;
  :func:`allocated_peak`, the bytes torch tensors hold at the peak of one call.
- :mod:`seqlab.bench.seqlen`: :func:`bench_seqlen`, forward+backward time vs sequence length for
  RNN / LSTM / GRU / Transformer, from scratch and fused.
- :mod:`seqlab.bench.lm_config`: :class:`LMBenchConfig` and its presets.
- :mod:`seqlab.bench.lm`: :func:`bench_lm`, train a char-level LM on Shakespeare and measure
  tokens/s, 6N FLOP/s, MFU and time to a target loss, optionally alternating with a
  :class:`Partner` run.
- :mod:`seqlab.bench.decode`: :func:`per_token_latency` (one token's time against the context
  length: GPT with and without its key/value cache, LSTM state) and :func:`bench_decode`
  (tokens/s of ``generate``).
- :mod:`seqlab.bench.cli`: ``python -m seqlab.bench seqlen|lm|decode``.

Everything seqlab needs is inside the package; the side-by-side run against nanoGPT's recipe is
``python benchmarks/compare_nanogpt.py`` in the source checkout.
"""

from seqlab.bench.decode import bench_decode, per_token_latency
from seqlab.bench.lm import WINDOW, Partner, bench_lm
from seqlab.bench.lm_config import LM_ARCHS, PRESETS, LMBenchConfig, check_device, native_bf16
from seqlab.bench.memory import MemoryProbe, allocated_peak
from seqlab.bench.seqlen import IMPLS, SEQLEN_MODELS, bench_seqlen, check_seqlen_args
from seqlab.bench.timing import (
    BenchTimeout,
    Timing,
    is_oom,
    matmul_peak_flops,
    sweep,
    synchronize,
    time_fn,
)

__all__ = [
    "IMPLS",
    "LM_ARCHS",
    "PRESETS",
    "SEQLEN_MODELS",
    "WINDOW",
    "BenchTimeout",
    "LMBenchConfig",
    "MemoryProbe",
    "allocated_peak",
    "Partner",
    "Timing",
    "bench_decode",
    "bench_lm",
    "bench_seqlen",
    "check_device",
    "check_seqlen_args",
    "is_oom",
    "matmul_peak_flops",
    "native_bf16",
    "per_token_latency",
    "sweep",
    "synchronize",
    "time_fn",
]
