"""Figure builders and interactives of the LSTM and GRU chapters, headless."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from seqlab.viz.cell_gradient_figures import (
    CELL_CHOICES,
    cell_gradient_figure,
    cell_gradient_interactive,
    cell_gradient_state,
)
from seqlab.viz.gate_figures import gate_interactive, text_grid, text_heatmap_figure
from seqlab.viz.memory_figures import delay_figure, loss_curves_figure, position_figure
from seqlab.viz.timing_figures import timing_figure, timing_interactive


def test_text_grid_breaks_lines_and_wraps():
    R, W, cells = text_grid("ab\ncdef", width=3)
    assert (R, W) == (3, 3)
    assert cells.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [2, 0]]


def test_text_heatmap_places_values():
    fig = text_heatmap_figure("ab\nc", np.array([0.1, 0.2, 0.3, 0.4]), field="f")
    z = np.array(fig.data[0].z, dtype=float)
    assert z[0, 0] == 0.1 and z[1, 0] == 0.4 and np.isnan(z[1, 1])
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 1.0)
    with pytest.raises(ValueError, match="values of shape"):
        text_heatmap_figure("abc", np.zeros(2))


def test_gate_interactive_states_and_speed():
    rng = np.random.default_rng(0)
    text = "ROMEO:\nhello there\n"
    trace = {k: rng.random((len(text), 6)) for k in ("c", "h", "i", "f", "o")}
    inter = gate_interactive(trace, text, units=[4, 1], notes={4: "line position"})
    assert len(inter.states()) == 2 * 5
    start = time.perf_counter()
    fig = inter.make_figure(unit=3, field="o")  # live: any unit
    assert time.perf_counter() - start < 0.1
    np.testing.assert_allclose(
        np.nanmax(np.array(fig.data[0].z, dtype=float)), trace["o"][:, 3].max()
    )
    static = inter.static_figure()
    assert static.layout.sliders and static.layout.updatemenus
    assert "line position" in inter.make_figure(unit=4, field="c").layout.title.text


@pytest.mark.parametrize("cell", list(CELL_CHOICES))
def test_cell_gradient_state(cell):
    s = cell_gradient_state(cell, rho=1.0, T=30, hidden=16)
    assert s["measured"].shape == (30,) and s["measured"][0] == pytest.approx(1.0)
    assert np.isfinite(s["factor"])
    assert isinstance(cell_gradient_figure(s), go.Figure)


def test_forget_bias_keeps_the_lstm_gradient():
    weak = cell_gradient_state("LSTM, b_f = 0", rho=1.0, T=60, hidden=16)["at_T"]
    strong = cell_gradient_state("LSTM, b_f = 3", rho=1.0, T=60, hidden=16)["at_T"]
    assert strong > 100 * weak


def test_cell_gradient_interactive_is_fast_and_static():
    inter = cell_gradient_interactive(rhos=(0.9, 1.0), lengths=(20, 40), static_T=20, hidden=16)
    start = time.perf_counter()
    inter.make_figure(cell="GRU", rho=0.9, T=40)
    assert time.perf_counter() - start < 0.1
    assert len(inter.states()) == len(CELL_CHOICES) * 2
    with pytest.raises(ValueError, match="unknown cell"):
        cell_gradient_state("Transformer")


def _sweep():
    return pd.DataFrame(
        {"T": [5, 5, 10, 10], "cell": ["rnn", "lstm"] * 2, "score": [1.0, 0.9, 0.2, 0.6],
         "baseline": [0.125] * 4}
    )  # fmt: skip


def test_memory_figures():
    fig = delay_figure(_sweep())
    assert [t.name for t in fig.data] == ["RNN", "LSTM", "no memory"]
    assert list(fig.data[2].y) == [0.125, 0.125]
    assert delay_figure(_sweep(), metric="MSE").layout.yaxis.type == "log"
    fig = position_figure({"a": [0.1, 0.9], "b": [0.5, 0.5]}, chance=0.1)
    assert len(fig.data) == 3
    history = pd.DataFrame(
        {"iter": [-1, 0, 1], "time_s": [0, 0.5, 1.0], "val_loss": [4.0, np.nan, 3.0],
         "cell": "lstm", "params": 100}
    )  # fmt: skip
    fig = loss_curves_figure(history)
    assert list(fig.data[0].y) == [4.0, 3.0] and "100 params" in fig.data[0].name


def _timings(batch):
    rows = []
    for model in ("rnn", "lstm"):
        for impl in ("fused", "scratch"):
            for T in (8, 32):
                rows.append({"model": model, "impl": impl, "seq_len": T, "status": "ok",
                             "median_ms": T * batch * (2 if impl == "scratch" else 1), "iqr_ms": 0.1})  # fmt: skip
    return pd.DataFrame(rows)


def test_timing_figure_and_interactive():
    fig = timing_figure(_timings(1))
    assert len(fig.data) == 4 and fig.layout.xaxis.type == "log"
    calls = []

    def measure(lengths, batch, device):
        calls.append((lengths, batch, device))
        return _timings(batch)

    inter = timing_interactive(
        measure, {"8, 32": (8, 32)}, [1, 4, 16], ["cpu"], static_batches=[1, 4]
    )
    assert len(inter.states()) == 2 and calls == [((8, 32), 1, "cpu"), ((8, 32), 4, "cpu")]
    inter.make_figure(batch=16)  # live: a batch size outside the static grid re-measures
    assert calls[-1] == ((8, 32), 16, "cpu")
    assert inter.static_figure().layout.sliders
