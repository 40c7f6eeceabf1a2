"""Honest timing: warm-up, device synchronisation, median of repeats, peak memory.

The pieces, each usable on its own:

- :func:`time_fn` times one zero-argument function: ``warmup`` untimed calls, then at least
  ``repeats`` timed calls (more until ``min_time_s`` has passed), each bracketed by a device
  synchronisation, so a GPU's asynchronous launches are not mistaken for finished work.
  It returns a :class:`Timing` with the median and inter-quartile range and the peak memory.
- :func:`sweep` times a function over a grid of settings and records out-of-memory errors and
  time-outs as rows (``status`` "oom"/"timeout") instead of crashing.
- :func:`matmul_peak_flops` measures this device's own matrix-multiply speed, the denominator
  of the model FLOPs utilisation (MFU) that the ``lm`` benchmark prints.
- :func:`bench_seqlen` (forward+backward time vs sequence length for RNN/LSTM/GRU/Transformer)
  and :func:`bench_lm` (train a char-level LM on Shakespeare, optionally beside the nanoGPT
  reference), both behind ``python -m seqlab.bench seqlen|lm``.

Why our own loop and not ``torch.utils.benchmark.Timer``: Timer runs with ONE thread unless told
otherwise (a CPU number would not be the one a reader sees in training), does not synchronise
Apple's MPS, and gives no per-call samples to pair with a memory peak. The loop below is what
Timer does for CUDA (synchronise, warm up, take the median), written out.

What ``peak_mem_bytes`` measures (``mem_kind`` says which):

- ``"cuda-allocator"``: ``torch.cuda.max_memory_allocated`` during the timed calls minus what
  was allocated before them: the activations, gradients and workspaces the call needs.
- ``"rss"`` (Linux CPU): the process's peak resident memory (``VmHWM``, reset through
  ``/proc/self/clear_refs``) during the timed calls minus the resident memory before them.
  Before them glibc's ``malloc_trim`` hands freed heap pages back to the system, so the calls
  must fault their memory in again and it shows; page-granular, and other threads of the
  process count too: good for comparing configurations, not for budgeting to the byte.
- ``"maxrss"`` (other CPUs): the rise of ``getrusage``'s lifetime peak; 0 when the call stays
  below an earlier peak.
- ``"none"`` (MPS): not measured.

Letters: B batch, T time (sequence length), H hidden size, N parameters.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from seqlab.checks import check_choice, check_positive
from seqlab.device import get_device, provenance

_OOM_ERRORS: tuple[type[BaseException], ...] = (
    MemoryError,
    getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError),
)
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")


class BenchTimeout(TimeoutError):
    """A timed function did not finish one timed call within its ``timeout_s``."""


@dataclass
class Timing:
    """The result of :func:`time_fn`; all times in seconds, per call."""

    median_s: float
    iqr_s: float  # 75th minus 25th percentile of the per-call times
    min_s: float
    max_s: float
    n: int  # timed calls
    peak_mem_bytes: int | None  # see the module docstring; None when not measured
    mem_kind: str  # "cuda-allocator" | "rss" | "maxrss" | "none"
    times_s: list[float] = field(default_factory=list, repr=False)


def synchronize(device: torch.device | str | None) -> None:
    """Wait until ``device`` has finished all queued work (no-op on CPU)."""
    kind = torch.device(device).type if device is not None else "cpu"
    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()


def is_oom(exc: BaseException) -> bool:
    """True if ``exc`` is an out-of-memory error from torch (CUDA, MPS or CPU) or Python."""
    if isinstance(exc, _OOM_ERRORS):
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in _OOM_TEXT)


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class _MemoryProbe:
    """Peak memory above the starting level between :meth:`start` and :meth:`stop`."""

    def __init__(self, device: torch.device):
        self.device = device
        if device.type == "cuda":
            self.kind = "cuda-allocator"
        elif device.type == "mps":
            self.kind = "none"
        elif self._can_reset_rss():
            self.kind = "rss"
        else:
            self.kind = "maxrss" if sys.platform != "win32" else "none"
        self.base = 0

    @staticmethod
    def _can_reset_rss() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # "5" resets the peak resident set size (Linux >= 4.0)
            _status_kib("VmHWM")
            return True
        except (OSError, KeyError):
            return False

    @staticmethod
    def _trim_heap() -> None:
        """Return freed heap memory to the system (glibc only; elsewhere a no-op)."""
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass

    @staticmethod
    def _maxrss_bytes() -> int:
        import resource  # Unix only; Windows gets mem_kind "none"

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024  # macOS bytes, Linux KiB

    def start(self) -> None:
        if self.kind == "cuda-allocator":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        elif self.kind == "rss":
            self._trim_heap()
            self._can_reset_rss()
            self.base = _status_kib("VmRSS") * 1024
        elif self.kind == "maxrss":
            self.base = self._maxrss_bytes()

    def stop(self) -> int | None:
        if self.kind == "cuda-allocator":
            return torch.cuda.max_memory_allocated(self.device) - self.base
        if self.kind == "rss":
            return max(0, _status_kib("VmHWM") * 1024 - self.base)
        if self.kind == "maxrss":
            return max(0, self._maxrss_bytes() - self.base)
        return None


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of an already sorted, non-empty list."""
    pos = q * (len(sorted_xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def time_fn(
    fn: Callable[[], Any],
    warmup: int = 1,
    repeats: int = 5,
    min_time_s: float = 0.0,
    device: torch.device | str | None = None,
    timeout_s: float | None = None,
    max_repeats: int = 10_000,
) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones (or more).

    Inputs:
        fn: a function of no arguments (close over its inputs; build them outside).
        warmup: untimed calls first (allocator, kernel selection, caches).
        repeats: the least number of timed calls; more are taken until the timed calls add
            up to ``min_time_s`` (at most ``max_repeats``).
        device: the device ``fn`` runs on, synchronised around every call; ``None`` means
            :func:`seqlab.device.get_device`.
        timeout_s: a budget for the whole measurement, warm-up included. Spent before the
            first timed call ends: :class:`BenchTimeout`; later: sampling stops (``n`` may
            then be below ``repeats``). A running call is never interrupted.
    Outputs:
        a :class:`Timing`.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(
            f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}"
        )
    if timeout_s is not None:
        check_positive(timeout_s, "timeout_s")
    device = torch.device(device) if device is not None else get_device()
    start = time.perf_counter()

    def over_budget() -> bool:
        return timeout_s is not None and time.perf_counter() - start > timeout_s

    for _ in range(warmup):
        fn()
        synchronize(device)
        if over_budget():
            raise BenchTimeout(f"warm-up alone took longer than timeout_s={timeout_s}")
    probe = _MemoryProbe(device)
    probe.start()
    times: list[float] = []
    while len(times) < max_repeats and (len(times) < repeats or sum(times) < min_time_s):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
        if over_budget():
            if len(times) == 1:
                raise BenchTimeout(f"warm-up + one call took longer than timeout_s={timeout_s}")
            break
    peak = probe.stop()
    xs = sorted(times)
    return Timing(
        median_s=_quantile(xs, 0.5),
        iqr_s=_quantile(xs, 0.75) - _quantile(xs, 0.25),
        min_s=xs[0],
        max_s=xs[-1],
        n=len(xs),
        peak_mem_bytes=peak,
        mem_kind=probe.kind,
        times_s=times,
    )


def _free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def _dominates(failed: dict[str, Any], params: dict[str, Any]) -> bool:
    """True if ``params`` is at least as big as ``failed`` in every numeric setting, same otherwise."""
    for key, value in failed.items():
        other = params[key]
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if numeric and isinstance(other, (int, float)):
            if other < value:
                return False
        elif other != value:
            return False
    return True


def sweep(
    fn_factory: Callable[..., Callable[[], Any]],
    grid: dict[str, Sequence[Any]],
    warmup: int = 1,
    repeats: int = 5,
    min_time_s: float = 0.0,
    timeout_s: float | None = None,
    device: torch.device | str | None = None,
    skip_larger: bool = True,
    progress: bool = True,
    desc: str = "sweep",
) -> pd.DataFrame:
    """Time ``fn_factory(**setting)()`` for every setting in the product of ``grid``.

    Inputs:
        fn_factory: called with one value per grid key; builds the inputs (untimed) and
            returns the zero-argument function to time.
        grid: ``{"seq_len": [16, 64], "cell": ["lstm", "gru"]}``; settings are the product,
            in order.
        warmup, repeats, min_time_s, timeout_s, device: as in :func:`time_fn` (per setting).
        skip_larger: after a setting fails (oom/timeout), skip settings that are at least as
            big in every numeric key and equal in the others (recorded with the same status
            and ``error`` "skipped: ..."), so a sweep over lengths does not run into the wall
            again and again.
    Outputs:
        a DataFrame, one row per setting: the grid keys, ``status`` ("ok"|"oom"|"timeout"),
        ``median_s``, ``iqr_s``, ``min_s``, ``max_s``, ``n``, ``peak_mem_bytes``,
        ``mem_kind``, ``error`` (the message, for failed rows). Other errors propagate.
    """
    device = torch.device(device) if device is not None else get_device()
    keys = list(grid)
    settings = [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())
    ]
    failed: list[tuple[dict[str, Any], str]] = []
    rows = []
    for params in tqdm(settings, desc=desc, disable=not progress, leave=False):
        row: dict[str, Any] = {**params, "status": "ok", "error": None}
        prior = next(((p, s) for p, s in failed if _dominates(p, params)), None)
        if skip_larger and prior is not None:
            row.update(status=prior[1], error=f"skipped: {prior[1]} at {prior[0]}")
            rows.append(row)
            continue
        try:
            fn = fn_factory(**params)
            timing = time_fn(fn, warmup, repeats, min_time_s, device, timeout_s)
            row.update({k: v for k, v in asdict(timing).items() if k != "times_s"})
        except BenchTimeout as exc:
            row.update(status="timeout", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - sorted below: OOM is a result, the rest a bug
            if not is_oom(exc):
                raise
            row.update(status="oom", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        finally:
            fn = None  # drop the closure (and its tensors) before the next setting
            _free_memory(device)
        if row["status"] != "ok":
            failed.append((params, row["status"]))
        rows.append(row)
    columns = [*keys, "status", "median_s", "iqr_s", "min_s", "max_s", "n"]
    columns += ["peak_mem_bytes", "mem_kind", "error"]
    return pd.DataFrame(rows).reindex(columns=columns)


def matmul_peak_flops(
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    sizes: Sequence[tuple[int, int, int]] | None = None,
    repeats: int = 5,
) -> float:
    """Measure this device's matrix-multiply speed in FLOP/s: the best per-size median.

    Each ``(m, k, n)`` in ``sizes`` times ``A @ B`` with A (m, k), B (k, n), which costs
    ``2*m*k*n`` FLOPs; the result is the highest of the per-size medians. Defaults: a
    768 x 512 x 2048 block (like a small model's MLP) and cubes of 1024 and 1536 on a CPU,
    about 1 s; cubes of 4096 and 8192 on a GPU. It measures the device *as loaded now*: run it beside
    the work it normalises.
    """
    device = torch.device(device) if device is not None else get_device()
    if sizes is None:
        if device.type == "cpu":
            sizes = [(768, 512, 2048), (1024, 1024, 1024), (1536, 1536, 1536)]
        else:
            sizes = [(4096, 4096, 4096), (8192, 8192, 8192)]
    g = torch.Generator().manual_seed(0)
    best = 0.0
    for m, k, n in sizes:
        a = torch.randn(m, k, generator=g).to(device, dtype)
        b = torch.randn(k, n, generator=g).to(device, dtype)
        timing = time_fn(lambda a=a, b=b: a @ b, warmup=2, repeats=repeats, device=device)
        best = max(best, 2 * m * k * n / timing.median_s)
    return best


# ----------------------------------------------------------------------------- seqlen

SEQLEN_MODELS: tuple[str, ...] = ("rnn", "lstm", "gru", "transformer")
IMPLS: tuple[str, ...] = ("scratch", "fused")


def _seqlen_factory(
    batch: int, hidden: int, layers: int, heads: int, device: torch.device, seed: int
):
    """Build ``fn_factory(model, impl, seq_len)`` for :func:`sweep`: one forward+backward."""
    from seqlab.models.recurrent import make_recurrent
    from seqlab.models.transformer import TransformerBlock

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

    Each model maps x (B, T, H) -> (B, T, H) with ``num_layers`` layers of width ``hidden_size``; the
    loss is the sum of the outputs. "scratch" is our Python loop over time steps (recurrent) or
    the written-out softmax(q k^T / sqrt(hs)) v (Transformer: causal, ``heads`` heads, MLP 4H);
    "fused" is ``torch.nn.RNN/LSTM/GRU`` (cuDNN on a GPU) or ``F.scaled_dot_product_attention``.
    The defaults take a few seconds on a 2-core CPU.

    Outputs: a DataFrame with one row per (model, impl, seq_len): status ("ok"|"oom"|"timeout"),
    median_ms, iqr_ms, tokens_per_s (B*T / median), peak_mem_mb (see the module docstring),
    n (timed calls), batch_size, hidden_size, num_layers, device, error.
    """
    for cell in cells:
        check_choice(cell, SEQLEN_MODELS[:3], "cell")
    for impl in impls:
        check_choice(impl, IMPLS, "impl")
    sizes = (("batch_size", batch_size), ("hidden_size", hidden_size), ("num_layers", num_layers),
             ("nhead", nhead))  # fmt: skip
    for name, value in sizes:
        check_positive(value, name)
    if not lengths or any(int(t) != t or t < 1 for t in lengths):
        raise ValueError(f"lengths must be positive ints, got {list(lengths)!r}")
    if include_transformer and hidden_size % nhead != 0:
        raise ValueError(
            f"hidden_size={hidden_size} must be a multiple of nhead={nhead} for the Transformer"
        )
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


# ----------------------------------------------------------------------------- lm

LM_ARCHS: tuple[str, ...] = ("gpt", "lstm", "gru", "rnn")
WINDOW = 10  # steps per throughput window (= the training loop's log_every: GPU syncs there)

#: ``--preset fast``: the time-to-quality configuration (see benchmarks/README.md).
PRESETS: dict[str, dict[str, Any]] = {
    # nanoGPT's model at 3x its learning rate on a 1500-step schedule, bf16 matmuls where the
    # hardware has them: val 1.88 after 1150 steps, where nanoGPT's recipe needs > 2000.
    "fast": dict(arch="gpt", layers=4, heads=4, dim=128, context=64, batch=12, lr=3e-3,
                 steps=1500, precision="best", target_loss=1.88, eval_every=50),
}  # fmt: skip


@dataclass
class LMBenchConfig:
    """What ``python -m seqlab.bench lm`` trains; the flags have the same names.

    Model: ``arch`` "gpt"|"lstm"|"gru"|"rnn", ``layers``, ``heads`` (gpt), ``dim`` (n_embd;
    for recurrent models embedding and hidden size), ``bias`` (gpt: biases in Linear and
    LayerNorm; None = ``GPTConfig``'s default), ``impl`` (recurrent: "fused"|"scratch").
    Training (AdamW, betas 0.9/0.99, weight decay 0.1, clip 1.0, warm-up then cosine to
    ``lr/10``, as nanoGPT's Shakespeare recipe): ``context``, ``batch``, ``steps``, ``lr``,
    ``warmup_steps`` (None: min(100, steps/10)), ``compile``, ``precision`` ("fp32", "bf16",
    "fp16", "auto" as in :class:`seqlab.train.TrainConfig`, or "best": bf16 autocast where the
    device multiplies bf16 natively (CUDA with bf16, CPUs with AVX512-BF16 or AMX), else fp32).
    Stopping: ``target_loss`` (stop when the validation loss reaches it), ``time_budget_s``
    (of training time, checked at every evaluation). Evaluation: every ``eval_every`` steps
    (None: 100 with a target, else steps/3) on ``eval_batches`` fixed batches of
    ``eval_batch_size`` x ``context`` validation tokens: 1,200 windows (nanoGPT's estimate_loss
    takes 20 random batches of 12 = 240; a fixed set of 240 was 0.04 off the whole split in our
    runs); at the end also on ``final_eval_batches`` other batches (``val_loss_final``).
    ``reference``: also train benchmarks/reference_nanogpt.py, alternating with it every 10
    steps; ``reference_steps`` (None: steps, or nanoGPT's 2000 with a target).
    ``measure_peak``: measure the matmul peak for the MFU (about 1 s on a CPU).
    """

    arch: str = "gpt"
    layers: int = 4
    heads: int = 4
    dim: int = 128
    bias: bool | None = None
    impl: str = "fused"
    context: int = 64
    batch: int = 12
    steps: int = 300
    lr: float = 1e-3
    warmup_steps: int | None = None
    precision: str = "fp32"
    compile: bool = False
    target_loss: float | None = None
    time_budget_s: float | None = None
    eval_every: int | None = None
    eval_batches: int = 10
    eval_batch_size: int = 120
    final_eval_batches: int = 20
    reference: bool = False
    reference_steps: int | None = None
    seed: int = 1337
    device: str | None = None
    measure_peak: bool = True

    def __post_init__(self) -> None:
        check_choice(self.arch, LM_ARCHS, "arch")
        check_choice(self.precision, ("fp32", "bf16", "fp16", "auto", "best"), "precision")
        for name in ("layers", "heads", "dim", "context", "batch", "steps", "lr", "eval_batches",
                     "eval_batch_size", "final_eval_batches"):  # fmt: skip
            check_positive(getattr(self, name), name)
        for name in ("target_loss", "time_budget_s", "eval_every", "reference_steps"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), name)


class _Clock:
    """Training time of one model: wall time minus the time it spent paused."""

    def __init__(self) -> None:
        self.paused = 0.0
        self._since: float | None = None

    def now(self) -> float:
        return (self._since or time.perf_counter()) - self.paused

    def pause(self) -> None:
        self._since = time.perf_counter()

    def resume(self) -> None:
        self.paused += time.perf_counter() - self._since
        self._since = None


@dataclass
class _Run:
    """What we record about one model's training (ours or the reference)."""

    name: str
    tokens_per_step: int
    clock: _Clock = field(default_factory=_Clock)
    starts: list[float] = field(default_factory=list)  # clock.now() as each step begins
    evals: list[dict[str, float]] = field(default_factory=list)
    end: float = 0.0  # clock.now() when the last step ended (set at each evaluation)
    eval_s: float = 0.0
    reached: dict[str, float] | None = None
    done: bool = False

    @property
    def steps(self) -> int:
        return len(self.starts)

    def train_s(self) -> float:
        return self.end - self.starts[0] if self.starts else 0.0

    def tokens_per_s(self, skip: int, upto: int | None = None) -> float:
        """Median over WINDOW-step windows of steps ``skip..upto`` (all steps if too few)."""
        upto = self.steps if upto is None else min(upto, self.steps)
        t = [*self.starts[:upto], self.starts[upto] if upto < self.steps else self.end]
        first = -(-skip // WINDOW) * WINDOW
        rates = [
            WINDOW * self.tokens_per_step / (t[i + WINDOW] - t[i])
            for i in range(first, len(t) - WINDOW, WINDOW)
        ]
        if not rates:
            return upto * self.tokens_per_step / max(t[-1] - t[0], 1e-9)
        return float(pd.Series(rates).median())


@torch.no_grad()
def _mean_loss(model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean loss of ``model(x, y) -> (logits, loss)`` over fixed batches (eval mode, fp32)."""
    was_training = model.training
    model.eval()
    total = sum(float(model(x, y)[1]) for x, y in batches)
    model.train(was_training)
    return total / len(batches)


def _evaluate(run: _Run, model: torch.nn.Module, val: list, cfg: LMBenchConfig, out) -> bool:
    """Evaluate at the current step; record; return True if this run should stop now."""
    run.end = run.clock.now()  # the clock is paused: evaluation is not training time
    t0 = time.perf_counter()
    loss = _mean_loss(model, val)
    run.eval_s += time.perf_counter() - t0
    train_s = run.train_s()
    run.evals.append(dict(step=run.steps, train_s=train_s, val_loss=loss))
    out(f"  {run.name:9s} step {run.steps:5d}  val {loss:.4f}  train {train_s:7.1f} s")
    if cfg.target_loss is not None and loss <= cfg.target_loss and run.reached is None:
        run.reached = dict(step=run.steps, train_s=train_s, with_eval_s=train_s + run.eval_s,
                           tokens=run.steps * run.tokens_per_step, val_loss=loss)  # fmt: skip
        return True
    return cfg.time_budget_s is not None and train_s >= cfg.time_budget_s


class _StopTraining(Exception):
    """Raised from the evaluation callback to end ``seqlab.train.train`` early."""


def _load_reference():
    """Import benchmarks/reference_nanogpt.py from the source checkout."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "reference_nanogpt.py"
    if not path.is_file():
        raise FileNotFoundError(f"--reference needs {path} (a source checkout of seqlab)")
    spec = importlib.util.spec_from_file_location("reference_nanogpt", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _reference_steps(ref, data, vocab_size: int, cfg: LMBenchConfig, steps: int, target: bool):
    """``reference_nanogpt.run`` made resumable: the same loop, yielding after every step.

    With a target the reference follows nanoGPT's own CPU recipe (4 layers, 4 heads, 128 dims,
    context 64, batch 12, lr 1e-3 cosine to 1e-4 over 2000 iterations); without one it takes our
    sizes, context and batch so that tokens/s compare like for like.
    """
    if target:
        mcfg, tcfg = ref.NanoConfig(vocab_size=vocab_size), ref.NanoTrain()
    else:
        mcfg = ref.NanoConfig(block_size=cfg.context, vocab_size=vocab_size, n_layer=cfg.layers,
                              n_head=cfg.heads, n_embd=cfg.dim)  # fmt: skip
        tcfg = ref.NanoTrain(batch_size=cfg.batch)
    torch.manual_seed(cfg.seed)
    model = ref.NanoGPT(mcfg)
    betas = (tcfg.beta1, tcfg.beta2)
    optimizer = model.configure_optimizers(tcfg.weight_decay, tcfg.learning_rate, betas, "cpu")
    model.train()
    X, Y = ref.get_batch(data, mcfg.block_size, tcfg.batch_size)
    yield model, mcfg, tcfg  # the first item: what was built (run() starts its clock here)
    for it in range(steps):
        lr = ref.get_lr(it, tcfg)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        _, loss = model(X, Y)
        X, Y = ref.get_batch(data, mcfg.block_size, tcfg.batch_size)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        yield loss.item()  # run() logs every step (log_interval=1): the same sync


def _fixed_batches(data, split: str, n: int, batch: int, context: int, seed: int, device) -> list:
    g = torch.Generator().manual_seed(seed)
    batches = (data.batch(split, batch, context, g, device) for _ in range(n))
    return [(x.contiguous(), y.contiguous()) for x, y in batches]  # nanoGPT uses .view


def _time_to_target(ours: dict, ref: dict | None) -> dict[str, float | None]:
    """Ours / reference training time to the target, two ways.

    ``time_to_target_ratio``: the measured training wall times (every load spike included).
    ``time_to_target_ratio_robust``: steps to target x median step time of each run while the
    two alternated (``paired_ms_per_step``), which a short burst of load on a shared machine
    does not move. If only ours reached the target,
    the reference's whole run stands in for its time (``..._upper_bound`` keys: the true ratio
    is smaller).
    """
    out: dict[str, float | None] = {
        k: None
        for k in ("time_to_target_ratio", "time_to_target_ratio_robust",
                  "time_to_target_ratio_upper_bound", "time_to_target_ratio_robust_upper_bound")
    }  # fmt: skip
    hit = ours["reached"]
    if hit is None or ref is None:
        return out
    ours_robust = hit["step"] * ours["paired_ms_per_step"]
    ref_hit = ref["reached"]
    if ref_hit is not None:
        out["time_to_target_ratio"] = hit["train_s"] / ref_hit["train_s"]
        ref_robust = ref_hit["step"] * ref["paired_ms_per_step"]
        out["time_to_target_ratio_robust"] = ours_robust / ref_robust
    else:
        out["time_to_target_ratio_upper_bound"] = hit["train_s"] / ref["train_s"]
        ref_robust = ref["steps"] * ref["paired_ms_per_step"]
        out["time_to_target_ratio_robust_upper_bound"] = ours_robust / ref_robust
    return out


def _summary(
    run: _Run, model: torch.nn.Module, sets: dict[str, list], skip: int, peak, paired: int
) -> dict:
    from seqlab.models.lm import count_params

    n = count_params(model)
    tps, paired_tps = run.tokens_per_s(skip), run.tokens_per_s(skip, paired)
    return dict(
        params=n, steps=run.steps, tokens_per_s=tps, ms_per_step=1e3 * run.tokens_per_step / tps,
        paired_tokens_per_s=paired_tps, paired_ms_per_step=1e3 * run.tokens_per_step / paired_tps,
        train_s=run.train_s(), eval_s=run.eval_s, train_loss=_mean_loss(model, sets["train"]),
        val_loss=run.evals[-1]["val_loss"] if run.evals else None,
        val_loss_final=_mean_loss(model, sets["final"]),
        model_flops_per_s=6 * n * tps, mfu=6 * n * tps / peak if peak else None,
        reached=run.reached,
        evals=run.evals,
    )  # fmt: skip


def bench_lm(cfg: LMBenchConfig, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Train a char-level LM on Shakespeare with :func:`seqlab.train.train`; measure it.

    Inputs: an :class:`LMBenchConfig`; ``out`` receives the progress lines.
    Outputs: a dict (what the CLI prints as its last line): ``ours`` and ``reference`` (or
    None), each with params, steps, tokens_per_s (median over 10-step windows after the first
    min(50, steps/5) steps), paired_tokens_per_s (the same over the ``paired_steps`` that both
    ran, alternating; ``speed_ratio`` is their ratio), train_s (training wall time: evaluation and the other model's
    turns excluded), eval_s, train_loss / val_loss (fixed batches), model_flops_per_s
    (6·N·tokens/s), mfu (that over ``matmul_peak_flops``), reached (step, train_s, with_eval_s,
    tokens at the first evaluation with val_loss <= target, or None) and evals; ``speed_ratio``
    and the ``time_to_target_ratio*`` keys (ours / reference, see :func:`_time_to_target`);
    the config, eval set, peak, load averages and :func:`seqlab.device.provenance`.
    """
    import numpy as np

    from seqlab.data.corpus import CharDataset, CharTokenizer, load_shakespeare
    from seqlab.models.lm import build_lm
    from seqlab.train import TrainConfig, resolve_dtype, train

    device = get_device(cfg.device)
    if cfg.precision == "best":
        cfg = replace(cfg, precision="bf16" if native_bf16(device) else "fp32")
    out(f"lm benchmark on {device}: {cfg}")
    if cfg.reference and device.type != "cpu":
        raise ValueError(f"the nanoGPT reference is its CPU recipe; use --device cpu, not {device}")
    load_start = _loadavg()
    text = load_shakespeare()
    data = CharDataset(text, CharTokenizer.from_text(text), val_frac=0.1)
    vocab = data.tokenizer.vocab_size
    torch.manual_seed(cfg.seed)
    if cfg.arch == "gpt":
        bias = {} if cfg.bias is None else {"bias": cfg.bias}
        model = build_lm("gpt", vocab, block_size=cfg.context, n_layer=cfg.layers,
                         n_head=cfg.heads, n_embd=cfg.dim, **bias)  # fmt: skip
    else:
        model = build_lm(cfg.arch, vocab, n_embd=cfg.dim, hidden_size=cfg.dim, n_layer=cfg.layers,
                         impl=cfg.impl)  # fmt: skip
    model.to(device)
    target = cfg.target_loss is not None
    eval_every = cfg.eval_every or (100 if target else -(-cfg.steps // 3))
    skip = min(50, cfg.steps // 5)

    def eval_sets(context: int) -> dict[str, list]:
        """The fixed batches: val (every evaluation), train and final (a larger val set)."""
        n, b = cfg.eval_batches, cfg.eval_batch_size
        return dict(
            val=_fixed_batches(data, "val", n, b, context, cfg.seed + 1, device),
            train=_fixed_batches(data, "train", n, b, context, cfg.seed + 2, device),
            final=_fixed_batches(
                data, "val", cfg.final_eval_batches, b, context, cfg.seed + 3, device
            ),
        )

    sets = eval_sets(cfg.context)
    dtype = resolve_dtype(
        {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(
            cfg.precision, cfg.precision
        ),
        device,
    )
    peak = matmul_peak_flops(device, dtype) if cfg.measure_peak else None

    ours = _Run("seqlab", cfg.batch * cfg.context)
    ref_run = None
    if cfg.reference:
        ref = _load_reference()
        ids = data.split("train").numpy().astype(np.uint16)
        ref_steps = cfg.reference_steps or (2000 if target else cfg.steps)
        ref_iter = _reference_steps(ref, ids, vocab, cfg, ref_steps, target)
        ref_model, mcfg, tcfg = next(ref_iter)
        ref_run = _Run("reference", tcfg.batch_size * mcfg.block_size)
        ref_run.clock.pause()
        ref_sets = sets if mcfg.block_size == cfg.context else eval_sets(mcfg.block_size)
        out(f"reference: nanoGPT {mcfg.n_layer}L/{mcfg.n_head}H/{mcfg.n_embd}d, context "
            f"{mcfg.block_size}, batch {tcfg.batch_size}, lr {tcfg.learning_rate}, {ref_steps} steps")  # fmt: skip

    def due(run: _Run) -> bool:
        """Has ``run`` crossed a multiple of eval_every since its last evaluation?"""
        last = run.evals[-1]["step"] if run.evals else 0
        return run.steps // eval_every > last // eval_every

    def reference_turn() -> None:
        """Train the reference for WINDOW steps (evaluating it when due)."""
        ref_run.clock.resume()
        for _ in range(min(WINDOW, ref_steps - ref_run.steps)):
            ref_run.starts.append(ref_run.clock.now())
            next(ref_iter)
        ref_run.clock.pause()
        finished = ref_run.steps >= ref_steps
        if finished or due(ref_run):
            stop = _evaluate(ref_run, ref_model, ref_sets["val"], cfg, out)
            ref_run.done = finished or stop

    def get_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        ours.starts.append(ours.clock.now())
        return data.batch("train", cfg.batch, cfg.context, g_train, device)

    def callback(m: torch.nn.Module) -> dict[str, float]:
        """Called by train() every WINDOW steps (with a reference) or eval_every steps."""
        ours.clock.pause()
        stop = evaluated = False
        if due(ours) or ours.steps == cfg.steps:
            stop, evaluated = _evaluate(ours, m, sets["val"], cfg, out), True
        if ref_run is not None and not ref_run.done:
            reference_turn()
        ours.clock.resume()
        if stop:
            raise _StopTraining
        return {"val_loss": ours.evals[-1]["val_loss"]} if evaluated else {}

    g_train = torch.Generator().manual_seed(cfg.seed)
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else min(100, cfg.steps // 10)
    dtype_name = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(
        cfg.precision, cfg.precision
    )
    tc = TrainConfig(max_iters=cfg.steps, learning_rate=cfg.lr, warmup_iters=warmup,
                     weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0,
                     eval_interval=WINDOW if cfg.reference else eval_every,
                     dtype=dtype_name, compile=cfg.compile, log_interval=WINDOW,
                     seed=cfg.seed, progress=False)  # fmt: skip
    try:
        train(model, get_batch, tc, device, eval_fn=callback)
    except _StopTraining:
        pass
    while ref_run is not None and not ref_run.done:
        reference_turn()

    result: dict[str, Any] = dict(benchmark="lm", config=asdict(cfg), eval_every=eval_every)
    # the steps both models ran, alternating: the like-for-like part of the two runs
    paired = min(ours.steps, ref_run.steps) if ref_run is not None else ours.steps
    result["paired_steps"] = paired
    result["ours"] = _summary(ours, model, sets, skip, peak, paired)
    result["reference"] = (
        _summary(ref_run, ref_model, ref_sets, skip, peak, paired) if ref_run is not None else None
    )
    r = result["reference"]
    result["speed_ratio"] = (
        result["ours"]["paired_tokens_per_s"] / r["paired_tokens_per_s"] if r else None
    )
    result.update(_time_to_target(result["ours"], r))
    result["eval_set"] = dict(split="val", batches=cfg.eval_batches, batch_size=cfg.eval_batch_size,
                              final_batches=cfg.final_eval_batches, context=cfg.context,
                              seed=cfg.seed + 1, precision="fp32")  # fmt: skip
    result["matmul_peak_flops"], result["peak_dtype"] = peak, str(dtype).replace("torch.", "")
    result["threads"] = torch.get_num_threads()
    result["loadavg_start"], result["loadavg_end"] = load_start, _loadavg()
    result["provenance"] = provenance(device)
    return result


def native_bf16(device: torch.device) -> bool:
    """True if ``device`` multiplies bf16 matrices in hardware (so bf16 autocast can pay off)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
        return " avx512_bf16" in flags or " amx_bf16" in flags
    return False


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


# ----------------------------------------------------------------------------- CLI


def _jsonable(x: Any) -> Any:
    """NaN/inf -> None (strict JSON), recursively; tuples -> lists."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item") and getattr(x, "ndim", 1) == 0:  # numpy / torch scalars
        return _jsonable(x.item())
    return x


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _lm_table(result: dict[str, Any]) -> str:
    """The human-readable summary printed before the JSON line."""
    rows = {}
    for name in ("ours", "reference"):
        s = result[name]
        if s is None:
            continue
        hit = s["reached"] or {}
        rows["seqlab" if name == "ours" else "nanoGPT ref"] = {
            "params": f"{s['params']:,}", "steps": s["steps"],
            "tok/s": f"{s['tokens_per_s']:,.0f}", "ms/step": f"{s['ms_per_step']:.1f}",
            "train s": f"{s['train_s']:.1f}", "eval s": f"{s['eval_s']:.1f}",
            "train loss": f"{s['train_loss']:.4f}", "val loss": _fmt(s["val_loss"], ".4f"),
            "val loss (final set)": f"{s['val_loss_final']:.4f}",
            "GFLOP/s (6N)": f"{s['model_flops_per_s'] / 1e9:.1f}", "MFU": _fmt(s["mfu"], ".1%"),
            "target step": _fmt(hit.get("step"), "d"),
            "target train s": _fmt(hit.get("train_s"), ".1f"),
            "target train+eval s": _fmt(hit.get("with_eval_s"), ".1f"),
        }  # fmt: skip
    lines = [pd.DataFrame(rows).T.to_string()]
    if result["matmul_peak_flops"]:
        peak = result["matmul_peak_flops"] / 1e9
        lines.append(
            f"matmul peak ({result['peak_dtype']}, measured in this run): {peak:.1f} GFLOP/s"
        )
    if result["speed_ratio"] is not None:
        lines.append(
            f"speed ratio seqlab / nanoGPT (median tokens/s over the first {result['paired_steps']} "
            f"steps, which ran alternating): {result['speed_ratio']:.2f}x"
        )
    if result["config"]["target_loss"] is not None:
        key = "time_to_target_ratio"
        ratio, robust = result[key], result[key + "_robust"]
        verdict = "n/a (not reached by seqlab)"
        if ratio is not None:
            verdict = f"{ratio:.2f}x measured, {robust:.2f}x at median step times"
        elif result[key + "_upper_bound"] is not None:
            verdict = (
                f"< {result[key + '_upper_bound']:.2f}x measured, "
                f"< {result[key + '_robust_upper_bound']:.2f}x at median step times "
                "(nanoGPT did not reach it in its steps: its whole run stands in)"
            )
        target = result["config"]["target_loss"]
        lines.append(f"training time to val loss {target}: seqlab / nanoGPT = {verdict}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m seqlab.bench", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("seqlen", help="forward+backward time vs sequence length")
    p.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"], choices=SEQLEN_MODELS[:3])
    p.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    p.add_argument("--no-transformer", action="store_true")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per setting")
    p.add_argument("--device", default=None)
    p.add_argument("--csv", default=None, help="also write the table to this CSV file")

    q = sub.add_parser("lm", help="train a char-level LM on Shakespeare and time it")
    q.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="fast: the time-to-quality config (flags given explicitly win)")  # fmt: skip
    q.add_argument("--arch", choices=LM_ARCHS)
    q.add_argument("--impl", choices=IMPLS, help="recurrent archs: fused (torch.nn) or scratch")
    ints = [
        "layers",
        "heads",
        "dim",
        "context",
        "batch",
        "steps",
        "warmup-steps",
        "eval-every",
        "eval-batches",
        "eval-batch-size",
        "final-eval-batches",
        "reference-steps",
        "seed",
    ]
    for flag in ints:
        q.add_argument(f"--{flag}", type=int)
    for flag in ("lr", "target-loss", "time-budget"):
        q.add_argument(f"--{flag}", type=float)
    q.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto", "best"),
                   help="best: bf16 where the hardware has it, else fp32")  # fmt: skip
    q.add_argument("--no-bias", dest="bias", action="store_false", default=None,
                   help="gpt without biases (as nanoGPT's CPU recipe)")  # fmt: skip
    q.add_argument("--compile", action="store_true", default=None)
    q.add_argument("--reference", action="store_true", default=None,
                   help="alternate with benchmarks/reference_nanogpt.py (CPU)")  # fmt: skip
    q.add_argument("--no-peak", dest="measure_peak", action="store_false", default=None,
                   help="skip the matmul peak measurement (no MFU)")  # fmt: skip
    q.add_argument("--device", default=None)
    return parser


def lm_config_from_args(args: argparse.Namespace) -> LMBenchConfig:
    """Defaults <- preset <- flags given on the command line."""
    values = dict(PRESETS[args.preset]) if args.preset else {}
    rename = {"time_budget": "time_budget_s"}
    for key, value in vars(args).items():
        if key not in ("command", "preset") and value is not None:
            values[rename.get(key, key)] = value
    return LMBenchConfig(**values)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m seqlab.bench seqlen|lm [flags]``: print a table, then one JSON line."""
    args = _parser().parse_args(argv)
    if args.command == "seqlen":
        device = get_device(args.device)
        df = bench_seqlen(args.lengths, args.batch, args.hidden, args.cells, args.impls,
                          not args.no_transformer, device, args.layers, args.heads,
                          warmup=args.warmup, repeats=args.repeats,
                          timeout_s=args.timeout)  # fmt: skip
        print(df.drop(columns=["error", "device"]).to_string(index=False, float_format="%.3g"))
        if args.csv:
            df.to_csv(args.csv, index=False)
        result = dict(benchmark="seqlen", results=df.to_dict(orient="records"))
        result["provenance"] = provenance(device)
    else:
        cfg = lm_config_from_args(args)
        result = bench_lm(cfg, out=lambda line: print(line, flush=True))
        print(_lm_table(result))
    print(json.dumps(_jsonable(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
