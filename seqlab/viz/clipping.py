"""Exploding gradients in training and gradient clipping, drawn.

:func:`clipping_figure` draws the runs of :func:`seqlab.experiments.clipping.clipping`: the
loss and the gradient norm before clipping per step, one colour per run; ``rnn_clipping`` is
its print twin for ``make figures``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from plotly.subplots import make_subplots

from seqlab.experiments.clipping import clipping
from seqlab.viz.export import register_figure
from seqlab.viz.style import PALETTE


def clipping_figure(history: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Loss (left) and gradient norm before clipping (right) per step, log scales, one colour
    per run.

    Inputs: ``history`` with columns run, iter, loss, grad_norm, grad_clip (the ``history`` of
    :func:`seqlab.experiments.clipping.clipping`). A run that diverged ends with a cross at its
    last finite loss.
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
    for c in history["grad_clip"].dropna().unique():
        fig.add_hline(y=float(c), line={"dash": "dot", "color": "grey"}, row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power")
    # labels at round values only: no 2-3-4-5 minor labels between the decades
    fig.update_yaxes(title_text="loss (nats/char)", tickvals=[2, 3, 5, 10, 20, 50, 100],
                     row=1, col=1)  # fmt: skip
    fig.update_yaxes(title_text="‖g‖ before clipping", dtick=1, row=1, col=2)
    fig.update_xaxes(title_text="step")
    fig.update_layout(title=title, height=420, legend={"orientation": "h", "y": -0.2})
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
    history = clipping("rnn.clipping")["history"]
    fig = Figure()
    ax_loss, ax_norm = fig.subplots(1, 2)
    for i, (run, h) in enumerate(history.groupby("run", sort=False)):
        color = PALETTE[i % len(PALETTE)]
        finite = h[h["loss"].map(math.isfinite)]
        ax_loss.plot(finite["iter"], finite["loss"], color=color, label=run)
        if len(finite) < len(h):
            ax_loss.plot(finite["iter"].iloc[-1], finite["loss"].iloc[-1], "x", color=color)
        ax_norm.plot(h["iter"], h["grad_norm"], color=color, linewidth=0.8)
    for c in history["grad_clip"].dropna().unique():
        ax_norm.axhline(float(c), color="grey", linestyle=":")
    ax_loss.set(xlabel="step", ylabel="loss (nats/char)", yscale="log")
    ax_norm.set(xlabel="step", ylabel=r"$\|g\|$ before clipping", yscale="log")
    ax_loss.legend()
    return fig
