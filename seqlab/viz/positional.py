"""Sinusoidal positional encodings, drawn (chapter "transformer").

``PE[t, 2i] = sin(t / 10000^(2i/d))``, ``PE[t, 2i+1] = cos(t / 10000^(2i/d))`` (Vaswani et al.
2017, §3.5): position ``t``, dimension pair ``i``, model width ``d``, as computed by
:func:`seqlab.models.sinusoidal_positional_encoding`. ``pe_heatmap`` and ``pe_curves`` are the
print figures; :func:`pe_curves_figure` the Plotly one. Chapter 5 adds the interactive over
positions x dimensions (:func:`pe_interactive`, the correct formula and the misprint of our seed
text), the dot products PE(p).PE(p+k) by offset (:func:`offset_dots_figure`; print twin
``pe_offset_dots``) and the loss beyond the trained length (:func:`extrapolation_figure`; print
twin ``positions_extrapolation``), all from :mod:`seqlab.experiments.positional`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.positional import (
    FORMULA_NAMES,
    FORMULAS,
    extrapolation,
    offset_dots,
    pe_state,
    sinusoid_table,
)
from seqlab.models import sinusoidal_positional_encoding
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.plots import line_figure
from seqlab.viz.style import DIVERGING, PALETTE


def positional_encoding(T: int, d: int) -> np.ndarray:
    """The encodings of positions 0..T-1 at width d, as a float64 array (T, d)."""
    return sinusoidal_positional_encoding(T, d).double().numpy()


def pe_curves_figure(
    T: int = 100, d: int = 64, dims: tuple[int, ...] = (2, 8, 16, 24)
) -> go.Figure:
    """Plotly: a few encoding dimensions against position (the wavelengths grow with i)."""
    pe = positional_encoding(T, d)
    return line_figure(
        np.arange(T),
        {f"dim {j}": pe[:, j] for j in dims},
        xlabel="position t",
        ylabel="PE[t, dim]",
        title=f"Sinusoidal positional encoding (d = {d})",
    )


@register_figure(
    "pe_heatmap",
    chapter="transformer",
    width="column",
    height_ratio=0.75,
    caption=r"Sinusoidal positional encoding $\mathrm{PE}_{t,j}$ for $d=64$: each row is the "
    r"code of one position $t$; wavelengths grow geometrically with the dimension $j$.",
)
def pe_heatmap(profile: str) -> Figure:
    """Heatmap of the encoding: positions down, dimensions across."""
    pe = positional_encoding(64, 64)
    fig = Figure()
    ax = fig.add_subplot()
    im = ax.imshow(pe, cmap=DIVERGING, vmin=-1, vmax=1, aspect="auto", interpolation="none")
    ax.set_xlabel("dimension $j$")
    ax.set_ylabel("position $t$")
    fig.colorbar(im, ax=ax, label=r"$\mathrm{PE}_{t,j}$")
    return fig


@register_figure(
    "pe_curves",
    chapter="transformer",
    width="column",
    caption=r"Four dimensions of the sinusoidal positional encoding ($d=64$) against position: "
    r"low dimensions oscillate fast, high ones slowly.",
)
def pe_curves(profile: str) -> Figure:
    """Print twin of the chapter's Plotly figure, drawn by ``plotly_to_matplotlib``."""
    fig = plotly_to_matplotlib(pe_curves_figure())
    fig.axes[0].legend(ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), handlelength=1.5)
    return fig


# ----------------------------------------------------------------------------- chapter 5


def pe_state_figure(data: dict) -> go.Figure:
    """One state of :func:`pe_interactive`: the table (positions x dimensions) and the dot
    products PE(p).PE(p+k) against k (mean over p, with the spread over p as error bars)."""
    pe, dots = data["pe"], data["dots"]
    heat = go.Heatmap(z=pe, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                      showscale=False)  # fmt: skip
    line = go.Scatter(x=dots["k"], y=dots["mean"], mode="lines+markers", marker_size=4,
                      line_color=PALETTE[0], error_y=dict(type="data", array=dots["spread"] / 2),
                      showlegend=False, xaxis="x2", yaxis="y2")  # fmt: skip
    title = (f"{FORMULA_NAMES[data['formula']]}, C = {data['d_model']}: largest spread over p "
             f"of PE(p)·PE(p+k): {dots['spread'].max():.1e}")  # fmt: skip
    # two panels by axis domains (make_subplots costs ~100 ms per redraw)
    layout = go.Layout(
        title=dict(text=title, font_size=13),
        xaxis=dict(domain=[0, 0.5], title="dimension j"),
        yaxis=dict(title="position p", autorange="reversed"),
        xaxis2=dict(domain=[0.62, 1], title="offset k", anchor="y2"),
        yaxis2=dict(title="PE(p)·PE(p+k), mean over p", anchor="x2"),
    )
    return go.Figure([heat, line], layout)


