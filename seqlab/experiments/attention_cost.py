"""The cost of attention, measured: time and memory against sequence length.

- :func:`measure_models` (live and static): forward + backward time of the fused LSTM
  (``torch.nn.LSTM``) and of a stack of Transformer blocks (the GPT block, causal,
  ``F.scaled_dot_product_attention`` inside) against T at one batch size, through
  :func:`seqlab.bench.bench_seqlen`.
- :func:`measure_attention` (live and static): attention alone, forward + backward, written out
  (``naive``: :func:`seqlab.models.attention.scaled_dot_product_attention`, which builds the
  T x T matrix), PyTorch's kernel forced to its math backend (``sdpa_math``) and PyTorch's own
  choice (``sdpa``): time and peak memory against T, with the backend that ran
  (:func:`sdpa_backend`).
- :func:`fit_power_law`: the exponent a of ``y = c T^a`` fitted on log-log points, with its
  confidence interval; :func:`exponents` applies it to the tables above.
- :func:`attention_cost` (``cost.sweep``): both tables for the book, cached, with the fits.

Every timing is :func:`seqlab.bench.time_fn` (warm-up, synchronised, median of repeats) inside
:func:`seqlab.bench.sweep`, which records out-of-memory and time-outs as rows (``status``).
Peak memory of attention is measured, not computed (:func:`seqlab.bench.memory.allocated_peak`,
on the untimed warm-up call): the most bytes torch tensors held at once during one forward +
backward, above what was held before. On CUDA that is the allocator's own peak
(``torch.cuda.max_memory_allocated``), on a CPU the running sum of the allocation events of
``torch.profiler``. The model table keeps :func:`seqlab.bench.bench_seqlen`'s measure (the rise
of the process's resident memory on a Linux CPU, page-granular).

Letters: B batch, T sequence length, nh heads, hs head size, C = H model width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats
from torch.nn.attention import SDPBackend, sdpa_kernel

from seqlab.bench import allocated_peak, bench_seqlen, sweep
from seqlab.checks import check_choice
from seqlab.device import cpu_threads, get_device
from seqlab.experiments.results import experiment
from seqlab.models.attention import scaled_dot_product_attention

ATTENTION_IMPLS: tuple[str, ...] = ("naive", "sdpa_math", "sdpa")
IMPL_NAMES = {
    "naive": "written out (T x T matrix)",
    "sdpa_math": "F.sdpa, math backend",
    "sdpa": "F.sdpa, its own choice",
}
#: the autograd node each fused kernel of ``F.scaled_dot_product_attention`` leaves behind
_BACKWARD_NODES = {
    "ScaledDotProductFlashAttentionForCpuBackward0": "flash (CPU)",
    "ScaledDotProductFlashAttentionBackward0": "flash",
    "ScaledDotProductEfficientAttentionBackward0": "efficient",
    "ScaledDotProductCudnnAttentionBackward0": "cudnn",
}


def sdpa_backend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw) -> str:
    """The backend ``F.scaled_dot_product_attention(q, k, v, **kw)`` runs for these inputs.

    How: run it on leaf copies that require gradients and read the autograd node it left:
    each fused kernel (flash, memory-efficient, cuDNN) records its own backward node; the math
    backend is a composition of ordinary ops, so its output ends in one of those. That last
    case is confirmed by forcing the math backend (``sdpa_kernel``), which must leave the same
    node. Outputs: "flash (CPU)", "flash", "efficient", "cudnn", "math", or "unknown (<node>)".
    """
    leaves = [t.detach().requires_grad_(t.is_floating_point()) for t in (q, k, v)]
    node = F.scaled_dot_product_attention(*leaves, **kw).grad_fn.name()
    if node in _BACKWARD_NODES:
        return _BACKWARD_NODES[node]
    with sdpa_kernel([SDPBackend.MATH]):
        math_node = F.scaled_dot_product_attention(*leaves, **kw).grad_fn.name()
    return "math" if node == math_node else f"unknown ({node})"


def _attention_inputs(
    batch: int, nhead: int, head_dim: int, seq_len: int, device: torch.device, seed: int
) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (batch, nhead, seq_len, head_dim)  # (B, nh, T, hs)
    return [torch.randn(shape, generator=g).to(device).requires_grad_() for _ in range(3)]


def attention_factory(
    batch: int,
    nhead: int,
    head_dim: int,
    device: torch.device,
    seed: int = 0,
    peaks: dict | None = None,
) -> Callable[[str, int], Callable[[], None]]:
    """``fn_factory(impl, seq_len)`` for :func:`seqlab.bench.sweep`: causal self-attention on
    q, k, v of shape (B, nh, T, hs), forward and backward (gradients of q, k, v).

    With ``peaks`` (a dict), the factory makes one untimed call, measured by
    :func:`seqlab.bench.memory.allocated_peak`, and stores ``peaks[(impl, seq_len)] = (bytes,
    kind)``: that call is the warm-up (run the sweep with ``warmup=0``). The returned function
    keeps its inputs as ``.inputs`` (q, k, v)."""

    def factory(impl: str, seq_len: int) -> Callable[[], None]:
        check_choice(impl, ATTENTION_IMPLS, "impl")
        q, k, v = _attention_inputs(batch, nhead, head_dim, seq_len, device, seed)

        def attend() -> torch.Tensor:
            if impl == "naive":
                return scaled_dot_product_attention(q, k, v, causal=True)[0]
            if impl == "sdpa_math":
                with sdpa_kernel([SDPBackend.MATH]):
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

        def forward_backward() -> None:
            for t in (q, k, v):
                t.grad = None  # gradients are part of the measured memory
            attend().sum().backward()

        forward_backward.inputs = (q, k, v)  # type: ignore[attr-defined]
        if peaks is not None:
            peaks[(impl, seq_len)] = allocated_peak(forward_backward, device)
        return forward_backward

    return factory


def measure_attention(
    lengths: Sequence[int],
    device: torch.device | str,
    batch_size: int = 1,
    nhead: int = 4,
    head_dim: int = 32,
    impls: Sequence[str] = ATTENTION_IMPLS,
    repeats: int = 3,
    threads: int | str | None = 1,
    timeout_s: float | None = 20.0,
    progress: bool = False,
) -> pd.DataFrame:
    """Time and peak memory of causal attention alone vs T, one row per (impl, seq_len).

    Outputs: the columns of :func:`seqlab.bench.sweep` (``status`` "ok"|"oom"|"timeout",
    ``median_s``, ...; ``peak_mem_bytes`` and ``mem_kind`` from
    :func:`seqlab.bench.memory.allocated_peak` on the warm-up call) plus ``median_ms``, ``iqr_ms``,
    ``peak_mem_mb``, ``backend`` (:func:`sdpa_backend`; "ours" for ``naive``), ``batch_size``,
    ``nhead``, ``head_dim``, ``device``. Raises ``ValueError`` for an unknown impl.
    """
    for impl in impls:
        check_choice(impl, ATTENTION_IMPLS, "impl")
    device = torch.device(device)
    peaks: dict = {}  # the warm-up call of each setting measures its memory
    factory = attention_factory(batch_size, nhead, head_dim, device, peaks=peaks)
    grid = {"impl": list(impls), "seq_len": [int(t) for t in lengths]}
    with cpu_threads(threads, device):
        df = sweep(factory, grid, 0, repeats, 0.0, timeout_s, device, progress=progress,
                   desc="attention")  # fmt: skip
    measured = [peaks.get(key, (None, None)) for key in zip(df["impl"], df["seq_len"], strict=True)]
    df["peak_mem_bytes"] = [b for b, _ in measured]
    df["mem_kind"] = [k for _, k in measured]
    q, k, v = _attention_inputs(1, nhead, head_dim, 8, device, 0)
    backends = {"naive": "ours", "sdpa": sdpa_backend(q, k, v, is_causal=True)}
    with sdpa_kernel([SDPBackend.MATH]):
        backends["sdpa_math"] = sdpa_backend(q, k, v, is_causal=True)
    df["backend"] = df["impl"].map(backends)
    df["median_ms"], df["iqr_ms"] = df["median_s"] * 1e3, df["iqr_s"] * 1e3
    df["peak_mem_mb"] = df["peak_mem_bytes"] / 2**20
    df["batch_size"], df["nhead"], df["head_dim"] = batch_size, nhead, head_dim
    df["device"] = device.type
    return df


def measure_models(
    lengths: Sequence[int],
    batch_size: int,
    device: torch.device | str,
    hidden_size: int = 64,
    num_layers: int = 1,
    nhead: int = 4,
    repeats: int = 3,
    threads: int | str | None = 1,
    timeout_s: float | None = 20.0,
    progress: bool = False,
) -> pd.DataFrame:
    """Forward + backward of ``torch.nn.LSTM`` and of ``num_layers`` causal Transformer blocks
    (width ``hidden_size``, ``nhead`` heads, MLP 4H, ``F.scaled_dot_product_attention``) on
    x (B, T, H): :func:`seqlab.bench.bench_seqlen`'s table (models "lstm", "transformer")."""
    with cpu_threads(threads, device):
        return bench_seqlen(
            tuple(lengths), batch_size=batch_size, hidden_size=hidden_size, cells=("lstm",),
            impls=("fused",), device=device, num_layers=num_layers, nhead=nhead,
            repeats=repeats, timeout_s=timeout_s, progress=progress,
        )  # fmt: skip


