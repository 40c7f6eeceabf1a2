"""Exploding gradients in training, and gradient clipping (Pascanu, Mikolov & Bengio 2013).

A char-level RNN language model starts with its recurrent matrix W_hh rescaled to spectral
radius ``rho`` (:func:`set_spectral_radius`). With ``rho`` > 1 and a ReLU, nothing saturates:
the hidden state and the gradient grow like ``rho^k`` over the sequence. Clipping rescales the
whole gradient g when its norm exceeds a threshold c::

    g <- g * min(1, c / ||g||)         (torch.nn.utils.clip_grad_norm_)

:func:`clipping_run` trains one model and records, per step, the loss and the gradient norm
*before* clipping; :func:`clipping_experiment` runs several optimiser/threshold settings from
the same initial weights and stacks their histories; :func:`clipping` is the chapter's
experiment (cached).

Every run trains through :func:`seqlab.train.train`: plain SGD (``optimizer="sgd"``; its step is
proportional to the gradient, the setting of Pascanu et al.) or AdamW (which divides each step by
a running gradient scale), a constant learning rate, no weight decay, and ``on_nan="stop"``: a
run whose loss becomes NaN/inf stops on that step and returns its history (that is the result).

Letters: B batch, T block size, V vocabulary, E embedding, H hidden.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd
import torch

from seqlab.checks import check_choice
from seqlab.data.corpus import CharDataset
from seqlab.device import cpu_threads, show_progress
from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.results import experiment
from seqlab.models import RecurrentLM, RecurrentLMConfig
from seqlab.train import OPTIMIZERS, TrainConfig, train


@dataclass
class ClippingConfig:
    """One run: the model, its initial spectral radius, the optimiser and the clip threshold.

    ``grad_clip=None`` means no clipping (the norm is still measured).
    """

    rho: float = 1.5
    nonlinearity: str = "relu"
    hidden_size: int = 64
    n_embd: int = 32
    batch_size: int = 16
    block_size: int = 64
    max_iters: int = 150
    optimizer: str = "sgd"
    learning_rate: float = 0.2
    grad_clip: float | None = 1.0
    seed: int = 0


@torch.no_grad()
def set_spectral_radius(weight: torch.Tensor, rho: float) -> torch.Tensor:
    """Rescale the square matrix ``weight`` (H, H) in place so that max |eigenvalue| = ``rho``."""
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"expected a square matrix (H, H), got shape {tuple(weight.shape)}")
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a finite number > 0, got {rho!r}")
    radius = torch.linalg.eigvals(weight.double()).abs().max().item()
    return weight.mul_(rho / radius)


def spectral_radius(weight: torch.Tensor) -> float:
    """max |eigenvalue| of a square matrix."""
    return torch.linalg.eigvals(weight.detach().double()).abs().max().item()


def make_model(vocab_size: int, config: ClippingConfig) -> RecurrentLM:
    """A one-layer RNN language model (torch.nn.RNN inside) with W_hh at radius ``config.rho``."""
    torch.manual_seed(config.seed)  # the same initial weights for every run of an experiment
    model = RecurrentLM(
        RecurrentLMConfig(
            vocab_size=vocab_size,
            cell="rnn",
            n_embd=config.n_embd,
            hidden_size=config.hidden_size,
            cell_options={"nonlinearity": config.nonlinearity},
        )
    )
    set_spectral_radius(model.rnn.weight_hh_l0, config.rho)
    return model


def train_config(config: ClippingConfig, progress: bool = False) -> TrainConfig:
    """The :class:`~seqlab.train.TrainConfig` of a run: ``config``'s optimiser, learning rate
    (constant: no warm-up, no decay), clip threshold and seed; no weight decay; AdamW with
    torch's default betas (0.9, 0.999); float32; stop (not raise) on NaN/inf."""
    return TrainConfig(
        max_iters=config.max_iters,
        learning_rate=config.learning_rate,
        min_lr=config.learning_rate,
        weight_decay=0.0,
        beta2=0.999,
        grad_clip=config.grad_clip,
        optimizer=config.optimizer,
        dtype="float32",
        on_nan="stop",
        seed=config.seed,
        progress=progress,
    )


