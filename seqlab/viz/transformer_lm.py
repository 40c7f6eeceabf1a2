"""Figures of chapter 5's GPT against the LSTM and of its Transformer encoder-decoder.

- :func:`gpt_lstm_figure`: validation loss (nats per character, bits per character on the
  right axis) of the GPT and the LSTM over seeds, against step or training time, with the
  Kneser-Ney n-gram baseline.
- :func:`gpt_heads_interactive` / :func:`cross_attention_interactive`: the chapter-4 heatmap
  with layer and head controls (:func:`~seqlab.viz.alignments.layer_head_interactive`).
- Print twins for ``make figures``: ``transformer_gpt_vs_lstm``,
  ``transformer_gpt_vs_lstm_time``, ``transformer_gpt_heads``, ``transformer_cross_attention``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.char_lm import ngram_baseline
from seqlab.experiments.transformer_lm import gpt_heads, gpt_vs_lstm
from seqlab.experiments.transformer_seq2seq import cross_attention, transformer_seq2seq
from seqlab.viz.alignments import layer_head_interactive
from seqlab.viz.char_lm import loss_curves_figure
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.plots import char_labels
from seqlab.viz.style import SEQUENTIAL

__all__ = [
    "HEAD_TEXTS",
    "cross_attention_interactive",
    "gpt_heads_interactive",
    "gpt_lstm_figure",
    "heads_grid",
]

#: passages the heads figure reads (short: the static grid keeps every map)
HEAD_TEXTS = ("ROMEO:\nBut soft, what light through yonder window", "KING HENRY V:\nOnce more unto")


def gpt_lstm_figure(
    history: pd.DataFrame,
    x: str = "iter",
    baselines: Mapping[str, float] | None = None,
    title: str | None = None,
    bpc_axis: bool = True,
) -> go.Figure:
    """Validation loss of the models in ``history`` (column ``model``; ``seed`` for the band)
    against ``x`` ("iter" or "time_s"), with ``baselines`` as dotted lines and (``bpc_axis``)
    bits per character (nats / ln 2) on a second axis."""
    fig = loss_curves_figure(history.assign(cell=history["model"]), x=x, title=title,
                             baselines=baselines)  # fmt: skip
    lo, hi = _range(history, baselines)
    fig.update_yaxes(range=[lo, hi])
    if not bpc_axis:
        return fig
    fig.add_scatter(x=[None], y=[None], yaxis="y2", showlegend=False, hoverinfo="skip")
    fig.update_layout(
        yaxis2={"overlaying": "y", "side": "right", "title": "bits per character",
                "range": [lo / math.log(2), hi / math.log(2)], "showgrid": False},
        height=460, legend={"orientation": "h", "x": 0, "y": -0.22, "yanchor": "top"},
    )  # fmt: skip
    return fig


def _range(history: pd.DataFrame, baselines: Mapping[str, float] | None) -> tuple[float, float]:
    evaluated = history.dropna(subset=["val_loss"])
    trained = evaluated[evaluated["iter"] >= 0]["val_loss"]
    levels = [*trained, *(baselines or {}).values()]
    return min(levels) - 0.05, float(trained.max()) + 0.05


def gpt_heads_interactive(result, texts: Sequence[str] = HEAD_TEXTS) -> Interactive:
    """Every head of the seed-0 GPT of a :func:`gpt_vs_lstm` result on ``texts``."""
    model = result["models"]["GPT"].load()
    c = model.config

    def maps_of(text: str):
        data = gpt_heads(model, text)
        if data.get("ok"):
            data = {**data, "source": data["tokens"], "output": data["tokens"]}
        return data

    return layer_head_interactive(
        maps_of, texts, c.n_layer, c.n_head, height=420,
        axis_titles=("attended character (key)", "reading character (query)"),
    )  # fmt: skip


def cross_attention_interactive(result, texts: Sequence[str]) -> Interactive:
    """Every cross-attention head of the seed-0 Transformer of a :func:`transformer_seq2seq`
    result translating ``texts``."""
    model = result["model"].load()
    c = model.config
    return layer_head_interactive(
        lambda text: cross_attention(model, text), texts, c.num_layers, c.nhead
    )


def heads_grid(maps: np.ndarray, x: Sequence[str], y: Sequence[str], title: str) -> Figure:
    """Print: one small heatmap per (layer, head) of ``maps`` (L, nh, U, S)."""
    L, nh = maps.shape[:2]
    fig = Figure()  # the width of the registered figure (paper_style)
    axes = fig.subplots(L, nh, squeeze=False)
    for layer in range(L):
        for head in range(nh):
            ax = axes[layer][head]
            ax.imshow(maps[layer, head], cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto")
            ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=7)
            ax.set_xticks(range(len(x)), char_labels(x), fontsize=4)
            ax.set_yticks(range(len(y)), char_labels(y), fontsize=4)
    fig.suptitle(title, fontsize=9)
    return fig


def _ngram_line() -> dict[str, float]:
    best = ngram_baseline("rnn.ngram")["best"]
    return {f"{int(best['order'])}-gram Kneser-Ney": float(best["val_loss"])}


@register_figure(
    "transformer_gpt_vs_lstm",
    chapter="transformer",
    caption="Validation loss of a GPT-style model and an LSTM with the same number of "
    "parameters, trained for the same steps on the same Shakespeare batches: mean over 3 "
    "seeds, band from the lowest to the highest; dotted: the best Kneser-Ney n-gram.",
)
def transformer_gpt_vs_lstm(profile: str) -> Figure:
    """Validation loss vs step, GPT and LSTM at equal parameters."""
    history = gpt_vs_lstm("transformer.char_lm")["history"]
    fig = plotly_to_matplotlib(gpt_lstm_figure(history, "iter", _ngram_line(), bpc_axis=False))
    fig.axes[0].set(xlabel="step", ylabel="validation loss (nats/char)")
    return fig


@register_figure(
    "transformer_gpt_vs_lstm_time",
    chapter="transformer",
    caption="The same two models given the same wall-clock seconds each (one CPU thread): "
    "validation loss against training time, mean over 3 seeds.",
)
def transformer_gpt_vs_lstm_time(profile: str) -> Figure:
    """Validation loss vs training time, GPT and LSTM at equal parameters and time."""
    history = gpt_vs_lstm("transformer.equal_time")["history"]
    fig = plotly_to_matplotlib(gpt_lstm_figure(history, "time_s", _ngram_line(), bpc_axis=False))
    fig.axes[0].set(xlabel="training time (s)", ylabel="validation loss (nats/char)")
    return fig


@register_figure(
    "transformer_gpt_heads",
    chapter="transformer",
    width="page",
    nrows=2,
    ncols=4,
    caption="Attention of every head of the trained char GPT reading a line of Romeo and "
    "Juliet (each row: one reading character, columns: the characters it attends to).",
)
def transformer_gpt_heads(profile: str) -> Figure:
    """Every (layer, head) map of the seed-0 GPT on one passage."""
    model = gpt_vs_lstm("transformer.char_lm")["models"]["GPT"].load()
    data = gpt_heads(model, HEAD_TEXTS[0])
    return heads_grid(data["maps"], data["tokens"], data["tokens"], "GPT heads")


@register_figure(
    "transformer_cross_attention",
    chapter="transformer",
    width="page",
    nrows=2,
    ncols=4,
    caption="Cross-attention of every decoder layer and head of the small Transformer "
    "encoder-decoder translating a German number word into digits.",
)
def transformer_cross_attention(profile: str) -> Figure:
    """Every (layer, head) cross-attention map of the seed-0 Transformer on one example."""
    result = transformer_seq2seq("transformer.seq2seq")
    longest = max((pair.src for pair in result["test"][:50]), key=len)
    data = cross_attention(result["model"].load(), longest)
    return heads_grid(data["maps"], data["source"], data["output"], data["translation"])
