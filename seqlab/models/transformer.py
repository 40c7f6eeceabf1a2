"""The Transformer: positional encodings, the block, encoder, decoder, and a GPT-style LM.

Shape letters: B batch, T time (S source length in the encoder-decoder), C model width (d_model,
n_embd), F feed-forward width (d_ff, 4C by default), V vocabulary, nh heads, hs = C / nh, L layers.

Contents
- ``sinusoidal_positional_encoding(T, d)``: PE(pos, 2i) = sin(pos / 10000^(2i/d)),
  PE(pos, 2i+1) = cos(pos / 10000^(2i/d))  (Vaswani et al., 2017)
- ``LearnedPositionalEmbedding``, ``SinusoidalPositionalEncoding``: (T) -> (T, C)
- ``FeedForward``: Linear(C, F) -> GELU (or ReLU) -> Linear(F, C)
- ``TransformerBlock``: self-attention (+ cross-attention) + feed-forward, pre- or post-LN
- ``Encoder``, ``Decoder``, ``EncoderDecoder``: the original encoder-decoder stack
- ``GPTConfig``, ``GPT``: a decoder-only char LM in the style of nanoGPT, forward(idx, targets)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqlab.checks import check_choice, check_nonempty_time, check_positive, check_rank
from seqlab.models.attention import MultiHeadAttention

__all__ = [
    "GPT",
    "Decoder",
    "Encoder",
    "EncoderDecoder",
    "FeedForward",
    "GPTConfig",
    "LearnedPositionalEmbedding",
    "SinusoidalPositionalEncoding",
    "TransformerBlock",
    "sinusoidal_positional_encoding",
]

NORMS = ("pre", "post")
ACTIVATIONS = ("gelu", "relu")


# ----------------------------------------------------------------------------- positions


def sinusoidal_positional_encoding(
    T: int, d: int, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> torch.Tensor:
    """Outputs: (T, d) with PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same angle).

    Odd ``d`` works: the last column is a sine (its cosine partner would be column d).
    Computed in float64, then cast to ``dtype``.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 0:
        raise ValueError(f"T must be an int >= 0, got {T!r}")
    if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
        raise ValueError(f"d must be an int > 0, got {d!r}")
    pos = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d, 2, dtype=torch.float64)  # (ceil(d/2),) the values 2i
    angle = pos / torch.pow(10000.0, two_i / d)  # (T, ceil(d/2))
    pe = torch.zeros(T, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)  # even columns 2i
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])  # odd columns 2i+1
    return pe.to(dtype=dtype, device=device)


def _check_length(T: int, block_size: int) -> None:
    if T > block_size:
        raise ValueError(f"sequence length T={T} exceeds block_size={block_size}")


class LearnedPositionalEmbedding(nn.Module):
    """A trained vector per position (GPT-2): forward(T) -> (T, C), T <= block_size."""

    def __init__(self, block_size: int, d_model: int):
        super().__init__()
        self.block_size = block_size
        self.weight = nn.Parameter(torch.randn(block_size, d_model) * 0.02)

    def forward(self, T: int) -> torch.Tensor:
        _check_length(T, self.block_size)
        return self.weight[:T]  # (T, C)


class SinusoidalPositionalEncoding(nn.Module):
    """The fixed table of ``sinusoidal_positional_encoding`` as a buffer: forward(T) -> (T, C)."""

    def __init__(self, block_size: int, d_model: int):
        super().__init__()
        self.block_size = block_size
        self.register_buffer(
            "pe", sinusoidal_positional_encoding(block_size, d_model), persistent=False
        )

    def forward(self, T: int) -> torch.Tensor:
        _check_length(T, self.block_size)
        return self.pe[:T]  # (T, C)


# ----------------------------------------------------------------------------- the block


