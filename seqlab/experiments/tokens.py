"""Characters against byte-pair encoding (BPE) on the Shakespeare corpus, compared fairly.

:func:`bpe_vs_chars` trains BPE tokenizers (:func:`seqlab.data.bpe.train_bpe`) on the first
``train_chars`` characters of the training split (chapters 1-3's 90 % / 10 % split), never on
the validation text, and measures for each vocabulary size V:

- **tokens per character** on the validation text (how much shorter a sequence gets);
- the **embedding's share** of a GPT's parameters: the token table V x C (tied to the output
  head) over :func:`~seqlab.models.count_params` of the same GPT with that vocabulary.

Then it trains a char GPT and a BPE GPT (``bpe_vocab``) of the same shape, once per seed, with
what is held equal stated:

- **context in characters**: the char GPT reads ``context_chars`` characters, the BPE GPT
  ``round(context_chars x tokens per character)`` tokens, about the same text;
- **training compute**: FLOPs = steps x ``batch_size`` x T x
  :func:`~seqlab.models.flops_per_token` (training, 6 N_mm + 12 L T C); the char GPT runs
  ``char_max_iters`` steps, the BPE GPT as many steps as the same FLOPs buy (reported);
- **the validation text**: the first ``eval_chars`` characters of the validation split,
  read in consecutive windows of T tokens; the loss in **bits per character** is the total
  nats over every predicted token divided by the characters those tokens spell, over ln 2
  (:func:`seqlab.metrics.bits_per_char`). A loss per token would favour whichever tokenizer
  makes longer tokens; per character it does not depend on the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from seqlab.data.bpe import BPETokenizer, train_bpe
from seqlab.data.corpus import CharDataset, CharTokenizer
from seqlab.device import cpu_threads
from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.results import experiment
from seqlab.metrics import bits_per_char
from seqlab.models import GPT, GPTConfig, count_params, flops_per_token
from seqlab.train import TrainConfig, train

__all__ = ["TokensConfig", "bpe_vs_chars", "text_nats", "tokenizer_table"]


@dataclass
class TokensConfig:
    """Tokenizer sizes, the GPT shared by both runs (nanoGPT names) and the compute budget."""

    vocab_sizes: tuple[int, ...] = (128, 256, 512, 1024, 2048)
    bpe_vocab: int = 512
    train_chars: int | None = 1_000_000
    eval_chars: int = 20_000
    sample_line: int = 2
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    context_chars: int = 64
    batch_size: int = 16
    char_max_iters: int = 600
    learning_rate: float = 1e-3
    warmup_iters: int = 30
    seeds: tuple[int, ...] = (0, 1, 2)
    cpu_threads: int | None = 1


@torch.no_grad()
def text_nats(model: torch.nn.Module, ids: torch.Tensor, block_size: int) -> tuple[float, int]:
    """Total cross-entropy (nats) of predicting ``ids[1:]`` from what precedes each token
    within consecutive windows of ``block_size`` tokens (each token predicted once; a window's
    first prediction sees one token of context). Returns ``(total nats, tokens predicted)``."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    n_full = (len(ids) - 1) // block_size  # windows with all T targets: one batch
    try:
        parts = []
        if n_full:
            x = ids[: n_full * block_size].view(n_full, block_size)  # (N, T)
            y = ids[1 : n_full * block_size + 1].view(n_full, block_size)  # (N, T)
            parts.append((x, y))
        rest = ids[n_full * block_size :]
        if len(rest) > 1:
            parts.append((rest[:-1][None], rest[1:][None]))  # (1, T') the last, shorter one
        for x, y in parts:
            _, loss = model(x.to(device), y.to(device))
            total += float(loss) * y.numel()
            n += y.numel()
    finally:
        model.train(was_training)
    return total, n


def _gpt(config: TokensConfig, vocab_size: int, block_size: int) -> GPT:
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=config.n_layer,
                         n_head=config.n_head, n_embd=config.n_embd, bias=False))  # fmt: skip


def tokenizer_table(config: TokensConfig, chars: CharTokenizer, train_text: str, val_text: str):
    """One row per tokenizer ("chars" and each BPE size): vocab_size, tokens_per_char (on
    ``val_text``), block_size (tokens for ``context_chars``), n_params, embedding_params
    (V x C) and embedding_share; plus the tokenizers ``{V: BPETokenizer}``. Every BPE starts
    from the char tokenizer's alphabet (the corpus' characters), so it can encode any text
    the char model can."""
    alphabet = "".join(chars.itos)
    rows, toks = [], {}
    for V in (None, *config.vocab_sizes):
        if V is None:
            name, vocab, tpc = "chars", chars.vocab_size, 1.0
        else:
            toks[V] = train_bpe(train_text, V, alphabet)
            name, vocab = f"BPE {V}", toks[V].vocab_size
            tpc = len(toks[V].encode(val_text)) / len(val_text)
        T = max(1, round(config.context_chars * tpc))
        n = count_params(_gpt(config, vocab, T))
        rows.append({"tokenizer": name, "vocab_size": vocab, "tokens_per_char": tpc,
                     "block_size": T, "n_params": n, "embedding_params": vocab * config.n_embd,
                     "embedding_share": vocab * config.n_embd / n})  # fmt: skip
    return pd.DataFrame(rows), toks


