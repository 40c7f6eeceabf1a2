"""Sampling temperature, drawn: the next-character distribution p_tau and a sample at tau.

- :func:`temperature_figure` draws one state of
  :func:`seqlab.experiments.sampling.temperature_state`; :func:`temperature_interactive` is the
  book's temperature slider (three modes).
- ``char_rnn_temperature``: the print twin for ``make figures``, from the chapter's char-RNN
  (:func:`seqlab.experiments.char_lm.char_lm`, cached).

Letters: V vocabulary, tau temperature.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from matplotlib.figure import Figure

from seqlab.data.corpus import CharTokenizer
from seqlab.experiments.char_lm import char_lm, shakespeare
from seqlab.experiments.sampling import next_token_probs, temperature_state
from seqlab.viz.export import register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.plots import char_labels
from seqlab.viz.style import PALETTE

TEMPERATURES: tuple[float, ...] = (0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 2.0)
PROMPT = "ROMEO:\nI will not"
PRINT_TEMPERATURES = (0.5, 1.0, 2.0)


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
    prompt: str = PROMPT,
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


@register_figure(
    "char_rnn_temperature",
    chapter="rnn",
    caption=r"Next-character distribution $p_\tau = \mathrm{softmax}(z/\tau)$ of the char-RNN "
    r"after the prompt ``I will not'', for three temperatures $\tau$ (15 most likely characters).",
)
def char_rnn_temperature(profile: str) -> Figure:
    """Next-character probabilities at three temperatures."""
    model = char_lm("rnn.char_lm").model("rnn")
    tok = shakespeare().tokenizer
    idx = tok.encode(PROMPT)
    order = np.argsort(-next_token_probs(model, idx, 1.0).numpy())[:15]
    fig = Figure()
    ax = fig.add_subplot()
    width = 0.8 / len(PRINT_TEMPERATURES)
    for i, tau in enumerate(PRINT_TEMPERATURES):
        p = next_token_probs(model, idx, tau).numpy()[order]
        ax.bar(np.arange(15) - 0.4 + width * (i + 0.5), p, width, color=PALETTE[i],
               label=rf"$\tau={tau:g}$")  # fmt: skip
    shown = {" ": "sp", "\n": r"\n"}
    ax.set_xticks(range(15), [shown.get(tok.itos[j], tok.itos[j]) for j in order])
    ax.set(xlabel="next character", ylabel="probability")
    ax.legend()
    return fig
