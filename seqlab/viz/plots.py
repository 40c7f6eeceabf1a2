"""Plotly builders for the figure kinds chapters need most, in the book's palette.

- :func:`line_figure`: curves against x (loss vs step, gradient norm vs time), optional log axes.
- :func:`heatmap_figure`: a matrix with text tick labels (attention weights over characters,
  gate activations over time), rows top-down like a printed matrix, optional values in cells.
- :func:`bar_figure`: grouped bars (timings, parameter counts) with optional error bars.

They return ``plotly.graph_objects.Figure`` objects, so an :class:`~seqlab.viz.Interactive`
``figure`` function can return one directly, and :func:`seqlab.viz.export.plotly_to_matplotlib`
turns line and bar figures into a print twin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from seqlab.viz.style import PALETTE, SEQUENTIAL

_VISIBLE_CHARS = {" ": "␣", "\n": "⏎", "\t": "⇥"}


def char_labels(text: str | Sequence[str]) -> list[str]:
    """Tick labels for characters: space, newline and tab made visible (``"␣"``, ``"⏎"``, ``"⇥"``)."""
    return [_VISIBLE_CHARS.get(ch, ch) for ch in text]


def _axis_labels(fig: go.Figure, xlabel: str, ylabel: str, title: str | None) -> None:
    fig.update_layout(xaxis_title=xlabel, yaxis_title=ylabel, title=title)


def line_figure(
    x: Sequence[float] | np.ndarray,
    ys: Mapping[str, Sequence[float] | np.ndarray],
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
    log_x: bool = False,
    log_y: bool = False,
    markers: bool = False,
    dashes: Mapping[str, str] | None = None,
) -> go.Figure:
    """Curves ``ys[name]`` against a shared ``x``, one trace per name, in palette order.

    Inputs:
        x: (N,) positions; ys: ``{name: (N,) values}``; ``dashes``: ``{name: "dash"|"dot"|...}``.
        log_x / log_y: logarithmic axes (non-positive values are not drawn on a log axis).
    Outputs:
        a Figure with ``len(ys)`` scatter traces.
    """
    x = np.asarray(x)
    fig = go.Figure()
    for i, (name, y) in enumerate(ys.items()):
        y = np.asarray(y)
        if y.shape != x.shape:
            raise ValueError(f"expected ys[{name!r}] of shape {x.shape} like x, got {y.shape}")
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=str(name),
                mode="lines+markers" if markers else "lines",
                line={"color": PALETTE[i % len(PALETTE)], "dash": (dashes or {}).get(name)},
            )
        )
    _axis_labels(fig, xlabel, ylabel, title)
    fig.update_xaxes(type="log" if log_x else "linear")
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig


def heatmap_figure(
    z: Sequence[Sequence[float]] | np.ndarray,
    *,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
    colorscale: str = SEQUENTIAL,
    zmin: float | None = None,
    zmax: float | None = None,
    show_values: bool = False,
    value_format: str = ".2f",
    colorbar_title: str | None = None,
) -> go.Figure:
    """A matrix ``z`` (rows, cols) with row 0 at the top, e.g. attention (query, key).

    Labels are tick *text* on integer positions, so repeated characters (the two l's in
    "hello") stay separate columns instead of merging into one Plotly category.

    Inputs:
        z: (R, C) values; x_labels: C labels; y_labels: R labels (use :func:`char_labels`).
        show_values: print each value in its cell with ``value_format``.
    Outputs:
        a Figure with one heatmap trace.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 2:
        raise ValueError(f"expected z of shape (rows, cols), got {z.shape}")
    rows, cols = z.shape
    for labels, n, name in ((x_labels, cols, "x_labels"), (y_labels, rows, "y_labels")):
        if labels is not None and len(labels) != n:
            raise ValueError(f"expected {n} {name} for z of shape {z.shape}, got {len(labels)}")
    trace: dict[str, Any] = {
        "z": z,
        "x": np.arange(cols),
        "y": np.arange(rows),
        "colorscale": colorscale,
        "zmin": zmin,
        "zmax": zmax,
        "colorbar": {"title": {"text": colorbar_title}} if colorbar_title else None,
        "hovertemplate": "row %{y}, col %{x}: %{z:.3f}<extra></extra>",
    }
    if show_values:
        trace["texttemplate"] = "%{z:" + value_format + "}"
    fig = go.Figure(go.Heatmap(**trace))
    _axis_labels(fig, xlabel, ylabel, title)
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(cols)) if x_labels is not None else None,
        ticktext=list(x_labels) if x_labels is not None else None,
        showgrid=False,
        side="bottom",
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(rows)) if y_labels is not None else None,
        ticktext=list(y_labels) if y_labels is not None else None,
        autorange="reversed",
        showgrid=False,
    )
    return fig


def bar_figure(
    categories: Sequence[Any],
    values: Mapping[str, Sequence[float] | np.ndarray] | Sequence[float] | np.ndarray,
    *,
    errors: Mapping[str, Sequence[float] | np.ndarray] | Sequence[float] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
    log_y: bool = False,
    value_format: str | None = None,
) -> go.Figure:
    """Grouped bars: one bar per category and series (``values`` = ``{series: (K,) values}``).

    A plain sequence of values is one unnamed series. ``errors`` mirrors ``values`` (e.g. the
    spread of repeated timings); ``value_format`` (e.g. ``".1f"``) prints values on the bars.
    """
    labels = [str(c) for c in categories]
    series = values if isinstance(values, Mapping) else {"": values}
    errs = errors if isinstance(errors, Mapping) or errors is None else {"": errors}
    fig = go.Figure()
    for i, (name, vals) in enumerate(series.items()):
        vals = np.asarray(vals, dtype=float)
        if vals.shape != (len(labels),):
            raise ValueError(f"expected {len(labels)} values for series {name!r}, got {vals.shape}")
        err = None if errs is None or name not in errs else np.asarray(errs[name], dtype=float)
        fig.add_trace(
            go.Bar(
                x=labels,
                y=vals,
                name=str(name),
                marker_color=PALETTE[i % len(PALETTE)],
                error_y={"type": "data", "array": err} if err is not None else None,
                texttemplate=("%{y:" + value_format + "}") if value_format else None,
                showlegend=bool(name),
            )
        )
    _axis_labels(fig, xlabel, ylabel, title)
    fig.update_layout(barmode="group")
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig
