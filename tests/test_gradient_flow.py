"""The gradient-flow experiment and its one interactive (chapters 1 and 2), headless."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from seqlab.experiments.gradient_flow import (
    CELL_CHOICES,
    GradientFlowConfig,
    gradient_flow,
    gradient_flow_state,
    per_step_factor,
)
from seqlab.viz.clipping import clipping_figure
from seqlab.viz.gradient_flow import gradient_flow_figure, gradient_flow_interactive, log_range


def test_state_is_indexed_by_steps_back_and_carries_the_theory_line():
    d = gradient_flow_state("RNN", rho=0.9, T=30, nonlinearity="tanh", hidden_size=16)
    assert d["k"].tolist() == list(range(30))
    assert d["measured"].shape == d["theory"].shape == (30,)
    assert d["measured"][0] == pytest.approx(1.0)  # k = 0: dL/dh_T is the unit readout
    np.testing.assert_allclose(d["theory"], 0.9 ** np.arange(30))
    again = gradient_flow_state("RNN", rho=0.9, T=30, nonlinearity="tanh", hidden_size=16)
    np.testing.assert_array_equal(d["measured"], again["measured"])
    np.testing.assert_array_equal(d["measured"], d["rnn"])  # the RNN is its own reference


@pytest.mark.parametrize("rho", [0.7, 1.0, 1.3])
def test_linear_rnn_factor_matches_rho(rho):
    d = gradient_flow_state("RNN", rho=rho, T=60, nonlinearity="linear", hidden_size=32)
    assert d["factor"] == pytest.approx(rho, rel=0.03)


def test_tanh_vanishes_even_above_one():
    """The chapter's claim: with tanh the gradient shrinks per step even at rho = 1.5."""
    assert gradient_flow_state("RNN", rho=1.5, T=100, nonlinearity="tanh")["factor"] < 1.0


@pytest.mark.parametrize("cell", list(CELL_CHOICES))
def test_every_cell(cell):
    s = gradient_flow_state(cell, rho=1.0, T=30, hidden_size=16)
    assert s["measured"].shape == s["rnn"].shape == (30,) and s["measured"][0] == pytest.approx(1.0)
    assert np.isfinite(s["factor"]) and s["at_T"] == s["measured"][-1]
    fig = gradient_flow_figure(s)
    assert isinstance(fig, go.Figure) and len(fig.data) == (2 if cell == "RNN" else 3)


def test_forget_bias_keeps_the_lstm_gradient():
    weak = gradient_flow_state("LSTM, b_f = 0", rho=1.0, T=60, hidden_size=16)["at_T"]
    strong = gradient_flow_state("LSTM, b_f = 3", rho=1.0, T=60, hidden_size=16)["at_T"]
    assert strong > 100 * weak
    with pytest.raises(ValueError, match="unknown cell"):
        gradient_flow_state("Transformer")


def test_per_step_factor_of_a_geometric_sequence_and_of_too_few_points():
    k = np.arange(20)
    assert per_step_factor(k, 0.5**k) == pytest.approx(0.5)
    with_zeros = np.where(k > 10, 0.0, 2.0**k)  # float32 underflow shows up as zeros
    assert per_step_factor(k, with_zeros) == pytest.approx(2.0)
    assert math.isnan(per_step_factor(k, np.zeros(20)))


def test_log_range_is_fixed_per_length_and_within_float32():
    lo, hi = log_range(100)
    assert lo <= 100 * math.log10(0.4) and hi >= 100 * math.log10(1.5)
    assert log_range(1000) == [-45.0, 38.0]


def test_the_experiment_tabulates_the_states():
    config = GradientFlowConfig(cells=("RNN", "GRU"), nonlinearities=("tanh", "relu"),
                                rhos=(0.8, 1.2), T=20, hidden_size=8)  # fmt: skip
    result = gradient_flow(config, device="cpu")
    assert len(result.factors) == 2 * 2 * 2 and len(result.curves) == 8 * 20
    row = result.factors.query("cell == 'RNN' and nonlinearity == 'relu' and rho == 1.2").iloc[0]
    state = gradient_flow_state("RNN", 1.2, 20, "relu", hidden_size=8)
    assert row["factor"] == pytest.approx(state["factor"])