def _run(config, name, tok, train_ids, val_text, T, max_iters, seed, device, progress) -> dict:
    """Train one GPT on ``train_ids`` with windows of T tokens; its bits per character."""
    torch.manual_seed(seed)
    model = _gpt(config, tok.vocab_size, T).to(device)
    data = CharDataset(train_ids, tokenizer=None, val_frac=0.0)
    g = torch.Generator().manual_seed(seed)

    def get_batch(step: int):
        return data.batch("train", config.batch_size, T, g, device)

    tc = TrainConfig(max_iters=max_iters, learning_rate=config.learning_rate,
                     warmup_iters=config.warmup_iters, seed=seed, progress=progress)  # fmt: skip
    with cpu_threads(config.cpu_threads, device):
        history = train(model, get_batch, tc, device=device)
        ids = tok.encode(val_text)
        nats, n_tok = text_nats(model, ids, T)
    chars = len(val_text) - len(tok.decode(ids[:1]))  # the text of the predicted tokens
    fpt = flops_per_token(model, T=T)
    return {"tokenizer": name, "seed": seed, "vocab_size": tok.vocab_size, "block_size": T,
            "steps": max_iters, "flops_per_token": fpt,
            "train_flops": max_iters * config.batch_size * T * fpt,
            "train_chars_seen": None, "n_params": count_params(model),
            "final_train_loss": float(history["loss"].tail(10).mean()),
        "train_s": float(history["time_s"].max()),
            "val_nats": nats, "val_tokens": n_tok, "val_chars": chars,
            "nats_per_token": nats / n_tok, "bpc": bits_per_char(nats, chars)}  # fmt: skip


@experiment("data.tokens")
def bpe_vs_chars(config: TokensConfig, device: torch.device, progress: bool) -> dict:
    """Tokenizer statistics and the char-vs-BPE GPT comparison (see the module docstring).

    Values: ``tokenizers`` (:func:`tokenizer_table`), ``runs`` (one row per tokenizer and
    seed: steps, block_size, flops_per_token, train_flops, n_params, val_nats, val_tokens,
    val_chars, nats_per_token, bpc), ``sample`` (the line shown: its text and, per tokenizer,
    the list of token strings), ``char_vocab``, ``train_chars``, ``eval_chars``.
    """
    ds = shakespeare()
    train_text = ds.tokenizer.decode(ds.split("train")[: config.train_chars])
    val_text = ds.tokenizer.decode(ds.split("val")[: config.eval_chars])
    if config.bpe_vocab not in config.vocab_sizes:
        raise ValueError(f"bpe_vocab={config.bpe_vocab} must be one of vocab_sizes "
                         f"{config.vocab_sizes}")  # fmt: skip
    chars: CharTokenizer = ds.tokenizer
    table, toks = tokenizer_table(config, chars, train_text, val_text)
    bpe: BPETokenizer = toks[config.bpe_vocab]
    T_char = config.context_chars
    T_bpe = int(table.set_index("tokenizer").loc[f"BPE {config.bpe_vocab}", "block_size"])
    char_ids, bpe_ids = chars.encode(train_text), bpe.encode(train_text)
    budget = None
    rows = []
    for seed in config.seeds:
        r = _run(config, "chars", chars, char_ids, val_text, T_char, config.char_max_iters,
                 seed, device, progress)  # fmt: skip
        budget = r["train_flops"]
        steps = max(
            1,
            round(
                budget / (config.batch_size * T_bpe * _train_flops_per_token(config, bpe, T_bpe))
            ),
        )
        b = _run(config, f"BPE {config.bpe_vocab}", bpe, bpe_ids, val_text, T_bpe, steps,
                 seed, device, progress)  # fmt: skip
        rows += [r, b]
    runs = pd.DataFrame(rows).drop(columns="train_chars_seen")
    lines = [ln for ln in val_text.splitlines() if len(ln) > 20]
    line = lines[min(config.sample_line, len(lines) - 1)] if lines else val_text[:60]
    sample = {"text": line, "chars": list(line),
              **{f"BPE {V}": t.pieces(line) for V, t in toks.items()}}  # fmt: skip
    return {"tokenizers": table, "runs": runs, "sample": sample, "char_vocab": chars.vocab_size,
            "train_chars": len(train_text), "eval_chars": len(val_text),
            "bpe_train_tokens": len(bpe_ids), "flops_budget": budget}  # fmt: skip


def _train_flops_per_token(config: TokensConfig, tok, T: int) -> int:
    """Training FLOPs per token of the GPT for ``tok``'s vocabulary at context T."""
    return flops_per_token(_gpt(config, tok.vocab_size, T), T=T)
