"""A decoder-only Transformer language model in the shape of nanoGPT (GPT-2, Radford et al. 2019).

Shape letters: B batch, T time (T <= block_size), C width (``n_embd``), V vocabulary
(``vocab_size``), nh heads (``n_head``), L blocks (``n_layer``).

    logits, loss = GPT(GPTConfig(vocab_size=65))(idx, targets)   # idx (B, T) -> logits (B, T, V)

The config takes nanoGPT's names (``vocab_size, block_size, n_layer, n_head, n_embd, dropout,
bias``) plus ``norm_first`` (pre-LN as GPT-2, or post-LN as Vaswani et al. 2017) and ``pos``
(learned positions as GPT-2, or the sinusoidal table), ``attention`` ("full"; "sliding" with a
``window``; "linear": ``seqlab.models.efficient_attention``). ``seqlab.models.generate`` samples
from it through ``step``, which keeps a key/value cache (``seqlab.models.kv_cache``);
``attention_maps`` returns every layer's attention weights for heatmaps. The optimiser (and
its weight-decay groups) belongs to ``seqlab.train``; parameter and FLOP counts to
``seqlab.models.accounting``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqlab.checks import (
    check_bool,
    check_choice,
    check_dropout,
    check_positive_int,
    check_targets,
    check_token_ids,
)
from seqlab.models import accounting
from seqlab.models.efficient_attention import LinearAttention, SlidingWindowAttention
from seqlab.models.kv_cache import KVCache, attend_cached
from seqlab.models.moe import MoEFeedForward
from seqlab.models.transformer import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    TransformerBlock,
)

__all__ = ["GPT", "GPTConfig"]

POSITIONS = ("learned", "sinusoidal")
ATTENTIONS = ("full", "sliding", "linear")
_EXPERT_PROJ = re.compile(r"ffn\.experts\.\d+\.proj\.weight$")  # residual outputs of experts


@dataclass
class GPTConfig:
    """Sizes of a ``GPT`` (nanoGPT's names).

    ``vocab_size`` V; ``block_size`` the longest context T; ``n_layer`` blocks; ``n_head`` heads
    per block; ``n_embd`` width C (a multiple of ``n_head``); ``dropout`` in [0, 1); ``bias`` in
    Linear and LayerNorm layers; ``norm_first`` pre-LN (True) or post-LN (False);
    ``pos`` "learned" | "sinusoidal"; ``attention`` "full" | "sliding" (each query sees the
    last ``window`` positions, itself included) | "linear" (Katharopoulos et al. 2020);
    ``window`` only with "sliding", where it is required (>= 1).
    ``n_expert``: 0 (default) a dense MLP per block; N >= 1 a mixture of N experts
    (``seqlab.models.moe.MoEFeedForward``), each of width 4 * n_embd / ``top_k`` so that a token's
    feed-forward compute equals the dense MLP's; ``top_k`` experts per token (1..N);
    ``aux_loss_coef`` alpha >= 0, the weight of the load-balancing loss that ``forward`` adds
    to the loss in training mode only (Fedus et al. 2022).
    Every field is checked: ``ValueError`` names the field.
    """

    vocab_size: int
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    norm_first: bool = True
    pos: str = "learned"
    attention: str = "full"
    window: int | None = None
    n_expert: int = 0
    top_k: int = 1
    aux_loss_coef: float = 0.01

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, check_positive_int(getattr(self, name), name))
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")
        self.dropout = check_dropout(self.dropout)
        check_bool(self.bias, "bias")
        check_bool(self.norm_first, "norm_first")
        check_choice(self.pos, POSITIONS, "pos")
        check_choice(self.attention, ATTENTIONS, "attention")
        if self.attention == "sliding":
            if self.window is None:
                raise ValueError("attention='sliding' needs a window (positions each query sees)")
            self.window = check_positive_int(self.window, "window")
        elif self.window is not None:
            raise ValueError(
                f"window={self.window!r} is only used by attention='sliding', "
                f"not attention={self.attention!r}"
            )
        self._check_experts()

    def _check_experts(self) -> None:
        """The mixture-of-experts fields (``n_expert``, ``top_k``, ``aux_loss_coef``)."""
        if isinstance(self.n_expert, bool) or not isinstance(self.n_expert, int):
            raise ValueError(f"n_expert must be an int >= 0, got {self.n_expert!r}")
        if self.n_expert < 0:
            raise ValueError(f"n_expert must be an int >= 0, got {self.n_expert!r}")
        self.top_k = check_positive_int(self.top_k, "top_k")
        if self.n_expert and self.top_k > self.n_expert:
            raise ValueError(f"top_k={self.top_k} must be at most n_expert={self.n_expert}")
        if self.n_expert and (4 * self.n_embd) % self.top_k:
            raise ValueError(f"top_k={self.top_k} must divide 4 * n_embd = {4 * self.n_embd}")
        a = self.aux_loss_coef
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 <= a < math.inf:
            raise ValueError(f"aux_loss_coef must be a finite number >= 0, got {a!r}")


class GPT(nn.Module):
    """Decoder-only Transformer LM: forward(idx (B, T), targets (B, T) | None) -> (logits, loss).

    Token embedding ``wte`` + position ``wpe`` (learned or sinusoidal) -> n_layer causal
    ``TransformerBlock`` s -> LayerNorm ``ln_f`` (pre-LN only; post-LN blocks end in one) ->
    ``lm_head`` tied to ``wte`` (Press & Wolf 2017). Initialisation as GPT-2 / nanoGPT: N(0, 0.02),
    residual output projections N(0, 0.02 / sqrt(2 n_layer)), biases zero.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"expected a GPTConfig, got {type(config).__name__}")
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        if c.pos == "learned":
            self.wpe = LearnedPositionalEmbedding(c.block_size, c.n_embd)
        else:
            self.wpe = SinusoidalPositionalEncoding(c.block_size, c.n_embd)
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(
            TransformerBlock(c.n_embd, c.n_head, 4 * c.n_embd, c.dropout, c.norm_first, bias=c.bias)
            for _ in range(c.n_layer)
        )
        for block in self.blocks:  # same parameters (qkv, proj), another way to attend
            if c.attention == "sliding":
                block.attn = SlidingWindowAttention(c.n_embd, c.n_head, c.window, c.dropout, c.bias)
            elif c.attention == "linear":
                block.attn = LinearAttention(c.n_embd, c.n_head, c.dropout, c.bias)
            if c.n_expert:
                width = 4 * c.n_embd // c.top_k
                block.ffn = MoEFeedForward(c.n_embd, width, c.n_expert, c.top_k, c.dropout, c.bias)
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias) if c.norm_first else nn.Identity()
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "ffn.proj.weight")) or _EXPERT_PROJ.search(name):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Embedding, LearnedPositionalEmbedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token + position embeddings of idx (B, T) at positions start .. start + T - 1."""
        check_token_ids(idx, self.config.vocab_size, "idx")
        T = idx.shape[1]
        if start + T > self.config.block_size:
            at = f" after {start} cached positions" if start else ""
            raise ValueError(
                f"sequence length T={T}{at} exceeds block_size={self.config.block_size}; "
                "crop the context (generate does this) or build a model with a larger block_size"
            )
        return self.drop(self.wte(idx) + self.wpe(start + T)[start:])  # (B, T, C)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inputs: idx (B, T) token ids in [0, V), 1 <= T <= block_size; targets (B, T) next ids
        (-1 = ignore) or None.

        Outputs: logits (B, T, V); loss (mean cross-entropy, nats per token) or None; with
        experts, in training mode, plus ``aux_loss_coef`` x the layers' balancing losses.
        Raises ``ValueError`` for a wrong rank or dtype, T = 0, T > block_size, or (on CPU) ids
        outside [0, V); see ``seqlab.checks.check_token_ids`` for the GPU.
        """
        x = self._embed(idx)  # (B, T, C)
        for block in self.blocks:
            x = block(x, causal=True)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        check_targets(targets, idx)
        flat = logits.view(-1, self.config.vocab_size)  # (B*T, V)
        loss = F.cross_entropy(flat, targets.reshape(-1).long(), ignore_index=-1)
        if self.training and self.config.n_expert and self.config.aux_loss_coef:
            aux = sum(block.ffn.aux_loss for block in self.blocks)  # one per layer
            loss = loss + self.config.aux_loss_coef * aux
        return logits, loss

    def forward_cached(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits (B, T, V) of idx (B, T) read after the ``cache.length`` cached positions,
        equal to the last T rows of ``forward`` on the whole text; extends the cache.

        Raises ``ValueError`` when cache.length + T > block_size (``step`` crops instead).
        """
        if not isinstance(cache, KVCache) or cache.n_layer != self.config.n_layer:
            raise ValueError(f"cache must be a KVCache with n_layer={self.config.n_layer}")
        cache.check_room(idx.shape[1])
        x = self._embed(idx, start=cache.length)  # (B, T, C)
        for i, b in enumerate(self.blocks):  # TransformerBlock.forward, attention from cache
            if b.norm_first:
                x = x + attend_cached(b.attn, b.ln1(x), cache, i)
                x = x + b.ffn(b.ln2(x))
            else:
                x = b.ln1(x + attend_cached(b.attn, x, cache, i))
                x = b.ln2(x + b.ffn(x))
        cache.length += idx.shape[1]
        return self.lm_head(self.ln_f(x))  # (B, T, V)

    def step(self, idx: torch.Tensor, state: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        """Read idx (B, T) after the text in ``state`` (a KVCache; None: a new text); return
        ``(logits (B, min(T, block_size), V), cache)``. This is how ``seqlab.models.generate`` streams a GPT.

        When the text would pass ``block_size`` positions, the cache is rebuilt from the last
        ``block_size`` tokens (a full forward pass), as ``generate`` crops the context without a
        cache: the logits are the same either way. Learned positions forbid sliding the cache.
        """
        check_token_ids(idx, self.config.vocab_size, "idx")
        bs = self.config.block_size
        if state is not None and state.length + idx.shape[1] <= bs:
            logits = self.forward_cached(idx, state)
            state.tokens = torch.cat([state.tokens, idx], dim=1)
            return logits, state
        text = idx if state is None else torch.cat([state.tokens, idx], dim=1)  # (B, T_all)
        cache = KVCache(self.config.n_layer, bs)
        logits = self.forward_cached(text[:, -bs:], cache)  # (B, min(T_all, bs), V)
        cache.tokens = text[:, -bs:]
        return logits[:, -idx.shape[1] :], cache

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """Self-attention weights of every layer for heatmaps: list (length L) of (B, nh, T, T).

        ``maps[layer][example, head]`` is a (T, T) matrix whose row i sums to 1 over keys j <= i.
        Inputs as ``forward`` (the model's train/eval mode is used as it is).
        """
        x = self._embed(idx)  # (B, T, C)
        maps = []
        for block in self.blocks:
            x, w, _ = block.forward_with_weights(x, causal=True)
            maps.append(w)  # (B, nh, T, T)
        return maps

    def flops_per_token(self, training: bool = True, T: int | None = None) -> int:
        """FLOPs per token at context T (default block_size), training (default) or forward:
        ``seqlab.models.accounting.flops_per_token``, the one rule for every model."""
        return accounting.flops_per_token(self, training=training, T=T)
