"""Paper figures of gradient flow through an RNN (chapter "rnn").

- ``rnn_gradient_flow``: measured ``||dL/dh_{T-k}||`` beside ``rho^k`` for tanh, ReLU and linear
  RNNs (the print twin of :func:`seqlab.viz.gradient_figures.gradient_flow_interactive`).
- ``rnn_clipping``: training a ReLU RNN whose W_hh starts at spectral radius 1.5, without and
  with gradient clipping (:mod:`seqlab.experiments.clipping`).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from seqlab.data.corpus import CharDataset, load_shakespeare
from seqlab.experiments.clipping import clipping_experiment, clipping_setup
from seqlab.viz.export import register_figure
from seqlab.viz.gradient_figures import gradient_flow_state
from seqlab.viz.style import PALETTE

FIGURE_RHOS = (0.8, 1.0, 1.2)


@register_figure(
    "rnn_gradient_flow",
    chapter="rnn",
    width="page",
    ncols=3,
    caption=r"Gradient norm $\|\partial L/\partial h_{T-k}\|$ measured with autograd (solid) "
    r"through an RNN ($H=64$, $T=100$) whose $W_{hh}$ has spectral radius $\rho$, beside "
    r"$\rho^k$ (dashed). Only the linear RNN follows $\rho^k$; tanh and ReLU shrink it.",
)
def rnn_gradient_flow(profile: str) -> Figure:
    """Gradient norm k steps back for three nonlinearities and three spectral radii."""
    fig = Figure()
    axes = fig.subplots(1, 3, sharey=True)
    for ax, f in zip(axes, ("tanh", "relu", "linear"), strict=True):
        for i, rho in enumerate(FIGURE_RHOS):
            d = gradient_flow_state(rho, 100, f)
            measured = np.where(d["measured"] > 0, d["measured"], np.nan)
            ax.plot(d["k"], measured, color=PALETTE[i], label=rf"$\rho={rho:g}$")
            ax.plot(d["k"], d["theory"], color=PALETTE[i], linestyle="--", linewidth=0.8)
        ax.set(yscale="log", xlabel="$k$ (steps back)", title=f"$f$ = {f}", ylim=(1e-30, 1e10))
    axes[0].set_ylabel(r"$\|\partial L / \partial h_{T-k}\|$")
    axes[0].legend(loc="lower left")
    return fig


@register_figure(
    "rnn_clipping",
    chapter="rnn",
    width="page",
    ncols=2,
    caption=r"A ReLU RNN language model whose $W_{hh}$ starts at spectral radius 1.5. Left: "
    r"training loss (a cross marks a run whose loss became NaN). Right: gradient norm before "
    r"clipping; the dotted line is the clipping threshold.",
)
def rnn_clipping(profile: str) -> Figure:
    """Loss and gradient norm per step, SGD and AdamW, without and with clipping."""
    base, runs = clipping_setup()
    history = clipping_experiment(CharDataset(load_shakespeare()), base, runs, progress=False)
    fig = Figure()
    ax_loss, ax_norm = fig.subplots(1, 2)
    for i, (run, h) in enumerate(history.groupby("run", sort=False)):
        color = PALETTE[i % len(PALETTE)]
        finite = h[h["loss"].map(math.isfinite)]
        ax_loss.plot(finite["iter"], finite["loss"], color=color, label=run)
        if len(finite) < len(h):
            ax_loss.plot(finite["iter"].iloc[-1], finite["loss"].iloc[-1], "x", color=color)
        ax_norm.plot(h["iter"], h["grad_norm"], color=color, linewidth=0.8)
    ax_norm.axhline(1.0, color="grey", linestyle=":")
    ax_loss.set(xlabel="step", ylabel="loss (nats/char)", yscale="log")
    ax_norm.set(xlabel="step", ylabel=r"$\|g\|$ before clipping", yscale="log")
    ax_loss.legend()
    return fig
