"""Tests of seqlab.viz: palette/styles, the three-mode Interactive, the Plotly builders."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from seqlab.viz import Interactive, bar_figure, char_labels, heatmap_figure, line_figure, style

RADII = [0.5, 0.9, 1.1]
CELLS = ["rnn", "lstm"]


def gain(radius: float, length: int, cell: str) -> np.ndarray:
    """Toy compute: |lambda|^k, halved for the LSTM."""
    return radius ** np.arange(length) * (0.5 if cell == "lstm" else 1.0)


def gain_figure(data: np.ndarray, radius: float, cell: str) -> go.Figure:
    fig = line_figure(np.arange(len(data)), {f"{cell}|{radius}": data}, log_y=True)
    fig.add_scatter(x=[0], y=[data[0]], name=f"{cell}|{radius}|start")  # two traces per state
    return fig.update_layout(title=f"{cell} at radius {radius}")


def make(mode: str = "static", **kw) -> tuple[Interactive, list[dict]]:
    calls: list[dict] = []

    def compute(radius: float, cell: str, length: int = 8) -> np.ndarray:
        calls.append({"radius": radius, "length": length, "cell": cell})
        return gain(radius, length, cell)

    controls = kw.pop("controls", {"radius": RADII, "length": [8], "cell": CELLS})
    return Interactive(compute, gain_figure, controls, mode=mode, **kw), calls


def state_names(fig: go.Figure, mask: list[bool]) -> set[str]:
    assert len(mask) == len(fig.data)
    return {t.name for t, shown in zip(fig.data, mask, strict=True) if shown}


def expected(cell: str, radius: float) -> set[str]:
    return {f"{cell}|{radius}", f"{cell}|{radius}|start"}


# -- compute over the grid -------------------------------------------------------------------------
def test_states_compute_every_combination_once():
    it, calls = make()
    states = it.states()
    assert len(states) == len(RADII) * len(CELLS)
    assert {(s.params["radius"], s.params["cell"]) for s in states} == {
        (r, c) for r in RADII for c in CELLS
    }
    for s in states:
        np.testing.assert_allclose(s.data, gain(**s.params))
    it.states()
    it.static_figure()
    assert len(calls) == len(states), "states are computed once and cached"


def test_static_controls_limit_the_grid():
    it, _ = make(static_controls={"radius": [0.5, 1.1], "cell": ["lstm"]})
    assert [s.params for s in it.states()] == [
        {"radius": 0.5, "length": 8, "cell": "lstm"},
        {"radius": 1.1, "length": 8, "cell": "lstm"},
    ]


# -- static figure -------------------------------------------------------------------------------
def test_static_slider_selects_exactly_each_state():
    it, _ = make(controls={"radius": RADII, "cell": ["rnn"]}, defaults={"radius": 0.9})
    fig = it.static_figure()
    assert len(fig.data) == 2 * len(RADII)
    assert not fig.layout.updatemenus
    (slider,) = fig.layout.sliders
    assert [s.label for s in slider.steps] == ["0.5", "0.9", "1.1"]
    assert slider.active == 1
    assert state_names(fig, [bool(t.visible) for t in fig.data]) == expected("rnn", 0.9)
    for radius, step in zip(RADII, slider.steps, strict=True):
        assert step.method == "update"
        visible, relayout = step.args
        assert state_names(fig, visible["visible"]) == expected("rnn", radius)
        assert relayout["title"]["text"] == f"rnn at radius {radius}"  # layout follows the state


def test_static_dropdown_and_slider_cover_the_cross_product():
    it, _ = make(defaults={"cell": "lstm", "radius": 1.1})
    fig = it.static_figure()
    assert len(fig.data) == 2 * len(RADII) * len(CELLS)
    assert len(fig.layout.sliders) == 1  # one slider; each dropdown option swaps its steps in
    (menu,) = fig.layout.updatemenus
    assert menu.active == 1
    assert [b.label for b in menu.buttons] == ["cell = rnn", "cell = lstm"]
    for cell, button in zip(CELLS, menu.buttons, strict=True):
        visible, relayout = button.args
        assert state_names(fig, visible["visible"]) == expected(cell, 1.1)
        assert relayout["sliders[0].active"] == RADII.index(1.1)
        assert not [k for k in relayout if k.startswith("sliders[") and "[0]" not in k]
        for radius, step in zip(RADII, relayout["sliders[0].steps"], strict=True):
            assert state_names(fig, step["args"][0]["visible"]) == expected(cell, radius)
    start = fig.layout.sliders[0].steps  # the slider opens with the start option's steps
    assert [list(s.args) for s in start] == [
        s["args"] for s in menu.buttons[1].args[1]["sliders[0].steps"]
    ]
    pio.to_json(fig, validate=True)  # serialisable for the static HTML


def test_string_only_controls_give_a_dropdown_and_a_single_value_no_ui():
    it, _ = make(controls={"radius": [0.9], "cell": CELLS})
    fig = it.static_figure()
    assert not fig.layout.sliders and len(fig.layout.updatemenus[0].buttons) == 2
    fixed, _ = make(controls={"radius": [0.9], "cell": ["gru"]})
    fig = fixed.static_figure()
    assert len(fig.data) == 2 and not fig.layout.sliders and not fig.layout.updatemenus


def test_static_mode_creates_no_widget(monkeypatch):
    import ipywidgets

    def no_widgets(*args, **kwargs):
        raise AssertionError("a widget was created in static mode")

    shown = []
    monkeypatch.setattr(ipywidgets.Widget, "__init__", no_widgets)
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    monkeypatch.setenv("SEQLAB_BOOK_BUILD", "1")
    it, _ = make(mode="auto")
    assert it.resolved_mode() == "static"
    it._ipython_display_()
    (fig,) = shown
    assert isinstance(fig, go.Figure) and fig.layout.sliders


# -- live mode ----------------------------------------------------------------------------------
def test_live_mode_builds_widgets_and_redraws_on_change(monkeypatch):
    import ipywidgets

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    monkeypatch.delenv("SEQLAB_BOOK_BUILD", raising=False)
    it, calls = make(mode="auto", title="Gain")
    assert it.resolved_mode() == "live"
    it.display()
    assert isinstance(shown[-1], ipywidgets.VBox)  # after the first figure, drawn into the Output
    slider, dropdown = it._widgets["radius"], it._widgets["cell"]
    assert isinstance(slider, ipywidgets.SelectionSlider)
    assert isinstance(dropdown, ipywidgets.Dropdown)
    assert "length" not in it._widgets  # a single value needs no control
    np.testing.assert_allclose(it.current_figure.data[0].y, gain(0.5, 8, "rnn"))
    slider.value = 1.1
    np.testing.assert_allclose(it.current_figure.data[0].y, gain(1.1, 8, "rnn"))
    dropdown.value = "lstm"
    np.testing.assert_allclose(it.current_figure.data[0].y, gain(1.1, 8, "lstm"))
    assert it.params == {"radius": 1.1, "length": 8, "cell": "lstm"}
    dropdown.value = "rnn"
    slider.value = 0.5
    assert len(calls) == 3, "returning to a computed state uses the cache"


def test_functions_receive_only_the_params_they_name():
    it = Interactive(
        lambda a: a * 2, lambda d: go.Figure(go.Bar(y=[d])), {"a": np.array([1, 2])}, mode="static"
    )
    assert it.controls == {"a": [1, 2]} and [s.data for s in it.states()] == [2, 4]
    bad = Interactive(lambda a: a, lambda d: None, {"a": [1]}, mode="static")
    with pytest.raises(TypeError, match="must return a plotly"):
        bad.static_figure()
    it = Interactive(
        lambda a: a * 2,
        lambda d: go.Figure(go.Bar(y=[d])),
        {"a": [1, 2], "b": ["x"]},
        mode="static",
    )
    assert [s.data for s in it.states()] == [2, 4]
    assert len(it.static_figure().data) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "web"}, "unknown mode"),
        ({"controls": {"radius": []}}, "non-empty list"),
        ({"defaults": {"radius": 0.7}}, "not one of its values"),
        ({"static_controls": {"depth": [1]}}, "unknown control"),
        ({"slider": "depth"}, "not a control"),
        ({"max_states": 4}, "max_states"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


# -- Plotly builders ------------------------------------------------------------------------------
def test_heatmap_keeps_repeated_characters_apart():
    text = "hello"
    fig = heatmap_figure(np.eye(5), x_labels=char_labels(text), y_labels=char_labels(text))
    assert list(fig.layout.xaxis.ticktext) == ["h", "e", "l", "l", "o"]
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2, 3, 4]
    assert fig.layout.yaxis.autorange == "reversed"
    assert char_labels("a b\n") == ["a", "␣", "b", "⏎"]
    with pytest.raises(ValueError, match="expected 5 x_labels"):
        heatmap_figure(np.eye(5), x_labels=["a"])


def test_line_and_bar_builders():
    fig = line_figure([1, 2, 3], {"a": [1, 10, 100], "b": [2, 3, 4]}, log_y=True, ylabel="loss")
    assert [t.name for t in fig.data] == ["a", "b"]
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.title.text == "loss"
    assert fig.data[0].line.color == style.PALETTE[0]
    with pytest.raises(ValueError, match="shape"):
        line_figure([1, 2], {"a": [1, 2, 3]})
    bars = bar_figure(
        ["T=64", "T=128"], {"rnn": [1.0, 2.0], "gpt": [0.5, 0.6]}, errors={"rnn": [0.1, 0.1]}
    )
    assert len(bars.data) == 2 and bars.layout.barmode == "group"
    assert list(bars.data[0].error_y.array) == [0.1, 0.1]


# -- styles ----------------------------------------------------------------------------------------
def test_paper_rc_sizes_and_fonts():
    assert style.paper_rc("column")["figure.figsize"][0] == pytest.approx(3.3)
    assert style.paper_rc("page", ncols=2)["figure.figsize"][0] == pytest.approx(6.9)
    rc = style.paper_rc("column", nrows=2, height_ratio=0.5)
    assert rc["figure.figsize"][1] == pytest.approx(3.3)
    assert rc["text.usetex"] is False and rc["pdf.fonttype"] == 42
    assert rc["font.family"] == "serif" and rc["mathtext.fontset"] == "cm"
    with pytest.raises(ValueError, match="unknown width"):
        style.paper_rc("poster")
    before = dict(mpl.rcParams)
    with style.paper_style("page"):
        assert tuple(mpl.rcParams["figure.figsize"]) == pytest.approx(
            (6.9, 6.9 * style.GOLDEN / 2), abs=1e-3
        )
    assert mpl.rcParams["figure.figsize"] == before["figure.figsize"]


def test_screen_theme_sets_palette_everywhere():
    old_template = pio.templates.default
    try:
        with mpl.rc_context():
            style.use_screen_theme()
            assert pio.templates.default == style.PLOTLY_TEMPLATE
            assert list(go.Figure().layout.template.layout.colorway) == list(style.PALETTE)
            assert mpl.rcParams["axes.prop_cycle"].by_key()["color"] == list(style.PALETTE)
    finally:
        pio.templates.default = old_template


def test_log_ticks_label_a_range_under_a_decade():
    ticks = style.log_ticks([4.1, 6.7])
    assert len(ticks["tickvals"]) >= 3 and all(3.9 <= t <= 7.1 for t in ticks["tickvals"])
    assert style.log_ticks([0.5, 2000])["ticktext"] == ["1", "10", "100", "1000"]
    assert style.log_ticks([0, -1]) == {}


def test_gpt_and_lstm_get_distinct_colours():
    assert style.cell_color("GPT") == style.cell_color("transformer")
    assert style.cell_color("GPT") != style.cell_color("LSTM") == style.cell_color("lstm")


def test_wall_time_band_never_runs_backwards():
    import pandas as pd

    from seqlab.viz.char_lm import _seed_stats

    h = pd.DataFrame({"seed": [0, 0, 0, 1, 1, 1], "iter": [0, 1, 2] * 2,
                      "time_s": [0, 1, 2, 0, 3, 6], "val_loss": [3, 2, 1, 3, 2, 1.0]})  # fmt: skip
    g = _seed_stats(h, "time_s")
    assert (np.diff(g["x"]) > 0).all() and g["x"].max() == 2
    np.testing.assert_allclose(g[g["x"] == 1]["hi"], 3 - 1 / 3)  # seed 1 at t = 1
