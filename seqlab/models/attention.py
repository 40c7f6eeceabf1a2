"""Attention, from the first alignment models to multi-head attention.

Shape letters: B batch, Tq query length, Tk key/value length, Hq / Hk / Hv query / key / value
features, A attention (score) hidden size, C model width (``embed_dim``), nh heads (``num_heads``),
hs = C / nh head size. Constructor arguments take ``torch.nn.MultiheadAttention``'s names.

Masks are boolean with **True = keep** (the convention of ``F.scaled_dot_product_attention``;
``nn.MultiheadAttention``'s ``key_padding_mask`` uses the opposite, True = ignore).
A query row whose keys are *all* masked has nothing to attend to: here its weights are all zero
and its output is the zero vector (no NaN), on every path. ``torch`` 2.5+ does the same in its
CPU kernels; we enforce it so results do not depend on the version or backend.

Contents
- ``AdditiveAttention``  score(q, k) = v^T tanh(W_q q + W_k k)          (Bahdanau et al., 2015)
- ``DotAttention``       score(q, k) = q . k                            (Luong et al., 2015)
- ``GeneralAttention``   score(q, k) = q^T W k                          (Luong et al., 2015)
- ``scaled_dot_product_attention``  softmax(q k^T / sqrt(hs)) v, written out (reference)
- ``MultiHeadAttention`` nh heads in parallel (Vaswani et al., 2017), fused or explicit path
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqlab.checks import (
    check_bool,
    check_dropout,
    check_float_input,
    check_nonempty_time,
    check_positive_int,
    check_rank,
    check_sequence,
    check_size,
)

__all__ = [
    "AdditiveAttention",
    "DotAttention",
    "GeneralAttention",
    "MultiHeadAttention",
    "causal_mask",
    "masked_softmax",
    "scaled_dot_product_attention",
]


# ----------------------------------------------------------------------------- masks and softmax


def causal_mask(Tq: int, Tk: int | None = None, device: torch.device | None = None) -> torch.Tensor:
    """Boolean (Tq, Tk) mask, True where query i may see key j, i.e. j <= i.

    Top-left aligned like ``F.scaled_dot_product_attention(is_causal=True)``.
    """
    Tk = Tq if Tk is None else Tk
    return torch.ones(Tq, Tk, dtype=torch.bool, device=device).tril()  # (Tq, Tk)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last dim of ``scores`` (..., Tq, Tk), ignoring entries where ``mask`` is False.

    Rows with no kept entry get all-zero weights (never NaN, in forward or backward).
    """
    if mask is None:
        return scores.softmax(dim=-1)
    has_key = mask.any(dim=-1, keepdim=True)  # (..., Tq, 1)
    scores = scores.masked_fill(~mask, float("-inf")).masked_fill(~has_key, 0.0)
    return scores.softmax(dim=-1).masked_fill(~has_key, 0.0)


def _check_mask(mask: torch.Tensor, name: str = "mask") -> None:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"expected {name} to be a bool tensor (True = keep), got {got}")


def _padding_to_scores(mask: torch.Tensor | None, keys: torch.Tensor) -> torch.Tensor | None:
    """A (B, Tk) key mask for the Luong/Bahdanau modules, shaped to (B, 1, Tk)."""
    if mask is None:
        return None
    _check_mask(mask)
    check_rank(mask, 2, "mask", "(B, Tk)")
    check_size(mask, 1, keys.shape[1], "mask", "(B, Tk)")
    return mask[:, None, :]  # (B, 1, Tk)


# ----------------------------------------------------------------------------- alignment models


