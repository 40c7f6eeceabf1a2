"""Figures of the char-level language models: loss curves and the effective context window.

- :func:`loss_curve_figure`: one model's training loss per step, validation loss at the
  evaluations, and reference levels (the uniform guess ln V, the unigram entropy).
- :func:`loss_curves_figure`: the validation loss of several models against wall-clock time or
  steps (the comparisons of chapters 2 and 3).
- :func:`context_figure`: gradient saliency against distance k, with the fitted decay.
- Print twins for ``make figures``: ``char_rnn_loss``, ``char_rnn_context``,
  ``lstm_vs_rnn_lm`` and ``gru_lstm_rnn_lm``, drawn from the chapters' results.

Letters: V vocabulary, k distance back in characters.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.char_lm import ngram_baseline, reference_losses, shakespeare
from seqlab.experiments.context_window import context_window
from seqlab.experiments.lm_compare import lm_compare, lm_context
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.style import PALETTE, cell_color, cell_name


def loss_curve_figure(
    history: pd.DataFrame,
    references: Mapping[str, float] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Loss (nats per character) against step.

    Inputs: ``history`` with columns iter, loss and (on evaluated rows) val_loss, as in
    :func:`seqlab.experiments.char_lm.char_lm`'s history; with a ``seed`` column (several runs,
    :func:`seqlab.experiments.lm_compare.lm_compare`'s history) each seed's training loss is a
    thin line and the validation loss is the mean over seeds in a band from the lowest to the
    highest seed. ``references`` ``{label: level}`` are drawn as dotted horizontal lines.
    """
    fig = go.Figure()
    seeds = list(dict.fromkeys(history["seed"])) if "seed" in history else [None]
    steps = history.dropna(subset=["loss"]) if "loss" in history else history.iloc[:0]
    for i, seed in enumerate(seeds):
        run = steps if seed is None else steps[steps["seed"] == seed]
        name = "training batch" + (f" ({len(seeds)} seeds)" if len(seeds) > 1 else "")
        fig.add_scatter(
            x=run["iter"], y=run["loss"], name=name, legendgroup="train", showlegend=i == 0,
            line={"color": PALETTE[0], "width": 1 if len(seeds) == 1 else 0.7},
            opacity=0.6 if len(seeds) == 1 else 0.4,
        )  # fmt: skip
    if "val_loss" in history:
        val = history.dropna(subset=["val_loss"]).assign(iter=lambda d: d["iter"].clip(lower=0))
        if len(seeds) > 1:
            g = _seed_stats(val, "iter")
            _seed_band(fig, g, PALETTE[1], f"validation, mean of {len(seeds)} seeds", "val")
        else:
            fig.add_scatter(
                x=val["iter"], y=val["val_loss"], name="validation",
                mode="lines+markers", line={"color": PALETTE[1], "width": 2.5},
            )  # fmt: skip
    for i, (label, level) in enumerate((references or {}).items()):
        fig.add_hline(
            y=level,
            line={"dash": "dot", "color": PALETTE[(i + 2) % len(PALETTE)]},
            annotation_text=f"{label} ({level:.2f})",
            annotation_position="top right",
        )
    fig.update_layout(
        title=title, xaxis_title="step", yaxis_title="cross-entropy (nats / char)", height=420
    )
    return fig


def _seed_stats(sub: pd.DataFrame, x: str) -> pd.DataFrame:
    """Mean, min and max over seeds of ``val_loss`` against ``x`` (see loss_curves_figure)."""
    if x == "iter":
        return sub.groupby("iter").agg(x=(x, "mean"), mean=("val_loss", "mean"),
                                       lo=("val_loss", "min"), hi=("val_loss", "max"))  # fmt: skip
    curves = [(d[x].to_numpy(float), d["val_loss"].to_numpy(float))
              for _, d in sub.sort_values(x).groupby("seed")]  # fmt: skip
    end = min(cx.max() for cx, _ in curves)
    grid = np.unique(np.concatenate([cx[cx <= end] for cx, _ in curves]))
    ys = np.array([np.interp(grid, cx, cy) for cx, cy in curves])
    return pd.DataFrame({"x": grid, "mean": ys.mean(0), "lo": ys.min(0), "hi": ys.max(0)})


def _seed_band(fig: go.Figure, g: pd.DataFrame, color: str, name: str, group: str) -> None:
    """A mean line (columns x, mean of ``g``) in a band from column lo to hi (over seeds)."""
    fig.add_scatter(
        x=list(g["x"]) + list(g["x"][::-1]), y=list(g["hi"]) + list(g["lo"][::-1]),
        fill="toself", fillcolor=color, opacity=0.2, line={"width": 0},
        hoverinfo="skip", showlegend=False, legendgroup=group,
    )  # fmt: skip
    fig.add_scatter(
        x=g["x"], y=g["mean"], name=name, mode="lines+markers", legendgroup=group,
        line={"color": color}, marker={"size": 4},
    )  # fmt: skip


