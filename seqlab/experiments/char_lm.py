"""Char-level language models on the Shakespeare corpus: the experiment of chapters 1-3.

:func:`char_lm` trains one :class:`~seqlab.models.RecurrentLM` per cell with
:func:`seqlab.train.train` on the same batches and budget, and returns their histories, a
summary and the trained models (cached: the chapter, its samples, the temperature slider, the
context-window study, the gate probes and ``make figures`` share one training run). The cells
other than ``config.reference`` get the hidden size of an equal parameter budget
(:mod:`seqlab.experiments.param_budget`); a single cell is simply trained at ``hidden_size``.

The validation loss is measured every ``eval_interval`` steps on the same held-out batches (a
fixed generator), so the curves of different models compare point by point. With a wall-time
budget the learning rate is constant after warm-up: a cosine schedule would need the number of
steps in advance, and the faster model would be decayed differently.

Letters: B batch, T block size (context), V vocabulary, E embedding, H hidden.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from seqlab.checks import check_choice
from seqlab.data.corpus import CharDataset, load_shakespeare
from seqlab.device import cpu_threads
from seqlab.experiments.param_budget import (
    GATES,
    equal_budget_sizes,
    hidden_for_budget,
    lm_param_count,
)
from seqlab.experiments.results import SavedModel, experiment
from seqlab.models import RecurrentLM, RecurrentLMConfig, count_params
from seqlab.models.ngram import select_ngram
from seqlab.train import LossFn, TrainConfig, estimate_loss, train


@dataclass
class CharLMConfig:
    """Which models (``cells``, sized against ``reference`` at ``hidden_size``), the data,
    optimiser and budget they share, and how they are evaluated.

    ``max_iters`` caps a run; ``time_budget_s`` (if set) stops it on wall-clock time first.
    ``eval_iters`` batches of ``batch_size`` x ``block_size`` characters per evaluation.
    ``cpu_threads``: torch threads while training on a CPU: a count, or a kind of work for
    :func:`seqlab.device.cpu_threads_for` ("recurrent": one thread); None: keep torch's setting.
    ``n_layer``: stacked recurrent layers of every model; the parameter budget is still that of
    one ``reference`` layer at ``hidden_size``, so a deeper stack gets narrower layers.
    """

    cells: tuple[str, ...] = ("rnn",)
    reference: str = "rnn"
    hidden_size: int = 256
    n_embd: int = 32
    batch_size: int = 32
    block_size: int = 64
    max_iters: int = 1000
    time_budget_s: float | None = None
    learning_rate: float = 3e-3
    warmup_iters: int = 20
    eval_interval: int = 50
    eval_iters: int = 4
    seed: int = 0
    cpu_threads: int | str | None = "recurrent"
    n_layer: int = 1

    def __post_init__(self) -> None:
        for cell in (*self.cells, self.reference):
            check_choice(cell, tuple(GATES), "cell")


@functools.lru_cache(maxsize=1)
def shakespeare() -> CharDataset:
    """The corpus as a dataset, 90 % train / 10 % validation (cached: encoding 4.8 M characters
    takes a second or two)."""
    return CharDataset(load_shakespeare())


def unigram_entropy(text: str) -> float:
    """Entropy (nats per character) of the character frequencies of ``text``: the loss of the
    best model that ignores context."""
    _, counts = np.unique(
        np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), return_counts=True
    )
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def reference_losses(dataset: CharDataset, n_chars: int = 1_000_000) -> dict[str, float]:
    """Losses without learning: a uniform guess (ln V) and the unigram entropy of the first
    ``n_chars`` training characters (nats per character)."""
    text = dataset.tokenizer.decode(dataset.split("train")[:n_chars])
    return {"uniform": math.log(dataset.tokenizer.vocab_size), "unigram": unigram_entropy(text)}


def hidden_sizes(config: CharLMConfig, vocab_size: int) -> dict[str, int]:
    """``{cell: H}``: ``hidden_size`` for the reference cell, an equal parameter budget for the
    others (and for every cell when ``n_layer`` > 1: the budget of one reference layer)."""
    if config.n_layer == 1:
        count = lambda cell, H: lm_param_count(cell, vocab_size, config.n_embd, H)  # noqa: E731
        return equal_budget_sizes(count, config.reference, config.hidden_size, config.cells)
    budget = lm_param_count(config.reference, vocab_size, config.n_embd, config.hidden_size)
    return {
        cell: hidden_for_budget(
            lambda H, c=cell: lm_param_count(c, vocab_size, config.n_embd, H, config.n_layer),
            budget,
        )
        for cell in config.cells
    }


def train_char_lm(
    dataset: CharDataset,
    cell: str,
    hidden_size: int,
    config: CharLMConfig,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> tuple[RecurrentLM, pd.DataFrame]:
    """Train one char-level LM; return ``(model, history)``.

    Outputs: ``history`` is :func:`seqlab.train.train`'s table (iter, time_s, loss, ...) with
    ``train_loss``/``val_loss`` on the evaluated steps, plus columns ``cell``, ``hidden_size``,
    ``n_params``. The first row is an evaluation before training (iter -1, time 0).
    """
    device = torch.device(device or "cpu")
    torch.manual_seed(config.seed)  # same initial-weight stream for every cell
    model_config = RecurrentLMConfig(
        vocab_size=dataset.tokenizer.vocab_size,
        cell=cell,
        n_embd=config.n_embd,
        hidden_size=hidden_size,
        n_layer=config.n_layer,
    )
    model = RecurrentLM(model_config).to(device)
    timed = config.time_budget_s is not None
    train_config = TrainConfig(
        max_iters=config.max_iters,
        time_budget_s=config.time_budget_s,
        learning_rate=config.learning_rate,
        min_lr=config.learning_rate if timed else None,  # constant lr under a wall-time budget
        warmup_iters=config.warmup_iters,
        eval_interval=config.eval_interval,
        log_interval=10,
        seed=config.seed,
        progress=progress,
    )
    history = train_on_chars(model, dataset, config, train_config, device, cell, hidden_size)
    return model, history


def char_batches(
    dataset: CharDataset,
    batch_size: int,
    block_size: int,
    eval_iters: int,
    seed: int,
    device: torch.device,
):
    """``(get_batch, eval_fn)`` for :func:`seqlab.train.train`: training batches (B, T) drawn
    with a generator seeded by ``seed``, and the loss on ``eval_iters`` held-out batches drawn
    with a fixed generator (the same batches at every evaluation, for every model)."""
    g = torch.Generator().manual_seed(seed)

    def get_batch(step: int):
        return dataset.batch("train", batch_size, block_size, g, device)

    def eval_fn(m: torch.nn.Module) -> dict[str, float]:
        fixed = torch.Generator().manual_seed(12_345)  # the same held-out batches every time
        return estimate_loss(m, dataset, batch_size, block_size, eval_iters, fixed)

    return get_batch, eval_fn


def train_on_chars(
    model: torch.nn.Module,
    dataset: CharDataset,
    config: CharLMConfig,
    train_config: TrainConfig,
    device: torch.device,
    cell: str,
    hidden_size: int,
    loss_fn: LossFn | None = None,
) -> pd.DataFrame:
    """Train ``model`` on ``config``'s batches (drawn with ``config.seed``) under
    ``train_config`` and return its history: an evaluation before training (iter -1, time 0),
    then :func:`seqlab.train.train`'s rows, with columns ``cell``, ``hidden_size``, ``n_params``.
    ``loss_fn`` replaces the training loss (:func:`seqlab.train.train`); the evaluation stays
    the model's own loss.

    Every model trained here sees the same batches for the same seed and is evaluated on the
    same held-out batches (a fixed generator), so the curves compare point by point (chapters
    1-3's cells and chapter 5's GPT)."""
    c = config
    get_batch, eval_fn = char_batches(dataset, c.batch_size, c.block_size, c.eval_iters, c.seed,
                                      device)  # fmt: skip
    with cpu_threads(config.cpu_threads, device):
        start = {"iter": -1, "time_s": 0.0, **{f"{k}_loss": v for k, v in eval_fn(model).items()}}
        history = train(
            model, get_batch, train_config, device=device, eval_fn=eval_fn, loss_fn=loss_fn
        )
    history = pd.concat([pd.DataFrame([start]), history], ignore_index=True)
    history["cell"], history["hidden_size"], history["n_params"] = (
        cell,
        hidden_size,
        count_params(model),
    )
    return history


def summarize(history: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: hidden_size, n_params, steps, train_s, tokens_per_s (median over the
    run), the last val_loss and train_loss."""
    rows = []
    for cell, h in history.groupby("cell", sort=False):
        evaluated = h.dropna(subset=["val_loss"])
        rows.append(
            {
                "cell": cell,
                "hidden_size": int(h["hidden_size"].iloc[0]),
                "n_params": int(h["n_params"].iloc[0]),
                "steps": int(h["iter"].max()) + 1,
                "train_s": float(h["time_s"].max()),
                "tokens_per_s": float(h["tokens_per_s"].median()),
                "val_loss": float(evaluated["val_loss"].iloc[-1]),
                "train_loss": float(evaluated["train_loss"].iloc[-1]),
            }
        )
    return pd.DataFrame(rows).set_index("cell")


