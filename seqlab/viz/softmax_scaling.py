"""Figures of :mod:`seqlab.experiments.softmax_scaling` (chapter 4, why sqrt(d_k)).

- :func:`scaling_interactive`: the softmax of one query over d_k (slider) and the scale
  (dropdown), with the measured variance, entropy, largest weight and Jacobian norm.
- :func:`scaling_figure`: entropy and Jacobian norm against d_k; print twin
  ``attention_scaling``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.softmax_scaling import scaling_sweep, softmax_scaling
from seqlab.viz.export import register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.style import PALETTE

__all__ = ["scaling_figure", "scaling_interactive", "scaling_state_figure"]


def scaling_state_figure(data: Mapping[str, Any]) -> go.Figure:
    """The softmax weights of one query over its keys, with the measured statistics."""
    a = np.asarray(data["example"])
    fig = go.Figure(go.Bar(x=np.arange(1, len(a) + 1), y=a, marker_color=PALETTE[0]))
    fig.add_hline(y=1 / len(a), line_dash="dash", line_color="black", line_width=1)
    fig.update_xaxes(title="key j", dtick=1)
    fig.update_yaxes(title="weight a_j of one query", range=[0, 1.02])
    fig.update_layout(
        title=(
            f"d_k = {data['d_k']}, scale {data['scale']}: Var(score) = {data['var_score']:.3g}, "
            f"entropy {data['entropy']:.2f} of {data['max_entropy']:.2f} nats, largest weight "
            f"{data['max_weight']:.2f}, ‖∂a/∂s‖ {data['grad_norm']:.3f}"
        ),
        title_font_size=13,
        showlegend=False,
    )
    return fig


def scaling_interactive(d_ks: Sequence[int] = (1, 4, 16, 64, 256, 1024)) -> Interactive:
    """:func:`softmax_scaling` over d_k (slider) and the scale (dropdown)."""
    return Interactive(
        softmax_scaling,
        scaling_state_figure,
        {"d_k": list(d_ks), "scale": ["1/sqrt(d_k)", "1"]},
        defaults={"d_k": 64, "scale": "1"} if 64 in d_ks else None,
        labels={"d_k": "d_k", "scale": "scale"},
        title="Softmax of q·k over 16 random keys",
    )


def scaling_figure(table: pd.DataFrame) -> go.Figure:
    """Entropy and softmax gradient norm against d_k, with and without the scale."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("entropy of the weights (nats)",
                                                         "‖∂a/∂s‖ (softmax Jacobian)"))  # fmt: skip
    for i, scale in enumerate(("1/sqrt(d_k)", "1")):
        sub = table[table["scale"] == scale]
        name = "scores / √d_k" if scale != "1" else "unscaled q·k"
        for col, value in ((1, "entropy"), (2, "grad_norm")):
            fig.add_scatter(
                x=sub["d_k"], y=sub[value], name=name, mode="lines+markers",
                line={"color": PALETTE[i]}, showlegend=col == 1, row=1, col=col,
            )  # fmt: skip
    fig.update_xaxes(type="log", title="d_k")
    fig.update_layout(legend={"orientation": "h", "y": -0.3})
    return fig


@register_figure(
    "attention_scaling",
    chapter="attention",
    width="page",
    ncols=2,
    caption="Random queries and keys with $d_k$ unit-variance components: entropy of the "
    "softmax weights over 16 keys and norm of the softmax Jacobian, with and without the "
    "$1/\\sqrt{d_k}$ scale.",
)
def attention_scaling(profile: str) -> Figure:
    """Entropy and gradient vs d_k."""
    table = scaling_sweep("attention.scaling").table
    fig = Figure()
    axes = fig.subplots(1, 2)
    for i, scale in enumerate(("1/sqrt(d_k)", "1")):
        sub = table[table["scale"] == scale]
        label = r"$q \cdot k / \sqrt{d_k}$" if scale != "1" else r"$q \cdot k$"
        axes[0].plot(sub["d_k"], sub["entropy"], "o-", color=PALETTE[i], label=label)
        axes[1].plot(sub["d_k"], sub["grad_norm"], "o-", color=PALETTE[i], label=label)
    axes[0].set(xscale="log", xlabel="$d_k$", ylabel="entropy (nats)")
    axes[1].set(xscale="log", xlabel="$d_k$", ylabel="softmax Jacobian norm")
    axes[0].legend(fontsize="small")
    return fig
