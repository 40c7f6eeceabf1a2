"""The static form of an interactive: one Plotly figure that holds every precomputed state.

:func:`combine_states` puts the traces of every state's figure into one figure and adds a
Plotly slider (one control) and a dropdown (the combinations of the others) that switch trace
visibility (``method="update"``) and every layout key that differs between states (titles,
ranges, annotations). Plain plotly.js, no custom JavaScript, no kernel: it works offline in
the HTML book. :class:`seqlab.viz.interactive.Interactive` calls it in a book build.

Why one dropdown of *combinations* rather than one dropdown per control: a Plotly button carries
fixed arguments and cannot read where the other menus stand, so independent menus cannot select
the state of a combination. The figure therefore has one slider per dropdown option; choosing
an option shows that option's slider (reset to the default position) and its state.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go


def format_value(value: Any) -> str:
    """The label of a control value: ``0.5`` -> ``"0.5"``, ``1e-05`` -> ``"1e-05"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return str(value)
    return f"{value:g}"


def _plain(obj: Any) -> Any:
    """Make a layout value plain JSON (lists, not numpy arrays) for Plotly's relayout."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _json(value: Any) -> str:
    """A canonical JSON string of a layout value, to compare states."""
    return json.dumps(_plain(value), sort_keys=True, default=str)


def combine_states(
    figs: Sequence[go.Figure],
    params: Sequence[Mapping[str, Any]],
    controls: Mapping[str, Sequence[Any]],
    *,
    start: Mapping[str, Any],
    slider: str | None,
    menu: Sequence[str],
    labels: Mapping[str, str],
    title: str | None = None,
) -> go.Figure:
    """One figure switching between ``figs`` (one per state; ``params[i]`` is state i's
    position on ``controls``, the full grid). ``start``: the state shown first; ``slider``: the
    control the slider steps over; ``menu``: the controls whose combinations the dropdown
    offers; ``labels``: control display names; ``title`` if the states' figures have none."""
    index = {tuple(p[n] for n in controls): i for i, p in enumerate(params)}

    def state_of(**changes: Any) -> int:
        position = {**start, **changes}
        return index[tuple(position[n] for n in controls)]

    spans, traces = [], []
    for fig in figs:
        spans.append((len(traces), len(traces) + len(fig.data)))
        traces.extend(fig.data)

    def visible(i: int) -> list[bool]:
        lo, hi = spans[i]
        return [lo <= k < hi for k in range(len(traces))]

    layouts = [fig.layout.to_plotly_json() for fig in figs]
    keys = sorted(set().union(*layouts) - {"template", "sliders", "updatemenus"})
    varying = [k for k in keys if len({_json(lay.get(k)) for lay in layouts}) > 1]

    def patch(i: int) -> dict[str, Any]:
        return {k: _plain(layouts[i].get(k)) for k in varying}

    i0 = state_of()
    out = go.Figure(data=traces, layout=figs[i0].layout)
    out.update_layout(sliders=[], updatemenus=[])
    if title and not out.layout.title.text:
        out.update_layout(title_text=title)
    for k, trace in enumerate(out.data):
        trace.visible = visible(i0)[k]

    combos = list(itertools.product(*(controls[n] for n in menu)))
    # ONE slider whose steps each dropdown entry swaps in. (One slider per entry, shown and
    # hidden by the dropdown, breaks plotly.js 4 on heatmaps: "Cannot read properties of
    # undefined (reading 'length')" inside Plotly.update, and the dropdown does nothing.)
    steps_by_combo: list[list[dict[str, Any]]] = []
    active = 0
    if slider is not None:
        values = list(controls[slider])
        active = values.index(start[slider])
        for combo in combos:
            fixed = dict(zip(menu, combo, strict=True))
            steps = []
            for v in values:
                i = state_of(**fixed, **{slider: v})
                args = [{"visible": visible(i)}, patch(i)]
                steps.append({"method": "update", "label": format_value(v), "args": args})
            steps_by_combo.append(steps)
    start_combo = combos.index(tuple(start[n] for n in menu))
    if steps_by_combo:
        out.update_layout(
            sliders=[
                {
                    "active": active,
                    "currentvalue": {"prefix": f"{labels[slider]}: "},
                    "pad": {"t": 40},
                    "steps": steps_by_combo[start_combo],
                }
            ]
        )
    if menu:
        buttons = []
        for j, combo in enumerate(combos):
            fixed = dict(zip(menu, combo, strict=True))
            i = state_of(**fixed)
            relayout = patch(i)
            if steps_by_combo:
                relayout["sliders[0].steps"] = steps_by_combo[j]
                relayout["sliders[0].active"] = active
            label = ", ".join(f"{labels[n]} = {format_value(v)}" for n, v in fixed.items())
            buttons.append(
                {"method": "update", "label": label, "args": [{"visible": visible(i)}, relayout]}
            )
        dropdown = {"type": "dropdown", "active": start_combo, "buttons": buttons}
        dropdown.update({"showactive": True, "x": 1.0, "xanchor": "right", "y": 1.02})
        dropdown["yanchor"] = "bottom"
        out.update_layout(updatemenus=[dropdown])
    return out
