"""Honest timing: warm-up, device synchronisation, median of repeats, peak memory.

- :func:`time_fn` times one zero-argument function: ``warmup`` untimed calls, then at least
  ``repeats`` timed calls (more until ``min_time_s`` has passed), each bracketed by a device
  synchronisation, so a GPU's asynchronous launches are not mistaken for finished work.
  It returns a :class:`Timing` with the median and inter-quartile range and the peak memory
  (:mod:`seqlab.bench.memory`).
- :func:`sweep` times a function over a grid of settings and records out-of-memory errors and
  time-outs as rows (``status`` "oom"/"timeout") instead of crashing.
- :func:`matmul_peak_flops` measures this device's own matrix-multiply speed, the denominator
  of the model FLOPs utilisation (MFU) that the ``lm`` benchmark prints.

Why our own loop and not ``torch.utils.benchmark.Timer``: Timer runs with ONE thread unless told
otherwise (a CPU number would not be the one a reader sees in training), does not synchronise
Apple's MPS, and gives no per-call samples to pair with a memory peak. The loop below is what
Timer does for CUDA (synchronise, warm up, take the median), written out.
"""

from __future__ import annotations

import gc
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from seqlab.bench.memory import MemoryProbe
from seqlab.checks import check_positive
from seqlab.device import get_device

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
    probe = MemoryProbe(device)
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
