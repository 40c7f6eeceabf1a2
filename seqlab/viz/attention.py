"""Figures of chapter 4's bottleneck experiment (:mod:`seqlab.experiments.attention`).

- :func:`bottleneck_figure`: exact match against source length, one line per attention kind,
  mean and standard error over seeds; print twin ``attention_bottleneck``.

The chapter's other figures: :mod:`seqlab.viz.softmax_scaling` (why sqrt(d_k)),
:mod:`seqlab.viz.alignments` (attention heatmaps, live and static) and
:mod:`seqlab.viz.attention_diagrams` (the architectures, drawn by code).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.attention import KIND_NAMES, bottleneck
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.style import PALETTE

__all__ = ["KIND_COLORS", "bottleneck_figure", "length_summary"]

KIND_COLORS = {"none": PALETTE[7], "additive": PALETTE[0], "general": PALETTE[1], "dot": PALETTE[2]}


# ----------------------------------------------------------------------------- the bottleneck


def length_summary(by_length: pd.DataFrame) -> pd.DataFrame:
    """Mean, s.e. and seeds of exact match per (attention, length bin)."""
    g = by_length.groupby(["attention", "lo", "hi", "length"], sort=False)["exact_match"]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["sem"] = out["std"].fillna(0) / np.sqrt(out["n"])
    return out.sort_values(["attention", "lo"], kind="stable")


def bottleneck_figure(by_length: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Exact match against the source length (bins), one line per attention kind, mean ±
    standard error over seeds (the error bars)."""
    s = length_summary(by_length)
    fig = go.Figure()
    for kind in dict.fromkeys(by_length["attention"]):
        sub = s[s["attention"] == kind]
        fig.add_scatter(
            x=(sub["lo"] + sub["hi"] - 1) / 2, y=sub["mean"], name=KIND_NAMES.get(kind, kind),
            mode="lines+markers", line={"color": KIND_COLORS.get(kind)},
            error_y={"type": "data", "array": sub["sem"].tolist(), "visible": True},
            customdata=sub[["length", "n"]].to_numpy(),
            hovertemplate="%{customdata[0]} characters (%{customdata[1]} examples): "
            "%{y:.2f}<extra></extra>",
        )  # fmt: skip
    fig.update_xaxes(title="source length (characters, bin centre)")
    fig.update_yaxes(range=[-0.03, 1.03], title="test exact match")
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.25})
    return fig


@register_figure(
    "attention_bottleneck",
    chapter="attention",
    caption="German number words to digits: test exact match against the source length of a "
    "GRU encoder-decoder without attention and with additive and multiplicative attention at "
    "an equal parameter count; mean and standard error over seeds.",
)
def attention_bottleneck(profile: str) -> Figure:
    """Exact match vs source length by attention kind."""
    return plotly_to_matplotlib(bottleneck_figure(bottleneck("attention.bottleneck").by_length))
