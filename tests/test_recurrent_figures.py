"""Figures and interactives of the LSTM and GRU chapters (gates, memory, timing), headless."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from seqlab.experiments import timing as timing_experiment
from seqlab.experiments.param_budget import param_counts
from seqlab.experiments.timing import TimingConfig, recurrent_timing
from seqlab.viz import timing as timing_viz
from seqlab.viz.memory_tasks import delay_figure, position_figure
from seqlab.viz.param_budget import param_count_figure
from seqlab.viz.timing import timing_figure, timing_interactive
from seqlab.viz.unit_probes import gate_interactive, text_grid, text_heatmap_figure


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


def test_param_counts_and_figure():
    counts = param_counts(32, hidden_sizes=(16, 64))
    assert (counts["formula"] == counts["counted"]).all() and len(counts) == 6
    assert dict(zip(counts["cell"], counts["G"], strict=True)) == {"rnn": 1, "gru": 3, "lstm": 4}
    fig = param_count_figure(counts)
    assert len(fig.data) == 6 and fig.layout.xaxis.type == "log"


def test_timing_figure_and_interactive(monkeypatch):
    config = TimingConfig(hidden_size=8, lengths={"4, 8": (4, 8), "4": (4,)}, batches=(1, 2, 3),
                          static_batches=(1, 2), repeats=1)  # fmt: skip
    result = recurrent_timing(config, device="cpu")
    timings = result.timings
    assert set(timings["batch_size"]) == {1, 2} and set(timings["seq_len"]) == {4, 8}
    fig = timing_figure(timings[timings["batch_size"] == 1])
    assert len(fig.data) == 6 and fig.layout.xaxis.type == "log"  # 3 cells x fused/scratch

    calls = []

    def measure(lengths, batch_size, device, *args, **kwargs):
        calls.append((tuple(lengths), batch_size, device))
        return timings[timings["batch_size"] == 1]

    monkeypatch.setattr(timing_viz, "measure_timing", measure)
    inter = timing_interactive(result, ["cpu"])
    assert len(inter.states()) == 2 and calls == []  # the static states come from the result
    inter.make_figure(batch_size=3)  # live: a batch size outside the static grid re-measures
    inter.make_figure(batch_size=1, lengths_name="4")
    assert calls == [((4, 8), 3, "cpu"), ((4,), 1, "cpu")]
    assert inter.static_figure().layout.sliders
    assert timing_experiment.measure_timing is not measure  # only the viz module was patched
