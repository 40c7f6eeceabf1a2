"""Figures of chapter 7b, more from a fixed budget (:mod:`seqlab.experiments.budget`,
:mod:`seqlab.experiments.moe_lm`).

- :func:`distillation_figure`: validation loss against step, the student alone and taught,
  mean and standard error over seeds, the teacher's final loss as a line; print twin
  ``budget_distillation``.
- :func:`latency_figure`: the forward pass's median CPU latency, float32 and int8, by batch;
  print twin ``budget_int8``.
- :func:`moe_figure`: validation loss against active parameters per token (marker size: total
  parameters), mean and standard error over seeds; print twin ``budget_moe``.
- :func:`load_figure`: the share of routing choices per expert, with and without the balancing
  loss; print twin ``budget_moe_load``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.budget import distillation, quantization
from seqlab.experiments.moe_lm import moe_lm
from seqlab.viz.export import Builder, plotly_to_matplotlib, register_figure
from seqlab.viz.style import PALETTE

__all__ = ["distillation_figure", "latency_figure", "load_figure", "moe_figure", "seed_mean"]

COLORS = {"student alone": PALETTE[7], "distilled": PALETTE[0], "teacher": PALETTE[3],
          "float32": PALETTE[7], "int8": PALETTE[1], "dense": PALETTE[7], "MoE": PALETTE[0],
          "MoE, no balancing": PALETTE[1], "wide dense": PALETTE[2]}  # fmt: skip


def seed_mean(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, standard error (0 for one seed) and count of ``value`` per group ``by``."""
    g = df.groupby(by, sort=False)[value].agg(mean="mean", std="std", n="count").reset_index()
    g["sem"] = g["std"].fillna(0) / np.sqrt(g["n"])
    return g


def distillation_figure(history: pd.DataFrame, teacher_loss: float) -> go.Figure:
    """Validation loss (nats per character) against step, one line per model, ± s.e. over
    seeds; a dashed line at the teacher's final loss."""
    evaluated = history.dropna(subset=["val_loss"]).assign(iter=lambda d: d["iter"] + 1)
    s = seed_mean(evaluated, ["model", "iter"], "val_loss")
    fig = go.Figure()
    for model in dict.fromkeys(s["model"]):
        sub = s[s["model"] == model]
        fig.add_scatter(
            x=sub["iter"], y=sub["mean"], name=model, mode="lines+markers",
            line={"color": COLORS.get(model)},
            error_y={"type": "data", "array": sub["sem"].tolist(), "visible": True},
            hovertemplate=model + ", step %{x}: %{y:.3f} nats/char<extra></extra>",
        )  # fmt: skip
    fig.add_hline(y=teacher_loss, line={"dash": "dash", "color": COLORS["teacher"]},
                  annotation_text="teacher", annotation_position="top right")  # fmt: skip
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="validation loss (nats/char)")
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig


def latency_figure(latency: pd.DataFrame) -> go.Figure:
    """Median forward latency (ms) by batch size, float32 vs int8 bars, ± s.e. over rounds."""
    s = seed_mean(latency.assign(ms=latency["median_s"] * 1e3), ["model", "batch"], "ms")
    fig = go.Figure()
    for model in dict.fromkeys(s["model"]):
        sub = s[s["model"] == model]
        fig.add_bar(
            x=[f"batch {b}" for b in sub["batch"]], y=sub["mean"], name=model,
            marker_color=COLORS.get(model),
            error_y={"type": "data", "array": sub["sem"].tolist(), "visible": True},
            hovertemplate=model + ", %{x}: %{y:.2f} ms<extra></extra>",
        )  # fmt: skip
    T = int(latency["T"].iloc[0])
    fig.update_yaxes(title=f"forward pass, T = {T} (ms, median)")
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.2})
    return fig


def moe_figure(runs: pd.DataFrame) -> go.Figure:
    """Validation loss against active parameters per token, one marker per model (mean ± s.e.
    over seeds; the hover gives total parameters)."""
    s = seed_mean(runs, ["model", "active_params", "n_params"], "val_loss")
    fig = go.Figure()
    for _, r in s.iterrows():
        fig.add_scatter(
            x=[r["active_params"]], y=[r["mean"]], name=r["model"], mode="markers",
            marker={"color": COLORS.get(r["model"]), "size": 8 + 8 * r["n_params"]
                    / s["n_params"].max()},
            error_y={"type": "data", "array": [r["sem"]], "visible": True},
            hovertemplate=f"{r['model']}: {int(r['n_params']):,} parameters in all, "
            "%{x:,} per token, %{y:.3f} nats/char<extra></extra>",
        )  # fmt: skip
    fig.update_xaxes(title="active parameters per token")
    fig.update_yaxes(title="validation loss (nats/char)")
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig


def load_figure(load: pd.DataFrame) -> go.Figure:
    """Share of routing choices per expert (first layer), ± s.e. over seeds, with and
    without the balancing loss; a dashed line at 1 / N (perfect balance)."""
    first = load[load["layer"] == load["layer"].min()]
    s = seed_mean(first, ["model", "expert"], "fraction")
    fig = go.Figure()
    for model in dict.fromkeys(s["model"]):
        sub = s[s["model"] == model]
        fig.add_bar(
            x=[f"expert {e}" for e in sub["expert"]], y=sub["mean"], name=model,
            marker_color=COLORS.get(model),
            error_y={"type": "data", "array": sub["sem"].tolist(), "visible": True},
            hovertemplate=model + ", %{x}: %{y:.1%} of choices<extra></extra>",
        )  # fmt: skip
    n = first["expert"].nunique()
    fig.add_hline(y=1 / n, line={"dash": "dash", "color": "grey"},
                  annotation_text="1/N", annotation_position="top right")  # fmt: skip
    fig.update_yaxes(title="share of routing choices", tickformat=".0%")
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.2})
    return fig


def _print_twin(name: str, caption: str, draw) -> Builder:
    """Register ``name`` for ``make figures``: the chapter's plotly figure ``draw()`` in print."""

    def builder(profile: str) -> Figure:
        return plotly_to_matplotlib(draw())

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = caption
    return register_figure(name, chapter="budget", caption=caption)(builder)


def _distillation_curves() -> go.Figure:
    r = distillation("budget.distillation")
    return distillation_figure(r.history, r.teacher["val_loss"])


budget_distillation = _print_twin(
    "budget_distillation",
    "Distillation on Shakespeare: validation loss of a small GPT trained alone and "
    "taught by a larger trained GPT (Hinton et al. 2015), the same batches and steps; mean and "
    "standard error over seeds; dashed: the teacher.",
    _distillation_curves,
)
budget_int8 = _print_twin(
    "budget_int8",
    "int8 dynamic quantisation of a trained GPT's Linear layers: median CPU latency "
    "of a forward pass in float32 and int8 by batch size, one thread; standard error over "
    "alternating rounds.",
    lambda: latency_figure(quantization("budget.quantization").latency),
)
budget_moe = _print_twin(
    "budget_moe",
    "Mixture of experts on Shakespeare: validation loss against active parameters per "
    "token for the dense GPT, its mixture-of-experts version (with and without the balancing "
    "loss) and a dense GPT with the mixture's total parameters; mean and standard error over "
    "seeds.",
    lambda: moe_figure(moe_lm("budget.moe").runs),
)
budget_moe_load = _print_twin(
    "budget_moe_load",
    "Share of routing choices each expert receives on validation text, with and "
    "without the load-balancing loss (Fedus et al. 2022); mean and standard error over seeds.",
    lambda: load_figure(moe_lm("budget.moe").load),
)
