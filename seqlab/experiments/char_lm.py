"""Char-level language models compared side by side on the Shakespeare corpus.

:func:`train_char_lm` trains one :class:`~seqlab.models.RecurrentLM` with
:func:`seqlab.train.train` and records the validation loss every ``eval_interval`` steps, always on
the same held-out batches (a fixed generator), so the curves of different models are comparable
point by point. :func:`compare_char_lms` does that for several cells at once, each with its own
hidden size (e.g. equal parameter budgets from :mod:`seqlab.experiments.param_budget`) and the
same step or wall-time budget, and returns the models, one long history table and a summary.

With a wall-time budget the learning rate is constant after a short warm-up: a cosine schedule
would need the number of steps in advance, and the faster model would be decayed differently.

Letters: B batch, T block size (context), V vocabulary, E embedding, H hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch

from seqlab.data.corpus import CharDataset
from seqlab.experiments.cpu_threads import cpu_threads, show_progress
from seqlab.models import RecurrentLM, RecurrentLMConfig, count_params, generate
from seqlab.train import TrainConfig, estimate_loss, train


@dataclass
class CharLMSetup:
    """What every model of a comparison shares: data sizes, optimiser, budget, evaluation.

    ``max_iters`` caps the run; ``time_budget_s`` (if set) stops it on wall-clock time first.
    ``eval_iters`` batches of ``batch_size`` x ``block_size`` characters per evaluation.
    ``cpu_threads``: torch threads while training on a CPU (see
    :mod:`seqlab.experiments.cpu_threads`: one is faster for these small models; None: keep).
    ``progress``: show the training loop's progress bar (default: yes, except in a book build,
    where a bar would be frozen at its first state on the page).
    """

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
    cpu_threads: int | None = 1
    progress: bool = field(default_factory=show_progress)


def train_char_lm(
    dataset: CharDataset,
    cell: str,
    hidden: int,
    setup: CharLMSetup,
    device: torch.device | str | None = None,
) -> tuple[RecurrentLM, pd.DataFrame]:
    """Train one char-level LM; return ``(model, history)``.

    Outputs: ``history`` is :func:`seqlab.train.train`'s table (iter, time_s, loss, ...) with
    ``train_loss``/``val_loss`` on the evaluated steps, plus columns ``cell``, ``hidden``,
    ``params``. The first row is an evaluation before training (iter -1, time 0).
    """
    device = torch.device(device or "cpu")
    torch.manual_seed(setup.seed)  # same initial-weight stream for every cell
    config = RecurrentLMConfig(
        vocab_size=dataset.tokenizer.vocab_size, cell=cell, n_embd=setup.n_embd, hidden_size=hidden
    )
    model = RecurrentLM(config).to(device)
    g = torch.Generator().manual_seed(setup.seed)

    def get_batch(step: int):
        return dataset.batch("train", setup.batch_size, setup.block_size, g, device)

    def eval_fn(m: torch.nn.Module) -> dict[str, float]:
        fixed = torch.Generator().manual_seed(12_345)  # the same held-out batches every time
        return estimate_loss(
            m, dataset, setup.batch_size, setup.block_size, setup.eval_iters, fixed
        )

    timed = setup.time_budget_s is not None
    train_config = TrainConfig(
        max_iters=setup.max_iters,
        time_budget_s=setup.time_budget_s,
        learning_rate=setup.learning_rate,
        min_lr=setup.learning_rate if timed else None,  # constant lr under a wall-time budget
        warmup_iters=setup.warmup_iters,
        eval_interval=setup.eval_interval,
        log_interval=10,
        seed=setup.seed,
        progress=setup.progress,
    )
    with cpu_threads(setup.cpu_threads, device):
        start = {"iter": -1, "time_s": 0.0, **{f"{k}_loss": v for k, v in eval_fn(model).items()}}
        history = train(model, get_batch, train_config, device=device, eval_fn=eval_fn)
    history = pd.concat([pd.DataFrame([start]), history], ignore_index=True)
    history["cell"], history["hidden"], history["params"] = cell, hidden, count_params(model)
    return model, history


def compare_char_lms(
    dataset: CharDataset,
    sizes: dict[str, int],
    setup: CharLMSetup,
    device: torch.device | str | None = None,
) -> tuple[dict[str, RecurrentLM], pd.DataFrame, pd.DataFrame]:
    """Train one LM per ``{cell: hidden}`` with the same ``setup``.

    Outputs: ``(models, history, summary)``: ``history`` stacks every run's table (column
    ``cell``); ``summary`` has one row per cell: hidden, params, steps, train_s, tokens_per_s
    (median over the run), the last val_loss and train_loss.
    """
    models, histories, rows = {}, [], []
    for cell, hidden in sizes.items():
        model, h = train_char_lm(dataset, cell, hidden, setup, device)
        models[cell] = model
        histories.append(h)
        evaluated = h.dropna(subset=["val_loss"])
        rows.append(
            {
                "cell": cell,
                "hidden": hidden,
                "params": int(h["params"].iloc[0]),
                "steps": int(h["iter"].max()) + 1,
                "train_s": float(h["time_s"].max()),
                "tokens_per_s": float(h["tokens_per_s"].median()),
                "val_loss": float(evaluated["val_loss"].iloc[-1]),
                "train_loss": float(evaluated["train_loss"].iloc[-1]),
            }
        )
    return models, pd.concat(histories, ignore_index=True), pd.DataFrame(rows).set_index("cell")


def sample_text(
    model: RecurrentLM,
    dataset: CharDataset,
    prompt: str = "\n",
    n_chars: int = 200,
    temperature: float = 0.8,
    seed: int = 0,
) -> str:
    """``n_chars`` sampled after ``prompt`` (same seed -> same text), prompt included."""
    device = next(model.parameters()).device
    idx = dataset.tokenizer.encode(prompt)[None].to(device)  # (1, T0)
    g = torch.Generator(device=device).manual_seed(seed)
    with cpu_threads(1, device):  # one character at a time: tiny steps, one thread is fastest
        out = generate(model, idx, n_chars, temperature=temperature, generator=g)  # (1, T0 + n)
    return dataset.tokenizer.decode(out[0].cpu())


def comparison_setup() -> tuple[int, CharLMSetup]:
    """``(LSTM hidden size, setup)`` of the book's LSTM / GRU / RNN comparisons, by profile.

    The other cells get the hidden size of an equal parameter budget
    (:func:`seqlab.experiments.param_budget.equal_budget_sizes`).
    """
    from seqlab.device import by_profile

    hidden = by_profile(smoke=32, standard=128, full=256)
    setup = CharLMSetup(
        n_embd=32,
        batch_size=32,
        block_size=by_profile(smoke=32, standard=64, full=128),
        max_iters=by_profile(smoke=40, standard=5000, full=20000),
        time_budget_s=by_profile(smoke=2.0, standard=25.0, full=300.0),
        learning_rate=3e-3,
        warmup_iters=by_profile(smoke=5, standard=20),
        eval_interval=by_profile(smoke=10, standard=50, full=200),
        eval_iters=by_profile(smoke=2, standard=4, full=10),
    )
    return hidden, setup


def equal_steps_setup() -> tuple[int, CharLMSetup]:
    """Like :func:`comparison_setup`, but every model trains for the same number of steps (no
    time budget, except a 2 s cap in the smoke profile): the GRU / LSTM / RNN comparison."""
    from dataclasses import replace

    from seqlab.device import by_profile

    hidden, setup = comparison_setup()
    return hidden, replace(
        setup,
        max_iters=by_profile(smoke=30, standard=300, full=4000),
        time_budget_s=by_profile(smoke=2.0, standard=None, full=None),
    )