def loss_curves_figure(
    history: pd.DataFrame,
    x: str = "time_s",
    title: str | None = None,
    baselines: Mapping[str, float] | None = None,
) -> go.Figure:
    """Validation loss against ``x`` ("time_s" or "iter"), one line per cell.

    With a ``seed`` column (several runs per cell) the line is the mean over seeds and a band
    spans the seeds' minimum to maximum: at each step for ``x="iter"``; otherwise (seeds
    evaluated at different times) each seed's curve is interpolated linearly on the union of
    their evaluation times, up to the earliest end, so the mean never runs backwards.
    ``baselines`` ``{label: loss}`` are drawn as dotted horizontal lines (e.g. n-gram models).
    """
    fig = go.Figure()
    evaluated = history.dropna(subset=["val_loss"])
    for cell in dict.fromkeys(evaluated["cell"]):
        sub = evaluated[evaluated["cell"] == cell].assign(**{x: lambda d: d[x].clip(lower=0)})
        n_params = f" ({int(sub['n_params'].iloc[0]):,} params)" if "n_params" in sub else ""
        color = cell_color(cell)
        if "seed" in sub and sub["seed"].nunique() > 1:
            g = _seed_stats(sub, x)
            name = f"{cell_name(cell)}{n_params}, mean of {sub['seed'].nunique()} seeds"
            _seed_band(fig, g, color, name, cell)
        else:
            fig.add_scatter(
                x=sub[x], y=sub["val_loss"], name=cell_name(cell) + n_params,
                mode="lines+markers", line={"color": color}, marker={"size": 4},
            )  # fmt: skip
    for i, (label, level) in enumerate((baselines or {}).items()):
        fig.add_hline(
            y=level, line={"dash": "dot", "color": "gray" if i % 2 else "black", "width": 1},
            annotation_text=f"{label}: {level:.3f}", annotation_position="top right",
        )  # fmt: skip
    fig.update_xaxes(title="training time (s)" if x == "time_s" else "step")
    fig.update_yaxes(title="validation loss (nats/char)")
    fig.update_layout(title=title)
    return fig


def context_figure(
    df: pd.DataFrame, fit: Mapping[str, float], title: str | None = None
) -> go.Figure:
    """Saliency s(k) (log scale) against distance k, with the fitted A exp(-k / ell)."""
    k = df["k"].to_numpy()
    fig = go.Figure()
    fig.add_scatter(
        x=k, y=df["saliency"], name="measured s(k)", mode="lines+markers",
        marker={"size": 4}, line={"color": PALETTE[0]},
    )  # fmt: skip
    ell = fit["decay_length"]
    fig.add_scatter(
        x=k, y=fit["amplitude"] * np.exp(-k / ell), name=f"fit A·exp(−k/ℓ), ℓ = {ell:.1f} chars",
        line={"color": PALETTE[1], "dash": "dash"},
    )  # fmt: skip
    fig.update_layout(
        title=title,
        xaxis_title="k, characters back",
        yaxis_title="‖∂z/∂e<sub>t−k</sub>‖",
        height=420,
        legend={"x": 1, "xanchor": "right", "y": 1},
    )
    fig.update_yaxes(type="log", exponentformat="power")
    return fig


@register_figure(
    "char_rnn_loss",
    chapter="rnn",
    caption=r"Char-level RNN language model on Shakespeare, 3 seeds: training-batch loss of "
    r"each seed and validation loss (mean, band from the lowest to the highest seed; nats per "
    r"character), with the uniform guess $\ln V$, the unigram entropy and the best Kneser-Ney "
    r"n-gram.",
)
def char_rnn_loss(profile: str) -> Figure:
    """Training and validation loss of the char-RNN over seeds."""
    history = lm_compare("rnn.char_lm_seeds")["history"]
    references = reference_losses(shakespeare())
    best = ngram_baseline("rnn.ngram")["best"]
    fig = Figure()
    ax = fig.add_subplot()
    steps = history.dropna(subset=["loss"])
    for i, (_, run) in enumerate(steps.groupby("seed")):
        ax.plot(run["iter"], run["loss"], color=PALETTE[0], linewidth=0.5, alpha=0.6,
                label="training batch (each seed)" if i == 0 else None)  # fmt: skip
    val = history.dropna(subset=["val_loss"]).assign(iter=lambda d: d["iter"].clip(lower=0))
    g = val.groupby("iter")["val_loss"].agg(["mean", "min", "max"])
    ax.fill_between(g.index, g["min"], g["max"], color=PALETTE[1], alpha=0.25, linewidth=0)
    ax.plot(g.index, g["mean"], "o-", color=PALETTE[1], markersize=2.5,
            label=f"validation, mean of {history['seed'].nunique()} seeds")  # fmt: skip
    ax.axhline(references["uniform"], color=PALETTE[2], linestyle=":", label=r"uniform, $\ln V$")
    ax.axhline(references["unigram"], color=PALETTE[3], linestyle="--", label="unigram")
    ax.axhline(best["val_loss"], color=PALETTE[4], linestyle="-.",
               label=f"{best['order']:.0f}-gram, Kneser-Ney")  # fmt: skip
    ax.set(xlabel="step", ylabel="loss (nats/char)")
    ax.legend()
    return fig