def test_one_interactive_for_both_chapters():
    rhos = [0.8, 1.0, 1.2]
    rnn = gradient_flow_interactive(rhos=rhos, lengths=[20, 40], static_T=20, hidden_size=8,
                                    input_scales=[1.0, 3.0])  # fmt: skip
    fig = rnn.static_figure()  # chapter 1: the RNN, a dropdown over f and the input scale
    assert len(fig.data) == 2 * len(rhos) * 3 * 2  # two traces per state, 3 f, 2 scales
    assert len(fig.layout.sliders) == 1 and len(fig.layout.sliders[0].steps) == len(rhos)
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == [
        f"f = {f}, input scale = {s}" for f in ("tanh", "relu", "linear") for s in (1, 3)
    ]
    assert sum(t.visible for t in fig.data) == 2  # one state shown at a time
    assert len(rnn.make_figure(rho=1.2, T=40, nonlinearity="linear").data[0].x) == 40  # live: any T

    cells = gradient_flow_interactive(cells=list(CELL_CHOICES), nonlinearities=["tanh"],
                                      rhos=[0.9, 1.0], lengths=[20, 40], static_T=20, hidden_size=16)  # fmt: skip
    assert len(cells.states()) == len(CELL_CHOICES) * 2 * 3  # chapter 2: cell and input scale
    assert cells.defaults["cell"] == "LSTM, b_f = 1"
    start = time.perf_counter()
    cells.make_figure(cell="GRU", rho=0.9, T=40)
    # fast enough for a slider: 100 ms on a quiet machine (the median is checked in
    # test_slider_latency.py); a single wall-clock call on the shared 2-core machine gets 3x
    assert time.perf_counter() - start < 0.3


def test_the_input_scale_control_moves_where_tanh_saturates():
    """Larger inputs saturate tanh (and the gates): the gradient T - 1 steps back shrinks; ReLU
    and the linear RNN are positively homogeneous, so their curves do not move at all."""
    slider = gradient_flow_interactive(cells=list(CELL_CHOICES), hidden_size=16, lengths=[40],
                                       static_T=40, input_scales=[0.1, 1.0, 3.0])  # fmt: skip
    assert slider.defaults["input_scale"] == 1.0 and slider.labels["input_scale"] == "input scale"
    for cell in ("RNN", "GRU", "LSTM, b_f = 1"):
        at_T = [slider.data(cell=cell, nonlinearity="tanh", rho=1.0, T=40, input_scale=s)["at_T"]
                for s in (0.1, 1.0, 3.0)]  # fmt: skip
        assert at_T[0] > at_T[1] > at_T[2], (cell, at_T)
    for f in ("relu", "linear"):
        small, big = (slider.data(cell="RNN", nonlinearity=f, rho=1.2, T=40, input_scale=s)
                      for s in (0.1, 3.0))  # fmt: skip
        np.testing.assert_allclose(small["measured"], big["measured"], rtol=1e-5)
    state = gradient_flow_state("RNN", 1.0, 40, "tanh", hidden_size=16, input_scale=3.0)
    assert state["input_scale"] == 3.0
    np.testing.assert_array_equal(
        state["measured"],
        slider.data(cell="RNN", nonlinearity="tanh", rho=1.0, T=40, input_scale=3.0)["measured"],
    )
    fig = slider.make_figure(cell="RNN", nonlinearity="tanh", rho=1.0, T=40, input_scale=3.0)
    assert "inputs ×3" in fig.layout.title.text
    # its time per update: tests/test_slider_latency.py (median, with and without the control)


def _history() -> pd.DataFrame:
    ok = pd.DataFrame({"iter": range(5), "loss": [4.0, 3.5, 3.0, 2.8, 2.7]})
    ok = ok.assign(grad_norm=[50.0, 5.0, 0.5, 0.4, 0.3], grad_clip=1.0, run="clipped")
    bad = pd.DataFrame({"iter": [0, 1], "loss": [40.0, math.nan], "grad_norm": [3e3, math.nan]})
    bad = bad.assign(grad_clip=None, run="plain")
    return pd.concat([ok, bad], ignore_index=True)


def test_clipping_figure_marks_divergence_and_threshold():
    fig = clipping_figure(_history(), title="t")
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["clipped", "plain"]
    crosses = [t for t in fig.data if t.mode == "markers"]
    assert len(crosses) == 1 and list(crosses[0].y) == [40.0]
    assert fig.layout.yaxis2.type == "log"
    assert any(s.y0 == 1.0 for s in fig.layout.shapes)  # the clipping threshold
