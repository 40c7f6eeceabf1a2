"""Vanishing and exploding gradients, measured: ``||dL/dh_{T-k}||`` k steps back through a cell.

:func:`gradient_flow_state` is the compute function of the book's one gradient-flow interactive
(chapter 1: the RNN and its nonlinearity f; chapter 2: RNN, GRU and LSTM with forget-gate bias
b_f). It measures the norm with :func:`seqlab.gradients.gradient_flow` (autograd through random
recurrent matrices of spectral radius rho; the same matrices for every cell) and returns it
beside the theory line ``rho^k``, the RNN with the same rho, and the fitted per-step factor.
Pure and fast: about 10 ms for T = 100 on a 2-core CPU.

:func:`gradient_flow` is the experiment: that state over a grid of cells, nonlinearities,
radii, input scales and seeds, as a table of per-step factors and a table of curves. What it
measures: *random, untrained* recurrent networks driven by random inputs of standard deviation
``input_scale``, with the loss reading only the last state. It says how the architecture and
the scale of the weights shape the gradient, not what a trained network does.

Along the LSTM's cell-state path the gradient is multiplied by f_t once per step
(``dc_t / dc_{t-1} = diag(f_t)`` plus the terms through h); b_f, added to every forget
pre-activation, sets how close f_t sits to 1.

Letters: T sequence length, k = T - t steps back in time, H hidden units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from seqlab.experiments.results import experiment
from seqlab.experiments.seeds import format_mean_sem
from seqlab.gradients import _unit_radius_weights, theory_line
from seqlab.gradients import gradient_flow as measure_flow

#: the cell choices of the interactive: label -> (cell, forget-gate bias)
CELL_CHOICES: dict[str, tuple[str, float]] = {
    "RNN": ("rnn", 0.0),
    "GRU": ("gru", 0.0),
    "LSTM, b_f = 0": ("lstm", 0.0),
    "LSTM, b_f = 1": ("lstm", 1.0),
    "LSTM, b_f = 3": ("lstm", 3.0),
}
NONLINEARITIES: tuple[str, ...] = ("tanh", "relu", "linear")


def per_step_factor(k: np.ndarray, norms: np.ndarray) -> float:
    """The factor by which the norm changes per step back: exp(slope of log norm vs k).

    Fitted by least squares over the finite, positive norms (float32 underflows to 0 far back).
    Returns NaN when fewer than two points are usable.
    """
    k, norms = np.asarray(k, dtype=np.float64), np.asarray(norms, dtype=np.float64)
    keep = np.isfinite(norms) & (norms > 0)
    if keep.sum() < 2:
        return float("nan")
    slope = np.polyfit(k[keep], np.log(norms[keep]), 1)[0]
    return float(np.exp(slope))


def gradient_flow_state(
    cell: str = "RNN",
    rho: float = 1.0,
    T: int = 100,
    nonlinearity: str = "tanh",
    hidden_size: int = 64,
    seed: int = 0,
    input_scale: float = 1.0,
) -> dict[str, Any]:
    """Measured gradient norms k steps back through ``cell`` (a key of :data:`CELL_CHOICES`).

    Inputs: ``rho`` spectral radius of the recurrent matrix (of each gate block); ``T`` steps;
    ``nonlinearity`` "tanh" | "relu" | "linear" (the RNN's; GRU and LSTM have their own);
    ``hidden_size`` H; ``seed`` (same seed, same matrices and inputs); ``input_scale`` the
    standard deviation of the random per-step input (1: unit variance; larger saturates tanh).
    Outputs: dict with ``k`` (T,) = 0..T-1, ``measured`` (T,) = ||dL/dh_{T-k}|| (1 at k = 0),
    ``rnn`` (T,) the same for the RNN with this rho and f, ``theory`` (T,) = rho^k, ``factor``
    the fitted per-step factor of ``measured``, ``at_T`` the norm T-1 steps back, ``sigma_max``
    the largest singular value of the RNN's W_hh (Pascanu et al.'s bound is on it, not on rho),
    and the inputs (``cell``, ``rho``, ``T``, ``nonlinearity``, ``input_scale``).
    """
    if cell not in CELL_CHOICES:
        raise ValueError(f"unknown cell {cell!r}; valid: {', '.join(CELL_CHOICES)}")
    kind, bias = CELL_CHOICES[cell]
    common = {"rho": rho, "T": T, "hidden": hidden_size, "seed": seed, "input_scale": input_scale}
    rnn = measure_flow("rnn", nonlinearity=nonlinearity, **common)[::-1].copy()  # index k
    if kind == "rnn":
        measured = rnn
    else:
        measured = measure_flow(kind, forget_bias=bias, **common)[::-1].copy()
    k = np.arange(T)
    return {
        "k": k,
        "measured": measured,
        "rnn": rnn,
        "theory": theory_line(rho, T)[::-1].copy(),  # rho^k
        "factor": per_step_factor(k, measured),
        "at_T": float(measured[-1]),
        "sigma_max": rho * unit_sigma_max(hidden_size, seed),
        "cell": cell,
        "rho": rho,
        "T": T,
        "nonlinearity": nonlinearity,
        "input_scale": input_scale,
    }


def unit_sigma_max(hidden_size: int, seed: int) -> float:
    """The largest singular value of the RNN's random W_hh at spectral radius 1 (the matrix
    :func:`seqlab.gradients.gradient_flow` uses for this size and seed; sigma_max scales with
    rho). For a Gaussian matrix it is about twice the spectral radius."""
    w = _unit_radius_weights(1, hidden_size, "gaussian", seed)  # (H, H)
    return float(torch.linalg.matrix_norm(w, ord=2))


@dataclass
class GradientFlowConfig:
    """The grid: every cell x nonlinearity x rho x input scale x seed, at length ``T`` with
    ``hidden_size`` units. ``seeds`` (None: just ``seed``) draw new matrices and inputs;
    ``input_scales`` are the standard deviations of the random inputs (1: unit variance)."""

    cells: tuple[str, ...] = ("RNN",)
    nonlinearities: tuple[str, ...] = ("tanh",)
    rhos: tuple[float, ...] = (1.0,)
    T: int = 100
    hidden_size: int = 64
    seed: int = 0
    seeds: tuple[int, ...] | None = None
    input_scales: tuple[float, ...] = (1.0,)


@experiment("rnn.gradient_flow")
def gradient_flow(config: GradientFlowConfig, device: torch.device, progress: bool) -> dict:
    """:func:`gradient_flow_state` over the grid of ``config`` (on the CPU: float64 eigen-
    decompositions and tiny matrix products).

    Values: ``factors`` (one row per state: cell, nonlinearity, rho, factor, at_T) and
    ``curves`` (one row per state and k: cell, nonlinearity, rho, k, measured, theory).
    """
    factors, curves = [], []
    seeds = config.seeds if config.seeds is not None else (config.seed,)
    for cell in config.cells:
        for f in config.nonlinearities:
            for rho in config.rhos:
                for scale in config.input_scales:
                    for seed in seeds:
                        s = gradient_flow_state(
                            cell, rho, config.T, f, config.hidden_size, seed, scale
                        )
                        state = {"cell": cell, "nonlinearity": f, "rho": rho,
                                 "input_scale": scale, "seed": seed}  # fmt: skip
                        factors.append({**state, "factor": s["factor"], "at_T": s["at_T"],
                                        "sigma_max": s["sigma_max"]})  # fmt: skip
                        curves.append(
                            pd.DataFrame({**state, "k": s["k"], "measured": s["measured"],
                                          "theory": s["theory"]})
                        )  # fmt: skip
    return {"factors": pd.DataFrame(factors), "curves": pd.concat(curves, ignore_index=True)}


def factor_table(factors: pd.DataFrame, column: str = "nonlinearity") -> pd.DataFrame:
    """The per-step factors of :func:`gradient_flow` as ``"mean ± sem"`` over seeds: one row
    per rho, one column per value of ``column`` (e.g. "nonlinearity" or "input_scale")."""
    stats = factors.groupby(["rho", column])["factor"].agg(["mean", "sem"])
    return format_mean_sem(stats["mean"], stats["sem"]).unstack(column)


def factor_verdict(factors: pd.Series, alpha: float = 0.05) -> str:
    """Whether per-step factors measured over seeds show a vanishing or a growing gradient:
    ``"shrinks"`` / ``"grows"`` when a one-sample t-test rejects a factor of 1 at two-sided level
    ``alpha``, else ``"stays within the spread of 1"`` (neither is measurable with these seeds).
    Raises ``ValueError`` for fewer than two values."""
    values = np.asarray(factors, dtype=np.float64)
    if len(values) < 2:
        raise ValueError(f"need at least two seeds to judge a factor, got {len(values)}")
    p = stats.ttest_1samp(values, 1.0).pvalue
    if p >= alpha or not np.isfinite(p):
        return "stays within the spread of 1"
    return "shrinks" if values.mean() < 1 else "grows"
