"""Vanishing and exploding gradients, drawn: the measured ``||dL/dh_{T-k}||`` beside ``rho^k``.

- :func:`gradient_flow_figure` draws one state of
  :func:`seqlab.experiments.gradient_flow.gradient_flow_state` (Plotly).
- :func:`gradient_flow_interactive`: the book's one gradient-flow interactive (slider over rho;
  dropdown over the cell, for the RNN its nonlinearity, and the scale of the inputs x_t, which
  moves where tanh saturates; live also the length T). Chapter 1 shows the RNN with three
  nonlinearities, chapter 2 the cells with the RNN for reference.
- Print twins for ``make figures``: ``rnn_gradient_flow`` and ``lstm_gradient_flow``, drawn from
  the chapters' :func:`~seqlab.experiments.gradient_flow.gradient_flow` results.

Letters: T sequence length, k = T - t steps back in time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.gradient_flow import NONLINEARITIES, gradient_flow, gradient_flow_state
from seqlab.viz.export import register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.style import PALETTE

RHOS: tuple[float, ...] = tuple(round(0.5 + 0.1 * i, 1) for i in range(11))  # 0.5 ... 1.5
LENGTHS: tuple[int, ...] = (25, 50, 100, 200)
INPUT_SCALES: tuple[float, ...] = (0.1, 1.0, 3.0)  # s.d. of x_t: tanh nearly linear ... saturated
FIGURE_RHOS = (0.8, 1.0, 1.2)


def log_range(T: int) -> list[float]:
    """A fixed log10 y-range for length T, so moving the rho slider does not rescale the axis.

    Covers rho^k for rho in [0.3, 1.5] (capped at float32's range).
    """
    return [max(-0.53 * T, -45.0), min(0.18 * T + 1.0, 38.0)]


def _positive(y: np.ndarray) -> np.ndarray:
    return np.where(y > 0, y, np.nan)  # float32 underflow: no point on a log axis


def gradient_flow_figure(data: dict[str, Any]) -> go.Figure:
    """One state: the measured norm (solid), rho^k (dashed) and, for a gated cell, the RNN with
    the same rho (grey); log y."""
    k, rho, cell, f = data["k"], data["rho"], data["cell"], data["nonlinearity"]
    fig = go.Figure()
    if cell != "RNN":
        fig.add_scatter(
            x=k, y=_positive(data["rnn"]), name="RNN (same ρ)", line={"color": "grey", "width": 1.5}
        )
    fig.add_scatter(
        x=k, y=_positive(data["measured"]),
        name=f"measured, f = {f}" if cell == "RNN" else f"{cell}, measured",
        line={"color": PALETTE[0], "width": 2.5},
        hovertemplate="k = %{x}<br>‖∂L/∂h‖ = %{y:.3g}<extra></extra>",
    )  # fmt: skip
    fig.add_scatter(
        x=k, y=data["theory"], name="theory ρ<sup>k</sup>",
        line={"color": PALETTE[1], "dash": "dash"},
        hovertemplate="k = %{x}<br>ρ<sup>k</sup> = %{y:.3g}<extra></extra>",
    )  # fmt: skip
    scale = data.get("input_scale", 1.0)
    inputs = "" if scale == 1.0 else f", inputs ×{scale:g}"
    if cell == "RNN":
        title = (f"ρ = {rho:g}, f = {f}{inputs}: the norm changes by ×{data['factor']:.3f} per "
                 f"step (theory ×{rho:g})")  # fmt: skip
    else:
        title = f"{cell}, ρ = {rho:g}{inputs}: ×{data['factor']:.3f} per step back (fitted)"
    fig.update_layout(
        title=title,
        xaxis_title="k, steps back from the loss",
        yaxis_title="‖∂L/∂h<sub>T−k</sub>‖",
        height=440,
        legend={"x": 0.01, "y": 0.01, "xanchor": "left", "yanchor": "bottom"},
        margin={"t": 60},
    )
    fig.update_yaxes(type="log", range=log_range(data["T"]), exponentformat="power")
    fig.update_xaxes(range=[0, data["T"] - 1])
    return fig


def _seed_band(curves: pd.DataFrame) -> pd.DataFrame:
    """Per k: the geometric mean, min and max of ``measured`` over the seeds in ``curves``."""
    logs = np.log(curves["measured"].where(curves["measured"] > 0))
    g = logs.groupby(curves["k"])
    return pd.DataFrame({"mid": np.exp(g.mean()), "lo": np.exp(g.min()), "hi": np.exp(g.max())})


def seed_band_figure(curves: pd.DataFrame, rho: float, input_scale: float = 1.0) -> go.Figure:
    """The curves of :func:`seqlab.experiments.gradient_flow.gradient_flow` at one ``rho`` and
    input scale: per nonlinearity the geometric mean over seeds (line) and the band from the
    smallest to the largest seed; the theory line rho^k dashed. Log y."""
    at = curves[(curves["rho"] == rho) & (curves["input_scale"] == input_scale)]
    n_seeds = at["seed"].nunique()
    fig = go.Figure()
    for i, (f, d) in enumerate(at.groupby("nonlinearity", sort=False)):
        band, color = _seed_band(d), PALETTE[i % len(PALETTE)]
        k = band.index.to_numpy()
        fig.add_scatter(x=np.r_[k, k[::-1]], y=np.r_[band["hi"], band["lo"][::-1]],
                        fill="toself", fillcolor=color, opacity=0.25, line={"width": 0},
                        hoverinfo="skip", showlegend=False, legendgroup=f)  # fmt: skip
        fig.add_scatter(x=k, y=band["mid"], name=f"f = {f}", line={"color": color},
                        legendgroup=f)  # fmt: skip
    theory = at.drop_duplicates("k").sort_values("k")
    fig.add_scatter(x=theory["k"], y=theory["theory"], name="theory ρ<sup>k</sup>",
                    line={"color": "grey", "dash": "dash"})  # fmt: skip
    fig.update_layout(
        title=f"ρ = {rho:g}, inputs of s.d. {input_scale:g}: band = {n_seeds} seeds",
        xaxis_title="k, steps back from the loss",
        yaxis_title="‖∂L/∂h<sub>T−k</sub>‖",
        height=420,
        legend={"x": 0.01, "y": 0.99, "xanchor": "left", "yanchor": "top"},
    )
    fig.update_yaxes(type="log", exponentformat="power", dtick=5)
    return fig


def gradient_flow_interactive(
    cells: Sequence[str] = ("RNN",),
    nonlinearities: Sequence[str] = NONLINEARITIES,
    rhos: Sequence[float] = RHOS,
    lengths: Sequence[int] = LENGTHS,
    static_T: int = 100,
    hidden_size: int = 64,
    input_scales: Sequence[float] = INPUT_SCALES,
) -> Interactive:
    """The gradient-flow interactive: rho (slider), the cell, the RNN's nonlinearity f and the
    input scale (dropdown), the length T (live only; the static book shows ``T = static_T``).

    ``cells``: keys of :data:`~seqlab.experiments.gradient_flow.CELL_CHOICES` (chapter 1: the
    RNN alone, with every nonlinearity; chapter 2: all cells, ``nonlinearities=("tanh",)``).
    ``input_scales``: standard deviations of the random inputs x_t (1: unit variance, the
    default position); a large scale drives tanh (and the gates) into saturation, where its
    derivative and so the gradient shrink, a small one keeps them near their linear regime.
    Every state is computed by :func:`~seqlab.experiments.gradient_flow.gradient_flow_state`.
    """

    def compute(
        cell: str, nonlinearity: str, rho: float, T: int, input_scale: float
    ) -> dict[str, Any]:
        return gradient_flow_state(
            cell, rho, T, nonlinearity, hidden_size=hidden_size, input_scale=input_scale
        )

    cells, rhos, scales = list(cells), list(rhos), list(input_scales)
    only_rnn = cells == ["RNN"]
    controls = {"cell": cells, "nonlinearity": list(nonlinearities), "rho": rhos,
                "T": list(lengths), "input_scale": scales}  # fmt: skip
    return Interactive(
        compute,
        gradient_flow_figure,
        controls,
        defaults={
            "cell": "LSTM, b_f = 1" if "LSTM, b_f = 1" in cells else cells[0],
            "rho": 1.0 if 1.0 in rhos else rhos[0],
            "T": static_T,
            "input_scale": 1.0 if 1.0 in scales else scales[0],
        },
        static_controls={"rho": rhos, "T": [static_T]},
        slider="rho",
        labels={
            "cell": "cell",
            "nonlinearity": "f",
            "rho": "spectral radius ρ",
            "T": "length T",
            "input_scale": "input scale",
        },  # fmt: skip
        max_states=len(cells) * len(nonlinearities) * len(rhos) * len(scales),
        title="Gradient norm k steps back through an RNN"
        if only_rnn
        else "Gradient norm k steps back, by cell type",
    )


@register_figure(
    "rnn_gradient_flow",
    chapter="rnn",
    width="page",
    ncols=3,
    caption=r"Gradient norm $\|\partial L/\partial h_{T-k}\|$ measured with autograd through "
    r"random, untrained RNNs ($H=64$, $T=100$, inputs of unit variance) whose $W_{hh}$ has "
    r"spectral radius $\rho$: geometric mean over 3 seeds (solid), band from the smallest to "
    r"the largest seed, and $\rho^k$ (dashed).",
)
def rnn_gradient_flow(profile: str) -> Figure:
    """Gradient norm k steps back for three nonlinearities and three spectral radii."""
    curves = gradient_flow("rnn.gradient_flow")["curves"]
    curves = curves[curves["input_scale"] == 1.0]
    fig = Figure()
    axes = fig.subplots(1, 3, sharey=True)
    for ax, f in zip(axes, ("tanh", "relu", "linear"), strict=True):
        for i, rho in enumerate(FIGURE_RHOS):
            d = curves[(curves["nonlinearity"] == f) & (curves["rho"] == rho)]
            band = _seed_band(d)
            ax.fill_between(band.index, band["lo"], band["hi"], color=PALETTE[i], alpha=0.25,
                            linewidth=0)  # fmt: skip
            ax.plot(band.index, band["mid"], color=PALETTE[i], label=rf"$\rho={rho:g}$")
            theory = d.drop_duplicates("k")
            ax.plot(theory["k"], theory["theory"], color=PALETTE[i], linestyle="--",
                    linewidth=0.8)  # fmt: skip
        ax.set(yscale="log", xlabel="$k$ (steps back)", title=f"$f$ = {f}", ylim=(1e-30, 1e10))
    axes[0].set_ylabel(r"$\|\partial L / \partial h_{T-k}\|$")
    axes[0].legend(loc="lower left")
    return fig


@register_figure(
    "lstm_gradient_flow",
    chapter="lstm",
    caption=r"Measured gradient norm $||\partial L/\partial h_{T-k}||$ $k$ steps back "
    r"through random cells ($\rho = 1$, $T = 100$, $H = 64$): the LSTM keeps its gradient only "
    r"when the forget-gate bias $b_f$ holds $f$ near 1.",
)
def lstm_gradient_flow(profile: str) -> Figure:
    """Gradient norm vs steps back for RNN, GRU and LSTM with three forget biases."""
    curves = gradient_flow("lstm.gradient_flow")["curves"]
    fig = Figure()
    ax = fig.add_subplot()
    for i, (cell, d) in enumerate(curves.groupby("cell", sort=False)):
        d = d.groupby("k", as_index=False)["measured"].median()  # over seeds, if several
        ax.plot(d["k"], _positive(d["measured"].to_numpy()), color=PALETTE[i],
                label=cell.replace("b_f", "$b_f$"))  # fmt: skip
    ax.set(yscale="log", xlabel="$k$, steps back", ylabel=r"$\Vert\partial L/\partial h\Vert$")
    ax.legend(fontsize="small")
    return fig