class FeedForward(nn.Module):
    """Position-wise MLP: (B, T, C) -> Linear(C, F) -> GELU|ReLU -> Linear(F, C) -> (B, T, C)."""

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        bias: bool = True,
        activation: str = "gelu",
    ):
        super().__init__()
        check_choice(activation, ACTIVATIONS, "activation")
        self.fc = nn.Linear(d_model, d_ff, bias=bias)
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.proj = nn.Linear(d_ff, d_model, bias=bias)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))  # (B, T, C)


class TransformerBlock(nn.Module):
    """Self-attention, optional cross-attention, feed-forward; each with a residual and LayerNorm.

    ``norm="pre"`` (GPT-2): x = x + f(LN(x)); ``norm="post"`` (Vaswani et al.): x = LN(x + f(x)).
    ``TransformerBlock(d_model, n_head, d_ff=4*d_model, dropout=0.0, norm="pre", cross=False,
    bias=True, activation="gelu")``.
    """

    def __init__(
        self,
        d_model: int,
        n_head: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm: str = "pre",
        cross: bool = False,
        bias: bool = True,
        activation: str = "gelu",
    ):
        super().__init__()
        check_choice(norm, NORMS, "norm")
        self.norm = norm
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_head, dropout=dropout, bias=bias)
        self.ln_cross = nn.LayerNorm(d_model, bias=bias) if cross else None
        self.cross_attn = (
            MultiHeadAttention(d_model, n_head, dropout=dropout, bias=bias) if cross else None
        )
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.ffn = FeedForward(d_model, d_ff or 4 * d_model, dropout, bias, activation)

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
        if (memory is None) != (self.cross_attn is None):
            raise ValueError(
                "pass memory (B, S, C) exactly when the block was built with cross=True"
            )
        w_cross = None
        if self.norm == "pre":
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
        """Inputs: x (B, T, C); memory (B, S, C) for cross-attention; mask / memory_mask bool,
        True = keep, as in ``MultiHeadAttention`` ((B, T) / (B, S) key padding, ...); causal.

        Outputs: (B, T, C).
        """
        x, _, _ = self.forward_with_weights(x, memory, mask, memory_mask, causal, False)
        return x


# ----------------------------------------------------------------------------- encoder-decoder


class Encoder(nn.Module):
    """A stack of bidirectional blocks: x (B, S, C), mask (B, S) True = real token -> (B, S, C)."""

    def __init__(
        self,
        n_layer: int,
        d_model: int,
        n_head: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm: str = "pre",
        bias: bool = True,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_head, d_ff, dropout, norm, bias=bias)
            for _ in range(n_layer)
        )
        self.ln_f = nn.LayerNorm(d_model, bias=bias) if norm == "pre" else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask=mask)
        return self.ln_f(x)  # (B, S, C)


class Decoder(nn.Module):
    """Causal self-attention + cross-attention blocks: x (B, T, C), memory (B, S, C) -> (B, T, C)."""

    def __init__(
        self,
        n_layer: int,
        d_model: int,
        n_head: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm: str = "pre",
        bias: bool = True,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_head, d_ff, dropout, norm, cross=True, bias=bias)
            for _ in range(n_layer)
        )
        self.ln_f = nn.LayerNorm(d_model, bias=bias) if norm == "pre" else nn.Identity()

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, memory, memory_mask=memory_mask, causal=True)
        return self.ln_f(x)  # (B, T, C)


