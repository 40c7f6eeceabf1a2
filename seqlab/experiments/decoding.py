"""Inference: the KV cache against re-reading the context, and the LSTM's constant-cost step.

:func:`decoding` ("cost.decoding") measures the time to produce one token at each context
length p (a log grid up to the GPT's block size) with :func:`seqlab.bench.decode.per_token_latency`:
the GPT re-reading all p tokens ("recompute"), the GPT with its key/value cache ("cache"),
the GPT with linear attention and its fixed-size state, and the LSTM stepping its state.
The whole sweep is repeated in ``rounds`` (interleaved), the "seeds" of the tie rule for the
comparisons at the longest context; a log-log slope per decoder says how the cost grows with p
(0: constant, 1: linear).

Letters: p context length (positions read), L layers, C width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from seqlab.bench.decode import DECODERS, decode_models, per_token_latency
from seqlab.experiments.efficient_attention import crossover
from seqlab.experiments.results import experiment
from seqlab.experiments.seeds import compare
from seqlab.models import count_params

__all__ = ["DECODER_NAMES", "DecodingConfig", "decoding", "latency_slopes"]

#: (model, mode) of :data:`seqlab.bench.decode.DECODERS` -> the name tables and phrases print
DECODER_NAMES = {
    ("gpt", "recompute"): "GPT without cache",
    ("gpt", "cache"): "GPT with KV cache",
    ("gpt-linear", "state"): "linear-attention GPT (state)",
    ("lstm", "state"): "LSTM (state)",
}


@dataclass
class DecodingConfig:
    """Untrained models (speed does not depend on the weights) of these sizes; ``positions``
    the context lengths p timed (<= block_size); ``rounds`` interleaved repeats of the sweep."""

    positions: tuple[int, ...] = (1, 4, 16, 64, 256, 1024)
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 1024
    hidden_size: int = 128
    batch_size: int = 1
    rounds: int = 3
    repeats: int = 7
    timeout_s: float = 5.0


def latency_slopes(summary: pd.DataFrame, min_position: int = 16) -> pd.DataFrame:
    """Least-squares slope of log(latency) against log(p) per decoder, over p >= min_position
    (the short contexts are dominated by fixed per-call overhead); None with fewer than two
    such points."""
    rows = []
    for (model, mode), g in summary.groupby(["model", "mode"], sort=False):
        g = g[g["position"] >= min_position]
        slope = (
            np.polyfit(np.log(g["position"]), np.log(g["latency_s"]), 1)[0] if len(g) > 1 else None
        )
        rows.append(dict(model=model, mode=mode, slope=slope, points=len(g)))
    return pd.DataFrame(rows)


@experiment("cost.decoding")
def decoding(config: DecodingConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``table`` one row per (round, model, mode, position) with ``median_s``;
    ``summary`` per (model, mode, position): ``latency_s`` (median over rounds) and
    ``tokens_per_s``; ``slopes`` (:func:`latency_slopes`); ``cache_crossover`` the context
    length from which the cache beats recomputing (None: at every p measured);
    ``comparison`` the tie rule at the longest p over rounds (``seeds.Comparison``);
    ``params`` parameter count per model; ``cache_mb_per_token`` the cache's size per
    position, 2 * L * C float32 numbers."""
    models = decode_models(n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd,
                           block_size=config.block_size, hidden_size=config.hidden_size,
                           device=device)  # fmt: skip
    tables = []
    for rnd in tqdm(range(config.rounds), desc="rounds", disable=not progress, leave=False):
        t = per_token_latency(models, config.positions, DECODERS, config.batch_size,
                              repeats=config.repeats, timeout_s=config.timeout_s, seed=rnd,
                              progress=progress)  # fmt: skip
        tables.append(t.assign(round=rnd))
    table = pd.concat(tables, ignore_index=True)
    summary = (
        table.groupby(["model", "mode", "position"], sort=False)["median_s"]
        .median()
        .rename("latency_s")
        .reset_index()
    )
    summary["tokens_per_s"] = config.batch_size / summary["latency_s"]
    wide = summary.pivot_table(index="position", columns=["model", "mode"], values="latency_s")
    cross = crossover(wide.index, wide[("gpt", "cache")], wide[("gpt", "recompute")])
    longest = table[table["position"] == table["position"].max()].copy()
    pairs = zip(longest["model"], longest["mode"], strict=True)
    longest["decoder"] = [DECODER_NAMES[m] for m in pairs]
    comparison = compare(longest, "decoder", "median_s", seed="round")
    return {
        "table": table,
        "summary": summary,
        "slopes": latency_slopes(summary),
        "cache_crossover": cross,
        "comparison": comparison,
        "params": {name: count_params(m) for name, m in models.items()},
        "cache_mb_per_token": 2 * config.n_layer * config.n_embd * 4 / 2**20,
    }
