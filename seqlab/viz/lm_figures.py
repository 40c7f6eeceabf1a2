"""Figures of a trained char-level language model: its loss curve, its sampling temperature
(a three-mode interactive), and its effective context window.

- :func:`loss_curve_figure`: training loss per step, validation loss at evaluations, and
  reference levels (e.g. the uniform guess ln V and the unigram entropy).
- :func:`temperature_figure` / :func:`temperature_interactive`: p_tau of the next character
  (bars, with p_1 as outlines) and a sample drawn at tau; slider over tau.
- :func:`context_figure`: gradient saliency vs distance k, with the fitted exponential decay.

Letters: V vocabulary, k distance back in characters, tau temperature.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from seqlab.data.corpus import CharTokenizer
from seqlab.experiments.sampling import temperature_state
from seqlab.viz.interactive import Interactive
from seqlab.viz.plots import char_labels
from seqlab.viz.style import PALETTE

TEMPERATURES: tuple[float, ...] = (0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 2.0)


def loss_curve_figure(
    history: pd.DataFrame,
    references: Mapping[str, float] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Loss (nats per character) against step.

    Inputs: ``history`` with columns iter, loss and (on evaluated rows) val_loss, as from
    :func:`seqlab.experiments.char_lm.train_char_lm`; ``references`` ``{label: level}`` drawn as
    dotted horizontal lines.
    """
    fig = go.Figure()
    steps = history.dropna(subset=["loss"]) if "loss" in history else history.iloc[:0]
    fig.add_scatter(
        x=steps["iter"], y=steps["loss"], name="training batch",
        line={"color": PALETTE[0], "width": 1}, opacity=0.6,
    )  # fmt: skip
    if "val_loss" in history:
        val = history.dropna(subset=["val_loss"])
        fig.add_scatter(
            x=val["iter"].clip(lower=0), y=val["val_loss"], name="validation",
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


def _text_html(text: str) -> str:
    """Sampled text for a Plotly annotation: escaped, newlines as <br>, spaces kept."""
    lines = html.escape(text).replace(" ", "\u00a0").split("\n")
    return "<br>".join(lines)


def temperature_figure(data: dict[str, Any]) -> go.Figure:
    """One state of :func:`seqlab.experiments.sampling.temperature_state`."""
    labels = char_labels(data["chars"])
    tau = data["temperature"]
    fig = go.Figure()
    fig.add_bar(
        x=labels, y=data["probs"], name=f"p at τ = {tau:g}", marker={"color": PALETTE[0]},
        hovertemplate="%{x}: %{y:.3f}<extra></extra>",
    )  # fmt: skip
    fig.add_scatter(
        x=labels, y=data["p1"], name="p at τ = 1", mode="markers",
        marker={"symbol": "line-ew-open", "size": 22, "color": PALETTE[1], "line": {"width": 2}},
        hovertemplate="%{x}: %{y:.3f} at τ = 1<extra></extra>",
    )  # fmt: skip
    prompt = data["prompt"].split("\n")[-1] or "⏎"
    fig.add_annotation(
        text=f"<b>sample at τ = {tau:g}:</b><br>{_text_html(data['sample'])}",
        xref="paper", yref="paper", x=0, y=0.34, xanchor="left", yanchor="top",
        align="left", showarrow=False, font={"family": "monospace", "size": 12},
    )  # fmt: skip
    fig.update_layout(
        title=(
            f"Next character after “…{html.escape(prompt[-24:])}” at τ = {tau:g} "
            f"(entropy {data['entropy']:.2f} nats)"
        ),
        # bars in the top half; the sample is written below them, above the slider
        yaxis={"title": "probability", "range": [0, 1], "domain": [0.5, 1.0]},
        xaxis={"title": "next character (most likely at τ = 1 first)"},
        height=680,
        margin={"t": 60, "b": 40},
        legend={"x": 1, "xanchor": "right", "y": 1},
    )
    return fig


def temperature_interactive(
    model: torch.nn.Module,
    tokenizer: CharTokenizer,
    prompt: str,
    temperatures: Sequence[float] = TEMPERATURES,
    n_chars: int = 80,
    seed: int = 0,
) -> Interactive:
    """The temperature slider: next-character distribution and a sample at each tau."""

    def compute(temperature: float) -> dict[str, Any]:
        return temperature_state(model, tokenizer, prompt, temperature, n_chars=n_chars, seed=seed)

    return Interactive(
        compute,
        temperature_figure,
        {"temperature": list(temperatures)},
        defaults={"temperature": 1.0 if 1.0 in temperatures else temperatures[0]},
        labels={"temperature": "temperature τ"},
    )


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
    fitted = fit["amplitude"] * np.exp(-k / ell)
    fig.add_scatter(
        x=k, y=fitted, name=f"fit A·exp(−k/ℓ), ℓ = {ell:.1f} chars",
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