@experiment("rnn.char_lm")
def char_lm(config: CharLMConfig, device: torch.device, progress: bool) -> dict:
    """Train one LM per cell of ``config`` on Shakespeare with the same batches and budget.

    Values: ``history`` (every run's table stacked, column ``cell``), ``summary`` (one row per
    cell, see :func:`summarize`), ``hidden_sizes`` ``{cell: H}``, ``models`` ``{cell:
    SavedModel}`` (``result.model(cell, device)`` rebuilds one).
    """
    dataset = shakespeare()
    sizes = hidden_sizes(config, dataset.tokenizer.vocab_size)
    models, histories = {}, []
    for cell, hidden_size in sizes.items():
        model, history = train_char_lm(dataset, cell, hidden_size, config, device, progress)
        models[cell] = SavedModel.of(model)
        histories.append(history)
    history = pd.concat(histories, ignore_index=True)
    return {
        "history": history,
        "summary": summarize(history),
        "hidden_sizes": sizes,
        "models": models,
    }


@dataclass
class NGramBaselineConfig:
    """The count-based baseline: Kneser-Ney n-grams of ``orders``, discount from ``discounts``,
    both chosen on the validation split (:func:`seqlab.models.ngram.select_ngram`), counted on
    the first ``train_chars`` training characters (None: all of them)."""

    orders: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    discounts: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 1.0)
    train_chars: int | None = None


@experiment("rnn.ngram")
def ngram_baseline(config: NGramBaselineConfig, device: torch.device, progress: bool) -> dict:
    """The best n-gram on the same split as the char-LMs (counting is CPU work: ``device`` is
    recorded only).

    Values: ``table`` (one row per order and discount: val_loss, bpc, ppl, selected),
    ``best`` (the selected row as a dict), ``n_train`` and ``n_val`` (characters).
    """
    dataset = shakespeare()
    train_ids = dataset.split("train")[: config.train_chars].numpy()
    val_ids = dataset.split("val").numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the page shows the whole table
        sel = select_ngram(
            train_ids, val_ids, dataset.tokenizer.vocab_size, config.orders, config.discounts
        )
    return {
        "table": sel.table,
        "best": sel.best.to_dict(),
        "n_train": sel.n_train,
        "n_val": sel.n_val,
    }
