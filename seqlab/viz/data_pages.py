"""Figures of chapter 8's data pages: sunspot forecasts and BPE tokenizers.

- :func:`forecast_figure`: the held-out sunspot years, the truth against every model's rolling
  one-step forecasts (networks: the mean over seeds, band from the lowest to the highest seed).
- :func:`tokens_figure`: tokens per character and the token table's share of a GPT's
  parameters against the vocabulary size.
- Print twins for ``make figures``: ``data_sunspot_forecasts``, ``data_bpe_tokens``.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from plotly.subplots import make_subplots

from seqlab.experiments.time_series import sunspot_forecasts
from seqlab.experiments.tokens import bpe_vs_chars
from seqlab.viz.export import register_figure
from seqlab.viz.style import color

__all__ = ["forecast_figure", "forecast_lines", "tokens_figure"]

_DASH = {"naive": "dot", "seasonal naive": "dashdot"}


def forecast_lines(result, first_year: int = 1940) -> dict:
    """What both forecast figures draw: ``truth`` (years, values from ``first_year``),
    ``test_start`` and ``models`` ``{name: DataFrame(year, mean, lo, hi)}`` (lo/hi: the
    lowest/highest seed; equal to the mean for the deterministic models)."""
    s = result["series"]
    s = s[s.index >= first_year]
    fc = result["forecasts"]
    models = {}
    for name, d in fc.groupby("model", sort=False):
        g = d.groupby("year")["forecast"]
        models[name] = pd.DataFrame({"mean": g.mean(), "lo": g.min(), "hi": g.max()}).reset_index()
    return {"truth": (s.index.to_numpy(), s.to_numpy()), "test_start": result["test_years"][0],
            "models": models}  # fmt: skip


def forecast_figure(result, first_year: int = 1940, title: str | None = None) -> go.Figure:
    """Truth and forecasts of a :func:`~seqlab.experiments.time_series.sunspot_forecasts`
    result; click a legend entry to hide a model."""
    lines = forecast_lines(result, first_year)
    fig = go.Figure()
    years, values = lines["truth"]
    fig.add_scatter(x=years, y=values, name="observed", mode="lines+markers",
                    line={"color": "black", "width": 2}, marker={"size": 4})  # fmt: skip
    for i, (name, d) in enumerate(lines["models"].items()):
        c = color(i)
        if (d["hi"] > d["lo"]).any():  # several seeds: a band
            fig.add_scatter(x=list(d["year"]) + list(d["year"][::-1]),
                            y=list(d["hi"]) + list(d["lo"][::-1]), fill="toself",
                            fillcolor=c, opacity=0.2, line={"width": 0}, hoverinfo="skip",
                            showlegend=False, legendgroup=name)  # fmt: skip
        fig.add_scatter(x=d["year"], y=d["mean"], name=name, mode="lines", legendgroup=name,
                        line={"color": c, "dash": _DASH.get(name, "solid")})  # fmt: skip
    fig.add_vline(x=lines["test_start"] - 0.5, line={"color": "grey", "dash": "dash"})
    fig.update_xaxes(title="year")
    fig.update_yaxes(title="yearly mean sunspot number", rangemode="tozero")
    fig.update_layout(title=title, hovermode="x unified")
    return fig


def tokens_figure(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Two panels against the vocabulary size V (log axis) of a
    :func:`~seqlab.experiments.tokens.tokenizer_table`: tokens per character, and the token
    table's share of the GPT's parameters (characters: the first point)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.15)
    for col, (y, label) in enumerate(
        [("tokens_per_char", "tokens per character"),
         ("embedding_share", "token table / all parameters")], start=1,
    ):  # fmt: skip
        fig.add_scatter(x=table["vocab_size"], y=table[y], mode="lines+markers+text",
                        text=table["tokenizer"].where(table["tokenizer"] == "chars", ""),
                        textposition="top right", showlegend=False,
                        line={"color": color(col - 1)}, row=1, col=col)  # fmt: skip
        fig.update_xaxes(type="log", title="vocabulary size V", row=1, col=col)
        fig.update_yaxes(title=label, rangemode="tozero", row=1, col=col)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_layout(title=title)
    return fig


@register_figure(
    "data_sunspot_forecasts",
    chapter="data",
    width="page",
    caption="Yearly sunspot numbers (black) and rolling one-step-ahead forecasts of the "
    "held-out years by the naive and seasonal-naive baselines, ARIMA (order by AIC on the "
    "training years) and LSTM, GRU and Transformer forecasters (mean over 3 seeds, band from "
    "the lowest to the highest seed). Data: statsmodels' sunspots (NOAA).",
)
def data_sunspot_forecasts(profile: str) -> Figure:
    """Truth against forecasts on the held-out years."""
    lines = forecast_lines(sunspot_forecasts("data.sunspots"))
    fig = Figure()
    ax = fig.add_subplot()
    years, values = lines["truth"]
    ax.plot(years, values, color="black", lw=1.5, label="observed")
    styles = {"solid": "-", "dot": ":", "dashdot": "-."}
    for i, (name, d) in enumerate(lines["models"].items()):
        c = color(i)
        if (d["hi"] > d["lo"]).any():
            ax.fill_between(d["year"], d["lo"], d["hi"], color=c, alpha=0.2, lw=0)
        ax.plot(d["year"], d["mean"], styles[_DASH.get(name, "solid")], color=c, label=name)
    ax.axvline(lines["test_start"] - 0.5, color="grey", ls="--", lw=0.8)
    ax.set(xlabel="year", ylabel="sunspot number")
    ax.set_ylim(bottom=0)
    ax.legend(ncols=4, fontsize="small")
    return fig


@register_figure(
    "data_bpe_tokens",
    chapter="data",
    width="page",
    ncols=2,
    caption="Byte-pair encoding trained on the Shakespeare training text: tokens per character "
    "of the validation text (left) and the token table's share of a small GPT's parameters "
    "(right) against the vocabulary size; the first point is the character vocabulary.",
)
def data_bpe_tokens(profile: str) -> Figure:
    """Tokens per character and embedding share against V."""
    table = bpe_vs_chars("data.tokens")["tokenizers"]
    fig = Figure()
    axes = fig.subplots(1, 2)
    for i, (ax, y, label) in enumerate(zip(
        axes, ("tokens_per_char", "embedding_share"), ("tokens per character", "share of parameters"),
        strict=True,
    )):  # fmt: skip
        ax.plot(table["vocab_size"], table[y], "o-", color=color(i))
        ax.set(xscale="log", xlabel="vocabulary size $V$", ylabel=label)
        ax.set_xticks(table["vocab_size"], [str(v) for v in table["vocab_size"]])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
    return fig
