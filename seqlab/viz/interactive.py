"""Interactives that work in three modes, written once and reused by every chapter.

An interactive has three layers (DESIGN §4):

1. ``compute(**params) -> data`` -- pure and fast (< 100 ms on a CPU); the chapter unit-tests it.
2. ``figure(data, **params) -> plotly.graph_objects.Figure`` -- draws one state.
3. a UI, chosen by where the notebook runs (``mode="auto"``):

   - **live** (a kernel: Jupyter, Colab, VS Code, nbmake): ipywidgets controls -- a
     ``SelectionSlider`` for a list of numbers, a ``Dropdown`` otherwise -- above an
     ``ipywidgets.Output`` in which the figure is redrawn when a control moves. Computed
     states are cached, so going back to a position is instant.
   - **static** (``seqlab.device.in_book_build()``, the HTML book): no widget is created at all
     (a widget view in static HTML is dead: FACTS.md). ``compute`` runs over the grid of
     ``static_controls`` at build time and ONE Plotly figure holds the traces of every state,
     with a slider over one control and a dropdown over the combinations of the others
     (:func:`seqlab.viz.static.combine_states`). It works offline, without a kernel.
   - **headless** (CI): tests call ``compute`` directly, and ``states()`` / ``static_figure()``.

Why ``Output`` rather than ``FigureWidget``: plotly >= 6 needs ``anywidget`` for FigureWidget
(not a dependency of seqlab); redrawing into an Output works in Jupyter, Colab and VS Code.

Example::

    def compute(radius, length):                      # pure, tested in tests/
        return radius ** np.arange(length)
    def figure(data, radius, length):
        return line_figure(np.arange(length), {"|λ|^k": data}, log_y=True)
    Interactive(compute, figure, {"radius": [0.5, 0.9, 1.0, 1.1], "length": [10, 50]})
"""

from __future__ import annotations

import html
import inspect
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from seqlab.device import in_book_build
from seqlab.viz.static import combine_states, format_value

MODES = ("auto", "live", "static")
_CACHE_SIZE = 256


