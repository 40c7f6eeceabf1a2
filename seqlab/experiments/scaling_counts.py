"""Parameters and training FLOPs of GPT shapes: 6N against the exact count (chapter 7).

The exact count is :func:`seqlab.models.accounting.flops_per_token` (training, multiply-add =
2): ``6 N_mm + 12 L T C`` per token for a GPT, with N_mm = 12 L C^2 + V C (the matmul weights,
the tied output head included). Kaplan et al. (2020)'s rule C = 6N per token counts N without
the embeddings and leaves out the attention term; this table puts each piece beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from seqlab.models import GPT, GPTConfig, count_params
from seqlab.models.accounting import attention_flops_per_token, flops_per_token, matmul_params

__all__ = ["flop_counts", "matched_sizes", "sweep_provenance"]


def flop_counts(
    shapes: Sequence[tuple[int, int, int]], vocab_size: int, block_size: int
) -> pd.DataFrame:
    """One row per GPT shape ``(n_layer, n_head, n_embd)`` (no biases, tied head, as the sweep).

    Outputs (per token, FLOPs of one training step = forward + backward): ``n_params``,
    ``n_params_non_embedding``, ``n_mm``, ``exact`` (``flops_per_token``), ``six_n`` (6 x all
    parameters), ``six_n_ne`` (6 x non-embedding), ``attention`` (12 L T C: q k^T and
    weights . v, training), ``head`` (6 V C: the output projection), ``exact_over_6n``,
    ``exact_over_6n_ne``. Raises ``ValueError`` (from ``GPTConfig``) for bad shapes.
    """
    rows = []
    for n_layer, n_head, n_embd in shapes:
        cfg = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                        n_head=n_head, n_embd=n_embd, bias=False)  # fmt: skip
        model = GPT(cfg)
        n, ne = count_params(model), count_params(model, non_embedding=True)
        exact = flops_per_token(model, training=True)
        rows.append({
            "n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "n_params": n,
            "n_params_non_embedding": ne, "n_mm": matmul_params(model), "exact": exact,
            "six_n": 6 * n, "six_n_ne": 6 * ne,
            "attention": 3 * attention_flops_per_token(model, block_size),
            "head": 6 * vocab_size * n_embd,
            "exact_over_6n": exact / (6 * n), "exact_over_6n_ne": exact / (6 * ne),
        })  # fmt: skip
    return pd.DataFrame(rows)


def matched_sizes(
    table: pd.DataFrame, budget: int, col: str = "n_params_non_embedding", max_ratio: float = 2.0
) -> list[pd.DataFrame]:
    """GPT and LSTM runs of a sweep ``table`` at the same ``budget`` (``max_iters``), paired by
    size: each LSTM size with the GPT size nearest in log ``col``, kept when the two are within
    a factor ``max_ratio``. Outputs: one long table per pair (rows of both sizes, every seed),
    with a ``model`` column ``"GPT (N = ...)"`` / ``"LSTM (N = ...)"`` for
    :func:`seqlab.experiments.seeds.compare`. Raises ``ValueError`` for a missing column or a
    budget without runs of both architectures."""
    if col not in table.columns:
        raise ValueError(f"table has no column {col!r}; columns are {list(table.columns)}")
    runs = table[table["max_iters"] == budget]
    gpt, lstm = runs[runs["arch"] == "gpt"], runs[runs["arch"] == "lstm"]
    if gpt.empty or lstm.empty:
        raise ValueError(f"budget {budget!r} lacks GPT or LSTM runs")
    g_sizes = np.unique(gpt[col].to_numpy())
    pairs = []
    for n in np.unique(lstm[col].to_numpy()):
        g = g_sizes[np.argmin(np.abs(np.log(g_sizes / n)))]
        if max(g / n, n / g) <= max_ratio:
            both = pd.concat([gpt[gpt[col] == g].assign(model=f"GPT (N = {g:,})"),
                              lstm[lstm[col] == n].assign(model=f"LSTM (N = {n:,})")])  # fmt: skip
            pairs.append(both)
    return pairs


def sweep_provenance(table: pd.DataFrame) -> str:
    """One line: how many runs, where, with what, when, and their total training time."""
    n = table["arch"].value_counts()
    dev = ", ".join(sorted(set(map(str, table["device"]))))
    dtype = ", ".join(sorted(set(map(str, table["dtype"]))))
    torch_v = ", ".join(sorted(set(map(str, table["torch_version"]))))
    when = pd.to_datetime(table["finished_at"], utc=True)
    return (
        f"sweep: {len(table)} runs ({n.get('gpt', 0)} GPT, {n.get('lstm', 0)} LSTM) on {dev}, "
        f"{dtype}, world size {int(table['world_size'].max())}, torch {torch_v}, seqlab "
        f"{table['seqlab_version'].iloc[0]}; finished {when.min():%Y-%m-%d %H:%M} to "
        f"{when.max():%Y-%m-%d %H:%M} UTC; {table['wall_s'].sum():,.0f} s of training in all"
    )
