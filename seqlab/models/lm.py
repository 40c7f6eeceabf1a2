"""Language models behind one interface, and what every chapter does with them.

Every language model in the book is called the same way (as in makemore and nanoGPT)::

    logits, loss = model(idx, targets)      # idx, targets (B, T) long -> logits (B, T, V)

so one :func:`generate`, one training loop and one :func:`count_params` / :func:`flops_per_token`
serve the RNN, LSTM, GRU and GPT alike. :func:`build_lm` makes any of them by name.

A recurrent LM can also *stream*: :meth:`RecurrentLM.step` returns the recurrent state with the
logits, so the next call continues from it and each new token costs O(1), however long the text.
Any model with such a ``step(idx, state=None) -> (logits, state)`` method is streamed by
:func:`generate`; other models are re-run on the (cropped) context for every new token.

Shapes: B batch, T time, V vocabulary, E embedding (``n_embd``), H hidden, L layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.checks import check_choice, check_nonempty_time, check_rank
from seqlab.models.lstm import init_forget_bias
from seqlab.models.recurrent import (
    CELLS,
    IMPLS,
    check_dropout,
    check_positive_int,
    make_recurrent,
)

ARCHS: tuple[str, ...] = ("rnn", "lstm", "gru", "gpt")


@dataclass
class RecurrentLMConfig:
    """A character-level recurrent language model.

    ``cell`` "rnn" | "lstm" | "gru"; ``impl`` "fused" (torch.nn, fast) or "scratch" (ours);
    ``dropout`` on the embeddings, between recurrent layers and before the head;
    ``forget_bias``: LSTM forget-gate bias at init (None keeps torch's uniform init);
    ``cell_options``: extra options of the recurrent layer, e.g. ``{"nonlinearity": "relu"}``,
    ``{"peephole": True}`` or ``{"reset": "before"}`` (the last two need ``impl="scratch"``).
    """

    vocab_size: int
    cell: str = "lstm"
    n_embd: int = 64
    hidden: int = 256
    layers: int = 1
    impl: str = "fused"
    dropout: float = 0.0
    forget_bias: float | None = 1.0
    cell_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_positive_int(self.vocab_size, "vocab_size")
        check_choice(self.cell, CELLS, "cell")
        check_positive_int(self.n_embd, "n_embd")
        check_positive_int(self.hidden, "hidden")
        check_positive_int(self.layers, "layers")
        check_choice(self.impl, IMPLS, "impl")
        check_dropout(self.dropout)
        if self.cell_options.get("bidirectional"):
            raise ValueError(
                "a language model cannot be bidirectional: it would see the tokens it predicts"
            )
        if "dropout" in self.cell_options:
            raise ValueError("set dropout in RecurrentLMConfig.dropout, not in cell_options")


def _check_idx(idx: torch.Tensor, vocab_size: int, name: str = "idx") -> None:
    """idx must be (B, T) integer token ids in [0, V) with T >= 1."""
    check_rank(idx, 2, name, "(B, T)")
    check_nonempty_time(idx, name)
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"expected {name} to hold token ids (torch.long), got dtype {idx.dtype}")
    # On a GPU this check would wait for the device every step; there the embedding asserts instead.
    if idx.device.type == "cpu" and (idx.min() < 0 or idx.max() >= vocab_size):
        raise ValueError(
            f"{name} holds token ids outside [0, V={vocab_size}): min {idx.min().item()}, "
            f"max {idx.max().item()}"
        )


class RecurrentLM(nn.Module):
    """Embedding -> recurrent layers -> linear head: the char-level LM of chapters 1-3.

    Inputs: ``idx`` (B, T) token ids; ``targets`` (B, T) next ids (-1 = ignore) or None;
    ``state`` the initial recurrent state (see :meth:`step`) or None (zeros).
    Outputs: ``logits`` (B, T, V), the scores of the next token after each position, and the mean
    cross-entropy ``loss`` over the B*T positions (None without targets).
    """

    def __init__(self, config: RecurrentLMConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.n_embd)  # token -> vector, (V, E)
        self.drop = nn.Dropout(c.dropout)
        self.rnn = make_recurrent(
            c.cell,
            c.n_embd,
            c.hidden,
            c.layers,
            impl=c.impl,
            dropout=c.dropout if c.layers > 1 else 0.0,  # only between layers, as in torch.nn
            **c.cell_options,
        )
        self.head = nn.Linear(c.hidden, c.vocab_size)  # hidden state -> next-token scores
        if c.cell == "lstm" and c.forget_bias is not None:
            init_forget_bias(self.rnn, c.forget_bias)

    def step(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Read ``idx`` (B, T) starting from ``state``; return ``(logits (B, T, V), new_state)``.

        The state is what the recurrent layers return: h (L, B, H), or (h, c) for the LSTM.
        Feeding a text in pieces, each call given the state of the last, gives the same logits
        as feeding it whole; this is how :func:`generate` streams one token at a time.
        """
        _check_idx(idx, self.config.vocab_size)
        x = self.drop(self.embedding(idx))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        return logits, state

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, state: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits, _ = self.step(idx, state)  # (B, T, V)
        if targets is None:
            return logits, None
        if targets.shape != idx.shape:
            raise ValueError(
                f"expected targets of the same shape as idx (B, T) = {tuple(idx.shape)}, "
                f"got {tuple(targets.shape)}"
            )
        V = logits.shape[-1]
        # mean over the B*T positions; target -1 marks a position to ignore (as in the GPT)
        loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
        return logits, loss


def _sample(
    logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> torch.Tensor:
    """Draw one token per row from ``logits`` (B, V); returns (B, 1). temperature 0 = argmax."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, [-1]]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits.float(), dim=-1)  # (B, V)
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
) -> torch.Tensor:
    """Continue the prompts ``idx`` by sampling one token at a time from ``model``.

    Works for any model called as ``model(idx) -> (logits, loss)``. A model with a
    ``step(idx, state=None) -> (logits, state)`` method (every :class:`RecurrentLM`) is streamed:
    the prompt is read once, then each new token costs one step. Otherwise the model is re-run on
    the context for every token, cropped to ``model.config.block_size`` when it has one (GPT).

    Inputs: ``idx`` (B, T0) long prompt, T0 >= 1; ``max_new_tokens`` >= 0; ``temperature`` > 0
    divides the logits (below 1: sharper, above 1: flatter); ``temperature=0`` means greedy
    (always the most likely token); ``top_k`` keeps only the k most likely tokens;
    ``generator`` makes the draws reproducible.
    Outputs: (B, T0 + max_new_tokens), the prompt followed by the new tokens.
    The model runs in eval mode (no dropout) and is put back in its previous mode afterwards.
    """
    check_rank(idx, 2, "idx", "(B, T)")
    check_nonempty_time(idx, "idx")
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 0
    ):
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not temperature >= 0
    ):
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None:
        check_positive_int(top_k, "top_k")

    was_training = model.training
    model.eval()
    try:
        tokens = [idx]
        if hasattr(model, "step"):  # stream: O(1) per token
            logits, state = model.step(idx)  # (B, T0, V)
            for i in range(max_new_tokens):
                next_id = _sample(logits[:, -1], temperature, top_k, generator)  # (B, 1)
                tokens.append(next_id)
                if i + 1 < max_new_tokens:
                    logits, state = model.step(next_id, state)  # (B, 1, V)
        else:  # re-read the context for every token
            block_size = getattr(getattr(model, "config", None), "block_size", None)
            for _ in range(max_new_tokens):
                context = torch.cat(tokens, dim=1)  # (B, T)
                if block_size is not None:
                    context = context[:, -block_size:]  # (B, min(T, block_size))
                logits, _ = model(context)  # (B, T, V)
                tokens.append(_sample(logits[:, -1], temperature, top_k, generator))
    finally:
        model.train(was_training)
    return torch.cat(tokens, dim=1)  # (B, T0 + max_new_tokens)


def count_params(model: nn.Module, exclude_embeddings: bool = False) -> int:
    """Number of parameters of ``model`` (shared ones once).

    ``exclude_embeddings=True`` leaves out ``nn.Embedding`` tables, as Kaplan et al. (2020) count
    N for scaling laws (a tied output head shares the table and is left out with it).
    """
    params = {id(p): p for p in model.parameters()}
    if exclude_embeddings:
        for module in model.modules():
            if isinstance(module, nn.Embedding):
                params.pop(id(module.weight), None)
    return sum(p.numel() for p in params.values())


def flops_per_token(model: nn.Module, training: bool = False) -> int:
    """FLOPs per token of a forward pass (``training=True``: forward + backward, about 3x).

    A model that knows better provides its own ``flops_per_token(training=...)`` and that is used
    (the GPT does). Otherwise: every weight matrix (>= 2 dims, not an embedding table) is used
    once per token in a multiply-add, 2 FLOPs per weight; biases, norms and activations are
    ignored. For a model whose ``config`` has ``n_layer``, ``n_embd`` and ``block_size`` (a GPT),
    attention over the context adds 2 * n_layer * block_size * n_embd (Kaplan et al. 2020, Table 1).
    """
    own = getattr(model, "flops_per_token", None)
    if callable(own):
        return int(own(training=training))
    matmul_weights = 0
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            continue  # a table look-up, no arithmetic
        for p in module.parameters(recurse=False):  # a tied head is counted under its Linear
            if p.dim() >= 2:
                matmul_weights += p.numel()
    forward = 2 * matmul_weights
    cfg = getattr(model, "config", None)
    if all(hasattr(cfg, a) for a in ("n_layer", "n_embd", "block_size")):
        forward += 2 * cfg.n_layer * cfg.block_size * cfg.n_embd
    return 3 * forward if training else forward


def build_lm(arch: str, vocab_size: int, **kw: Any) -> nn.Module:
    """A language model by name: "rnn" | "lstm" | "gru" (:class:`RecurrentLM`) or "gpt".

    ``kw`` are fields of :class:`RecurrentLMConfig` (recurrent) or of
    ``seqlab.models.transformer.GPTConfig`` (gpt); an unknown one raises ``ValueError``.
    """
    check_choice(arch, ARCHS, "arch")
    if arch == "gpt":
        from seqlab.models.transformer import GPT, GPTConfig  # written alongside; imported on use

        config_cls, model_cls = GPTConfig, GPT
    else:
        config_cls, model_cls = RecurrentLMConfig, RecurrentLM
        if "cell" in kw:
            raise ValueError(f"arch {arch!r} sets the cell; do not pass cell={kw['cell']!r}")
        kw = {"cell": arch, **kw}
    if is_dataclass(config_cls):
        valid = [f.name for f in fields(config_cls) if f.name not in ("vocab_size", "cell")]
        unknown = sorted(set(kw) - set(valid) - {"cell"})
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for arch {arch!r}; valid: {', '.join(valid)}"
            )
    return model_cls(config_cls(vocab_size=vocab_size, **kw))