@dataclass(frozen=True)
class State:
    """One precomputed position of the controls: ``params`` and what ``compute`` returned."""

    params: dict[str, Any]
    data: Any


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _call(fn: Callable[..., Any], args: tuple, params: Mapping[str, Any]) -> Any:
    """Call ``fn(*args, **params)``, passing only the params it names unless it takes ``**kw``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn(*args, **params)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return fn(*args, **params)
    return fn(*args, **{k: v for k, v in params.items() if k in sig.parameters})


class Interactive:
    """A figure with controls that works live (ipywidgets), static (Plotly) and headless.

    Inputs:
        compute: ``compute(**params) -> data``, pure and fast.
        figure: ``figure(data, **params) -> go.Figure`` for one state. Both functions receive only
            the params they name (or all of them if they take ``**params``).
        controls: ``{name: [values...]}``; numbers get a slider, anything else a dropdown.
        title: a heading above the live controls; the static figure's title when the state
            figures have none.
        defaults: ``{name: value}`` starting positions (default: each control's first value).
        static_controls: ``{name: [values...]}`` the grid precomputed for the static book
            (default: every value of every control); a control left out keeps all its values,
            ``{name: [value]}`` pins it to one.
        slider: the control the static slider steps over (default: the first numeric control
            with more than one static value); the others go in the dropdown.
        labels: ``{name: "display label"}`` (default: the name).
        max_states: refuse static grids larger than this (they make the page heavy).
        mode: ``"auto"`` (static in a book build, else live), ``"live"`` or ``"static"``.
    """

    def __init__(
        self,
        compute: Callable[..., Any],
        figure: Callable[..., go.Figure],
        controls: Mapping[str, Sequence[Any]],
        *,
        title: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        static_controls: Mapping[str, Sequence[Any]] | None = None,
        slider: str | None = None,
        labels: Mapping[str, str] | None = None,
        max_states: int = 150,
        mode: str = "auto",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(map(repr, MODES))}")
        if not controls:
            raise ValueError("controls must name at least one control: {name: [values...]}")
        self.controls: dict[str, list[Any]] = {}
        for name, values in controls.items():
            ok = isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, (str, bytes))
            if not ok or len(values) == 0:
                raise ValueError(
                    f"control {name!r} needs a non-empty list of values, got {values!r}"
                )
            self.controls[name] = [v.item() if isinstance(v, np.generic) else v for v in values]
        self.compute, self.figure, self.title = compute, figure, title
        self.labels = {name: (labels or {}).get(name, name) for name in self.controls}
        self.defaults = {name: values[0] for name, values in self.controls.items()}
        for name, value in (defaults or {}).items():
            self._check_value(name, value, "defaults")
            self.defaults[name] = value
        static = dict(static_controls) if static_controls is not None else dict(self.controls)
        self.static_controls: dict[str, list[Any]] = {}
        for name in self.controls:
            values = list(static.pop(name, self.controls[name]))
            if not values:
                raise ValueError(f"static_controls[{name!r}] is empty")
            for value in values:
                self._check_value(name, value, "static_controls")
            self.static_controls[name] = values
        if static:
            raise ValueError(f"static_controls names unknown controls: {sorted(static)}")
        varying = [n for n, v in self.static_controls.items() if len(v) > 1]
        if slider is None:
            numeric = [n for n in varying if all(map(_is_number, self.static_controls[n]))]
            slider = numeric[0] if numeric else None
        elif slider not in self.controls:
            raise ValueError(f"slider {slider!r} is not a control; controls: {list(self.controls)}")
        self.slider = slider if slider in varying else None
        self.menu = [n for n in varying if n != self.slider]
        n_states = int(np.prod([len(v) for v in self.static_controls.values()]))
        if n_states > max_states:
            raise ValueError(
                f"the static grid has {n_states} states (> max_states={max_states}); "
                "pass static_controls with fewer values or raise max_states"
            )
        self.mode = mode
        self.current_figure: go.Figure | None = None
        self._cache: dict[tuple, Any] = {}
        self._states: list[State] | None = None
        self._widgets: dict[str, Any] = {}
        self._box: Any = None
        self._output: Any = None

    def _check_value(self, name: str, value: Any, where: str) -> None:
        if name not in self.controls:
            raise ValueError(
                f"{where} names unknown control {name!r}; controls: {list(self.controls)}"
            )
        if value not in self.controls[name]:
            raise ValueError(
                f"{where}[{name!r}] = {value!r} is not one of its values {self.controls[name]}"
            )

    # -- compute ---------------------------------------------------------------------------
    def resolved_mode(self) -> str:
        """``"static"`` or ``"live"``: ``mode``, with ``"auto"`` decided by the book build."""
        if self.mode != "auto":
            return self.mode
        return "static" if in_book_build() else "live"

    def data(self, **params: Any) -> Any:
        """``compute`` at ``params`` (missing ones at their default), cached per state."""
        full = {**self.defaults, **params}
        try:
            key = tuple(full[name] for name in self.controls)
            hash(key)
        except TypeError:
            return _call(self.compute, (), full)
        if key not in self._cache:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = _call(self.compute, (), full)
        return self._cache[key]

    def make_figure(self, **params: Any) -> go.Figure:
        """The figure of one state (computed through the cache)."""
        full = {**self.defaults, **params}
        return self._draw(self.data(**full), full)

    def _draw(self, data: Any, params: dict[str, Any]) -> go.Figure:
        fig = _call(self.figure, (data,), params)
        if not isinstance(fig, go.Figure):
            raise TypeError(f"figure() must return a plotly.graph_objects.Figure, got {type(fig)}")
        return fig

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of ``static_controls``, in control order (the last varies fastest)."""
        names = list(self.static_controls)
        combos = itertools.product(*self.static_controls.values())
        return [dict(zip(names, combo, strict=True)) for combo in combos]

    def states(self) -> list[State]:
        """The precomputed static grid: one :class:`State` per combination (computed once)."""
        if self._states is None:
            self._states = [State(params, self.data(**params)) for params in self.grid()]
        return self._states

    # -- static mode -----------------------------------------------------------------------
    def _default_static(self) -> dict[str, Any]:
        return {
            n: (self.defaults[n] if self.defaults[n] in vals else vals[0])
            for n, vals in self.static_controls.items()
        }

    def static_figure(self) -> go.Figure:
        """One Plotly figure holding every state, with a slider and/or dropdown to switch."""
        states = self.states()
        return combine_states(
            [self._draw(s.data, s.params) for s in states],
            [s.params for s in states],
            self.static_controls,
            start=self._default_static(),
            slider=self.slider,
            menu=self.menu,
            labels=self.labels,
            title=self.title,
        )

    # -- live mode -------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """The current position of the live controls (defaults before any widget exists)."""
        return {**self.defaults, **{n: w.value for n, w in self._widgets.items()}}

    def widget(self) -> Any:
        """The live UI (built once): controls above an Output holding the current figure."""
        if self._box is not None:
            return self._box
        import ipywidgets as widgets

        style = {"description_width": "initial"}
        for name, values in self.controls.items():
            if len(values) < 2:
                continue
            options = [(format_value(v), v) for v in values]
            if all(map(_is_number, values)):
                control = widgets.SelectionSlider(
                    options=options,
                    value=self.defaults[name],
                    description=self.labels[name],
                    continuous_update=False,
                    style=style,
                    layout=widgets.Layout(width="360px"),
                )
            else:
                control = widgets.Dropdown(
                    options=options,
                    value=self.defaults[name],
                    description=self.labels[name],
                    style=style,
                )
            control.observe(self._on_change, names="value")
            self._widgets[name] = control
        self._output = widgets.Output()
        row = widgets.Box(
            list(self._widgets.values()),
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        heading = [widgets.HTML(f"<b>{html.escape(self.title)}</b>")] if self.title else []
        self._box = widgets.VBox([*heading, row, self._output])
        self._first_draw()
        return self._box

    def _on_change(self, _change: dict[str, Any]) -> None:
        self.redraw()

    def _first_draw(self) -> None:
        """Draw the first figure by setting the Output's ``outputs`` directly, without capture.

        While a notebook executes under nbclient (nbmake, ``jupyter execute``, Jupyter Book),
        a draw captured with ``with output:`` makes nbclient's stand-in for the Output widget
        send comm messages back on the shell channel while it waits there for the cell's reply;
        with two or more interactives in a notebook the reply was sometimes never seen and the
        cell hung until its time-out (3 of 3 runs of a 12-interactive notebook; 0 of 3 with this
        direct draw). Redraws after a control moves happen in a live frontend and do capture,
        so an error shows inside the widget.
        """
        from IPython import get_ipython

        self.current_figure = self.make_figure(**self.params)
        shell = get_ipython()
        if self._output is None or shell is None:  # no kernel: nothing to display into
            return
        data, metadata = shell.display_formatter.format(self.current_figure)
        self._output.outputs = (
            {"output_type": "display_data", "data": data, "metadata": metadata},
        )

    def redraw(self) -> None:
        """Recompute (cached) and redraw the live figure at the controls' current position."""
        from IPython.display import display

        if self._output is None:
            self.current_figure = self.make_figure(**self.params)
            return
        self._output.clear_output(wait=True)
        with self._output:  # in a kernel, an error shows here instead of vanishing in a callback
            self.current_figure = self.make_figure(**self.params)
            display(self.current_figure)

    def display(self) -> None:
        """Show the interactive: the widget UI live, the precomputed Plotly figure static."""
        from IPython.display import display

        display(self.static_figure() if self.resolved_mode() == "static" else self.widget())

    def _ipython_display_(self) -> None:
        self.display()
