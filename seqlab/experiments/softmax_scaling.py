"""Why attention divides its scores by sqrt(d_k), measured (chapter 4).

:func:`softmax_scaling` is the compute function of the chapter's interactive (d_k, scale) and
:func:`scaling_sweep` its table: scores q . k of random queries and keys, their softmax, its
entropy, largest weight and gradient, with and without the 1/sqrt(d_k) of Vaswani et al. (2017).

Letters: d_k query/key size, n keys, Nq queries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from seqlab.checks import check_choice
from seqlab.device import cpu_threads
from seqlab.experiments.results import experiment

__all__ = ["ScalingConfig", "scaling_sweep", "softmax_scaling"]


def softmax_scaling(
    d_k: int, scale: str = "1/sqrt(d_k)", n_keys: int = 16, n_queries: int = 512, seed: int = 0
) -> dict[str, Any]:
    """Attention scores of random queries and keys, and what the softmax makes of them.

    q, k have ``d_k`` independent N(0, 1) components, so Var(q . k) = d_k (Vaswani et al. 2017,
    footnote 4). ``scale`` "1/sqrt(d_k)" divides the scores by sqrt(d_k), "1" does not.
    Outputs: ``var_qk`` (variance of the unscaled q . k), ``var_score`` (of the scores fed to
    the softmax), ``entropy`` (mean, nats; the uniform maximum is ln n_keys), ``max_weight``
    (mean largest weight), ``grad_norm`` (mean Frobenius norm of the softmax Jacobian
    diag(a) - a a^T, which carries the gradient back to the scores), ``saturated`` (fraction
    of rows whose largest weight exceeds 0.99), ``example`` (n_keys,) the weights of query 0,
    ``n_keys``, ``max_entropy``.
    """
    check_choice(scale, ("1/sqrt(d_k)", "1"), "scale")
    if isinstance(d_k, bool) or not isinstance(d_k, int) or d_k < 1:
        raise ValueError(f"d_k must be a positive int, got d_k={d_k!r}")
    with cpu_threads(1):  # small products: a second thread only waits (seqlab.device)
        return _softmax_scaling(d_k, scale, n_keys, n_queries, seed)


def _softmax_scaling(d_k: int, scale: str, n_keys: int, n_queries: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n_queries, d_k, generator=g, dtype=torch.float64)  # (Nq, d_k)
    k = torch.randn(n_keys, d_k, generator=g, dtype=torch.float64)  # (n, d_k)
    qk = q @ k.T  # (Nq, n)
    scores = qk / math.sqrt(d_k) if scale == "1/sqrt(d_k)" else qk
    a = scores.softmax(dim=-1)  # (Nq, n)
    entropy = -(a * a.clamp_min(1e-300).log()).sum(-1)  # (Nq,)
    # ||diag(a) - a a^T||_F^2 = sum a^2 - 2 sum a^3 + (sum a^2)^2
    s2, s3 = a.square().sum(-1), a.pow(3).sum(-1)
    grad_norm = (s2 - 2 * s3 + s2.square()).clamp_min(0).sqrt()  # (Nq,)
    top = a.max(dim=-1).values
    return {
        "d_k": d_k,
        "scale": scale,
        "var_qk": float(qk.var()),
        "var_score": float(scores.var()),
        "entropy": float(entropy.mean()),
        "max_weight": float(top.mean()),
        "grad_norm": float(grad_norm.mean()),
        "saturated": float((top > 0.99).double().mean()),
        "example": a[0].numpy(),
        "n_keys": n_keys,
        "max_entropy": math.log(n_keys),
    }


@dataclass
class ScalingConfig:
    """:func:`softmax_scaling` at every ``d_ks`` with and without the scale."""

    d_ks: tuple[int, ...] = (1, 4, 16, 64, 256, 1024)
    n_keys: int = 16
    n_queries: int = 512
    seed: int = 0


@experiment("attention.scaling")
def scaling_sweep(config: ScalingConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``table`` one row per (d_k, scale) with the scalar outputs of
    :func:`softmax_scaling`."""
    rows = []
    for d_k in config.d_ks:
        for scale in ("1/sqrt(d_k)", "1"):
            s = softmax_scaling(d_k, scale, config.n_keys, config.n_queries, config.seed)
            rows.append({k: v for k, v in s.items() if k != "example"})
    return {"table": pd.DataFrame(rows)}
