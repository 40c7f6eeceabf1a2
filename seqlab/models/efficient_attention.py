"""Causal self-attention that costs less than T^2: a sliding window, and linear attention.

Shape letters: B batch, nh heads, T time, hs head size, w window, c chunk size, n = T / w or
T / c blocks. Full causal attention (``seqlab.models.attention``) scores every query i against
every key j <= i: T^2 / 2 scores per head, time O(T^2 hs) and, written out, memory O(T^2).

- **Sliding window** (local attention; Beltagy et al. 2020 use it in Longformer): query i sees
  only the last w keys, i - w < j <= i::

      y_i = sum_{j = max(0, i-w+1)}^{i} softmax_j(q_i . k_j / sqrt(hs)) v_j

  It equals full attention under the band mask of :func:`band_mask`, but computed block by
  block (:func:`sliding_window_attention`): cut T into n blocks of w queries; block b needs
  only the keys of blocks b-1 and b, so the scores are (n, w, 2w): O(T w) time and memory.
- **Linear attention** (Katharopoulos et al. 2020, "Transformers are RNNs", arXiv 2006.16236,
  eq. 4-6 and 8-9): replace exp(q . k) by phi(q) . phi(k) with phi(x) = elu(x) + 1 > 0::

      y_i = phi(q_i)^T S_i / (phi(q_i)^T z_i),   S_i = sum_{j<=i} phi(k_j) v_j^T  (hs, hs),
                                                  z_i = sum_{j<=i} phi(k_j)        (hs,)

  S and z are running sums: a recurrent state of fixed size, so decoding one token costs
  O(hs^2) whatever its position. :func:`linear_attention` evaluates it chunk by chunk
  (within a chunk of c positions the masked c x c products, across chunks the state):
  O(T c hs + T hs^2) time; :func:`linear_attention_direct` is the O(T^2) reference.

The modules :class:`SlidingWindowAttention` and :class:`LinearAttention` subclass
``MultiHeadAttention`` (same parameters ``qkv`` and ``proj``, same call) for causal
self-attention; ``GPTConfig(attention="sliding", window=w)`` or ``"linear"`` builds them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seqlab.checks import check_float_input, check_positive_int, check_rank, check_sequence
from seqlab.models.attention import MultiHeadAttention, masked_softmax, scaled_dot_product_attention

__all__ = [
    "LinearAttention",
    "SlidingWindowAttention",
    "band_mask",
    "elu_feature_map",
    "linear_attention",
    "linear_attention_direct",
    "sliding_window_attention",
]


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_rank(t, 4, name, "(B, nh, T, hs)")
        check_float_input(t, name)
    if q.shape != k.shape or k.shape[:-1] != v.shape[:-1] or q.shape[2] == 0:
        raise ValueError(
            "causal self-attention needs q, k (B, nh, T, hs) and v (B, nh, T, hsv) with T >= 1, "
            f"got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        )


# ----------------------------------------------------------------------------- sliding window


def band_mask(T: int, window: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean (T, T) keep-mask of a causal sliding window: True where i - w < j <= i."""
    T, window = check_positive_int(T, "T"), check_positive_int(window, "window")
    i = torch.arange(T, device=device)[:, None]  # (T, 1)
    j = torch.arange(T, device=device)[None, :]  # (1, T)
    return (j <= i) & (j > i - window)  # (T, T)


