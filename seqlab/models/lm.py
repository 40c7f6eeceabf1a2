"""Language models behind one interface, and what every chapter does with them.

Every language model in the book is called the same way (as in makemore and nanoGPT)::

    logits, loss = model(idx, targets)      # idx, targets (B, T) long -> logits (B, T, V)

so one :func:`generate`, one training loop and one ``count_params`` / ``flops_per_token``
(:mod:`seqlab.models.accounting`) serve the RNN, LSTM, GRU and GPT alike. :func:`build_lm` makes
any of them by name.

A recurrent LM can also *stream*: :meth:`RecurrentLM.step` returns the recurrent state with the
logits, so the next call continues from it and each new token costs O(1), however long the text.
Any model with such a ``step(idx, state=None) -> (logits, state)`` method is streamed by
:func:`generate`; other models are re-run on the (cropped) context for every new token. The GPT
streams too: its state is a key/value cache (:mod:`seqlab.models.kv_cache`);
``generate(..., use_cache=False)`` re-runs any model on the context instead, for comparison.

Shapes: B batch, T time, V vocabulary, E embedding (``n_embd``), H hidden (``hidden_size``),
P the size of h (``proj_size`` of an LSTM, else H), L layers (``n_layer``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.checks import (
    check_bool,
    check_choice,
    check_dropout,
    check_nonempty_time,
    check_positive_int,
    check_rank,
    check_targets,
    check_token_ids,
)
from seqlab.models.accounting import count_params, flops_per_token
from seqlab.models.gpt import GPT, GPTConfig
from seqlab.models.lstm import check_proj_size, init_forget_bias
from seqlab.models.recurrent import CELLS, IMPLS, OPTIONS, make_recurrent

__all__ = [
    "ARCHS",
    "RecurrentLM",
    "RecurrentLMConfig",
    "build_lm",
    "count_params",
    "flops_per_token",
    "generate",
]

ARCHS: tuple[str, ...] = ("rnn", "lstm", "gru", "gpt")


@dataclass
class RecurrentLMConfig:
    """A character-level recurrent language model.

    ``cell`` "rnn" | "lstm" | "gru"; ``impl`` "fused" (torch.nn, fast) or "scratch" (ours);
    ``dropout`` on the embeddings, between recurrent layers and before the head;
    ``forget_bias``: LSTM forget-gate bias at init (None keeps torch's uniform init);
    ``cell_options``: extra options of the recurrent layer, e.g. ``{"nonlinearity": "relu"}``,
    ``{"proj_size": 32}`` (lstm), ``{"peephole": True}`` or ``{"reset": "before"}`` (the last two
    need ``impl="scratch"``); see ``seqlab.models.recurrent.OPTIONS``.
    Every field is checked; ``ValueError`` names the field (or the option) and the value.
    """

    vocab_size: int
    cell: str = "lstm"
    n_embd: int = 64
    hidden_size: int = 256
    n_layer: int = 1
    impl: str = "fused"
    dropout: float = 0.0
    forget_bias: float | None = 1.0
    cell_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_embd", "hidden_size", "n_layer"):
            setattr(self, name, check_positive_int(getattr(self, name), name))
        check_choice(self.cell, CELLS, "cell")
        check_choice(self.impl, IMPLS, "impl")
        self.dropout = check_dropout(self.dropout)
        fb = self.forget_bias
        if fb is not None and (
            isinstance(fb, bool) or not isinstance(fb, numbers.Real) or not math.isfinite(fb)
        ):
            raise ValueError(f"forget_bias must be None or a finite number, got {fb!r}")
        if not isinstance(self.cell_options, dict):
            raise ValueError(f"cell_options must be a dict, got {self.cell_options!r}")
        if "dropout" in self.cell_options:
            raise ValueError("set dropout in RecurrentLMConfig.dropout, not in cell_options")
        unknown = sorted(set(self.cell_options) - set(OPTIONS[self.cell]))
        if unknown:
            raise ValueError(
                f"unknown cell_options {', '.join(map(repr, unknown))} for cell {self.cell!r}; "
                f"valid: {', '.join(o for o in OPTIONS[self.cell] if o != 'dropout')}"
            )
        if self.cell_options.get("bidirectional"):
            raise ValueError(
                "a language model cannot be bidirectional: it would see the tokens it predicts"
            )
        if "proj_size" in self.cell_options:
            check_proj_size(self.cell_options["proj_size"], self.hidden_size)


class RecurrentLM(nn.Module):
    """Embedding -> recurrent layers -> linear head: the char-level LM of chapters 1-3.

    Inputs: ``idx`` (B, T) token ids; ``targets`` (B, T) next ids (-1 = ignore) or None;
    ``state`` the initial recurrent state (see :meth:`step`) or None (zeros).
    Outputs: ``logits`` (B, T, V), the scores of the next token after each position, and the mean
    cross-entropy ``loss`` over the B*T positions (None without targets).
    """

    def __init__(self, config: RecurrentLMConfig) -> None:
        super().__init__()
        if not isinstance(config, RecurrentLMConfig):
            raise TypeError(f"expected a RecurrentLMConfig, got {type(config).__name__}")
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.n_embd)  # token -> vector, (V, E)
        self.drop = nn.Dropout(c.dropout)
        self.rnn = make_recurrent(
            c.cell,
            c.n_embd,
            c.hidden_size,
            c.n_layer,
            impl=c.impl,
            dropout=c.dropout if c.n_layer > 1 else 0.0,  # only between layers, as in torch.nn
            **c.cell_options,
        )
        P = self.rnn.proj_size or c.hidden_size  # the size of h (torch.nn's RNNs have proj_size)
        self.head = nn.Linear(P, c.vocab_size)  # hidden state -> next-token scores
        if c.cell == "lstm" and c.forget_bias is not None:
            init_forget_bias(self.rnn, c.forget_bias)

    def step(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Read ``idx`` (B, T) starting from ``state``; return ``(logits (B, T, V), new_state)``.

        The state is what the recurrent layers return: h (L, B, P), or (h, c) for the LSTM
        (c (L, B, H)). Raises ``ValueError`` for ids that are not (B, T) integers in [0, V)
        (the range on CPU; see ``seqlab.checks.check_token_ids``) or a state of the wrong shape.
        Feeding a text in pieces, each call given the state of the last, gives the same logits
        as feeding it whole; this is how :func:`generate` streams one token at a time.
        """
        check_token_ids(idx, self.config.vocab_size, "idx")
        x = self.drop(self.embedding(idx))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, P)
        logits = self.head(self.drop(out))  # (B, T, V)
        return logits, state

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, state: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits, _ = self.step(idx, state)  # (B, T, V)
        if targets is None:
            return logits, None
        check_targets(targets, idx)
        V = logits.shape[-1]
        # mean over the B*T positions; target -1 marks a position to ignore (as in the GPT)
        loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
        return logits, loss