class EncoderDecoder(nn.Module):
    """Token embeddings + sinusoidal positions + ``Encoder`` + ``Decoder`` + a linear head.

    ``EncoderDecoder(src_vocab, tgt_vocab, d_model=64, n_head=4, n_layer=2, d_ff=None,
    dropout=0.0, norm="pre", max_len=256, pad_id=None)``; ``pad_id`` marks padding: masked out
    of attention in the source, ignored by the loss in the target.
    forward(src (B, S), tgt_in (B, T), tgt_out (B, T) | None) -> (logits (B, T, V), loss | None);
    ``encode(src) -> memory = (enc_out (B, S, C), src_mask (B, S) | None)``,
    ``decode(tgt_in, memory) -> logits (B, T, V)`` (the interface of ``seq2seq.greedy_decode``).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 64,
        n_head: int = 4,
        n_layer: int = 2,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm: str = "pre",
        max_len: int = 256,
        pad_id: int | None = None,
    ):
        super().__init__()
        self.src_vocab, self.tgt_vocab, self.pad_id = src_vocab, tgt_vocab, pad_id
        self.src_emb = nn.Embedding(src_vocab, d_model)
        self.tgt_emb = nn.Embedding(tgt_vocab, d_model)
        self.pos = SinusoidalPositionalEncoding(max_len, d_model)
        self.scale = math.sqrt(d_model)  # embeddings times sqrt(C), as in Vaswani et al.
        self.encoder = Encoder(n_layer, d_model, n_head, d_ff, dropout, norm)
        self.decoder = Decoder(n_layer, d_model, n_head, d_ff, dropout, norm)
        self.head = nn.Linear(d_model, tgt_vocab)

    def _embed(self, ids: torch.Tensor, emb: nn.Embedding, name: str) -> torch.Tensor:
        check_rank(ids, 2, name, "(B, T) token ids")
        check_nonempty_time(ids, name)
        if ids.dtype not in (torch.long, torch.int32):
            raise ValueError(f"expected {name} to hold integer token ids, got dtype {ids.dtype}")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= emb.num_embeddings:
            raise ValueError(
                f"{name} holds ids in [{lo}, {hi}], outside 0..{emb.num_embeddings - 1}"
            )
        return emb(ids) * self.scale + self.pos(ids.shape[1])  # (B, T, C)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self._embed(src, self.src_emb, "src")  # (B, S, C)
        src_mask = None if self.pad_id is None else src != self.pad_id  # (B, S) True = real
        return self.encoder(x, src_mask), src_mask

    def decode(
        self, tgt_in: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor | None]
    ) -> torch.Tensor:
        enc_out, src_mask = memory
        if tgt_in.shape[0] != enc_out.shape[0]:
            raise ValueError(
                f"src and tgt_in batch sizes differ: {enc_out.shape[0]} vs {tgt_in.shape[0]}"
            )
        x = self.decoder(self._embed(tgt_in, self.tgt_emb, "tgt_in"), enc_out, src_mask)
        return self.head(x)  # (B, T, V)

    def forward(
        self, src: torch.Tensor, tgt_in: torch.Tensor, tgt_out: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self.decode(tgt_in, self.encode(src))  # (B, T, V)
        if tgt_out is None:
            return logits, None
        if tgt_out.shape != tgt_in.shape:
            raise ValueError(
                f"expected tgt_out of shape {tuple(tgt_in.shape)} like tgt_in, got {tuple(tgt_out.shape)}"
            )
        ignore = -1 if self.pad_id is None else self.pad_id
        loss = F.cross_entropy(
            logits.reshape(-1, self.tgt_vocab), tgt_out.reshape(-1), ignore_index=ignore
        )
        return logits, loss


# ----------------------------------------------------------------------------- GPT


@dataclass
class GPTConfig:
    """Sizes of a ``GPT``. ``pos``: "learned" | "sinusoidal"; ``norm``: "pre" | "post"."""

    vocab_size: int
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    pos: str = "learned"
    norm: str = "pre"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"{name} must be an int, got {value!r}")
            setattr(self, name, int(value))  # e.g. a numpy integer
            check_positive(int(value), name)
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        check_choice(self.pos, ("learned", "sinusoidal"), "pos")
        check_choice(self.norm, NORMS, "norm")


class GPT(nn.Module):
    """Decoder-only Transformer LM: forward(idx (B, T), targets (B, T) | None) -> (logits, loss).

    Token embedding + position (learned or sinusoidal) -> n_layer causal blocks -> LayerNorm
    (pre-LN only) -> ``lm_head`` tied to the token embedding. Initialisation as GPT-2 / nanoGPT:
    N(0, 0.02), residual output projections N(0, 0.02 / sqrt(2 n_layer)).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        if c.pos == "learned":
            self.wpe = LearnedPositionalEmbedding(c.block_size, c.n_embd)
        else:
            self.wpe = SinusoidalPositionalEncoding(c.block_size, c.n_embd)
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(
            TransformerBlock(c.n_embd, c.n_head, 4 * c.n_embd, c.dropout, c.norm, bias=c.bias)
            for _ in range(c.n_layer)
        )
        # post-LN blocks already end in a LayerNorm
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias) if c.norm == "pre" else nn.Identity()
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf, 2017)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "ffn.proj.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Embedding, LearnedPositionalEmbedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        check_rank(idx, 2, "idx", "(B, T) token ids")
        check_nonempty_time(idx, "idx")
        if idx.dtype not in (torch.long, torch.int32, torch.int64):
            raise ValueError(f"expected idx to hold integer token ids, got dtype {idx.dtype}")
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(
                f"sequence length T={T} exceeds block_size={self.config.block_size}; "
                "crop the context (generate does this) or build a model with a larger block_size"
            )
        return self.drop(self.wte(idx) + self.wpe(T))  # (B, T, C)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inputs: idx (B, T) token ids, T <= block_size; targets (B, T) next ids (-1 = ignore).

        Outputs: logits (B, T, V); loss (mean cross-entropy) or None.
        """
        x = self._embed(idx)  # (B, T, C)
        for block in self.blocks:
            x = block(x, causal=True)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        if targets.shape != idx.shape:
            raise ValueError(
                f"expected targets of shape {tuple(idx.shape)} like idx, got {tuple(targets.shape)}"
            )
        flat = logits.view(-1, self.config.vocab_size)  # (B*T, V)
        loss = F.cross_entropy(flat, targets.reshape(-1).long(), ignore_index=-1)
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """Self-attention weights of every layer for heatmaps: list (length L) of (B, nh, T, T).

        ``maps[layer][example, head]`` is a (T, T) matrix whose row i sums to 1 over keys j <= i.
        """
        x = self._embed(idx)  # (B, T, C)
        maps = []
        for block in self.blocks:
            x, w, _ = block.forward_with_weights(x, causal=True)
            maps.append(w)  # (B, nh, T, T)
        return maps

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; ``non_embedding`` drops the position table (as nanoGPT). The token
        embedding stays in: tied to ``lm_head`` it does a matmul per token."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and isinstance(self.wpe, LearnedPositionalEmbedding):
            n -= self.wpe.weight.numel()
        return n

    def flops_per_token(self, training: bool = True, T: int | None = None) -> int:
        """Approximate FLOPs per token at context ``T`` (default block_size).

        forward = 2N + 4·L·T·C: 2 FLOPs per parameter (multiply + add; N = num_params()), plus the
        attention matmuls q·k^T and weights·v (2·T·C each per layer; the causal mask's zeros are
        counted, as in Kaplan et al. 2020 Table 1 and PaLM App. B). Training (forward + backward,
        backward ≈ 2x forward) = 3x: 6N + 12·L·T·C.
        """
        c = self.config
        T = c.block_size if T is None else T
        forward = 2 * self.num_params() + 4 * c.n_layer * T * c.n_embd
        return 3 * forward if training else forward

    def configure_optimizer(
        self, lr: float = 1e-3, weight_decay: float = 0.1, betas: tuple[float, float] = (0.9, 0.99)
    ) -> torch.optim.AdamW:
        """AdamW with weight decay on matrices only (dim >= 2: matmul weights, embeddings),
        none on biases and LayerNorm gains; the fused kernel where torch has it for the device."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=_fused_adamw_ok(params))


def _fused_adamw_ok(params: list[torch.Tensor]) -> bool:
    """Fused AdamW exists for CUDA (torch 2.0+) and CPU (torch 2.4+), float params only."""
    device = params[0].device.type
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    ok_device = device == "cuda" or (device == "cpu" and version >= (2, 4))
    return ok_device and all(p.is_floating_point() for p in params)