def fit_power_law(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> dict:
    """Least-squares fit of log y = log c + a log x (``scipy.stats.linregress``).

    Outputs: ``{"exponent": a, "lo": ..., "hi": ...}`` (the ``confidence`` interval of a from
    Student's t with n - 2 degrees of freedom; NaN when n = 2), ``"c"``, ``"r2"``, ``"n"``.
    Raises ``ValueError`` for fewer than 2 points, unequal lengths or values <= 0.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"need x and y of equal length >= 2, got {x.shape} and {y.shape}")
    if (x <= 0).any() or (y <= 0).any() or len(set(x)) < 2:
        raise ValueError("a log-log fit needs positive values and at least two distinct x")
    fit = stats.linregress(np.log(x), np.log(y))
    n = len(x)
    half = stats.t.ppf(0.5 + confidence / 2, n - 2) * fit.stderr if n > 2 else float("nan")
    return {"exponent": float(fit.slope), "lo": float(fit.slope - half),
            "hi": float(fit.slope + half), "c": float(np.exp(fit.intercept)),
            "r2": float(fit.rvalue**2), "n": n}  # fmt: skip


def exponent_words(lo: float, hi: float) -> str:
    """Where a fitted exponent's interval [lo, hi] (:func:`fit_power_law`) sits against 1
    (linear) and 2 (quadratic), in words: ``"not determined by these lengths (its interval
    is wider than 1)"``, ``"below 1"``, ``"indistinguishable from 1"``, ``"between 1 and 2"``,
    ``"indistinguishable from 2"`` or ``"above 2"`` (an interval that is not finite, e.g. from
    two points, reads as not determined). Raises ``ValueError`` when lo > hi."""
    if lo > hi:
        raise ValueError(f"need lo <= hi, got lo={lo!r}, hi={hi!r}")
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi - lo > 1:
        return "not determined by these lengths (its interval is wider than 1)"
    if hi < 1:
        return "below 1"
    if lo <= 1:
        return "indistinguishable from 1" if hi < 2 else "anywhere from 1 to 2"
    if hi < 2:
        return "between 1 and 2"
    return "indistinguishable from 2" if lo <= 2 else "above 2"


def exponents(df: pd.DataFrame, value: str, by: Sequence[str], min_len: int = 1) -> pd.DataFrame:
    """:func:`fit_power_law` of ``value`` against ``seq_len`` for each group ``by``, on rows
    with status "ok", ``seq_len >= min_len`` and a positive value (groups of < 2 such rows are
    left out). Outputs: one row per group: ``by``, exponent, lo, hi, r2, n, lengths."""
    ok = df[(df["status"] == "ok") & (df["seq_len"] >= min_len)]
    ok = ok[ok[value].astype(float) > 0]
    rows = []
    for key, g in ok.groupby(list(by), sort=False):
        if g["seq_len"].nunique() < 2:
            continue
        fit = fit_power_law(g["seq_len"], g[value].astype(float))
        lengths = f"{g['seq_len'].min()}-{g['seq_len'].max()}"
        keys = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, keys, strict=True)), **fit, "lengths": lengths})
    columns = [*by, "exponent", "lo", "hi", "c", "r2", "n", "lengths"]
    return pd.DataFrame(rows, columns=columns)


@dataclass
class AttentionCostConfig:
    """The cost measurements of chapter 6.

    Models (:func:`measure_models`): ``hidden_size`` H, ``num_layers``, ``nhead``; named sets
    of ``lengths`` offered live; ``batches`` offered live, ``static_batches`` measured for the
    book with the first set of lengths. Attention alone (:func:`measure_attention`):
    ``attn_lengths`` (live: each set of ``lengths`` too), ``attn_batch``, ``attn_nhead``,
    ``attn_head_dim``, ``attn_impls``. Fits use lengths >= ``fit_min_len``. ``repeats`` timed
    calls per point, ``timeout_s`` per point, ``cpu_threads`` on a CPU (an int, a kind of work
    for :func:`seqlab.device.cpu_threads_for`, or None: torch's setting).
    """

    hidden_size: int = 64
    num_layers: int = 1
    nhead: int = 4
    lengths: dict[str, tuple[int, ...]] = field(
        default_factory=lambda: {"16 ... 256": (16, 64, 256)}
    )
    batches: tuple[int, ...] = (1, 16)
    static_batches: tuple[int, ...] = (1, 16)
    attn_lengths: dict[str, tuple[int, ...]] = field(
        default_factory=lambda: {"256 ... 2048": (256, 512, 1024, 2048)}
    )
    attn_batch: int = 1
    attn_nhead: int = 4
    attn_head_dim: int = 32
    attn_impls: tuple[str, ...] = ATTENTION_IMPLS
    fit_min_len: int = 64
    repeats: int = 3
    timeout_s: float = 20.0
    cpu_threads: int | str | None = 1


@experiment("cost.sweep")
def attention_cost(config: AttentionCostConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``models`` (:func:`measure_models` per static batch size, stacked),
    ``attention`` (:func:`measure_attention` at the first set of ``attn_lengths``),
    ``model_fits`` (time exponent per model and batch) and ``attention_fits`` (time and memory
    exponents per impl), ``lengths_name`` and ``attn_lengths_name`` (the sets measured)."""
    device = torch.device(device) if device is not None else get_device()
    name, lengths = next(iter(config.lengths.items()))
    models = pd.concat(
        [measure_models(lengths, b, device, config.hidden_size, config.num_layers, config.nhead,
                        config.repeats, config.cpu_threads, config.timeout_s, progress)
         for b in config.static_batches],
        ignore_index=True,
    )  # fmt: skip
    attn_name, attn_lengths = next(iter(config.attn_lengths.items()))
    attention = measure_attention(
        attn_lengths, device, config.attn_batch, config.attn_nhead, config.attn_head_dim,
        config.attn_impls, config.repeats, config.cpu_threads, config.timeout_s, progress,
    )  # fmt: skip
    fits = [
        exponents(attention, value, ["impl"], config.fit_min_len).assign(quantity=quantity)
        for value, quantity in (("median_ms", "time"), ("peak_mem_mb", "memory"))
    ]
    return {
        "models": models,
        "attention": attention,
        "model_fits": exponents(models, "median_ms", ["model", "batch_size"], config.fit_min_len),
        "attention_fits": pd.concat(fits, ignore_index=True),
        "lengths_name": name,
        "attn_lengths_name": attn_name,
    }
