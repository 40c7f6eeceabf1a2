"""The Transformer: positional encodings, the block, the encoder, the decoder.

Shape letters: B batch, T time (S source length in the encoder-decoder), C model width
(``d_model``), F feed-forward width (``dim_feedforward``, 4C by default), V vocabulary,
nh heads (``nhead``), hs = C / nh, L layers (``num_layers``).

Arguments take the names of ``torch.nn.TransformerEncoderLayer`` / ``nn.Transformer``
(``d_model, nhead, dim_feedforward, dropout, norm_first``); position tables take ``block_size``
(the longest sequence they cover, as in GPT). Two defaults differ from torch on purpose:
``norm_first=True`` (pre-LN, as GPT-2) and ``dim_feedforward=None`` meaning 4 * d_model.

Contents
- ``sinusoidal_positional_encoding(T, d_model)``: PE(pos, 2i) = sin(pos / 10000^(2i/C)),
  PE(pos, 2i+1) = cos(pos / 10000^(2i/C))  (Vaswani et al., 2017, section 3.5)
- ``LearnedPositionalEmbedding``, ``SinusoidalPositionalEncoding``: (T) -> (T, C)
- ``FeedForward``: Linear(C, F) -> GELU (or ReLU) -> Linear(F, C)
- ``TransformerBlock``: self-attention (+ cross-attention) + feed-forward, pre- or post-LN
- ``Encoder``, ``Decoder``, ``EncoderDecoder``: the original encoder-decoder stack
(the decoder-only language model, GPT, is in ``seqlab.models.gpt``)
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqlab.checks import (
    check_bool,
    check_choice,
    check_dropout,
    check_pad_id,
    check_positive_int,
    check_sequence,
    check_targets,
    check_token_ids,
)
from seqlab.models.attention import MultiHeadAttention

__all__ = ["Decoder", "Encoder", "EncoderDecoder", "FeedForward", "LearnedPositionalEmbedding"]
__all__ += ["SinusoidalPositionalEncoding", "TransformerBlock", "sinusoidal_positional_encoding"]

ACTIVATIONS = ("gelu", "relu")


# ----------------------------------------------------------------------------- positions


def _check_length(T: int, block_size: int | None = None) -> None:
    if isinstance(T, bool) or not isinstance(T, int) or T < 0 or T > (block_size or T):
        limit = "" if block_size is None else f" and <= block_size={block_size}"
        raise ValueError(f"sequence length T must be an int >= 0{limit}, got T={T!r}")


def sinusoidal_positional_encoding(
    T: int, d_model: int, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> torch.Tensor:
    """Outputs: (T, C) with PE[pos, 2i] = sin(pos / 10000^(2i/C)), PE[pos, 2i+1] = cos(same angle).

    C = ``d_model``; Vaswani et al. (2017), section 3.5. Odd C works: the last column is a sine
    (its cosine partner would be column C). Computed in float64, then cast to ``dtype``.
    Raises ``ValueError`` for T < 0 or C < 1 (or a non-int).
    """
    _check_length(T)
    C = check_positive_int(d_model, "d_model")
    pos = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, C, 2, dtype=torch.float64)  # (ceil(C/2),) the values 2i
    angle = pos / torch.pow(10000.0, two_i / C)  # (T, ceil(C/2))
    pe = torch.zeros(T, C, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)  # even columns 2i
    pe[:, 1::2] = torch.cos(angle[:, : C // 2])  # odd columns 2i+1
    return pe.to(dtype=dtype, device=device)


class LearnedPositionalEmbedding(nn.Module):
    """A trained vector per position (GPT-2): forward(T) -> (T, C), T <= block_size.

    ``LearnedPositionalEmbedding(block_size, d_model)``; raises ``ValueError`` for sizes < 1 and
    for T > block_size.
    """

    def __init__(self, block_size: int, d_model: int):
        super().__init__()
        self.block_size = check_positive_int(block_size, "block_size")
        self.d_model = check_positive_int(d_model, "d_model")
        self.weight = nn.Parameter(torch.randn(self.block_size, self.d_model) * 0.02)

    def forward(self, T: int) -> torch.Tensor:
        _check_length(T, self.block_size)
        return self.weight[:T]  # (T, C)


class SinusoidalPositionalEncoding(nn.Module):
    """The fixed table of ``sinusoidal_positional_encoding`` as a buffer: forward(T) -> (T, C).

    ``SinusoidalPositionalEncoding(block_size, d_model)``; errors as ``LearnedPositionalEmbedding``.
    """

    def __init__(self, block_size: int, d_model: int):
        super().__init__()
        self.block_size = check_positive_int(block_size, "block_size")
        self.d_model = check_positive_int(d_model, "d_model")
        self.register_buffer(
            "pe", sinusoidal_positional_encoding(self.block_size, self.d_model), persistent=False
        )

    def forward(self, T: int) -> torch.Tensor:
        _check_length(T, self.block_size)
        return self.pe[:T]  # (T, C)


# ----------------------------------------------------------------------------- the block


class FeedForward(nn.Module):
    """Position-wise MLP: (B, T, C) -> Linear(C, F) -> GELU|ReLU -> Linear(F, C) -> (B, T, C).

    ``FeedForward(d_model, dim_feedforward, dropout=0.0, bias=True, activation="gelu")``
    (Vaswani et al. 2017, eq. 2, with ReLU; GPT-2 uses GELU).
    """

    def __init__(
        self,
        d_model: int,
        dim_feedforward: int,
        dropout: float = 0.0,
        bias: bool = True,
        activation: str = "gelu",
    ):
        super().__init__()
        d_model = check_positive_int(d_model, "d_model")
        dim_feedforward = check_positive_int(dim_feedforward, "dim_feedforward")
        dropout = check_dropout(dropout)
        check_bool(bias, "bias")
        check_choice(activation, ACTIVATIONS, "activation")
        self.d_model = d_model
        self.fc = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.proj = nn.Linear(dim_feedforward, d_model, bias=bias)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.d_model)
        return self.drop(self.proj(self.act(self.fc(x))))  # (B, T, C)


class TransformerBlock(nn.Module):
    """Self-attention, optional cross-attention, feed-forward; each with a residual and LayerNorm.

    ``TransformerBlock(d_model, nhead, dim_feedforward=None, dropout=0.0, norm_first=True,
    cross=False, bias=True, activation="gelu")``; ``dim_feedforward=None`` means 4 * d_model.
    ``norm_first=True`` (pre-LN, GPT-2; Xiong et al. 2020): x = x + f(LN(x));
    ``norm_first=False`` (post-LN, Vaswani et al. 2017): x = LN(x + f(x)).
    With ``cross=False`` it equals ``nn.TransformerEncoderLayer(batch_first=True)`` on the same
    weights. Raises ``ValueError`` for sizes < 1, ``d_model % nhead != 0``, dropout outside [0, 1).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        cross: bool = False,
        bias: bool = True,
        activation: str = "gelu",
    ):
        super().__init__()
        d_model = check_positive_int(d_model, "d_model")
        nhead = check_positive_int(nhead, "nhead")
        if d_model % nhead != 0:
            raise ValueError(
                f"d_model={d_model} must be a multiple of nhead={nhead} "
                "(each head gets d_model / nhead features)"
            )
        if dim_feedforward is None:
            dim_feedforward = 4 * d_model
        self.norm_first = check_bool(norm_first, "norm_first")
        check_bool(cross, "cross")
        check_bool(bias, "bias")
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias)
        self.ln_cross = nn.LayerNorm(d_model, bias=bias) if cross else None
        self.cross_attn = (
            MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias) if cross else None
        )
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.ffn = FeedForward(d_model, dim_feedforward, dropout, bias, activation)

    def forward_with_weights(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """As ``forward``; also returns the self- and cross-attention weights (B, nh, T, T|S)."""
        check_sequence(x, self.attn.embed_dim)
        if (memory is None) != (self.cross_attn is None):
            raise ValueError(
                "pass memory (B, S, C) exactly when the block was built with cross=True"
            )
        w_cross = None
        if self.norm_first:
            a, w_self = self.attn(self.ln1(x), mask=mask, causal=causal, need_weights=need_weights)
            x = x + a
            if self.cross_attn is not None:
                a, w_cross = self.cross_attn(
                    self.ln_cross(x), memory, memory_mask, need_weights=need_weights
                )
                x = x + a
            x = x + self.ffn(self.ln2(x))
        else:
            a, w_self = self.attn(x, mask=mask, causal=causal, need_weights=need_weights)
            x = self.ln1(x + a)
            if self.cross_attn is not None:
                a, w_cross = self.cross_attn(x, memory, memory_mask, need_weights=need_weights)
                x = self.ln_cross(x + a)
            x = self.ln2(x + self.ffn(x))
        return x, w_self, w_cross

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """Inputs: x (B, T, C) float; memory (B, S, C) for cross-attention; mask / memory_mask
        bool, True = keep, as in ``MultiHeadAttention`` ((B, T) / (B, S) key padding, ...); causal.

        Outputs: (B, T, C). Raises ``ValueError`` for a wrong rank, width, dtype or T = 0.
        """
        x, _, _ = self.forward_with_weights(x, memory, mask, memory_mask, causal, False)
        return x


# ----------------------------------------------------------------------------- encoder-decoder


def _blocks(
    num_layers: int,
    d_model: int,
    nhead: int,
    dim_feedforward: int | None,
    dropout: float,
    norm_first: bool,
    cross: bool,
    bias: bool,
) -> nn.ModuleList:
    num_layers = check_positive_int(num_layers, "num_layers")
    return nn.ModuleList(
        TransformerBlock(d_model, nhead, dim_feedforward, dropout, norm_first, cross, bias)
        for _ in range(num_layers)
    )


class Encoder(nn.Module):
    """A stack of ``num_layers`` bidirectional blocks (+ a final LayerNorm when pre-LN).

    ``Encoder(d_model, nhead, num_layers, dim_feedforward=None, dropout=0.0, norm_first=True,
    bias=True)``. forward(x (B, S, C), mask (B, S) True = real token | None) -> (B, S, C).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        bias: bool = True,
    ):
        super().__init__()
        self.blocks = _blocks(
            num_layers, d_model, nhead, dim_feedforward, dropout, norm_first, False, bias
        )
        self.ln_f = nn.LayerNorm(d_model, bias=bias) if norm_first else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask=mask)
        return self.ln_f(x)  # (B, S, C)


class Decoder(nn.Module):
    """A stack of ``num_layers`` blocks with causal self-attention and cross-attention.

    ``Decoder(d_model, nhead, num_layers, dim_feedforward=None, dropout=0.0, norm_first=True,
    bias=True)``. forward(x (B, T, C), memory (B, S, C), memory_mask (B, S) | None) -> (B, T, C).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        bias: bool = True,
    ):
        super().__init__()
        self.blocks = _blocks(
            num_layers, d_model, nhead, dim_feedforward, dropout, norm_first, True, bias
        )
        self.ln_f = nn.LayerNorm(d_model, bias=bias) if norm_first else nn.Identity()

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, memory, memory_mask=memory_mask, causal=True)
        return self.ln_f(x)  # (B, T, C)


