"""The key/value cache: decode a Transformer one token at a time without re-reading the text.

Without a cache, generating token t re-runs the model on all t tokens of the context: every
layer recomputes the keys and values of positions that have not changed, O(t) work per token
(and O(t^2) scores in attention). Causal attention never lets an earlier position see a later
one, so those keys and values are final once computed: keep them. With the cache, a new token
computes its own q, k, v in each layer, appends k and v, and attends over the stored keys:
O(t) reads per token instead of a full forward pass (Pope et al. 2022, "Efficiently Scaling
Transformer Inference", describe the cache and its memory, 2 * L * B * T * C numbers).

Letters: B batch, nh heads, T cached positions (<= ``max_len``), Tn new positions, hs head
size, C = nh * hs, L layers.

- :class:`KVCache`: per layer, buffers k, v (B, nh, max_len, hs) filled up to ``length``, and
  the token ids read so far (so a caller can rebuild the cache from a cropped context).
  Linear attention keeps its state (S, z) per layer instead: a fixed size, like an RNN's.
- :func:`attend_cached`: one attention layer on Tn new positions, reading and extending the
  cache. For ``SlidingWindowAttention`` only the last ``window`` keys are read.
"""

from __future__ import annotations

import torch

from seqlab.checks import check_positive_int
from seqlab.models.attention import MultiHeadAttention, _fused_sdpa
from seqlab.models.efficient_attention import (
    LinearAttention,
    SlidingWindowAttention,
    elu_feature_map,
    linear_attention,
)

__all__ = ["KVCache", "attend_cached"]


class KVCache:
    """Keys and values (or linear-attention states) of every layer for the positions read.

    ``KVCache(n_layer, max_len)``; buffers are allocated by the first :func:`attend_cached`
    call of each layer (it knows B, nh, hs, dtype and device). ``length`` positions are
    cached; ``tokens`` (B, length) are their ids (kept by ``GPT.step``).
    Raises ``ValueError`` when a call would store more than ``max_len`` positions.
    """

    def __init__(self, n_layer: int, max_len: int):
        self.n_layer = check_positive_int(n_layer, "n_layer")
        self.max_len = check_positive_int(max_len, "max_len")
        self.layers: list[dict[str, torch.Tensor]] = [{} for _ in range(self.n_layer)]
        self.length = 0
        self.tokens: torch.Tensor | None = None

    def check_room(self, new: int) -> None:
        """Raise ``ValueError`` unless ``new`` more positions fit (length + new <= max_len)."""
        if self.length + new > self.max_len:
            raise ValueError(
                f"the cache holds {self.length} positions and max_len={self.max_len} "
                f"(the model's block_size); {new} more do not fit: crop the context and "
                "rebuild the cache (GPT.step does this), or use a larger block_size"
            )

    def truncate(self, length: int) -> None:
        """Forget every position from ``length`` on (0 <= length <= self.length), e.g. to time
        the same decoding step again. Linear-attention states cannot be rewound: ValueError."""
        if (
            isinstance(length, bool)
            or not isinstance(length, int)
            or not 0 <= length <= self.length
        ):
            raise ValueError(f"length must be an int in [0, {self.length}], got {length!r}")
        if length < self.length and any("S" in layer for layer in self.layers):
            raise ValueError("a linear-attention state is a running sum: it cannot be truncated")
        self.length = length
        if self.tokens is not None:
            self.tokens = self.tokens[:, :length]

    def nbytes(self) -> int:
        """Bytes held by the buffers (all of max_len, allocated or not yet written)."""
        return sum(t.numel() * t.element_size() for layer in self.layers for t in layer.values())


def attend_cached(
    attn: MultiHeadAttention, x: torch.Tensor, cache: KVCache, layer: int
) -> torch.Tensor:
    """Causal self-attention of ``attn`` for Tn new positions after the ``cache.length`` cached.

    Inputs: x (B, Tn, C) the layer input at positions length .. length + Tn - 1.
    Output: (B, Tn, C), equal to the last Tn rows of ``attn(x_all, causal=True)`` on the whole
    sequence. Writes the new keys and values (or the new state) into ``cache.layers[layer]``;
    the caller advances ``cache.length`` once every layer has run.
    """
    B, Tn, C = x.shape
    nh = attn.num_heads
    hs = C // nh
    q, k, v = attn.qkv(x).split(C, dim=2)  # 3 x (B, Tn, C)
    q, k, v = (t.view(B, Tn, nh, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, Tn, hs)
    store = cache.layers[layer]
    if isinstance(attn, LinearAttention) and Tn == 1 and "S" in store:  # the RNN form
        fq, fk = elu_feature_map(q), elu_feature_map(k)  # (B, nh, 1, hs)
        store["S"] = store["S"] + fk.transpose(-2, -1) @ v  # S_i = S_{i-1} + phi(k_i) v_i^T
        store["z"] = store["z"] + fk[:, :, 0]  # z_i = z_{i-1} + phi(k_i)
        y = (fq @ store["S"]) / (fq @ store["z"][..., None])  # (B, nh, 1, hs)
    elif isinstance(attn, LinearAttention):  # the state (S, z) replaces the keys and values
        state = (store["S"], store["z"]) if "S" in store else None
        y, (store["S"], store["z"]) = linear_attention(q, k, v, attn.chunk_size, state)
    else:
        cache.check_room(Tn)
        if not store:
            shape = (B, nh, cache.max_len, hs)
            store["k"] = x.new_zeros(shape)
            store["v"] = x.new_zeros(shape)
        t0, t1 = cache.length, cache.length + Tn
        store["k"][:, :, t0:t1] = k
        store["v"][:, :, t0:t1] = v
        window = attn.window if isinstance(attn, SlidingWindowAttention) else None
        start = 0 if window is None else max(0, t0 - window + 1)  # oldest key any new query sees
        keys, values = store["k"][:, :, start:t1], store["v"][:, :, start:t1]  # (B, nh, Tk, hs)
        if Tn == 1 and window is None:
            y = _fused_sdpa(q, keys, values)  # the last query sees every cached key
        else:
            i = torch.arange(t0, t1, device=x.device)[:, None]  # absolute query positions
            j = torch.arange(start, t1, device=x.device)[None, :]  # absolute key positions
            keep = j <= i if window is None else (j <= i) & (j > i - window)  # (Tn, Tk)
            y = _fused_sdpa(q, keys, values, attn_mask=keep)
    y = y.transpose(1, 2).reshape(B, Tn, C)  # (B, Tn, C)
    return attn.resid_drop(attn.proj(y))
