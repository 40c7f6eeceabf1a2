"""Figures of :mod:`seqlab.experiments.stability` (chapter 5): post-LN vs pre-LN.

- :func:`grid_figure`: final validation loss against depth for post-/pre-LN x warm-up on/off
  (mean ± s.e. over seeds; diverged runs counted in the legend); print twin ``stability_grid``.
- :func:`grad_figure`: gradient norm of each block's feed-forward output weight at
  initialisation against its layer; print twin ``stability_init_grads``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.stability import INIT_NAMES, group_label, stability
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.style import PALETTE

__all__ = ["grad_figure", "grid_figure"]

_DASH = {0: "dash", 1: "solid"}


def grid_figure(runs: pd.DataFrame, unigram: float | None = None) -> go.Figure:
    """Final validation loss (nats) against n_layer, one line per (LN placement, warm-up):
    mean ± s.e. over the seeds that did not diverge; the legend counts diverged runs."""
    fig = go.Figure()
    groups = runs.groupby(["ln", "warmup"], sort=False)
    for (ln, warmup), g in groups:
        s = g.groupby("n_layer")["val_loss"].agg(["mean", "std", "count"])
        n_div = int(g["diverged"].sum())
        name = group_label(ln, warmup) + (f" ({n_div} diverged)" if n_div else "")
        fig.add_scatter(x=s.index, y=s["mean"], error_y=dict(type="data",
                        array=(s["std"] / np.sqrt(s["count"])).fillna(0)), name=name,
                        mode="lines+markers", line=dict(color=PALETTE[ln == "pre-LN"],
                        dash=_DASH[int(warmup > 0)]))  # fmt: skip
    if unigram is not None:
        depths = sorted(runs["n_layer"].unique())
        fig.add_scatter(x=depths, y=[unigram] * len(depths), name="unigram (no context)",
                        mode="lines", line=dict(color="gray", dash="dot"))  # fmt: skip
    fig.update_layout(xaxis_title="layers n_layer", yaxis_title="final validation loss (nats)",
                      legend=dict(orientation="h", y=-0.3))  # fmt: skip
    fig.update_xaxes(tickvals=sorted(runs["n_layer"].unique()))
    return fig


def grad_figure(grads: pd.DataFrame, n_layer: int | None = None) -> go.Figure:
    """Gradient norm of the feed-forward output weight W^2 of each block at initialisation
    against the block's layer (1 = input side), post- vs pre-LN, GPT-2 (solid) and Xavier
    (dashed) initialisation, at depth ``n_layer`` (default the deepest), mean over seeds, log y."""
    n_layer = n_layer or int(grads["n_layer"].max())
    sub = grads[grads["n_layer"] == n_layer]
    fig = go.Figure()
    for (init, ln), g in sub.groupby(["init", "ln"], sort=False):
        s = g.groupby("layer")["ffn_grad_norm"].mean()
        fig.add_scatter(x=s.index, y=s.values, name=f"{ln}, {INIT_NAMES[init]}",
                        mode="lines+markers", line=dict(color=PALETTE[ln == "pre-LN"],
                        dash="solid" if init == "gpt2" else "dash"))  # fmt: skip
    fig.update_layout(xaxis_title=f"layer (of {n_layer}; 1 = input side)",
                      yaxis_title="gradient norm of W₂", yaxis_type="log")  # fmt: skip
    fig.update_xaxes(tickvals=list(range(1, n_layer + 1)))
    return fig


@register_figure(
    "stability_grid",
    chapter="transformer",
    width="column",
    height_ratio=0.8,
    caption="Final validation loss of char-level GPTs at a high learning rate against depth: "
    "post-LN and pre-LN, with and without learning-rate warm-up (mean ± s.e. over 3 seeds); "
    "dotted: the unigram loss.",
)
def stability_grid(profile: str) -> Figure:
    """Print twin of :func:`grid_figure` for the chapter's row."""
    r = stability("transformer.stability")
    fig = plotly_to_matplotlib(grid_figure(r.runs, r.unigram))
    fig.axes[0].set_xticks(sorted(r.runs["n_layer"].unique()))
    fig.axes[0].legend(fontsize="x-small", loc="best")
    return fig


@register_figure(
    "stability_init_grads",
    chapter="transformer",
    width="column",
    caption="Gradient norm of each block's feed-forward output weight at initialisation, "
    "post-LN vs pre-LN, with GPT-2's and with Xavier initialisation, deepest model of the grid "
    "(mean over 3 seeds).",
)
def stability_init_grads(profile: str) -> Figure:
    """Print twin of :func:`grad_figure`."""
    r = stability("transformer.stability")
    fig = plotly_to_matplotlib(grad_figure(r.grads))
    fig.axes[0].set_xticks(range(1, int(r.grads["n_layer"].max()) + 1))
    fig.axes[0].legend(fontsize="x-small")
    return fig