def _sample(
    logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> torch.Tensor:
    """Draw one token per row from ``logits`` (B, V); returns (B, 1). temperature 0 = argmax.

    Works in float32 whatever the model's dtype: fp16 logits divided by a small temperature
    would overflow to inf and softmax would give NaN. The logits are shifted so that the
    largest is 0 before dividing, so even a tiny temperature gives finite scores (the argmax
    gets probability ~1, as at temperature 0).
    """
    z = logits.float()  # (B, V)
    if temperature == 0:
        return z.argmax(dim=-1, keepdim=True)  # (B, 1)
    z = (z - z.max(dim=-1, keepdim=True).values) / temperature  # (B, V), max 0, rest <= 0
    if top_k is not None:
        kth = torch.topk(z, min(top_k, z.shape[-1])).values[:, [-1]]  # (B, 1)
        z = z.masked_fill(z < kth, float("-inf"))
    probs = F.softmax(z, dim=-1)  # (B, V)
    # Sample where the generator lives, so a seed gives the same text on CPU and GPU.
    device = generator.device if generator is not None else probs.device
    return torch.multinomial(probs.to(device), 1, generator=generator).to(logits.device)


@torch.no_grad()
def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Continue the prompts ``idx`` by sampling one token at a time from ``model``.

    Works for any model called as ``model(idx) -> (logits, loss)``. A model with a
    ``step(idx, state=None) -> (logits, state)`` method (every :class:`RecurrentLM`, and the GPT,
    whose state is its key/value cache) is streamed when ``use_cache`` (the default): the prompt
    is read once, then each new token costs one step. Otherwise the model is re-run on the
    context for every token, cropped to the last ``model.config.block_size`` tokens when it has
    one (GPT), as nanoGPT's ``generate``. Both ways give the same logits (to rounding).

    Inputs: ``idx`` (B, T0) integer prompt, T0 >= 1, ids in [0, ``model.config.vocab_size``);
    ``max_new_tokens`` >= 0; ``temperature`` >= 0 divides the logits (below 1: sharper, above 1:
    flatter; 0 means greedy, always the most likely token); ``top_k`` keeps only the k most likely
    tokens; ``generator`` makes the draws reproducible. Sampling runs in float32 (also for a
    model in float16 or under autocast).
    Outputs: (B, T0 + max_new_tokens) long, the prompt followed by the new tokens.
    The model runs in eval mode (no dropout) and is put back in its previous mode afterwards.
    Raises ``ValueError`` for a bad argument, or (on CPU) a prompt id outside the vocabulary.
    """
    config = getattr(model, "config", None)
    vocab_size = getattr(config, "vocab_size", None)
    if vocab_size is not None:
        check_token_ids(idx, vocab_size, "idx")
    else:
        check_rank(idx, 2, "idx", "(B, T)")
        check_nonempty_time(idx, "idx")
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, numbers.Integral)
        or max_new_tokens < 0
    ):
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, numbers.Real)
        or not 0 <= temperature < math.inf
    ):
        raise ValueError(
            f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}"
        )
    if top_k is not None:
        top_k = check_positive_int(top_k, "top_k")
    check_bool(use_cache, "use_cache")

    block_size = getattr(config, "block_size", None)
    was_training = model.training
    model.eval()
    try:
        tokens = [idx.long()]
        if use_cache and hasattr(model, "step"):  # stream: a state or a cache
            logits, state = model.step(idx)  # (B, T0, V)
            for i in range(max_new_tokens):
                next_id = _sample(logits[:, -1], temperature, top_k, generator)  # (B, 1)
                tokens.append(next_id)
                if i + 1 < max_new_tokens:
                    logits, state = model.step(next_id, state)  # (B, 1, V)
        else:  # re-read the context for every token
            for _ in range(max_new_tokens):
                context = torch.cat(tokens, dim=1)  # (B, T)
                if block_size is not None:
                    context = context[:, -block_size:]  # (B, min(T, block_size))
                logits, _ = model(context)  # (B, T, V)
                tokens.append(_sample(logits[:, -1], temperature, top_k, generator))
    finally:
        model.train(was_training)
    return torch.cat(tokens, dim=1)  # (B, T0 + max_new_tokens)


def build_lm(arch: str, vocab_size: int, **kw: Any) -> nn.Module:
    """A language model by name: "rnn" | "lstm" | "gru" (:class:`RecurrentLM`) or "gpt" (GPT).

    ``kw`` are fields of :class:`RecurrentLMConfig` (recurrent) or of ``GPTConfig`` (gpt);
    an unknown one raises ``ValueError`` listing the valid ones.
    """
    check_choice(arch, ARCHS, "arch")
    if arch == "gpt":
        config_cls, model_cls = GPTConfig, GPT
    else:
        config_cls, model_cls = RecurrentLMConfig, RecurrentLM
        if "cell" in kw:
            raise ValueError(f"arch {arch!r} sets the cell; do not pass cell={kw['cell']!r}")
        kw = {"cell": arch, **kw}
    valid = [f.name for f in fields(config_cls) if f.name not in ("vocab_size", "cell")]
    unknown = sorted(set(kw) - set(valid) - {"cell"})
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for arch {arch!r}; valid: {', '.join(valid)}"
        )
    return model_cls(config_cls(vocab_size=vocab_size, **kw))
