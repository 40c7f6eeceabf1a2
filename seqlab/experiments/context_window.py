"""The effective context window of a trained language model, measured by gradient saliency.

For a window of text x_1..x_T, the saliency of the input k steps back is

    s(k) = E || d z_T[c*] / d e_{T-k} ||

the norm of the gradient of the top logit at the last position with respect to the input
embedding k positions earlier, averaged over many windows (:func:`seqlab.gradients.effective_context`
does one batch). :func:`fit_context` fits ``s(k) ~ A exp(-k / ell)``: ``ell`` is the decay length
in characters, ``ell ln 2`` the distance over which the influence halves.
:func:`context_window` is the experiment: both, for a model of :func:`~seqlab.experiments.char_lm.char_lm`.

Letters: B windows, T window length, k distance back (0 = the current character).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from seqlab.checks import check_positive
from seqlab.data.corpus import CharDataset
from seqlab.experiments.char_lm import CharLMConfig, char_lm, shakespeare
from seqlab.experiments.results import experiment
from seqlab.gradients import effective_context, fit_exponential_decay


@dataclass
class ContextWindowConfig:
    """The model (``cell`` of the :func:`~seqlab.experiments.char_lm.char_lm` run ``char_lm``)
    and how it is probed: ``n_windows`` validation windows of ``length`` characters."""

    char_lm: CharLMConfig = field(default_factory=CharLMConfig)
    cell: str = "rnn"
    length: int = 128
    n_windows: int = 64
    seed: int = 0


def context_saliency(
    model: torch.nn.Module,
    dataset: CharDataset,
    length: int = 128,
    n_windows: int = 64,
    split: str = "val",
    seed: int = 0,
) -> pd.DataFrame:
    """Mean saliency s(k) for k = 0..length-1 over ``n_windows`` random windows of ``split``.

    Outputs: DataFrame with columns k, saliency, relative (saliency / saliency at k = 0).
    """
    check_positive(length, "length")
    check_positive(n_windows, "n_windows")
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    x, _ = dataset.batch(split, n_windows, length, g, device)  # (B, T)
    s = effective_context(model, x, t=-1)  # (T,), index k
    return pd.DataFrame({"k": np.arange(len(s)), "saliency": s, "relative": s / s[0]})


def fit_context(df: pd.DataFrame, k_min: int = 1) -> dict[str, float]:
    """Fit ``saliency ~ amplitude * exp(-k / decay_length)`` over k >= ``k_min``.

    k = 0 (the character being read) is left out by default: its direct path through W_xh is
    not a memory. Outputs: amplitude, decay_length, half_life (= decay_length ln 2), and
    k_1pct, the first k whose saliency is below 1 % of s(0) (NaN if none in the window).
    """
    use = df[df["k"] >= k_min]
    amplitude, decay_length = fit_exponential_decay(use["k"].to_numpy(), use["saliency"].to_numpy())
    below = df.loc[df["relative"] < 0.01, "k"]
    return {
        "amplitude": amplitude,
        "decay_length": decay_length,
        "half_life": decay_length * math.log(2),
        "k_1pct": float(below.iloc[0]) if len(below) else math.nan,
    }


@experiment("rnn.context_window")
def context_window(config: ContextWindowConfig, device: torch.device, progress: bool) -> dict:
    """The effective context of a trained char-LM.

    Values: ``saliency`` (:func:`context_saliency`'s table) and ``fit`` (:func:`fit_context`).
    """
    model = char_lm(config.char_lm, device=device, progress=progress).model(config.cell, device)
    saliency = context_saliency(
        model, shakespeare(), config.length, config.n_windows, seed=config.seed
    )
    return {"saliency": saliency, "fit": fit_context(saliency)}