class EncoderDecoder(nn.Module):
    """Token embeddings (start std C^-1/2, times sqrt(C): Vaswani et al. 2017, section 3.4, so
    tokens and sinusoidal positions enter at one scale) + ``Encoder`` + ``Decoder`` + a head.

    ``EncoderDecoder(src_vocab_size, tgt_vocab_size, d_model=64, nhead=4, num_layers=2,
    dim_feedforward=None, dropout=0.0, norm_first=True, block_size=256, pad_id=None)``:
    ``num_layers`` blocks in the encoder and as many in the decoder; ``block_size`` the longest
    source or target sequence; ``pad_id`` marks padding: masked out of attention in the source,
    ignored by the loss in the target.
    forward(src (B, S), tgt_in (B, T), tgt_out (B, T) | None) -> (logits (B, T, V), loss | None);
    ``encode(src) -> memory = (enc_out (B, S, C), src_mask (B, S) | None)``,
    ``decode(tgt_in, memory) -> logits (B, T, V)`` (the interface of ``seq2seq.greedy_decode``).
    Token ids are checked as in ``seqlab.checks.check_token_ids`` (range on CPU).
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 64,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        block_size: int = 256,
        pad_id: int | None = None,
    ):
        super().__init__()
        self.src_vocab_size = check_positive_int(src_vocab_size, "src_vocab_size")
        self.tgt_vocab_size = check_positive_int(tgt_vocab_size, "tgt_vocab_size")
        d_model = check_positive_int(d_model, "d_model")
        check_pad_id(pad_id, min(self.src_vocab_size, self.tgt_vocab_size))
        self.pad_id = pad_id
        self.src_emb = nn.Embedding(self.src_vocab_size, d_model)
        self.tgt_emb = nn.Embedding(self.tgt_vocab_size, d_model)
        for emb in (self.src_emb, self.tgt_emb):
            nn.init.normal_(emb.weight, std=d_model**-0.5)
        self.pos = SinusoidalPositionalEncoding(block_size, d_model)
        self.scale = math.sqrt(d_model)  # embeddings times sqrt(C), as in Vaswani et al.
        self.encoder = Encoder(d_model, nhead, num_layers, dim_feedforward, dropout, norm_first)
        self.decoder = Decoder(d_model, nhead, num_layers, dim_feedforward, dropout, norm_first)
        self.head = nn.Linear(d_model, self.tgt_vocab_size)

    def _embed(self, ids: torch.Tensor, emb: nn.Embedding, name: str) -> torch.Tensor:
        check_token_ids(ids, emb.num_embeddings, name)
        return emb(ids) * self.scale + self.pos(ids.shape[1])  # (B, T, C); T <= block_size

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self._embed(src, self.src_emb, "src")  # (B, S, C)
        src_mask = None if self.pad_id is None else src != self.pad_id  # (B, S) True = real
        return self.encoder(x, src_mask), src_mask

    def decode(
        self, tgt_in: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor | None]
    ) -> torch.Tensor:
        enc_out, src_mask = memory
        x = self._embed(tgt_in, self.tgt_emb, "tgt_in")  # (B, T, C)
        if tgt_in.shape[0] != enc_out.shape[0]:
            raise ValueError(
                f"src and tgt_in batch sizes differ: {enc_out.shape[0]} vs {tgt_in.shape[0]}"
            )
        return self.head(self.decoder(x, enc_out, src_mask))  # (B, T, V)

    def forward(
        self, src: torch.Tensor, tgt_in: torch.Tensor, tgt_out: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self.decode(tgt_in, self.encode(src))  # (B, T, V)
        if tgt_out is None:
            return logits, None
        check_targets(tgt_out, tgt_in, "tgt_out")
        ignore = -1 if self.pad_id is None else self.pad_id
        loss = F.cross_entropy(
            logits.reshape(-1, self.tgt_vocab_size), tgt_out.reshape(-1).long(), ignore_index=ignore
        )
        return logits, loss
