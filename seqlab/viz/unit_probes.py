"""Gate activations over text: each character coloured by one unit's gate or state.

The look of Karpathy, Johnson & Fei-Fei (2015): the text is laid out as it reads (a new row at
each newline, long lines wrapped), and the background of every character shows the value of
one unit of one gate (i, f, o, candidate g) or state (c, h) at that character.

- :func:`text_heatmap_figure` draws one such panel (Plotly); :func:`text_heatmap_axes` its
  matplotlib twin for print.
- :func:`gate_interactive` wraps it in the book's three-mode :class:`~seqlab.viz.Interactive`:
  live, any unit and field; static, a slider over the units worth showing and a dropdown over
  the fields.
- ``lstm_gate_unit``: the print twin for ``make figures``, the best unit of the chapter's
  probe (:func:`seqlab.experiments.unit_probes.unit_probe`).

Letters: T characters, H hidden units, R rows and W columns of the text grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from matplotlib.figure import Figure

from seqlab.experiments.unit_probes import FIELD_NAMES, unit_probe
from seqlab.viz.export import register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.style import DIVERGING

_SHOWN = {" ": "\u00a0", "\n": "⏎"}


def text_grid(text: str, width: int = 64) -> tuple[int, int, np.ndarray]:
    """Where each character goes: rows break after each newline and wrap at ``width``.

    Outputs: ``(R, W, cells)`` with ``cells`` (T, 2) the (row, column) of every character.
    """
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    cells = np.zeros((len(text), 2), dtype=int)
    row = col = 0
    for t, ch in enumerate(text):
        if col >= width:
            row, col = row + 1, 0
        cells[t] = row, col
        col += 1
        if ch == "\n":
            row, col = row + 1, 0
    R = int(cells[:, 0].max()) + 1 if len(text) else 0
    W = min(width, int(cells[:, 1].max()) + 1) if len(text) else 0
    return R, W, cells


def value_range(field: str, values: np.ndarray) -> tuple[float, float]:
    """Colour range: [0, 1] for the sigmoid gates; for states symmetric around 0, up to the 98th
    percentile of |value| (a few extreme characters would otherwise wash out the rest)."""
    if field in ("i", "f", "o"):
        return 0.0, 1.0
    m = float(np.nanpercentile(np.abs(values), 98)) if values.size else 1.0
    return -max(m, 1e-6), max(m, 1e-6)


def text_heatmap_figure(
    text: str,
    values: Sequence[float] | np.ndarray,
    *,
    field: str = "c",
    title: str | None = None,
    width: int = 64,
    zrange: tuple[float, float] | None = None,
) -> go.Figure:
    """Each character of ``text`` on a background coloured by ``values`` (T,).

    Blue is low, red is high (white is 0.5 for a gate, 0 for a state); hover shows the value.
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (len(text),):
        raise ValueError(f"expected values of shape (T={len(text)},), got {values.shape}")
    R, W, cells = text_grid(text, width)
    z = np.full((R, W), np.nan)
    chars = np.full((R, W), "", dtype=object)
    z[cells[:, 0], cells[:, 1]] = values
    chars[cells[:, 0], cells[:, 1]] = [_SHOWN.get(ch, ch) for ch in text]
    lo, hi = zrange or value_range(field, values)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=chars,
            texttemplate="%{text}",
            textfont={"family": "monospace", "size": 12, "color": "black"},
            colorscale=DIVERGING,
            zmin=lo,
            zmax=hi,
            opacity=0.75,  # lighter colours keep the black characters readable
            xgap=0,
            ygap=2,
            colorbar={"title": {"text": FIELD_NAMES.get(field, field)}, "thickness": 12},
            hovertemplate="%{text}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(visible=False, range=[-0.5, W - 0.5])
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_layout(
        title=title,
        height=90 + 22 * R,
        margin={"l": 10, "r": 10, "t": 60 if title else 20, "b": 10},
        plot_bgcolor="white",
    )
    return fig


def text_heatmap_axes(ax, text: str, values: np.ndarray, field: str = "c", width: int = 64):
    """matplotlib twin of :func:`text_heatmap_figure` on ``ax``; returns the image (for a colorbar)."""
    values = np.asarray(values, dtype=float)
    R, W, cells = text_grid(text, width)
    z = np.full((R, W), np.nan)
    z[cells[:, 0], cells[:, 1]] = values
    lo, hi = value_range(field, values)
    im = ax.imshow(
        z, cmap=DIVERGING, vmin=lo, vmax=hi, aspect="auto", interpolation="none", alpha=0.75
    )
    for (r, c), ch in zip(cells, text, strict=True):
        if ch not in " \n":
            ax.text(c, r, ch, ha="center", va="center", fontsize=5, family="monospace")
    ax.set_axis_off()
    return im


def gate_interactive(
    trace: dict[str, np.ndarray],
    text: str,
    units: Sequence[int],
    fields: Sequence[str] = ("c", "h", "i", "f", "o"),
    width: int = 64,
    notes: dict[int, str] | None = None,
) -> Interactive:
    """One unit's gate or state over ``text``, as a three-mode interactive.

    Inputs: ``trace`` field -> (T, H) (from :func:`seqlab.experiments.unit_probes.lstm_trace`);
    ``units``: the units the static book precomputes (live, every unit can be chosen);
    ``notes``: ``{unit: "what it tracks"}`` shown in the title.
    Outputs: an :class:`~seqlab.viz.Interactive` with controls ``unit`` and ``field``.
    """
    H = next(iter(trace.values())).shape[1]
    notes = notes or {}

    def compute(unit: int, field: str) -> np.ndarray:
        return trace[field][: len(text), unit]  # (T,)

    def figure(values: np.ndarray, unit: int, field: str) -> go.Figure:
        note = f" ({notes[unit]})" if unit in notes else ""
        title = f"unit {unit}{note}: {FIELD_NAMES[field]}"
        return text_heatmap_figure(text, values, field=field, title=title, width=width)

    return Interactive(
        compute,
        figure,
        {"unit": list(range(H)), "field": list(fields)},
        defaults={"unit": units[0], "field": fields[0]},
        static_controls={"unit": list(units), "field": list(fields)},
        slider="unit",
        labels={"unit": "unit", "field": "gate / state"},
    )


@register_figure(
    "lstm_gate_unit",
    chapter="lstm",
    width="page",
    height_ratio=0.3,
    caption="Cell state of the unit of the trained char-LSTM that correlates most strongly with "
    "a property of the text, over a held-out passage (blue low, red high).",
)
def lstm_gate_unit(profile: str) -> Figure:
    """Text heatmap of the probe's best unit."""
    probe = unit_probe("lstm.unit_probe")
    best = probe["best"].iloc[0]
    passage = probe["passage"][:400]
    values = probe["passage_trace"][best.field][: len(passage), int(best.unit)]
    fig = Figure()
    ax = fig.add_subplot()
    im = text_heatmap_axes(ax, passage, values, field=best.field, width=80)
    fig.colorbar(im, ax=ax, label=FIELD_NAMES[best.field], fraction=0.03)
    ax.set_title(f"unit {int(best.unit)}: {best.feature}, r = {best.r:+.2f}", fontsize="small")
    return fig
