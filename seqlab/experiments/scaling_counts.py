"""Parameters and training FLOPs of GPT shapes: 6N against the exact count (chapter 7).

The exact count is :func:`seqlab.models.accounting.flops_per_token` (training, multiply-add =
2): ``6 N_mm + 12 L T C`` per token for a GPT, with N_mm = 12 L C^2 + V C (the matmul weights,
the tied output head included). Kaplan et al. (2020)'s rule C = 6N per token counts N without
the embeddings and leaves out the attention term; this table puts each piece beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from seqlab.models import GPT, GPTConfig, count_params
from seqlab.models.accounting import attention_flops_per_token, flops_per_token, matmul_params

__all__ = ["flop_counts"]


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
