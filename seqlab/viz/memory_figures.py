"""Figures of the memory experiments: score against delay, accuracy per output position.

- :func:`delay_figure`: one line per cell of a :func:`~seqlab.experiments.memory_tasks.delay_sweep`
  table (accuracy or MSE against the delay T), with the no-memory baseline drawn dashed.
- :func:`position_figure`: accuracy at each output position, e.g. a unidirectional vs a
  bidirectional layer on sequence reversal.
- :func:`loss_curves_figure`: validation loss of several language models against wall-clock
  time or steps, from :func:`~seqlab.experiments.char_lm.compare_char_lms`' history.

All return Plotly figures (the book) that :func:`seqlab.viz.export.plotly_to_matplotlib` can
redraw for print.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from seqlab.viz.style import PALETTE

CELL_NAMES = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
CELL_ORDER = ("rnn", "gru", "lstm")


def _cell_name(cell: str) -> str:
    return CELL_NAMES.get(cell, cell)


def _color(cell: str) -> str:
    return PALETTE[CELL_ORDER.index(cell)] if cell in CELL_ORDER else PALETTE[4]


def delay_figure(
    df: pd.DataFrame,
    metric: str = "accuracy",
    baseline: float | None = None,
    baseline_name: str = "no memory",
    group: str = "cell",
    title: str | None = None,
) -> go.Figure:
    """Score against the delay T, one line per ``group`` value, with a dashed baseline.

    Inputs: ``df`` with columns T, score and ``group``; ``metric`` "accuracy" (linear axis,
    0..1) or "MSE" (log axis); ``baseline``: the no-memory score (default: df["baseline"]).
    """
    fig = go.Figure()
    values = list(dict.fromkeys(df[group]))
    for i, value in enumerate(values):
        sub = df[df[group] == value].sort_values("T")
        label = _cell_name(value) if group == "cell" else str(value)
        color = _color(value) if group == "cell" else PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=sub["T"], y=sub["score"], name=label, mode="lines+markers", line={"color": color}
            )
        )
    if baseline is None and "baseline" in df:
        baseline = float(df["baseline"].iloc[0])
    if baseline is not None:
        Ts = sorted(set(df["T"]))
        fig.add_trace(
            go.Scatter(
                x=Ts,
                y=[baseline] * len(Ts),
                name=baseline_name,
                mode="lines",
                line={"color": "black", "dash": "dash", "width": 1},
            )
        )
    fig.update_xaxes(type="log", title="delay T (steps)")
    if metric == "MSE":
        fig.update_yaxes(type="log", title="test MSE (lower is better)")
    else:
        fig.update_yaxes(range=[0, 1.05], title="test accuracy of the recalled symbols")
    fig.update_layout(title=title)
    return fig


def position_figure(
    accuracies: Mapping[str, Sequence[float] | np.ndarray],
    chance: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Accuracy at every output position t, one line per model (``{name: (T,) accuracies}``)."""
    fig = go.Figure()
    T = 0
    for i, (name, acc) in enumerate(accuracies.items()):
        acc = np.asarray(acc, dtype=float)
        T = max(T, len(acc))
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(acc)),
                y=acc,
                name=name,
                mode="lines+markers",
                line={"color": PALETTE[i % len(PALETTE)]},
            )
        )
    if chance is not None:
        fig.add_trace(
            go.Scatter(
                x=[0, T - 1],
                y=[chance, chance],
                name="chance",
                mode="lines",
                line={"color": "black", "dash": "dash", "width": 1},
            )
        )
    fig.update_xaxes(title="output position t")
    fig.update_yaxes(range=[0, 1.05], title="test accuracy")
    fig.update_layout(title=title)
    return fig


def loss_curves_figure(
    history: pd.DataFrame,
    x: str = "time_s",
    group: str = "cell",
    title: str | None = None,
) -> go.Figure:
    """Validation loss against ``x`` ("time_s" or "iter"), one line per ``group`` value."""
    fig = go.Figure()
    evaluated = history.dropna(subset=["val_loss"])
    for i, value in enumerate(dict.fromkeys(evaluated[group])):
        sub = evaluated[evaluated[group] == value]
        label = _cell_name(value) if group == "cell" else str(value)
        color = _color(value) if group == "cell" else PALETTE[i % len(PALETTE)]
        params = f" ({int(sub['params'].iloc[0]):,} params)" if "params" in sub else ""
        fig.add_trace(
            go.Scatter(
                x=sub[x].clip(lower=0),
                y=sub["val_loss"],
                name=label + params,
                mode="lines+markers",
                line={"color": color},
                marker={"size": 4},
            )
        )
    fig.update_xaxes(title="training time (s)" if x == "time_s" else "step")
    fig.update_yaxes(title="validation loss (nats/char)")
    fig.update_layout(title=title)
    return fig
