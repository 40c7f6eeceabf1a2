"""Figures and the interactive of chapter 8 (:mod:`seqlab.experiments.choosing`,
:mod:`~seqlab.experiments.choosing_table`, :mod:`~seqlab.experiments.recommend`,
:mod:`~seqlab.experiments.metric_pitfalls`).

- :func:`table_html`: the measured comparison table (cells, best marks by the tie rule, the
  claim it tests, links to the sections that measured it).
- :func:`costs_figure`: training-step time against T, four models, median and spread over
  rounds; print twin ``choosing_costs``.
- :func:`recommendation_figure` / :func:`recommend_interactive`: what :func:`~seqlab.
  experiments.recommend.recommend` decided and the measurements behind it; live over the
  reader's constraints, static over presets.
- :func:`bleu_subsets_figure`: corpus BLEU of random four-sentence subsets against the whole
  test set; print twin ``choosing_bleu_subsets``.
"""

from __future__ import annotations

import html
import math
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.attention import KIND_NAMES
from seqlab.experiments.choosing import ARCH_NAMES, ARCHS, costs
from seqlab.experiments.metric_pitfalls import metric_pitfalls
from seqlab.experiments.recommend import BUDGETS, Constraints, recommend
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.style import PALETTE

__all__ = ["ARCH_COLORS", "bleu_subsets_figure", "costs_figure", "recommend_interactive",
           "recommendation_figure", "table_html"]  # fmt: skip

ARCH_COLORS = dict(zip(ARCHS, (PALETTE[7], PALETTE[0], PALETTE[2], PALETTE[1]), strict=True))
GREY = "#bbbbbb"