def sliding_window_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, dropout_p: float = 0.0
) -> torch.Tensor:
    """Causal attention over the last ``window`` keys, block by block: O(T w), not O(T^2).

    Inputs: q, k (B, nh, T, hs); v (B, nh, T, hsv); ``window`` w >= 1 (w >= T is full causal
    attention); ``dropout_p`` on the attention weights (pass it only while training).
    Output: (B, nh, T, hsv), equal to ``scaled_dot_product_attention(q, k, v,
    mask=band_mask(T, w))``. Raises ``ValueError`` for bad shapes or a window < 1.
    """
    _check_qkv(q, k, v)
    window = check_positive_int(window, "window")
    B, nh, T, hs = q.shape
    w = min(window, T)  # block size = window
    n = -(-T // w)  # blocks: ceil(T / w)
    pad = n * w - T

    def blocks(x):  # (B, nh, T, d) -> (B, nh, n, w, d)
        return F.pad(x, (0, 0, 0, pad)).view(B, nh, n, w, x.shape[-1])

    def with_previous(x):  # (B, nh, n, w, d) -> (B, nh, n, 2w, d)
        prev = F.pad(x, (0, 0, 0, 0, 1, 0))[:, :, :-1]  # block b-1; 0 for b=0
        return torch.cat([prev, x], dim=3)

    qb = blocks(q)  # (B, nh, n, w, hs)
    kb = with_previous(blocks(k))  # (B, nh, n, 2w, hs)
    vb = with_previous(blocks(v))  # (B, nh, n, 2w, hsv)
    scale = 1.0 / math.sqrt(hs)
    scores = (qb @ kb.transpose(-2, -1)) * scale  # (B, nh, n, w, 2w)
    # query r of block b is position i = bw + r; key s of [b-1, b] is
    # j = (b-1)w + s. Keep i - w < j <= i  <=>  r < s <= r + w, and j >= 0.
    r = torch.arange(w, device=q.device)[:, None]  # (w, 1)
    s = torch.arange(2 * w, device=q.device)[None, :]  # (1, 2w)
    keep = ((s > r) & (s <= r + w)).expand(n, w, 2 * w).clone()  # (n, w, 2w)
    keep[0, :, :w] = False  # block 0 has no previous block
    weights = masked_softmax(scores, keep)  # (B, nh, n, w, 2w)
    if dropout_p > 0:
        weights = F.dropout(weights, p=dropout_p)
    out = weights @ vb  # (B, nh, n, w, hsv)
    return out.reshape(B, nh, n * w, -1)[:, :, :T]  # (B, nh, T, hsv)


# ----------------------------------------------------------------------------- linear attention


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1, positive everywhere (Katharopoulos et al. 2020, eq. 7)."""
    return F.elu(x) + 1.0


def linear_attention_direct(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The O(T^2) evaluation of causal linear attention, the reference for the fast forms.

    A_ij = phi(q_i) . phi(k_j) for j <= i, else 0; weights = A / (row sums); y = weights v.
    Inputs as :func:`linear_attention`. Outputs: y (B, nh, T, hsv); weights (B, nh, T, T),
    rows summing to 1 (what the heatmaps show).
    """
    _check_qkv(q, k, v)
    T = q.shape[2]
    a = elu_feature_map(q) @ elu_feature_map(k).transpose(-2, -1)  # (B, nh, T, T)
    a = a * torch.ones(T, T, dtype=torch.bool, device=q.device).tril()  # causal
    weights = a / a.sum(dim=-1, keepdim=True)  # (B, nh, T, T)
    return weights @ v, weights


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    chunk_size: int = 64,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Causal linear attention, chunk by chunk, continuing from ``state``.

    Inputs: q, k (B, nh, T, hs); v (B, nh, T, hsv); ``chunk_size`` c >= 1; ``state`` (S, z)
    after the tokens before these, S (B, nh, hs, hsv) = sum phi(k_j) v_j^T and z (B, nh, hs) =
    sum phi(k_j); None means no earlier tokens (zeros).
    Outputs: y (B, nh, T, hsv) as in the module docstring; the state after the last token.
    Chunk b: y = [tril(phi(Q_b) phi(K_b)^T) V_b + phi(Q_b) S_<b] / [same with 1 for V, z_<b],
    where S_<b (z_<b) sums the chunks before b: an exclusive prefix sum over chunks.
    """
    _check_qkv(q, k, v)
    c = check_positive_int(chunk_size, "chunk_size")
    B, nh, T, hs = q.shape
    hv = v.shape[-1]
    c = min(c, T)
    n = -(-T // c)
    pad = n * c - T
    # padding after phi: padded keys are 0 (add nothing), padded queries 1 (no 0 / 0)
    fq = F.pad(elu_feature_map(q), (0, 0, 0, pad), value=1.0).view(B, nh, n, c, hs)
    fk = F.pad(elu_feature_map(k), (0, 0, 0, pad)).view(B, nh, n, c, hs)  # (B, nh, n, c, hs)
    vb = F.pad(v, (0, 0, 0, pad)).view(B, nh, n, c, hv)  # (B, nh, n, c, hsv)
    if state is None:
        S0 = q.new_zeros(B, nh, hs, hv)
        z0 = q.new_zeros(B, nh, hs)
    else:
        S0, z0 = state
    S_chunk = fk.transpose(-2, -1) @ vb  # (B, nh, n, hs, hsv)
    z_chunk = fk.sum(dim=3)  # (B, nh, n, hs)
    S_incl = S0[:, :, None] + S_chunk.cumsum(dim=2)  # (B, nh, n, hs, hsv) state after chunk b
    z_incl = z0[:, :, None] + z_chunk.cumsum(dim=2)  # (B, nh, n, hs)
    S_before, z_before = S_incl - S_chunk, z_incl - z_chunk  # exclusive: before chunk b
    a = fq @ fk.transpose(-2, -1)  # (B, nh, n, c, c)
    a = a * torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
    num = a @ vb + fq @ S_before  # (B, nh, n, c, hsv)
    den = a.sum(-1) + (fq @ z_before[..., None]).squeeze(-1)  # (B, nh, n, c)
    y = (num / den[..., None]).reshape(B, nh, n * c, hv)[:, :, :T]  # (B, nh, T, hsv)
    return y, (S_incl[:, :, -1], z_incl[:, :, -1])


# ----------------------------------------------------------------------------- modules


class _CausalSelfAttention(MultiHeadAttention):
    """Shared checks: these modules do causal self-attention only."""

    def _qkv(self, x: torch.Tensor, x_kv, mask, causal: bool) -> tuple[torch.Tensor, ...]:
        if x_kv is not None or mask is not None or not causal:
            raise ValueError(
                f"{type(self).__name__} is causal self-attention: call it with x_kv=None, "
                f"mask=None, causal=True (got x_kv={'set' if x_kv is not None else None}, "
                f"mask={'set' if mask is not None else None}, causal={causal})"
            )
        C, nh = self.embed_dim, self.num_heads
        check_sequence(x, C, "x_q", "B, T, C")
        B, T, _ = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        return tuple(t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))  # (B,nh,T,hs)

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        B, nh, T, hs = y.shape
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(B, T, nh * hs)))  # (B, T, C)


class SlidingWindowAttention(_CausalSelfAttention):
    """Multi-head causal self-attention over the last ``window`` positions.

    ``SlidingWindowAttention(embed_dim, num_heads, window, dropout=0.0, bias=True)``;
    forward(x (B, T, C), causal=True, need_weights=False) -> (out (B, T, C), weights | None).
    ``need_weights=True`` takes the explicit band-masked path and returns (B, nh, T, T)
    weights (for heatmaps). Raises ``ValueError`` for window < 1 or a non-causal call.
    """

    def __init__(self, embed_dim: int, num_heads: int, window: int, dropout=0.0, bias=True):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, fused=False)
        self.window = check_positive_int(window, "window")

    def forward(self, x_q, x_kv=None, mask=None, causal=True, need_weights=False):
        q, k, v = self._qkv(x_q, x_kv, mask, causal)  # (B, nh, T, hs)
        p = self.dropout if self.training else 0.0
        if need_weights:
            keep = band_mask(q.shape[2], self.window, q.device)
            y, weights = scaled_dot_product_attention(q, k, v, mask=keep, dropout_p=p)
            return self._out(y), weights
        return self._out(sliding_window_attention(q, k, v, self.window, p)), None


class LinearAttention(_CausalSelfAttention):
    """Multi-head causal linear attention, phi(x) = elu(x) + 1 (Katharopoulos et al. 2020).

    ``LinearAttention(embed_dim, num_heads, dropout=0.0, bias=True, chunk_size=64)``; forward
    as :class:`SlidingWindowAttention` (``need_weights=True``: the O(T^2) direct form and its
    normalised weights). No 1/sqrt(hs) scale (as in the paper); ``dropout`` applies to the
    output only: there is no weight matrix to drop from on the fast path.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout=0.0, bias=True, chunk_size=64):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, fused=False)
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")

    def forward(self, x_q, x_kv=None, mask=None, causal=True, need_weights=False):
        q, k, v = self._qkv(x_q, x_kv, mask, causal)  # (B, nh, T, hs)
        if need_weights:
            y, weights = linear_attention_direct(q, k, v)
            return self._out(y), weights
        y, _ = linear_attention(q, k, v, self.chunk_size)
        return self._out(y), None