def clipping_run(
    dataset: CharDataset,
    config: ClippingConfig,
    progress: bool | None = None,
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    """Train one model; stop early if the loss becomes NaN/inf.

    Inputs: ``dataset`` (its tokenizer sets V); ``config``; ``progress`` None: a bar except in
    the static-book build. On a CPU the run uses one thread
    (:func:`seqlab.device.cpu_threads_for`: faster for a model this small).
    Outputs: :func:`seqlab.train.train`'s history, one row per step: iter, loss (NaN on the
    step that diverged, which is the last), grad_norm (before clipping), clipped (bool), ...,
    and the config's fields as columns.
    The batches depend only on ``config.seed``, so every run sees the same text.
    """
    check_choice(config.optimizer, OPTIMIZERS, "optimizer")
    device = torch.device(device or "cpu")
    model = make_model(dataset.tokenizer.vocab_size, config).to(device)
    g = torch.Generator().manual_seed(config.seed)

    def get_batch(it: int) -> tuple[torch.Tensor, torch.Tensor]:
        return dataset.batch("train", config.batch_size, config.block_size, g, device)  # (B, T)

    progress = show_progress() if progress is None else progress
    with cpu_threads("recurrent", device):
        history = train(model, get_batch, train_config(config, progress), device)
    for key, value in asdict(config).items():
        history[key] = value
    return history


def clipping_experiment(
    dataset: CharDataset,
    base: ClippingConfig,
    runs: dict[str, dict[str, Any]],
    progress: bool | None = None,
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    """Several runs from the same initial weights and batches, each changing ``base``'s fields.

    Inputs: ``runs`` = ``{label: {field: value}}``, e.g.
    ``{"SGD": {"grad_clip": None}, "SGD + clip": {"grad_clip": 1.0}}``.
    Outputs: the stacked histories with a column ``run`` (the label).
    """
    histories = []
    for label, changes in runs.items():
        h = clipping_run(dataset, replace(base, **changes), progress, device)
        histories.append(h.assign(run=label))
    return pd.concat(histories, ignore_index=True)


def summarize(history: pd.DataFrame, last: int = 20) -> pd.DataFrame:
    """One row per run: steps run, whether it diverged, final loss (the median over its last
    ``last`` finite steps, robust to a spike), median and max gradient norm, and the fraction of
    steps clipped."""
    rows = []
    for run, h in history.groupby("run", sort=False):
        finite = h[h["loss"].map(math.isfinite) & h["grad_norm"].map(math.isfinite)]
        rows.append(
            {
                "run": run,
                "steps": len(h),
                "diverged": len(finite) < len(h),
                "final_loss": finite["loss"].tail(last).median() if len(finite) else math.nan,
                "median_grad_norm": finite["grad_norm"].median(),
                "max_grad_norm": finite["grad_norm"].max(),
                "clipped_frac": finite["clipped"].mean() if len(finite) else math.nan,
            }
        )
    return pd.DataFrame(rows).set_index("run")


#: the chapter's runs: plain SGD and AdamW, each without and with clipping at 1
RUNS: dict[str, dict[str, Any]] = {
    "SGD": {"optimizer": "sgd", "learning_rate": 0.2, "grad_clip": None},
    "SGD, clipped at 1": {"optimizer": "sgd", "learning_rate": 0.2, "grad_clip": 1.0},
    "AdamW": {"optimizer": "adamw", "learning_rate": 3e-3, "grad_clip": None},
    "AdamW, clipped at 1": {"optimizer": "adamw", "learning_rate": 3e-3, "grad_clip": 1.0},
}


@dataclass
class ClippingStudyConfig:
    """``base`` run and ``runs`` = ``{label: {field: value}}``, each changing ``base``."""

    base: ClippingConfig = field(default_factory=ClippingConfig)
    runs: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(RUNS))


@experiment("rnn.clipping")
def clipping(config: ClippingStudyConfig, device: torch.device, progress: bool) -> dict:
    """A ReLU RNN LM with W_hh at spectral radius ``base.rho``, trained once per run.

    Values: ``history`` (:func:`clipping_experiment`) and ``summary`` (:func:`summarize`).
    """
    history = clipping_experiment(shakespeare(), config.base, config.runs, progress, device)
    return {"history": history, "summary": summarize(history)}