def table_html(table: pd.DataFrame) -> str:
    """The tidy table of :func:`~seqlab.experiments.choosing_table.comparison_table` as an
    HTML table: one row per property, one column per model; a best cell (by the tie rule) in
    bold with ★; ⚠ where the measurement contradicts the usual claim; the sample and links
    to the sections that measured it. (The claims are the table's ``claim`` column.)"""
    head = "".join(f"<th>{ARCH_NAMES[m]}</th>" for m in ARCHS)
    rows = []
    for prop, g in table.groupby("property", sort=False):
        g = g.set_index("model")
        first = g.iloc[0]
        cells = []
        for m in ARCHS:
            text = html.escape(str(g.loc[m, "text"])) if m in g.index else "not measured"
            if m in g.index and g.loc[m, "best"]:
                text = f"<b>★ {text}</b>"
            cells.append(f'<td title="{html.escape(str(first["verdict"]))}">{text}</td>')
        links = " ".join(
            f'<a href="{u}">{html.escape(s)}</a>'
            for u, s in zip(first["link"].split(" "), first["source"].split(" + "), strict=True)
        )
        mark = " ⚠" if first["contradicts"] else ""
        what = (f"<b>{html.escape(prop)}</b>{mark}<br><small>{html.escape(first['quantity'])}"
                f" ({html.escape(first['unit'])})</small>")  # fmt: skip
        note = f"<small>{html.escape(first['sample'])}<br>{links}</small>"
        rows.append(f"<tr><td>{what}</td>{''.join(cells)}<td>{note}</td></tr>")
    return (
        '<table class="seqlab-choosing"><thead><tr><th>property</th>'
        f"{head}<th>sample, source</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def costs_figure(train: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Forward + backward time against T per model (``costs``'s ``train``): the median over
    timing rounds, error bars from the lowest to the highest round; log-log axes."""
    ok = train[train["status"] == "ok"]
    fig = go.Figure()
    for m in ARCHS:
        g = ok[ok["model"] == m].groupby("seq_len")["median_ms"]
        med, lo, hi = g.median(), g.min(), g.max()
        fig.add_scatter(x=med.index, y=med, name=ARCH_NAMES[m], mode="lines+markers",
                        line={"color": ARCH_COLORS[m]},
                        error_y={"type": "data", "array": (hi - med).tolist(),
                                 "arrayminus": (med - lo).tolist(), "visible": True})  # fmt: skip
    fig.update_xaxes(type="log", title="sequence length T (tokens)")
    fig.update_yaxes(type="log", title="forward + backward (ms)")
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.25})
    return fig


_PANELS = (("token_ms", "token_sem"), ("train_ms", "train_sem"), ("bpc", "bpc_sem"))


def recommendation_figure(rec, constraints: Constraints) -> go.Figure:
    """Three panels of the measurements :func:`recommend` read (time per token at p =
    seq_len with the latency budget dashed, training step at T = seq_len, validation bpc),
    one bar per model: the choice and the models tied with it in colour, the rest grey; error
    bars are standard errors over rounds or seeds. The title says the choice and, below it,
    the drivers. (Axes laid out by hand: ``make_subplots`` costs more than
    a slider update may.)"""
    est = rec.estimates
    keep = {rec.choice, *rec.tied}
    colours = [ARCH_COLORS[m] if m in keep else GREY for m in est.index]
    names = [ARCH_NAMES[m] for m in est.index]
    titles = (f"ms per token at p = {constraints.seq_len}",
              f"ms per training step, T = {constraints.seq_len}", "validation bpc")  # fmt: skip
    data, layout = [], {}
    for i, (value, sem) in enumerate(_PANELS):
        axis = "" if i == 0 else str(i + 1)
        data.append({"type": "bar", "x": names, "y": est[value].tolist(),
                     "marker": {"color": colours}, "showlegend": False,
                     "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                     "error_y": {"type": "data", "array": est[sem].fillna(0).tolist()},
                     "hovertemplate": "%{x}: %{y:.3g}<extra></extra>"})  # fmt: skip
        lo = i * 0.35
        layout[f"xaxis{axis}"] = {"domain": [lo + 0.06, lo + 0.3], "anchor": f"y{axis}"}
        layout[f"yaxis{axis}"] = {"anchor": f"x{axis}", "rangemode": "nonnegative",
                                  "title": {"text": titles[i], "font": {"size": 11}}}  # fmt: skip
    shapes = []
    if math.isfinite(constraints.latency_ms):
        shapes.append({"type": "line", "xref": "x domain", "yref": "y", "x0": 0, "x1": 1,
                       "y0": constraints.latency_ms, "y1": constraints.latency_ms,
                       "line": {"dash": "dash", "color": "#444444"}})  # fmt: skip
    if rec.choice is None:
        head = "No model meets the latency budget"
    elif rec.tied:
        head = "Tied: " + " and ".join(ARCH_NAMES[m] for m in rec.tied)
    else:
        head = f"Choose {ARCH_NAMES[rec.choice]}"
    runner = f" (runner-up {ARCH_NAMES[rec.runner_up]})" if rec.runner_up else ""
    why = "<br>".join(html.escape(line) for line in textwrap.wrap(" ".join(rec.drivers), 120))
    title = f"{head}{runner}<br><span style='font-size:11px'>{why}</span>"
    layout.update(title={"text": title, "y": 0.98, "yref": "container", "yanchor": "top"},
                  height=560, margin={"t": 200, "b": 60},
                  shapes=shapes)  # fmt: skip
    return go.Figure({"data": data, "layout": layout})


def recommend_interactive(
    measurements: pd.DataFrame,
    seq_lens=(16, 64, 256, 1024, 4096),
    latencies=(0.2, 0.5, 1.0, 2.0, math.inf),
    static_seq_lens=None,
    static_latencies=None,
) -> Interactive:
    """The chapter's "when to use what": a slider for the sequence length, menus for the
    latency budget per token (ms), the device (those measured) and the budget;
    :func:`recommend` answers each state (cached). The static book precomputes
    ``static_seq_lens`` x ``static_latencies`` x both budgets on the first device (default:
    every value)."""
    devices = sorted(measurements["device"].unique())

    def compute(seq_len, latency_ms, device, budget):
        c = Constraints(int(seq_len), float(latency_ms), device, budget)
        return c, recommend(c, measurements)

    def figure(data):
        return recommendation_figure(data[1], data[0])

    static = {"device": devices[:1]}
    if static_seq_lens is not None:
        static["seq_len"] = list(static_seq_lens)
    if static_latencies is not None:
        static["latency_ms"] = list(static_latencies)
    return Interactive(
        compute, figure,
        {"seq_len": list(seq_lens), "latency_ms": list(latencies), "device": devices,
         "budget": list(BUDGETS)},
        defaults={"seq_len": 256 if 256 in seq_lens else seq_lens[0],
                  "latency_ms": latencies[-1]}, static_controls=static,
        labels={"seq_len": "sequence length", "latency_ms": "latency budget (ms/token)"},
        title="When to use what, from measurements",
    )  # fmt: skip


def bleu_subsets_figure(bleu: pd.DataFrame, subsets: pd.DataFrame, size: int) -> go.Figure:
    """Corpus BLEU of random ``size``-sentence subsets (dots, one per subset, jittered) beside
    the BLEU of the whole test set (a bar marker), per attention kind."""
    fig = go.Figure()
    rng = np.random.default_rng(0)
    for i, kind in enumerate(bleu["attention"]):
        y = subsets.loc[subsets["attention"] == kind, "bleu"].to_numpy()
        fig.add_scatter(x=i + rng.uniform(-0.25, 0.25, len(y)), y=y, mode="markers",
                        marker={"size": 4, "opacity": 0.4, "color": PALETTE[i]},
                        name=f"{KIND_NAMES.get(kind, kind)}: {size} sentences")  # fmt: skip
        whole = float(bleu.loc[bleu["attention"] == kind, "corpus BLEU, characters"].iloc[0])
        fig.add_scatter(x=[i], y=[whole], mode="markers", name=f"{KIND_NAMES.get(kind, kind)}: "
                        "whole test set", marker={"symbol": "diamond", "size": 13,
                                                   "color": PALETTE[i], "line": {"width": 1}})  # fmt: skip
    fig.update_xaxes(tickvals=list(range(len(bleu))), title="attention",
                     ticktext=[KIND_NAMES.get(k, k) for k in bleu["attention"]])  # fmt: skip
    fig.update_yaxes(title="corpus BLEU (characters)", range=[-2, 102])
    fig.update_layout(legend={"orientation": "h", "y": -0.3}, height=450)
    return fig


@register_figure(
    "choosing_costs", chapter="choosing",
    caption="Forward and backward time of one layer (RNN, LSTM, GRU) or one causal Transformer "
    "block against the sequence length, equal width; median and range over interleaved rounds.",
)  # fmt: skip
def choosing_costs(profile: str) -> Figure:
    """Training-step time against T, four architectures."""
    return plotly_to_matplotlib(costs_figure(costs("choosing.costs").train))


@register_figure(
    "choosing_bleu_subsets", chapter="choosing",
    caption="Character BLEU of chapter 4's number translators on random four-sentence subsets "
    "of the test set (dots) and on the whole test set (diamonds).",
)  # fmt: skip
def choosing_bleu_subsets(profile: str) -> Figure:
    """BLEU on four sentences against the whole test set."""
    r = metric_pitfalls("choosing.metrics")
    size = r.config.subset_size
    return plotly_to_matplotlib(bleu_subsets_figure(r.bleu, r.subsets, size))