@register_figure(
    "char_rnn_context",
    chapter="rnn",
    caption=r"Effective context of the char-RNN: saliency $\|\partial z/\partial e_{t-k}\|$ of "
    r"the top logit with respect to the input $k$ characters back (mean over validation "
    r"windows), with the fitted $A\,e^{-k/\ell}$.",
)
def char_rnn_context(profile: str) -> Figure:
    """Gradient saliency against distance, with the fitted decay."""
    result = context_window("rnn.context_window")
    fig = plotly_to_matplotlib(context_figure(result["saliency"], result["fit"]))
    ax = fig.axes[0]
    measured, fitted = ax.get_lines()
    measured.set_label("measured")
    fitted.set_label(rf"fit, $\ell = {result['fit']['decay_length']:.1f}$")
    ax.set(xlabel="$k$ (characters back)", ylabel="saliency")
    ax.legend()
    return fig


@register_figure(
    "lstm_vs_rnn_lm",
    chapter="lstm",
    caption="Validation loss of char-level LSTM and RNN language models on Shakespeare at equal "
    "parameter counts and equal steps: mean over 3 seeds, band from the lowest to the highest.",
)
def lstm_vs_rnn_lm(profile: str) -> Figure:
    """Validation loss vs step, LSTM and RNN at equal parameters."""
    return plotly_to_matplotlib(
        loss_curves_figure(lm_compare("lstm.lm_compare")["history"], x="iter")
    )


@register_figure(
    "gru_lstm_rnn_lm",
    chapter="gru",
    caption="Validation loss of char-level GRU, LSTM and RNN language models with equal "
    "parameter counts, trained for the same number of steps on the same batches.",
)
def gru_lstm_rnn_lm(profile: str) -> Figure:
    """Validation loss vs step, three cells at equal parameters."""
    return plotly_to_matplotlib(
        loss_curves_figure(lm_compare("gru.lm_compare")["history"], x="iter")
    )


def context_compare_figure(saliency: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Relative saliency s(k) / s(0) (log scale) against k, one line per cell: the median over
    seeds, a band from the lowest to the highest seed.

    Inputs: ``saliency`` with columns cell, seed, k, relative (as in
    :func:`seqlab.experiments.lm_compare.lm_context`).
    """
    fig = go.Figure()
    for cell in dict.fromkeys(saliency["cell"]):
        g = saliency[saliency["cell"] == cell].groupby("k")["relative"]
        stats = g.agg(["median", "min", "max"]).reset_index()
        color = cell_color(cell)
        k = stats["k"].tolist()
        fig.add_scatter(
            x=k + k[::-1], y=stats["max"].tolist() + stats["min"].tolist()[::-1],
            fill="toself", fillcolor=color, opacity=0.2, line={"width": 0},
            hoverinfo="skip", showlegend=False, legendgroup=cell,
        )  # fmt: skip
        n = saliency.loc[saliency["cell"] == cell, "seed"].nunique()
        fig.add_scatter(
            x=k, y=stats["median"], name=f"{cell_name(cell)} (median of {n} seeds)",
            mode="lines", line={"color": color, "width": 2.5}, legendgroup=cell,
        )  # fmt: skip
    fig.update_xaxes(title="k, characters back")
    fig.update_yaxes(
        type="log", title="saliency relative to k = 0", exponentformat="power", dtick=2
    )
    fig.update_layout(
        title=title, height=420, legend={"x": 1, "xanchor": "right", "y": 1, "yanchor": "top"}
    )
    return fig


@register_figure(
    "lstm_rnn_context",
    chapter="lstm",
    caption=r"Effective context of char-level RNN and LSTM language models at equal parameters: "
    r"gradient saliency $\|\partial z_T/\partial e_{T-k}\|$ relative to $k = 0$, median over 3 "
    r"seeds, band from the lowest to the highest seed.",
)
def lstm_rnn_context(profile: str) -> Figure:
    """Relative saliency against distance, RNN and LSTM, over seeds."""
    result = lm_context("lstm.lm_context")
    fig = plotly_to_matplotlib(context_compare_figure(result["saliency"]))
    fig.axes[0].set(xlabel="$k$ (characters back)", ylabel="saliency relative to $k = 0$")
    return fig
