"""The vanishing-gradient interactive with a cell-type choice: RNN, GRU, LSTM (forget bias b_f).

Chapter 1's :mod:`seqlab.viz.gradient_figures` measures ``||dL/dh_{T-k}||`` for an RNN; this
module asks :func:`seqlab.gradients.gradient_flow` the same question for every cell type, with
the same random recurrent matrices (spectral radius rho per gate block), and draws the chosen
cell beside the RNN and the ``rho^k`` line, using chapter 1's axis range and per-step fit.

The LSTM is offered with three forget-gate biases b_f (added to every forget pre-activation),
because along the cell-state path the gradient is multiplied by f_t once per step:
``dc_t / dc_{t-1} = diag(f_t)`` plus the terms through h. b_f sets how close f_t sits to 1.

Letters: T sequence length, k = T - t steps back in time, H hidden units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from seqlab.gradients import gradient_flow, theory_line
from seqlab.viz.gradient_figures import RHOS, log_range, per_step_factor
from seqlab.viz.interactive import Interactive
from seqlab.viz.style import PALETTE

#: choice label -> (cell, forget-gate bias)
CELL_CHOICES: dict[str, tuple[str, float]] = {
    "RNN": ("rnn", 0.0),
    "GRU": ("gru", 0.0),
    "LSTM, b_f = 0": ("lstm", 0.0),
    "LSTM, b_f = 1": ("lstm", 1.0),
    "LSTM, b_f = 3": ("lstm", 3.0),
}


def cell_gradient_state(
    cell: str = "LSTM, b_f = 1", rho: float = 1.0, T: int = 100, hidden: int = 64, seed: int = 0
) -> dict[str, Any]:
    """Measured gradient norms k steps back for ``cell`` (a key of :data:`CELL_CHOICES`) and,
    for reference, for the RNN with the same rho.

    Outputs: dict with ``k`` (T,), ``measured`` (T,) (1 at k=0), ``rnn`` (T,), ``theory``
    (T,) = rho^k, ``factor`` the fitted per-step factor of ``measured``, ``at_T`` the norm
    T-1 steps back, and the inputs.
    """
    if cell not in CELL_CHOICES:
        raise ValueError(f"unknown cell {cell!r}; valid: {', '.join(CELL_CHOICES)}")
    kind, bias = CELL_CHOICES[cell]
    k = np.arange(T)
    measured = gradient_flow(kind, rho=rho, T=T, hidden=hidden, seed=seed, forget_bias=bias)
    rnn = gradient_flow("rnn", rho=rho, T=T, hidden=hidden, seed=seed)
    measured, rnn = measured[::-1].copy(), rnn[::-1].copy()  # index k = T - t
    return {
        "k": k,
        "measured": measured,
        "rnn": rnn,
        "theory": theory_line(rho, T)[::-1].copy(),
        "factor": per_step_factor(k, measured),
        "at_T": float(measured[-1]),
        "cell": cell,
        "rho": rho,
        "T": T,
    }


def cell_gradient_figure(data: dict[str, Any]) -> go.Figure:
    """One state: the chosen cell (solid), the RNN (grey) and rho^k (dashed), log y."""
    k, rho, cell = data["k"], data["rho"], data["cell"]
    fig = go.Figure()

    def positive(y: np.ndarray) -> np.ndarray:
        return np.where(y > 0, y, np.nan)  # float underflow: no point on a log axis

    if cell != "RNN":
        fig.add_scatter(
            x=k, y=positive(data["rnn"]), name="RNN (same ρ)",
            line={"color": "grey", "width": 1.5},
        )  # fmt: skip
    fig.add_scatter(
        x=k, y=positive(data["measured"]), name=f"{cell}, measured",
        line={"color": PALETTE[0], "width": 2.5},
        hovertemplate="k = %{x}<br>‖∂L/∂h‖ = %{y:.3g}<extra></extra>",
    )  # fmt: skip
    fig.add_scatter(
        x=k, y=data["theory"], name="ρ<sup>k</sup>", line={"color": PALETTE[1], "dash": "dash"}
    )
    fig.update_layout(
        title=f"{cell}, ρ = {rho:g}: ×{data['factor']:.3f} per step back (fitted)",
        xaxis_title="k, steps back from the loss",
        yaxis_title="‖∂L/∂h<sub>T−k</sub>‖",
        height=440,
        legend={"x": 0.01, "y": 0.01, "xanchor": "left", "yanchor": "bottom"},
        margin={"t": 60},
    )
    fig.update_yaxes(type="log", range=log_range(data["T"]), exponentformat="power")
    fig.update_xaxes(range=[0, data["T"] - 1])
    return fig


def cell_gradient_interactive(
    rhos: Sequence[float] = RHOS,
    lengths: Sequence[int] = (25, 50, 100, 200),
    cells: Sequence[str] = tuple(CELL_CHOICES),
    static_T: int = 100,
    hidden: int = 64,
) -> Interactive:
    """Slider over rho, dropdown over the cell (and the LSTM's b_f); live also the length T."""

    def compute(cell: str, rho: float, T: int) -> dict[str, Any]:
        return cell_gradient_state(cell, rho, T, hidden=hidden)

    return Interactive(
        compute,
        cell_gradient_figure,
        {"cell": list(cells), "rho": list(rhos), "T": list(lengths)},
        defaults={
            "cell": "LSTM, b_f = 1" if "LSTM, b_f = 1" in cells else cells[0],
            "rho": 1.0 if 1.0 in rhos else rhos[0],
            "T": static_T,
        },  # fmt: skip
        static_controls={"cell": list(cells), "rho": list(rhos), "T": [static_T]},
        slider="rho",
        labels={"cell": "cell", "rho": "spectral radius ρ", "T": "length T"},
        title="Gradient norm k steps back, by cell type",
    )