class _AlignmentAttention(nn.Module):
    """Shared forward: query (B, Hq) or (B, Tq, Hq), keys (B, Tk, Hk) -> context, weights."""

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:  # (B, Tq, Tk)
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs: query (B, Hq) or (B, Tq, Hq); keys (B, Tk, Hk); values (B, Tk, Hv), default keys;
        mask (B, Tk) bool, True = real key (False = padding).

        Outputs: context (B, Hv) or (B, Tq, Hv); weights (B, Tk) or (B, Tq, Tk), rows sum to 1.
        """
        check_rank(query, (2, 3), "query", "(B, Hq) or (B, Tq, Hq)")
        check_rank(keys, 3, "keys", "(B, Tk, Hk)")
        check_nonempty_time(keys, "keys")
        values = keys if values is None else values
        check_rank(values, 3, "values", "(B, Tk, Hv)")
        for name, t in (("query", query), ("keys", keys), ("values", values)):
            check_float_input(t, name)
        check_size(values, 1, keys.shape[1], "values", "(B, Tk, Hv)")
        single = query.dim() == 2
        q = query[:, None, :] if single else query  # (B, Tq, Hq)
        if q.shape[0] != keys.shape[0] or values.shape[0] != keys.shape[0]:
            raise ValueError(
                f"batch sizes differ: query {tuple(query.shape)}, keys {tuple(keys.shape)}, "
                f"values {tuple(values.shape)}"
            )
        scores = self.score(q, keys)  # (B, Tq, Tk)
        weights = masked_softmax(scores, _padding_to_scores(mask, keys))  # (B, Tq, Tk)
        context = weights @ values  # (B, Tq, Hv)
        if single:
            return context[:, 0], weights[:, 0]  # (B, Hv), (B, Tk)
        return context, weights


class AdditiveAttention(_AlignmentAttention):
    """Bahdanau et al. (2015): score(q, k) = v^T tanh(W_q q + W_k k).

    ``AdditiveAttention(query_size, key_size, hidden_size)``; forward as in ``_AlignmentAttention``.
    The key projection does not depend on the query: call ``project_keys`` once per source
    sequence and pass the result as ``keys_proj`` to ``score`` when decoding step by step.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int):
        super().__init__()
        query_size = check_positive_int(query_size, "query_size")
        key_size = check_positive_int(key_size, "key_size")
        hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=True)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        check_size(query, -1, self.W_q.in_features, "query", "(B, Tq, Hq)")
        check_size(keys, -1, self.W_k.in_features, "keys", "(B, Tk, Hk)")
        q = self.W_q(query)[:, :, None, :]  # (B, Tq, 1, A)
        k = self.W_k(keys)[:, None, :, :]  # (B, 1, Tk, A)
        return self.v(torch.tanh(q + k)).squeeze(-1)  # (B, Tq, Tk)


class DotAttention(_AlignmentAttention):
    """Luong et al. (2015) "dot": score(q, k) = q . k (needs Hq == Hk).

    ``scaled=True`` divides by sqrt(Hk), which turns it into scaled dot-product attention.
    """

    def __init__(self, scaled: bool = False):
        super().__init__()
        self.scaled = check_bool(scaled, "scaled")

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        if query.shape[-1] != keys.shape[-1]:
            raise ValueError(
                f"dot attention needs query and key sizes equal, got Hq={query.shape[-1]} "
                f"and Hk={keys.shape[-1]} (use GeneralAttention for different sizes)"
            )
        scores = query @ keys.transpose(1, 2)  # (B, Tq, Tk)
        return scores / math.sqrt(keys.shape[-1]) if self.scaled else scores


class GeneralAttention(_AlignmentAttention):
    """Luong et al. (2015) "general": score(q, k) = q^T W k, W of shape (Hq, Hk)."""

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        query_size = check_positive_int(query_size, "query_size")
        key_size = check_positive_int(key_size, "key_size")
        self.W = nn.Linear(key_size, query_size, bias=False)  # W k: (Hk) -> (Hq)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        check_size(query, -1, self.W.out_features, "query", "(B, Tq, Hq)")
        check_size(keys, -1, self.W.in_features, "keys", "(B, Tk, Hk)")
        return query @ self.W(keys).transpose(1, 2)  # (B, Tq, Hq) @ (B, Hq, Tk) -> (B, Tq, Tk)