def pe_interactive(d_models=(16, 32, 64, 128), T: int = 64) -> Interactive:
    """The table and its dot products over the width C (slider) and the formula (menu)."""
    return Interactive(
        lambda formula, d_model: pe_state(formula, d_model, T),
        pe_state_figure,
        {"d_model": list(d_models), "formula": list(FORMULAS)},
        defaults={"d_model": 64} if 64 in d_models else None,
        labels={"d_model": "width C", "formula": "formula"},
        title="Positional encodings: positions × dimensions",
    )


def offset_dots_figure(T: int = 256, d_model: int = 64, max_k: int = 64) -> go.Figure:
    """PE(p).PE(p+k) / PE(p).PE(p) against k for both formulas (float64 tables)."""
    ys = {}
    for formula in FORMULAS:
        d = offset_dots(sinusoid_table(T, d_model, formula), max_k)
        ys[FORMULA_NAMES[formula]] = d["mean"] / d["mean"].iloc[0]
    return line_figure(np.arange(max_k + 1), ys, xlabel="offset k",
                       ylabel="PE(p)·PE(p+k) / PE(p)·PE(p)",
                       title=f"Similarity of positions k apart (C = {d_model})")  # fmt: skip


@register_figure(
    "pe_offset_dots",
    chapter="transformer",
    width="column",
    caption=r"$\mathrm{PE}(p)\cdot\mathrm{PE}(p+k)$ against the offset $k$ ($C=64$), for the "
    r"formula of Vaswani et al. and the misprint $p\cdot 10000\cdot 2i/C$: the first falls off "
    r"smoothly, the second does not tell near from far.",
)
def pe_offset_dots(profile: str) -> Figure:
    """Print twin of :func:`offset_dots_figure`."""
    return plotly_to_matplotlib(offset_dots_figure())


def extrapolation_curves(bands: pd.DataFrame) -> pd.DataFrame:
    """Mean and s.e. over seeds of the loss in each band of positions: columns positions, lo,
    mean, sem (from :func:`~seqlab.experiments.positional.extrapolation`'s ``bands``)."""
    g = bands.groupby(["positions", "lo"], sort=False)["loss"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["sem"] = out["std"] / np.sqrt(out["count"])
    return out


def extrapolation_figure(bands: pd.DataFrame, train_len: int, band: int) -> go.Figure:
    """Validation loss per band of ``band`` positions, learned vs sinusoidal (mean ± s.e. over
    seeds), plotted at the band's centre, with the trained length marked."""
    curves = extrapolation_curves(bands)
    fig = go.Figure()
    for i, (name, c) in enumerate(curves.groupby("positions", sort=False)):
        fig.add_scatter(x=c["lo"] + (band - 1) / 2, y=c["mean"], name=f"{name} positions",
                        error_y=dict(type="data", array=c["sem"]), mode="lines+markers",
                        line_color=PALETTE[i])  # fmt: skip
    fig.add_vline(x=train_len - 0.5, line_dash="dash", line_color="gray")
    fig.add_annotation(x=train_len - 0.5, y=1, yref="paper", text=" trained length",
                       showarrow=False, xanchor="left")  # fmt: skip
    fig.update_layout(xaxis_title=f"position in the window (bands of {band})",
                      yaxis_title="validation loss (nats)",
                      legend=dict(orientation="h", y=-0.25))  # fmt: skip
    return fig


@register_figure(
    "positions_extrapolation",
    chapter="transformer",
    width="column",
    caption="Validation loss by position (bands of 8) in windows twice the trained length, "
    "GPTs with learned or sinusoidal positions (mean ± s.e. over 3 seeds); dashed: the "
    "trained length.",
)
def positions_extrapolation(profile: str) -> Figure:
    """Print twin of :func:`extrapolation_figure` for the chapter's row."""
    r = extrapolation("transformer.positions")
    fig = plotly_to_matplotlib(extrapolation_figure(r.bands, r.config.train_len, r.config.band))
    fig.axes[0].axvline(r.config.train_len - 0.5, color="gray", linestyle="--", linewidth=0.8)
    fig.axes[0].legend(fontsize="small")
    return fig
