"""Metrics done right (chapter 8), each computed on the book's own models, each with its pitfall.

:func:`metric_pitfalls` (``choosing.metrics``) trains nothing: it reads trained models and
outputs from two cached results of earlier chapters.

- **Perplexity and bits per character** of the chapter-5 GPT and LSTM on held-out Shakespeare
  (``transformer.char_lm``, seed 0): ``loss`` (nats per character), ``bpc = loss / ln 2``,
  ``ppl = exp(loss)`` (:mod:`seqlab.metrics`). The pitfall: the *same* model's total
  negative log-likelihood divided by words instead of characters gives a perplexity hundreds of
  times larger (``ppl_word = exp(loss * n_chars / n_words)``): perplexities are comparable
  only at one tokenisation.
- **Accuracy and F1** on an imbalanced task read off the same models: "is the next character a
  line break?" (positives are a few per cent). A model that never says yes scores a high
  accuracy and an F1 of 0 (:func:`binary_scores`).
- **BLEU** with sacrebleu (Post 2018) on chapter 4's number-translation models
  (``attention.bottleneck``, seed 0 of each attention kind), on characters: corpus BLEU, the
  arguments swapped, the mean of sentence BLEUs, the word tokeniser ``13a`` instead of
  characters, and corpus BLEU on many random subsets of ``subset_size`` sentences
  (the spread a four-sentence example hides).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sacrebleu
import torch
import torch.nn.functional as F

from seqlab.experiments.attention import bottleneck
from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.results import experiment
from seqlab.experiments.transformer_lm import gpt_vs_lstm
from seqlab.metrics import bpc, ppl

__all__ = ["MetricsConfig", "binary_scores", "bleu_pitfalls", "metric_pitfalls", "token_nll"]


@dataclass
class MetricsConfig:
    """``lm`` and ``seq2seq`` the size-table rows of the results read; ``n_chars`` held-out
    characters scored; ``n_subsets`` random subsets of ``subset_size`` test sentences."""

    lm: str = "transformer.char_lm"
    seq2seq: str = "attention.bottleneck"
    n_chars: int = 20_000
    n_subsets: int = 200
    subset_size: int = 4
    seed: int = 0


@torch.no_grad()
def token_nll(model: torch.nn.Module, ids: torch.Tensor, block_size: int) -> torch.Tensor:
    """Negative log-likelihood (nats) of each next character of ``ids`` (N,), read in
    non-overlapping windows of ``block_size`` (each window starts with no context, for every
    model alike). Returns (n,) for the n = (N - 1) // block_size * block_size predicted
    characters, and the argmax predictions as ``.argmax`` on the result."""
    n = (len(ids) - 1) // block_size * block_size
    x = ids[:n].view(-1, block_size)  # (W, T)
    y = ids[1 : n + 1].view(-1, block_size)  # (W, T)
    logits, _ = model(x)  # (W, T, V)
    nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")  # (W T,)
    nll.argmax = logits.argmax(-1).flatten()  # type: ignore[attr-defined]
    return nll


def binary_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of boolean predictions ``pred`` against ``true``
    (same shape); precision and F1 are 0 when nothing is predicted positive (no division
    by zero). Raises ``ValueError`` for different shapes."""
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    if pred.shape != true.shape:
        raise ValueError(f"pred and true differ in shape: {pred.shape} vs {true.shape}")
    tp, fp, fn = (pred & true).sum(), (pred & ~true).sum(), (~pred & true).sum()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float((pred == true).mean()), "precision": float(precision),
            "recall": float(recall), "f1": float(f1)}  # fmt: skip


def bleu_pitfalls(preds: list[str], refs: list[str], n_subsets: int, size: int, seed: int):
    """The BLEU numbers of the module docstring for one system (``preds``) against one
    reference each (``refs``). Returns (dict of scores in [0, 100], Series of subset BLEUs)."""
    corpus = sacrebleu.corpus_bleu(preds, [refs], tokenize="char").score
    scores = {
        "corpus BLEU, characters": corpus,
        "arguments swapped": sacrebleu.corpus_bleu(refs, [preds], tokenize="char").score,
        "mean of sentence BLEUs": float(np.mean(
            [sacrebleu.sentence_bleu(p, [r], tokenize="char").score
             for p, r in zip(preds, refs, strict=True)])),
        "corpus BLEU, 13a words": sacrebleu.corpus_bleu(preds, [refs], tokenize="13a").score,
    }  # fmt: skip
    rng = np.random.default_rng(seed)
    subsets = [rng.choice(len(preds), size, replace=False) for _ in range(n_subsets)]
    sub = [sacrebleu.corpus_bleu([preds[i] for i in s], [[refs[i] for i in s]],
                                 tokenize="char").score for s in subsets]  # fmt: skip
    return scores, pd.Series(sub, name=f"BLEU of {size} sentences")


@experiment("choosing.metrics")
def metric_pitfalls(config: MetricsConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``lm`` one row per model (GPT, LSTM): chars, words, loss, bpc, ppl, ppl_word,
    bits_per_word; ``newline`` one row per (model, predictor): accuracy, precision, recall, f1,
    with ``positives`` the share of line breaks; ``bleu`` one row per attention kind with the
    scores of :func:`bleu_pitfalls`; ``subsets`` (kind, BLEU) the subset BLEUs; ``n_test``
    the test sentences; ``lm_note`` what was scored."""
    lm = gpt_vs_lstm(config.lm, device=device, progress=progress)
    data = shakespeare()
    ids = data.split("val")[: config.n_chars + 1]
    newline = data.tokenizer.encode("\n")[0].item()
    rows, scores = [], []
    block = lm.config.lstm.block_size
    for name in ("GPT", "LSTM"):
        nll = token_nll(lm.model(name, device), ids.to(device), block).cpu()
        n = len(nll)
        text = data.tokenizer.decode(ids[1 : n + 1])
        words = len(text.split())
        loss = float(nll.mean())
        rows.append({"model": name, "chars": n, "words": words, "loss": loss, "bpc": bpc(loss),
                     "ppl": ppl(loss), "ppl_word": math.exp(loss * n / words),
                     "bits_per_word": bpc(loss) * n / words})  # fmt: skip
        truth = (ids[1 : n + 1] == newline).numpy()
        said = (nll.argmax.cpu() == newline).numpy()
        scores.append({"model": name, "predictor": f"{name}: argmax", **binary_scores(said, truth)})
        if name == "GPT":
            never = binary_scores(np.zeros_like(truth), truth)
            scores.append({"model": "-", "predictor": "never a line break", **never})
    s2s = bottleneck(config.seq2seq, device=device, progress=progress)
    refs = [p.tgt for p in s2s.test]
    bleu_rows, subsets = [], []
    for kind, preds in s2s.predictions.items():
        sc, sub = bleu_pitfalls(list(preds), refs, config.n_subsets, config.subset_size,
                                config.seed)  # fmt: skip
        bleu_rows.append({"attention": kind, **sc, "subset mean": sub.mean(),
                          "subset std": sub.std(ddof=1), "subset min": sub.min(),
                          "subset max": sub.max()})  # fmt: skip
        subsets.append(pd.DataFrame({"attention": kind, "bleu": sub}))
    newline_share = float((ids[1:] == newline).float().mean())
    return {
        "lm": pd.DataFrame(rows),
        "newline": pd.DataFrame(scores).assign(positives=newline_share),
        "bleu": pd.DataFrame(bleu_rows),
        "subsets": pd.concat(subsets, ignore_index=True),
        "n_test": len(refs),
        "lm_note": f"{n:,} held-out characters in windows of {block} (seed 0 of each model)",
    }
