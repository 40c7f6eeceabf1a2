"""Figures of chapter 6's efficient attention and decoding experiments.

- :func:`cost_figure`: time or peak memory of one attention call against T (log-log), one
  line per kind, the crossovers that :mod:`seqlab.experiments.efficient_attention` computed
  marked; print twin ``efficient_attention_cost`` (both panels).
- :func:`loss_figure`: validation loss per attention kind, one dot per seed and the mean;
  print twin ``efficient_attention_loss``.
- :func:`latency_figure`: time per generated token against the context length, GPT with and
  without its key/value cache, GPT with linear attention, LSTM (:mod:`seqlab.experiments.
  decoding`); print twin ``decoding_latency``.
The KV-cache diagram is :mod:`seqlab.viz.kv_cache`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from seqlab.experiments.decoding import DECODER_NAMES, decoding
from seqlab.experiments.efficient_attention import ATTENTION_NAMES, efficient_cost, efficient_lm
from seqlab.viz.export import register_figure
from seqlab.viz.style import PALETTE, log_ticks

__all__ = ["KIND_COLORS", "cost_figure", "latency_figure", "loss_figure"]

KIND_COLORS = {"full": PALETTE[0], "explicit": PALETTE[7], "sliding": PALETTE[1],
               "linear": PALETTE[2]}  # fmt: skip
DECODER_STYLE = {  # (model, mode) -> (colour, dash)
    ("gpt", "recompute"): (PALETTE[7], "dash"),
    ("gpt", "cache"): (PALETTE[0], "solid"),
    ("gpt-linear", "state"): (PALETTE[2], "solid"),
    ("lstm", "state"): (PALETTE[3], "solid"),
}
QUANTITIES = {"time_s": ("fwd + bwd time (ms)", 1e3), "mem_mb": ("peak memory (MB)", 1)}


def _log_axes(fig: go.Figure, xs, x_title: str, y_title: str) -> None:
    xs = sorted(set(int(x) for x in xs))
    fig.update_xaxes(type="log", title=x_title, tickvals=xs, ticktext=[str(x) for x in xs])
    ys = [y for tr in fig.data for y in (tr.y if tr.y is not None else ())]
    fig.update_yaxes(type="log", title=y_title, **log_ticks(ys))


def cost_figure(summary: pd.DataFrame, crossings: pd.DataFrame, quantity: str = "time_s"):
    """Time ("time_s") or peak memory ("mem_mb") against T, one line per attention kind,
    with a dotted vertical line at each measured crossover with fused full attention."""
    title, scale = QUANTITIES[quantity]
    fig = go.Figure()
    for kind, g in summary.groupby("kind", sort=False):
        g = g[g[quantity] > 0].sort_values("T")
        fig.add_scatter(x=g["T"], y=g[quantity] * scale, name=ATTENTION_NAMES.get(kind, kind),
                        mode="lines+markers", line={"color": KIND_COLORS.get(kind)})  # fmt: skip
    cross = crossings[(crossings["quantity"] == quantity) & (crossings["full"] == "full")]
    for r in cross.dropna(subset=["crossover_T"]).itertuples():
        fig.add_vline(x=r.crossover_T, line={"dash": "dot", "color": KIND_COLORS[r.efficient]},
                      annotation_text=f"{ATTENTION_NAMES.get(r.efficient, r.efficient)} = fused",
                      annotation_font_size=10)  # fmt: skip
    _log_axes(fig, summary["T"], "sequence length T (tokens)", title)
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig


def loss_figure(runs: pd.DataFrame, uniform: float | None = None) -> go.Figure:
    """Final validation loss per attention kind: each seed a dot, the mean a wide tick."""
    fig = go.Figure()
    kinds = list(dict.fromkeys(runs["attention"]))
    means = runs.groupby("attention", sort=False)["val_loss"].mean()
    names = [ATTENTION_NAMES.get(k, k) for k in kinds]
    # the mean as a wide tick, not a bar: a bar's height from a cut y axis exaggerates gaps
    fig.add_scatter(x=names, y=[means[k] for k in kinds], name="mean over seeds", mode="markers",
                    marker={"symbol": "line-ew-open", "size": 36, "line": {"width": 3},
                            "color": [KIND_COLORS.get(k) for k in kinds]})  # fmt: skip
    fig.add_scatter(x=[ATTENTION_NAMES.get(k, k) for k in runs["attention"]], y=runs["val_loss"],
                    mode="markers", name="one seed", marker={"color": "black", "size": 7})  # fmt: skip
    lo, hi = runs["val_loss"].min(), runs["val_loss"].max()
    pad = max(0.05, 0.5 * (hi - lo))
    fig.update_yaxes(title="validation loss (nats/char)", range=[lo - pad, hi + pad])
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.2})
    return fig


def latency_figure(summary: pd.DataFrame) -> go.Figure:
    """Milliseconds per generated token against the context length p (log-log)."""
    fig = go.Figure()
    for (model, mode), g in summary.groupby(["model", "mode"], sort=False):
        label = DECODER_NAMES.get((model, mode), f"{model} ({mode})")
        color, dash = DECODER_STYLE.get((model, mode), (None, "solid"))
        g = g.sort_values("position")
        fig.add_scatter(x=g["position"], y=g["latency_s"] * 1e3, name=label, mode="lines+markers",
                        line={"color": color, "dash": dash})  # fmt: skip
    _log_axes(fig, summary["position"], "context length p (tokens read)", "time per token (ms)")
    fig.update_layout(legend={"orientation": "v"})
    return fig


# ----------------------------------------------------------------------------- print twins


def _mpl_lines(ax, fig: go.Figure) -> None:
    """Draw a Plotly figure's line traces and vertical lines on a matplotlib axis (log-log)."""
    for tr in fig.data:
        if tr.type != "scatter":
            continue
        ls = "--" if tr.line.dash == "dash" else "-"
        ax.plot(np.asarray(tr.x, float), np.asarray(tr.y, float), ls, marker="o", ms=2.5,
                color=tr.line.color, label=tr.name, lw=1.2)  # fmt: skip
    for shape in fig.layout.shapes:
        ax.axvline(shape.x0, ls=":", color=shape.line.color, lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    xs = list(fig.layout.xaxis.tickvals)  # the measured lengths, labelled plainly
    ax.set_xticks(xs, [str(int(x)) for x in xs], rotation=90 if len(xs) > 5 else 0)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(fig.layout.xaxis.title.text)
    ax.set_ylabel(fig.layout.yaxis.title.text)


@register_figure(
    "efficient_attention_cost",
    chapter="cost",
    width="page",
    ncols=2,
    caption="One causal attention call, forward and backward, against the sequence length: "
    "time (left) and peak memory (right) of full attention (fused kernel and written out), a "
    "sliding window and linear attention. Dotted: where each efficient form crosses the fused "
    "full attention, computed from the measurements.",
)
def efficient_attention_cost(profile: str) -> Figure:
    """Time and memory of attention kinds vs T."""
    r = efficient_cost("cost.efficient_cost")
    fig = Figure()
    axes = fig.subplots(1, 2)
    for ax, q in zip(axes, ("time_s", "mem_mb"), strict=True):
        _mpl_lines(ax, cost_figure(r.summary, r.crossings, q))
    axes[0].legend(fontsize="x-small")
    return fig


@register_figure(
    "efficient_attention_loss",
    chapter="cost",
    caption="Validation loss of the same small GPT with full, sliding-window and linear "
    "attention on the Shakespeare characters at the same step budget; one dot per seed, "
    "the mean a horizontal tick.",
)
def efficient_attention_loss(profile: str) -> Figure:
    """Loss by attention kind."""
    runs = efficient_lm("cost.efficient").runs
    fig = Figure()
    ax = fig.subplots()
    kinds = list(dict.fromkeys(runs["attention"]))
    for i, k in enumerate(kinds):
        y = runs.loc[runs["attention"] == k, "val_loss"]
        ax.hlines(y.mean(), i - 0.3, i + 0.3, color=KIND_COLORS.get(k), lw=2.5)  # the mean
        ax.plot([i] * len(y), y, "o", color="black", ms=3)
    ax.set_xticks(range(len(kinds)), [ATTENTION_NAMES.get(k, k) for k in kinds])
    lo, hi = runs["val_loss"].min(), runs["val_loss"].max()
    pad = max(0.05, 0.5 * (hi - lo))
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_ylabel("validation loss (nats/char)")
    return fig


@register_figure(
    "decoding_latency",
    chapter="cost",
    caption="Time to generate one token against the number of tokens already in the context: "
    "a GPT re-reading the context, the same GPT with a key/value cache, a GPT with linear "
    "attention and its fixed-size state, and an LSTM stepping its state (median over rounds).",
)
def decoding_latency(profile: str) -> Figure:
    """Per-token latency vs context length."""
    fig = Figure()
    ax = fig.subplots()
    _mpl_lines(ax, latency_figure(decoding("cost.decoding").summary))
    ax.legend(fontsize="x-small")
    return fig