# ----------------------------------------------------------------------------- scaled dot-product


def _merge_masks(
    mask: torch.Tensor | None, causal: bool, Tq: int, Tk: int, device: torch.device
) -> torch.Tensor | None:
    """One boolean keep-mask from an optional mask and the causal flag (None if neither)."""
    if not causal:
        return mask
    tri = causal_mask(Tq, Tk, device=device)  # (Tq, Tk)
    return tri if mask is None else mask & tri


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(hs)) v, written out: the reference for the fused kernel.

    Inputs: q (B, nh, Tq, hs); k (B, nh, Tk, hs); v (B, nh, Tk, hsv); mask bool, broadcastable to
    (B, nh, Tq, Tk), True = keep; causal: query i sees keys j <= i (top-left aligned).
    ``dropout_p`` drops attention weights (only pass it while training).

    Outputs: out (B, nh, Tq, hsv); weights (B, nh, Tq, Tk) before dropout; fully-masked rows
    give zero weights and a zero output.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_rank(t, 4, name, "(B, nh, T, hs)")
        check_float_input(t, name)
    check_nonempty_time(k, "k", dim=2)
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            "expected q (B, nh, Tq, hs), k (B, nh, Tk, hs), v (B, nh, Tk, hsv), got "
            f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if mask is not None:
        _check_mask(mask)
    Tq, Tk = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (B, nh, Tq, Tk)
    weights = masked_softmax(scores, _merge_masks(mask, causal, Tq, Tk, q.device))
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return dropped @ v, weights  # (B, nh, Tq, hsv), (B, nh, Tq, Tk)


# ----------------------------------------------------------------------------- multi-head


