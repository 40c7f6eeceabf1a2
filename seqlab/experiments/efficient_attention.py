"""Efficient attention, measured: loss on the char LM, and time and memory against length.

- :func:`efficient_lm` ("cost.efficient"): the same small GPT with full, sliding-window and
  linear attention (``GPTConfig.attention``), trained on Shakespeare with the same batches and
  step budget, over seeds: validation loss (for the tie rule of ``seqlab.experiments.seeds``)
  and training speed.
- :func:`efficient_cost` ("cost.efficient_cost"): forward+backward time and peak memory of
  one causal attention call (B, nh, T, hs) against T on a log grid, for full attention fused
  (``F.scaled_dot_product_attention``) and written out, sliding window and linear attention;
  rounds interleaved, and :func:`crossover` finds from the measurements where the lines cross.

Letters: B batch, nh heads, T length, hs head size, w window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from seqlab.bench.timing import BenchTimeout, is_oom, time_fn
from seqlab.device import cpu_threads
from seqlab.experiments.char_lm import char_batches, shakespeare
from seqlab.experiments.results import experiment
from seqlab.models import GPT, GPTConfig, count_params
from seqlab.models.attention import _fused_sdpa, scaled_dot_product_attention
from seqlab.models.efficient_attention import linear_attention, sliding_window_attention
from seqlab.train import TrainConfig, train

__all__ = ["ATTENTION_NAMES", "EfficientConfig", "EfficientCostConfig", "crossover"]
__all__ += ["efficient_cost", "efficient_lm"]

ATTENTION_NAMES = {
    "full": "full (fused)",
    "explicit": "full (written out)",
    "sliding": "sliding window",
    "linear": "linear",
}


@dataclass
class EfficientConfig:
    """GPTs that differ only in ``attentions`` (``window`` for "sliding"), trained per seed."""

    attentions: tuple[str, ...] = ("full", "sliding", "linear")
    window: int = 16
    seeds: tuple[int, ...] = (0, 1, 2)
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 128
    batch_size: int = 8
    max_iters: int = 300
    learning_rate: float = 3e-3
    warmup_iters: int = 20
    eval_iters: int = 8
    cpu_threads: int | str | None = 1


def train_gpt(config: EfficientConfig, attention: str, seed: int, device, progress: bool):
    """Train one GPT; return ``(model, history)`` (:func:`seqlab.train.train`'s table)."""
    data = shakespeare()
    torch.manual_seed(seed)  # the same initial weights for every attention (same parameters)
    window = config.window if attention == "sliding" else None
    model = GPT(GPTConfig(vocab_size=data.tokenizer.vocab_size, block_size=config.block_size,
                          n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd,
                          attention=attention, window=window)).to(device)  # fmt: skip
    c = config
    get_batch, eval_fn = char_batches(data, c.batch_size, c.block_size, c.eval_iters, seed, device)
    tc = TrainConfig(max_iters=config.max_iters, learning_rate=config.learning_rate,
                     warmup_iters=config.warmup_iters, eval_interval=config.max_iters,
                     seed=seed, progress=progress)  # fmt: skip
    with cpu_threads(config.cpu_threads, device):
        history = train(model, get_batch, tc, device=device, eval_fn=eval_fn)
    return model, history


@experiment("cost.efficient")
def efficient_lm(config: EfficientConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``runs`` one row per (attention, seed): ``val_loss``, ``train_loss`` (final,
    nats per character), ``tokens_per_s`` (median over the run), ``ms_per_step``, ``n_params``;
    ``uniform`` the loss of a uniform guess, ln V."""
    rows = []
    for seed in config.seeds:
        for attention in config.attentions:
            model, h = train_gpt(config, attention, seed, device, progress)
            last = h.dropna(subset=["val_loss"]).iloc[-1]
            tps = float(h["tokens_per_s"].median())
            rows.append(dict(attention=attention, seed=seed, val_loss=float(last["val_loss"]),
                             train_loss=float(last["train_loss"]), tokens_per_s=tps,
                             ms_per_step=1e3 * config.batch_size * config.block_size / tps,
                             n_params=count_params(model)))  # fmt: skip
    return {"runs": pd.DataFrame(rows), "uniform": math.log(shakespeare().tokenizer.vocab_size)}


# ----------------------------------------------------------------------------- cost vs length


@dataclass
class EfficientCostConfig:
    """One attention call, forward+backward, at every length of ``lengths`` (a log grid);
    ``rounds`` interleaved repetitions of the whole sweep (the spread between them is the
    machine's noise); ``timeout_s`` per point (a point over it ends that kind's sweep)."""

    kinds: tuple[str, ...] = ("full", "explicit", "sliding", "linear")
    lengths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096)
    batch_size: int = 1
    n_head: int = 4
    head_size: int = 16
    window: int = 16
    chunk_size: int = 64
    rounds: int = 3
    repeats: int = 3
    timeout_s: float = 5.0
    cpu_threads: int | str | None = 1


def attention_fn(kind: str, window: int, chunk_size: int):
    """``f(q, k, v) -> y`` of one causal attention ``kind`` (see ``ATTENTION_NAMES``)."""
    if kind == "full":
        return lambda q, k, v: _fused_sdpa(q, k, v, is_causal=True)
    if kind == "explicit":
        return lambda q, k, v: scaled_dot_product_attention(q, k, v, causal=True)[0]
    if kind == "sliding":
        return lambda q, k, v: sliding_window_attention(q, k, v, window)
    if kind == "linear":
        return lambda q, k, v: linear_attention(q, k, v, chunk_size)[0]
    raise ValueError(f"unknown attention kind {kind!r}; valid: {', '.join(ATTENTION_NAMES)}")


def crossover(x: Sequence[float], y_a: Sequence[float], y_b: Sequence[float]) -> float | None:
    """The first x where curve a goes from above curve b to below it (or the reverse),
    interpolated linearly in log x and log(a / b) between the two grid points around the
    sign change; None when a stays on one side over the whole grid (NaN points ignored)."""
    x, r = np.asarray(x, float), np.log(np.asarray(y_a, float) / np.asarray(y_b, float))
    ok = np.isfinite(r)
    x, r = x[ok], r[ok]
    for i in range(1, len(r)):
        if r[i - 1] == 0:
            return float(x[i - 1])
        if np.sign(r[i]) != np.sign(r[i - 1]) and r[i] != 0:
            lx0, lx1 = math.log(x[i - 1]), math.log(x[i])
            return float(math.exp(lx0 + (lx1 - lx0) * r[i - 1] / (r[i - 1] - r[i])))
    return None


def _measure(factory, kind: str, T: int, config: EfficientCostConfig, device) -> dict:
    """One point: time and peak memory, or status "timeout" / "oom" (a result, not a crash).
    (``seqlab.bench.timing.sweep`` does this too, with a full garbage collection per point that
    takes longer than the whole measurement here.)"""
    try:
        t = time_fn(factory(kind, T), 1, config.repeats, 0.0, device, config.timeout_s)
    except BenchTimeout:
        return {"status": "timeout"}
    except Exception as exc:  # noqa: BLE001 - out of memory is a result; anything else a bug
        if not is_oom(exc):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return {"status": "oom"}
    return {"median_s": t.median_s, "iqr_s": t.iqr_s, "peak_mem_bytes": t.peak_mem_bytes,
            "mem_kind": t.mem_kind}  # fmt: skip


@experiment("cost.efficient_cost")
def efficient_cost(config: EfficientCostConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``table`` one row per (round, kind, T): ``status`` ("ok" | "timeout" | "oom"),
    ``median_s``, ``iqr_s``, ``peak_mem_bytes``, ``mem_kind`` (:func:`seqlab.bench.time_fn`); ``summary`` one row
    per (kind, T): median over rounds of time (``time_s``) and memory (``mem_mb``);
    ``crossings`` one row per (efficient kind, full kind, quantity): the crossover length T
    (None: no crossing within the grid) and which is cheaper at the longest T measured."""
    B, nh, hs = config.batch_size, config.n_head, config.head_size

    def factory(kind: str, T: int):
        g = torch.Generator().manual_seed(T)
        q, k, v = (torch.randn(B, nh, T, hs, generator=g).to(device).requires_grad_()
                   for _ in range(3))  # fmt: skip
        f = attention_fn(kind, config.window, config.chunk_size)

        def forward_backward() -> None:
            q.grad = k.grad = v.grad = None
            f(q, k, v).sum().backward()

        return forward_backward

    rows = []
    with cpu_threads(config.cpu_threads, device):
        for rnd in tqdm(range(config.rounds), desc="rounds", disable=not progress, leave=False):
            failed: dict[str, str] = {}  # kind -> status: longer T of that kind are skipped
            for T in config.lengths:
                for kind in config.kinds:  # kinds alternate at each T
                    row = dict(round=rnd, kind=kind, T=T, status=failed.get(kind, "ok"))
                    if kind not in failed:
                        row.update(_measure(factory, kind, T, config, device))
                        if row["status"] != "ok":
                            failed[kind] = row["status"]
                    rows.append(row)
    table = pd.DataFrame(rows)
    ok = table[table["status"] == "ok"]
    summary = (
        ok.groupby(["kind", "T"], sort=False)
        .agg(time_s=("median_s", "median"), mem_mb=("peak_mem_bytes", "median"))
        .reset_index()
    )
    summary["mem_mb"] = summary["mem_mb"] / 2**20
    wide = summary.pivot(index="T", columns="kind").reindex(list(config.lengths))
    rows = []
    for eff in [k for k in config.kinds if k in ("sliding", "linear")]:
        for full in [k for k in config.kinds if k in ("full", "explicit")]:
            for q in ("time_s", "mem_mb"):
                a, b = wide[(q, eff)].to_numpy(), wide[(q, full)].to_numpy()
                both = np.isfinite(a) & np.isfinite(b) & (b > 0)
                last = int(np.flatnonzero(both)[-1]) if both.any() else None
                cheaper = None if last is None else (eff if a[last] < b[last] else full)
                rows.append(dict(efficient=eff, full=full, quantity=q,
                                 crossover_T=crossover(wide.index, a, b),
                                 cheaper_at_longest=cheaper,
                                 longest_T=None if last is None else int(wide.index[last])))  # fmt: skip
    return {"table": table, "summary": summary, "crossings": pd.DataFrame(rows)}
