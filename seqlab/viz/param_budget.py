"""Parameter counts of recurrent layers, drawn: the formula beside ``model.parameters()``.

:func:`param_count_figure` draws a :func:`seqlab.experiments.param_budget.param_counts` table
(lines: formula, circles: counted by ``torch.nn``) on log-log axes, where the G*H^2 growth
shows as parallel lines; ``recurrent_param_counts`` is its print twin for ``make figures``.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.param_budget import param_counts
from seqlab.viz.export import register_figure
from seqlab.viz.style import cell_color, cell_name, tidy_log_x

INPUT_SIZE = 32


def param_count_figure(counts: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Parameters against the hidden size H, one colour per cell (a :func:`param_counts` table)."""
    fig = go.Figure()
    for cell, d in counts.groupby("cell", sort=False):
        fig.add_scatter(
            x=d["hidden_size"], y=d["formula"], name=f"{cell_name(cell)}, formula", mode="lines",
            line={"color": cell_color(cell)},
        )  # fmt: skip
        fig.add_scatter(
            x=d["hidden_size"], y=d["counted"], name=f"{cell_name(cell)}, model.parameters()",
            mode="markers", marker={"color": cell_color(cell), "size": 9, "symbol": "circle-open"},
        )  # fmt: skip
    fig.update_xaxes(type="log", title="hidden size H")
    fig.update_yaxes(type="log", title=f"parameters of one layer (C = {INPUT_SIZE})")
    fig.update_layout(title=title)
    return fig


@register_figure(
    "recurrent_param_counts",
    chapter="gru",
    caption=r"Parameters of one recurrent layer ($C = 32$ inputs) against the hidden size $H$: "
    r"$G(HC + H^2 + 2H)$ with $G$ = 1 (RNN), 3 (GRU), 4 (LSTM); lines: formula, circles: "
    r"\texttt{model.parameters()} of \texttt{torch.nn}.",
)
def recurrent_param_counts(profile: str) -> Figure:
    """Formula vs counted parameters over H."""
    counts = param_counts(INPUT_SIZE)
    fig = Figure()
    ax = fig.add_subplot()
    for cell, d in counts.groupby("cell", sort=False):
        ax.plot(d["hidden_size"], d["formula"], color=cell_color(cell), label=cell_name(cell))
        ax.plot(d["hidden_size"], d["counted"], "o", mfc="none", color=cell_color(cell),
                markersize=4)  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="hidden size $H$", ylabel="parameters")
    ax.legend()
    return tidy_log_x(fig, counts["hidden_size"])