def _fused_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw) -> torch.Tensor:
    """``F.scaled_dot_product_attention``; on CPU in bf16/fp16 (e.g. under autocast) the kernel
    runs in fp32. Measured (torch 2.13, 2-core Xeon, 1 thread, (B, nh, T, hs) = (12, 4, 64, 32)):
    the CPU flash-attention backward takes 17.4 ms in bf16 against 2.6 ms in fp32, which made
    bf16 autocast slower overall; the matmuls around it still run in bf16."""
    if q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16):
        with torch.autocast("cpu", enabled=False):
            y = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), **kw)
        return y.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, **kw)


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al., 2017) for self- and cross-attention.

    ``MultiHeadAttention(embed_dim, num_heads, dropout=0.0, bias=True, fused=True)``, the
    arguments of ``nn.MultiheadAttention``; ``embed_dim % num_heads == 0`` or ``ValueError``.
    Parameters: ``qkv`` (C -> 3C; weight rows are [W_q; W_k; W_v], the layout of
    ``nn.MultiheadAttention.in_proj_weight``) and ``proj`` (C -> C, the output projection).
    ``fused=True`` uses ``F.scaled_dot_product_attention`` unless weights are requested;
    the explicit path (``scaled_dot_product_attention`` above) gives the same output.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        fused: bool = True,
    ):
        super().__init__()
        embed_dim = check_positive_int(embed_dim, "embed_dim")
        num_heads = check_positive_int(num_heads, "num_heads")
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim={embed_dim} must be a multiple of num_heads={num_heads} "
                "(each head gets embed_dim / num_heads features)"
            )
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads  # hs
        self.dropout = check_dropout(dropout)
        self.fused = check_bool(fused, "fused")
        check_bool(bias, "bias")
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        # no Dropout module when p = 0: nothing to run in the hot loop
        self.resid_drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def _mask(self, mask: torch.Tensor | None, B: int, Tq: int, Tk: int) -> torch.Tensor | None:
        """(B, Tk) padding -> (B, 1, 1, Tk); (B, Tq, Tk) -> (B, 1, Tq, Tk); 4-d passes through."""
        if mask is None:
            return None
        _check_mask(mask)
        doc = "(B, Tk) key padding, (B, Tq, Tk) or (B, nh, Tq, Tk)"
        check_rank(mask, (2, 3, 4), "mask", doc)
        bad_q = mask.dim() > 2 and mask.shape[-2] not in (1, Tq)
        if mask.shape[-1] != Tk or mask.shape[0] not in (1, B) or bad_q:
            raise ValueError(
                f"expected mask of shape {doc} with B={B}, Tq={Tq}, Tk={Tk}, "
                f"got {tuple(mask.shape)}"
            )
        if mask.dim() == 2:
            return mask[:, None, None, :]  # (B, 1, 1, Tk)
        if mask.dim() == 3:
            return mask[:, None, :, :]  # (B, 1, Tq, Tk)
        return mask

    def forward(
        self,
        x_q: torch.Tensor,
        x_kv: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inputs: x_q (B, Tq, C); x_kv (B, Tk, C) for cross-attention (None: self-attention);
        mask bool, True = keep: (B, Tk) key padding, (B, Tq, Tk) or (B, nh, Tq, Tk) (combine a
        padding and an attention mask yourself: ``pad[:, None, :] & attn``); causal: query i sees
        keys j <= i; need_weights: also return the attention weights (explicit path).

        Outputs: out (B, Tq, C); weights (B, nh, Tq, Tk) or None.
        """
        C, nh = self.embed_dim, self.num_heads
        check_sequence(x_q, C, "x_q", "B, Tq, C")
        B, Tq, _ = x_q.shape
        if x_kv is None:
            q, k, v = self.qkv(x_q).split(C, dim=2)  # 3 x (B, Tq, C)
        else:
            check_rank(x_kv, 3, "x_kv", f"(B={B}, Tk, C={C})")
            check_size(x_kv, 0, B, "x_kv", f"(B={B}, Tk, C={C})")
            check_size(x_kv, 2, C, "x_kv", f"(B={B}, Tk, C={C})")
            check_float_input(x_kv, "x_kv")
            check_nonempty_time(x_kv, "x_kv")
            w_q, w_kv = self.qkv.weight.split([C, 2 * C])  # (C, C), (2C, C)
            b_q, b_kv = (None, None) if self.qkv.bias is None else self.qkv.bias.split([C, 2 * C])
            q = F.linear(x_q, w_q, b_q)  # (B, Tq, C)
            k, v = F.linear(x_kv, w_kv, b_kv).split(C, dim=2)  # 2 x (B, Tk, C)
        Tk = k.shape[1]
        q = q.view(B, Tq, nh, C // nh).transpose(1, 2)  # (B, nh, Tq, hs)
        k = k.view(B, Tk, nh, C // nh).transpose(1, 2)  # (B, nh, Tk, hs)
        v = v.view(B, Tk, nh, C // nh).transpose(1, 2)  # (B, nh, Tk, hs)
        keep = self._mask(mask, B, Tq, Tk)  # broadcastable to (B, nh, Tq, Tk) or None
        p = self.dropout if self.training else 0.0

        weights = None
        if need_weights or not self.fused:
            y, weights = scaled_dot_product_attention(
                q, k, v, mask=keep, causal=causal, dropout_p=p
            )
        elif keep is None:
            y = _fused_sdpa(q, k, v, dropout_p=p, is_causal=causal)
        else:
            keep = _merge_masks(keep, causal, Tq, Tk, q.device)
            has_key = keep.any(dim=-1, keepdim=True)  # (B|1, nh|1, Tq, 1)
            # rows with no key: let them attend to everything, then zero them (no NaN, no grad)
            y = _fused_sdpa(q, k, v, attn_mask=keep | ~has_key, dropout_p=p)
            y = y.masked_fill(~has_key, 0.0)
        y = y.transpose(1, 2).reshape(B, Tq, C)  # (B, Tq, C): heads side by side
        return self.resid_drop(self.proj(y)), weights
