"""Figures of the memory experiments: score against delay, accuracy per output position.

- :func:`delay_figure`: one line per cell of a
  :func:`~seqlab.experiments.memory_tasks.delay_sweep` (accuracy or MSE against the delay T),
  with the no-memory baseline dashed.
- :func:`position_figure`: accuracy at each output position, e.g. a left-to-right vs a
  bidirectional layer on sequence reversal (:func:`~seqlab.experiments.memory_tasks.reversal`).
- Print twins for ``make figures``: ``copy_vs_delay``, ``adding_vs_delay``,
  ``forget_bias_copy``, ``bidirectional_reversal`` (chapter 2), ``copy_equal_params``
  (chapter 3), drawn from the chapters' results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.memory_tasks import delay_sweep, reversal, seed_study
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.style import PALETTE, cell_color, cell_name, tidy_log_x


def _baseline_trace(x: Sequence[float], level: float, name: str) -> go.Scatter:
    return go.Scatter(
        x=list(x), y=[level] * len(x), name=name, mode="lines",
        line={"color": "black", "dash": "dash", "width": 1},
    )  # fmt: skip


def delay_figure(
    df: pd.DataFrame,
    metric: str = "accuracy",
    baseline: float | None = None,
    baseline_name: str = "no memory",
    title: str | None = None,
) -> go.Figure:
    """Score against the delay T, one line per cell, with a dashed baseline.

    Inputs: ``df`` with columns T, score and cell (a sweep's ``runs``); ``metric``
    "accuracy" (linear axis, 0..1) or "MSE" (log axis); ``baseline``: the no-memory score
    (default: df["baseline"]).
    """
    fig = go.Figure()
    for cell in dict.fromkeys(df["cell"]):
        sub = df[df["cell"] == cell].sort_values("T")
        fig.add_scatter(
            x=sub["T"], y=sub["score"], name=cell_name(cell), mode="lines+markers",
            line={"color": cell_color(cell)},
        )  # fmt: skip
    if baseline is None and "baseline" in df:
        baseline = float(df["baseline"].iloc[0])
    if baseline is not None:
        fig.add_trace(_baseline_trace(sorted(set(df["T"])), baseline, baseline_name))
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
        fig.add_scatter(
            x=np.arange(len(acc)), y=acc, name=name, mode="lines+markers",
            line={"color": PALETTE[i % len(PALETTE)]},
        )  # fmt: skip
    if chance is not None:
        fig.add_trace(_baseline_trace([0, T - 1], chance, "chance"))
    fig.update_xaxes(title="output position t")
    fig.update_yaxes(range=[0, 1.05], title="test accuracy")
    fig.update_layout(title=title)
    return fig


def delay_print_figure(row: str, ylabel: str = "test accuracy", **kw) -> Figure:
    """Print twin of :func:`delay_figure` for the sweep of size-table row ``row``."""
    runs = delay_sweep(row)["runs"]
    return tidy_log_x(plotly_to_matplotlib(delay_figure(runs, **kw)), runs["T"], ylabel)


@register_figure(
    "copy_vs_delay",
    chapter="lstm",
    caption="Copy memory (one symbol of 8): test accuracy of RNN and LSTM at equal parameters "
    "against the delay $T$; dashed: chance (no memory).",
)
def copy_vs_delay(profile: str) -> Figure:
    """Copy-task accuracy vs delay."""
    return delay_print_figure("lstm.copy_sweep")


@register_figure(
    "adding_vs_delay",
    chapter="lstm",
    caption="Adding problem: test MSE of RNN and LSTM at equal parameters against the sequence "
    "length $T$; dashed: always answering 1 (MSE 1/6).",
)
def adding_vs_delay(profile: str) -> Figure:
    """Adding-problem MSE vs length."""
    return delay_print_figure(
        "lstm.adding_sweep", "test MSE", metric="MSE", baseline_name="always 1"
    )


@register_figure(
    "forget_bias_copy",
    chapter="lstm",
    caption="Copy memory at a fixed delay: LSTM test accuracy with forget-gate bias 0 and 1, "
    "one point per seed.",
)
def forget_bias_copy(profile: str) -> Figure:
    """Accuracy per seed for b_f = 0 and 1."""
    study = seed_study("lstm.forget_bias")
    fig = Figure()
    ax = fig.add_subplot()
    for i, (bias, g) in enumerate(study["runs"].groupby("forget_bias")):
        ax.scatter(np.full(len(g), i), g["score"], color=PALETTE[i], label=f"$b_f = {bias:g}$")
        ax.hlines(g["score"].mean(), i - 0.2, i + 0.2, color=PALETTE[i])
    chance = 1 / study.config.task.n_symbols
    ax.axhline(chance, color="black", linestyle="--", linewidth=0.8, label="chance")
    ax.set(xticks=[0, 1], xticklabels=["$b_f = 0$", "$b_f = 1$"], ylabel="test accuracy",
           ylim=(0, 1.05), xlim=(-0.6, 1.6))  # fmt: skip
    ax.legend(fontsize="small")
    return fig


@register_figure(
    "bidirectional_reversal",
    chapter="lstm",
    caption="Sequence reversal: accuracy at each output position of a left-to-right and a "
    "bidirectional LSTM; dashed: chance.",
)
def bidirectional_reversal(profile: str) -> Figure:
    """Per-position accuracy, uni- vs bidirectional."""
    result = reversal("lstm.reversal")
    curves = {name: run["per_position"] for name, run in result["runs"].items()}
    return plotly_to_matplotlib(position_figure(curves, chance=result["chance"]))


@register_figure(
    "copy_equal_params",
    chapter="gru",
    caption="Copy memory (one symbol of 8) at equal parameter counts: test accuracy of GRU, LSTM "
    "and RNN against the delay $T$; dashed: chance.",
)
def copy_equal_params(profile: str) -> Figure:
    """Copy accuracy vs delay for the three cells."""
    return delay_print_figure("gru.copy_sweep")
