"""Chapter 8's "parameters at equal quality" row (read from chapter 7's sweep table), the
training-speed row from one timing, and chapter 8b's measured solar-cycle asymmetry.

Hand-made tables only: the answers must follow the numbers (a winner moves when the losses
do), the learning-rate check's rows must not count, and a missing sweep table must say so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.experiments.choosing_table import _decided_by_bounds, comparison_table
from seqlab.experiments.equal_quality import (
    COUNT,
    comparison_runs,
    main_rates,
    params_at_loss,
    reference_loss,
    stored_comparison,
)
from seqlab.experiments.profiles import config_for
from seqlab.experiments.scaling import SweepConfig, sweep_specs
from seqlab.experiments.time_series import cycle_asymmetry, cycle_shape

sys.path.insert(0, str(Path(__file__).parent))
from test_choosing import _table_results  # noqa: E402


def _runs(curves: dict[str, list[float]], sizes=None, seeds=(0, 1, 2), spread=0.01):
    """Comparison runs: per arch a loss per size (sizes 1e3, 1e4, 1e5 by default), every seed
    shifted by ``spread * (seed - 1)``."""
    rows = []
    for arch, losses in curves.items():
        ns = sizes or [10 ** (3 + i) for i in range(len(losses))]
        for n, loss in zip(ns, losses, strict=True):
            for s in seeds:
                rows.append({"arch": arch, "n_layer": 1, "n_head": 0, "n_embd": n,
                             "hidden_size": n, "seed": s, "learning_rate": 1e-3, COUNT: n,
                             "val_loss": loss + spread * (s - 1), "max_iters": 100})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_crossing_is_interpolated_in_log_n_and_bounds_are_named():
    runs = _runs({"gpt": [3.0, 2.0, 1.0], "lstm": [2.5, 2.4, 2.3]}, spread=0.0)
    got = params_at_loss(runs, 1.5).set_index(["arch", "seed"])
    assert got.loc[("gpt", 0), "log10_n"] == pytest.approx(4.5)
    assert got.loc[("gpt", 0), "status"] == "interpolated"
    assert got.loc[("lstm", 0), "status"] == "not reached"
    assert got.loc[("lstm", 0), "bound"] == 1e5
    low = params_at_loss(runs, 2.6).set_index(["arch", "seed"])
    assert low.loc[("lstm", 1), "status"] == "below the smallest"
    assert low.loc[("lstm", 1), "bound"] == 1e3


def test_the_reference_loss_is_the_midpoint_of_what_both_reach():
    runs = _runs({"gpt": [3.0, 2.0, 1.0], "lstm": [2.8, 2.2, 1.6]}, spread=0.0)
    assert reference_loss(runs) == (pytest.approx((1.6 + 2.8) / 2), True)
    apart = _runs({"gpt": [3.0, 2.8], "lstm": [2.2, 2.0]}, spread=0.0)
    assert reference_loss(apart) == (pytest.approx(2.5), False)
    with pytest.raises(ValueError, match="two architectures"):
        reference_loss(apart[apart.arch == "gpt"])


def test_the_row_ranks_by_the_tie_rule_and_moves_with_the_losses():
    r = _table_results()
    # the GPT falls faster with N: it reaches the middle loss at fewer parameters
    r["sweep"] = (_runs({"gpt": [3.0, 2.0, 1.0], "lstm": [3.2, 2.6, 1.4]}), "hand-made")
    t = comparison_table(r).set_index(["property", "model"])
    assert len(t) == 8 * 4
    row = t.xs("parameters at equal quality")
    assert row.loc["transformer", "best"] and not row.loc["lstm", "best"]
    assert row.loc["transformer", "agreement"] == "agrees"
    assert row.loc["rnn", "text"] == "not measured" and not row.loc["gru", "best"]
    assert "07_scaling.html" in row.loc["lstm", "link"]
    # swap the curves: now the LSTM needs fewer, against the claim
    r["sweep"] = (_runs({"lstm": [3.0, 2.0, 1.0], "gpt": [3.2, 2.6, 1.4]}), "hand-made")
    row = comparison_table(r).set_index(["property", "model"]).xs("parameters at equal quality")
    assert row.loc["lstm", "best"] and row.loc["transformer", "contradicts"]
    # within the spread: no winner
    r["sweep"] = (_runs({"lstm": [3.0, 2.0, 1.0], "gpt": [3.0, 2.01, 1.0]}, spread=0.2), "x")
    row = comparison_table(r).set_index(["property", "model"]).xs("parameters at equal quality")
    assert not row["best"].any() and row.loc["lstm", "agreement"] == "undecided"


def test_ranges_that_do_not_overlap_give_bounds_that_decide_only_when_apart():
    r = _table_results()
    r["sweep"] = (_runs({"gpt": [3.0, 2.9, 2.8], "lstm": [2.3, 2.2, 2.1]}), "hand-made")
    row = comparison_table(r).set_index(["property", "model"]).xs("parameters at equal quality")
    assert row.loc["transformer", "text"].startswith("not reached: > 100,000")
    assert row.loc["lstm", "text"].startswith("≤ 1,000")
    # every LSTM seed below 1,000, every GPT seed above 100,000: the order is decided
    assert row.loc["lstm", "best"] and not row.loc["transformer", "best"]
    assert set(row["agreement"]) == {"contradicts"} and "from bounds" in row.loc["lstm", "verdict"]
    # bounds that do not separate (the LSTM's smallest size above the GPT's largest): no winner
    found = pd.DataFrame({
        "model": ["lstm"] * 3 + ["transformer"] * 3, "seed": [0, 1, 2] * 2,
        "status": ["below the smallest"] * 3 + ["not reached"] * 3,
        "bound": [200_000.0] * 3 + [100_000.0] * 3,
    })  # fmt: skip
    assert _decided_by_bounds(found) is None
    assert _decided_by_bounds(found.assign(bound=[1e3] * 3 + [1e5] * 3)) == "lstm"
    assert _decided_by_bounds(found.iloc[1:]) is None  # two seeds are not enough


def test_without_a_sweep_the_row_says_why():
    r = _table_results()
    row = comparison_table(r).set_index(["property", "model"]).xs("parameters at equal quality")
    assert set(row["text"]) == {"not measured"} and set(row["agreement"]) == {"not measured"}
    r["sweep"] = (None, "no sweep table at x.csv: run chapter 7 or `make sweep`")
    row = comparison_table(r).set_index(["property", "model"]).xs("parameters at equal quality")
    assert "make sweep" in row.loc["lstm", "verdict"]


def test_training_speed_comes_from_one_timing_and_follows_it():
    r = _table_results()
    t = comparison_table(r).set_index(["property", "model"]).xs("training speed")
    assert t["source"].iloc[0] == "choosing.costs" and not t["best"].any()  # all 1.0 tok/s
    train = r["costs"].train
    train.loc[train.model == "gru", "tokens_per_s"] = 5.0
    t = comparison_table(r).set_index(["property", "model"]).xs("training speed")
    assert t.loc["gru", "best"] and t.loc["gru", "value"] == pytest.approx(5.0)


def _sweep_table(config: SweepConfig, budget: int, loss) -> pd.DataFrame:
    """Rows for the config's main runs at ``budget`` and a learning-rate check row at 3x the
    rate (which must be ignored) per size."""
    rows = []
    for s in sweep_specs(config):
        if s.max_iters != budget:
            continue
        n = 1000 * (s.n_embd + s.hidden_size)
        row = {**s.fields(), "run_id": s.run_id, COUNT: n,
               "val_loss": loss(s.arch, n) + 0.01 * s.seed}  # fmt: skip
        rows.append(row)
        if s.seed == config.comparison_seeds[0]:
            rows.append({**row, "run_id": "x" + s.run_id, "val_loss": 0.1,
                         "learning_rate": 3 * s.learning_rate})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_stored_table_is_read_at_the_main_rates(tmp_path):
    config = config_for(SweepConfig, "scaling.sweep", "smoke")
    budget = config.lstm_budgets[0]
    missing, note = stored_comparison("smoke", tmp_path / "none.csv")
    assert missing is None and "make sweep" in note
    table = _sweep_table(config, budget, lambda arch, n: 3.0 - 0.1 * np.log10(n))
    table.to_csv(tmp_path / "smoke.csv", index=False)
    runs, note = stored_comparison("smoke", tmp_path / "smoke.csv")
    assert set(runs["arch"]) == {"gpt", "lstm"} and (runs["val_loss"] > 1).all()
    assert len(runs) == (table["val_loss"] > 1).sum() and f"{budget} steps" in note
    rates = main_rates(config, budget)
    assert comparison_runs(table, budget, rates).equals(runs.drop(columns="max_iters"))
    # without the config's rates the most-seeded rate is the main one
    assert len(comparison_runs(table, budget)) == len(runs)


def _sawtooth(rise: int, fall: int, cycles: int) -> pd.Series:
    one = list(np.linspace(0, 100, rise + 1)[:-1]) + list(np.linspace(100, 0, fall + 1)[:-1])
    y = np.array(one * cycles + [0.0])
    return pd.Series(y + np.arange(len(y)) * 1e-6, index=1700 + np.arange(len(y)))


def test_cycle_shape_measures_rise_and_fall_and_their_asymmetry():
    s = _sawtooth(3, 7, 6)
    cycles = cycle_shape(s)
    # the first and last minima lack a full window: 4 complete cycles of 6
    assert len(cycles) == 4 and set(cycles["rise"]) == {3} and set(cycles["fall"]) == {7}
    a = cycle_asymmetry(cycles)
    assert (a["rise"], a["fall"], a["shorter_rise"], a["longer_rise"]) == (3, 7, 4, 0)
    # the same series run backwards rises slowly and falls fast
    back = pd.Series(s.to_numpy()[::-1], index=s.index)
    b = cycle_asymmetry(cycle_shape(back))
    assert (b["rise"], b["fall"], b["longer_rise"]) == (7, 3, 4)
    with pytest.raises(ValueError, match="half_window"):
        cycle_shape(s, half_window=0)


def test_a_partial_table_gives_what_it_has_without_failing():
    """Chapter 7 may still be writing its table (notebooks run side by side): an LSTM with one
    size has no curve, and its cell says it was not measured."""
    r = _table_results()
    runs = _runs({"gpt": [3.0, 2.0, 1.0], "lstm": [2.5]})
    r["sweep"] = (runs, "hand-made")
    row = comparison_table(r).set_index(["property", "model"]).xs("parameters at equal quality")
    assert row.loc["lstm", "text"] == "not measured" and not row["best"].any()
    assert row.loc["transformer", "text"].startswith("≈ ")
