"""Vanishing and exploding gradients, drawn: the measured ``||dL/dh_{T-k}||`` beside ``rho^k``.

- :func:`gradient_flow_state` is the interactive's compute function: it measures the gradient
  norm k steps back with :func:`seqlab.gradients.gradient_flow` (autograd through an RNN whose
  W_hh has spectral radius rho) and returns it with the theory line ``rho^k`` and the fitted
  per-step factor. Pure and fast (about 10 ms for T=100 on a 2-core CPU).
- :func:`gradient_flow_figure` draws one state (Plotly); :func:`gradient_flow_interactive` wraps
  both in the book's three-mode :class:`~seqlab.viz.Interactive` (slider over rho, dropdown over
  the nonlinearity).
- :func:`clipping_figure` draws a clipping experiment (:mod:`seqlab.experiments.clipping`): the
  loss and the gradient norm before clipping, per step, one colour per run.

Letters: T sequence length, k = T - t steps back in time, H hidden units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from seqlab.gradients import gradient_flow, theory_line
from seqlab.viz.interactive import Interactive
from seqlab.viz.style import PALETTE

RHOS: tuple[float, ...] = tuple(round(0.5 + 0.1 * i, 1) for i in range(11))  # 0.5 ... 1.5
LENGTHS: tuple[int, ...] = (25, 50, 100, 200)
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
    rho: float = 1.0,
    T: int = 100,
    nonlinearity: str = "tanh",
    hidden: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Measured and predicted gradient norms, indexed by k = steps back from the loss.

    Inputs: ``rho`` spectral radius of W_hh; ``T`` steps; ``nonlinearity`` "tanh" | "relu" |
    "linear"; ``hidden`` H; ``seed`` (same seed, same matrix and inputs).
    Outputs: dict with ``k`` (T,) = 0..T-1, ``measured`` (T,) = ||dL/dh_{T-k}|| (1 at k=0),
    ``theory`` (T,) = rho^k, ``factor`` the fitted per-step factor of ``measured``, and the inputs.
    """
    norms = gradient_flow("rnn", rho=rho, T=T, hidden=hidden, nonlinearity=nonlinearity, seed=seed)
    measured = norms[::-1].copy()  # (T,) index k = T - t
    k = np.arange(T)
    return {
        "k": k,
        "measured": measured,
        "theory": theory_line(rho, T)[::-1].copy(),  # rho^k
        "factor": per_step_factor(k, measured),
        "rho": rho,
        "T": T,
        "nonlinearity": nonlinearity,
    }


def log_range(T: int) -> list[float]:
    """A fixed log10 y-range for length T, so moving the rho slider does not rescale the axis.

    Covers rho^k for rho in [0.3, 1.5] (capped at float32's range).
    """
    return [max(-0.53 * T, -45.0), min(0.18 * T + 1.0, 38.0)]


def gradient_flow_figure(data: dict[str, Any]) -> go.Figure:
    """One state of :func:`gradient_flow_state`: measured norm (solid) and rho^k (dashed), log y."""
    k, measured, theory = data["k"], data["measured"], data["theory"]
    shown = np.where(measured > 0, measured, np.nan)  # float32 underflow: no point on a log axis
    rho, f = data["rho"], data["nonlinearity"]
    fig = go.Figure()
    fig.add_scatter(
        x=k,
        y=shown,
        name=f"measured, f = {f}",
        line={"color": PALETTE[0], "width": 2.5},
        hovertemplate="k = %{x}<br>‖∂L/∂h‖ = %{y:.3g}<extra></extra>",
    )
    fig.add_scatter(
        x=k,
        y=theory,
        name="theory ρ<sup>k</sup>",
        line={"color": PALETTE[1], "dash": "dash"},
        hovertemplate="k = %{x}<br>ρ<sup>k</sup> = %{y:.3g}<extra></extra>",
    )
    fig.update_layout(
        title=(
            f"ρ = {rho:g}, f = {f}: the norm changes by ×{data['factor']:.3f} per step "
            f"(theory ×{rho:g})"
        ),
        xaxis_title="k, steps back from the loss",
        yaxis_title="‖∂L/∂h<sub>T−k</sub>‖",
        height=440,
        legend={"x": 0.01, "y": 0.01, "xanchor": "left", "yanchor": "bottom"},
        margin={"t": 60},
    )
    fig.update_yaxes(type="log", range=log_range(data["T"]), exponentformat="power")
    fig.update_xaxes(range=[0, data["T"] - 1])
    return fig


def gradient_flow_interactive(
    rhos: Sequence[float] = RHOS,
    lengths: Sequence[int] = LENGTHS,
    nonlinearities: Sequence[str] = NONLINEARITIES,
    static_T: int = 100,
    hidden: int = 64,
) -> Interactive:
    """The vanishing-gradient interactive: rho (slider), length T, nonlinearity f.

    Live, every combination; static (the HTML book), a slider over ``rhos`` and a dropdown over
    ``nonlinearities`` at ``T = static_T``.
    """

    def compute(rho: float, T: int, nonlinearity: str) -> dict[str, Any]:
        return gradient_flow_state(rho, T, nonlinearity, hidden=hidden)

    return Interactive(
        compute,
        gradient_flow_figure,
        {"rho": list(rhos), "T": list(lengths), "nonlinearity": list(nonlinearities)},
        defaults={"rho": 1.0 if 1.0 in rhos else rhos[0], "T": static_T},
        static_controls={"rho": list(rhos), "T": [static_T], "nonlinearity": list(nonlinearities)},
        slider="rho",
        labels={"rho": "spectral radius ρ", "T": "length T", "nonlinearity": "f"},
        title="Gradient norm k steps back through an RNN",
    )


def clipping_figure(history: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Loss (left) and gradient norm before clipping (right) per step, log scales, one colour
    per run.

    Inputs: ``history`` with columns run, iter, loss, grad_norm, grad_clip (as returned by
    :func:`seqlab.experiments.clipping.clipping_experiment`). A run that diverged ends with a
    cross at its last finite loss.
    """
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("training loss", "gradient norm before clipping")
    )
    for i, (run, h) in enumerate(history.groupby("run", sort=False)):
        color = PALETTE[i % len(PALETTE)]
        finite = h[np.isfinite(h["loss"])]
        fig.add_scatter(
            x=finite["iter"], y=finite["loss"], name=run, legendgroup=run,
            line={"color": color}, row=1, col=1,
        )  # fmt: skip
        fig.add_scatter(
            x=h["iter"], y=h["grad_norm"], name=run, legendgroup=run, showlegend=False,
            line={"color": color, "width": 1}, row=1, col=2,
        )  # fmt: skip
        if len(finite) < len(h):  # diverged: mark where
            fig.add_scatter(
                x=finite["iter"].iloc[-1:], y=finite["loss"].iloc[-1:], mode="markers",
                marker={"symbol": "x", "size": 12, "color": color}, showlegend=False,
                hovertext="loss became NaN/inf after this step", row=1, col=1,
            )  # fmt: skip
    clip = history["grad_clip"].dropna().unique()
    for c in clip:
        fig.add_hline(y=float(c), line={"dash": "dot", "color": "grey"}, row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(title_text="step")
    fig.update_layout(title=title, height=420, legend={"orientation": "h", "y": -0.2})
    return fig
