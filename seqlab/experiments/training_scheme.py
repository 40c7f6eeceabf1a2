"""Two ways to train a char-level RNN on windows, measured over seeds (chapter 1).

- ``"random windows"``: every step draws B windows of T characters at random offsets and starts
  each from a zero state. The gradient sees at most T steps and so does the forward pass; the
  model never learns to use a state older than one window. This is what the chapter's char-LM
  does (and nanoGPT and makemore do for their models).
- ``"truncated BPTT"``: B streams each read the training text in order, T characters a step;
  the state at the end of one window is carried into the next and *detached* (no gradient flows
  across the boundary). The forward pass sees the whole stream; the gradient is truncated at T
  steps (Williams & Peng 1990; Sutskever 2013, section 3.2). This is truncated BPTT proper.

Both runs share the model, optimiser (AdamW, constant learning rate after warm-up, gradient
clipping at norm 1), the number of steps and the batch shape: they differ only in where the
windows come from and whether the state is carried. Two validation losses are measured:

- ``val_loss``: windows of T characters from a zero state (the chapter's evaluation);
- ``streamed_val_loss``: ``eval_chars`` consecutive validation characters read in windows of T
  with the state carried, as a stateful model is meant to be used.

Letters: B batch, T block size (window), V vocabulary, E embedding, H hidden.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from seqlab.data.corpus import CharDataset
from seqlab.device import cpu_threads
from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.results import experiment
from seqlab.models import RecurrentLM, RecurrentLMConfig
from seqlab.train import estimate_loss

SCHEMES: tuple[str, ...] = ("random windows", "truncated BPTT")


@dataclass
class TrainingSchemeConfig:
    """Model, batch, steps and seeds shared by both schemes (``schemes`` from :data:`SCHEMES`).

    ``eval_iters`` batches of B x T for ``val_loss``; ``eval_chars`` characters per stream (B
    streams) for ``streamed_val_loss``.
    """

    schemes: tuple[str, ...] = SCHEMES
    seeds: tuple[int, ...] = (0, 1, 2)
    hidden_size: int = 128
    n_embd: int = 32
    batch_size: int = 32
    block_size: int = 50
    max_iters: int = 300
    learning_rate: float = 1e-2
    warmup_iters: int = 20
    grad_clip: float = 1.0
    eval_iters: int = 8
    eval_chars: int = 2000
    cpu_threads: int | str | None = "recurrent"

    def __post_init__(self) -> None:
        unknown = [s for s in self.schemes if s not in SCHEMES]
        if unknown:
            raise ValueError(f"unknown schemes {unknown}; valid: {', '.join(SCHEMES)}")


def _stream_starts(n: int, B: int, g: torch.Generator) -> torch.Tensor:
    """B start offsets spread evenly over ``n`` characters, the spread shifted at random."""
    shift = int(torch.randint(n // B, (1,), generator=g))
    return torch.arange(B) * (n // B) + shift  # (B,)


def _window(data: torch.Tensor, pos: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of T inputs and their next-character targets at offsets ``pos`` (wrapping)."""
    idx = (pos[:, None] + torch.arange(T + 1)) % len(data)  # (B, T + 1)
    chunk = data[idx]
    return chunk[:, :-1], chunk[:, 1:]  # (B, T), (B, T)


@torch.no_grad()
def streamed_loss(model: RecurrentLM, data: torch.Tensor, B: int, T: int, n_chars: int) -> float:
    """Mean loss over B streams of ``n_chars`` consecutive characters of ``data``, read in
    windows of T with the state carried from window to window (nats per character)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pos = torch.arange(B) * ((len(data) - n_chars - 1) // B)  # (B,): fixed, disjoint streams
    state, total, count = None, 0.0, 0
    for start in range(0, n_chars - T + 1, T):
        x, y = _window(data, pos + start, T)
        logits, state = model.step(x.to(device), state)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1),
                                 reduction="sum").item()  # fmt: skip
        count += y.numel()
    model.train(was_training)
    return total / count


def train_scheme(
    dataset: CharDataset, scheme: str, seed: int, config: TrainingSchemeConfig,
    device: torch.device,
) -> tuple[RecurrentLM, dict]:  # fmt: skip
    """Train one char-RNN with ``scheme``; return the model and its row of results."""
    torch.manual_seed(seed)
    model = RecurrentLM(
        RecurrentLMConfig(
            vocab_size=dataset.tokenizer.vocab_size, cell="rnn",
            n_embd=config.n_embd, hidden_size=config.hidden_size,
        )
    ).to(device)  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    warm = lambda it: min(1.0, (it + 1) / max(config.warmup_iters, 1))  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warm)
    data = dataset.split("train")
    g = torch.Generator().manual_seed(seed)
    B, T = config.batch_size, config.block_size
    pos, state = _stream_starts(len(data), B, g), None
    start = time.perf_counter()
    for _ in range(config.max_iters):
        if scheme == "random windows":
            x, y = dataset.batch("train", B, T, g, device)
            state = None
        else:
            x, y = _window(data, pos, T)
            x, y = x.to(device), y.to(device)
            pos = pos + T
        logits, new_state = model.step(x, state)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        sched.step()
        if scheme == "truncated BPTT":
            state = new_state.detach()  # carried into the next window, no gradient across
    train_s = time.perf_counter() - start
    fixed = torch.Generator().manual_seed(12_345)  # the same held-out windows for every run
    losses = estimate_loss(model, dataset, B, T, config.eval_iters, fixed)
    row = {
        "scheme": scheme,
        "seed": seed,
        "steps": config.max_iters,
        "train_s": train_s,
        "train_loss": losses["train"],
        "val_loss": losses["val"],
        "streamed_val_loss": streamed_loss(model, dataset.split("val"), B, T, config.eval_chars),
    }
    return model, row


@experiment("rnn.training_scheme")
def training_scheme(config: TrainingSchemeConfig, device: torch.device, progress: bool) -> dict:
    """Every scheme x seed of ``config``.

    Values: ``runs`` (one row per scheme and seed: steps, train_s, train_loss, val_loss,
    streamed_val_loss; losses in nats per character) and ``val_chars``: the characters behind
    each validation loss (``eval_iters * B * T`` windowed, ``B * eval_chars`` streamed).
    """
    dataset = shakespeare()
    rows = []
    with cpu_threads(config.cpu_threads, device):
        for seed in config.seeds:
            for scheme in config.schemes:
                rows.append(train_scheme(dataset, scheme, seed, config, device)[1])
    B, T = config.batch_size, config.block_size
    return {
        "runs": pd.DataFrame(rows),
        "val_chars": {
            "val_loss": config.eval_iters * B * T,
            "streamed_val_loss": B * (config.eval_chars // T) * T,
        },
    }
