"""Chapter 8: the measured comparison table, the recommendation and the metric pitfalls.

Hand-made measurements: ``recommend`` must change its answer when the measurements change,
exclude what the latency budget excludes, say "tied" when the seeds cannot separate, and name
the argument of a bad constraint. The table marks a winner only where the tie rule allows one
and flags a measured contradiction of the claim. Fast: no training, tiny timings.
"""

from __future__ import annotations

import math
import time
import types
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from seqlab.experiments.choosing import ARCHS, CostsConfig, decode_models, stream_bytes
from seqlab.experiments.choosing_table import comparison_table
from seqlab.experiments.metric_pitfalls import binary_scores, bleu_pitfalls
from seqlab.experiments.recommend import Constraints, measurements, recommend
from seqlab.experiments.results import Result


def _measured(
    train=None, token=None, bpc=None, spread=0.01, lengths=(16, 64), positions=(16, 64)
) -> pd.DataFrame:
    """Long measurements: per model a base value; time grows as x^1 (train) or x^0 (token).
    Three samples each, spread ``spread`` (relative)."""
    train = train or {"rnn": 4.0, "lstm": 2.0, "gru": 3.0, "transformer": 1.0}
    token = token or {"rnn": 0.1, "lstm": 0.2, "gru": 0.15, "transformer": 0.5}
    bpc = bpc or {"rnn": 3.0, "lstm": 2.5, "gru": 2.6, "transformer": 2.0}
    rows = []
    for m in ARCHS:
        for s, jitter in enumerate((1 - spread, 1.0, 1 + spread)):
            for T in lengths:
                rows.append(("cpu", m, "train_ms", T, s, train[m] * T / 16 * jitter))
            for p in positions:
                rows.append(("cpu", m, "token_ms", p, s, token[m] * jitter))
            rows.append(("cpu", m, "bpc", np.nan, s, bpc[m] * jitter))
    return pd.DataFrame(rows, columns=["device", "model", "quantity", "x", "sample", "value"])


def test_the_choice_follows_the_measurements():
    m = _measured()
    assert recommend(Constraints(64), m).choice == "transformer"  # lowest bpc
    better_lstm = _measured(bpc={"rnn": 3.0, "lstm": 1.5, "gru": 2.6, "transformer": 2.0})
    rec = recommend(Constraints(64), better_lstm)
    assert rec.choice == "lstm" and rec.runner_up == "transformer" and not rec.tied
    assert any("Quality" in d for d in rec.drivers)
    # compute-limited: the training step decides first (the Transformer is fastest here)
    fast = recommend(Constraints(64, budget="compute-limited"), better_lstm)
    assert fast.choice == "transformer"
    slow_tf = _measured(train={"rnn": 4.0, "lstm": 2.0, "gru": 3.0, "transformer": 9.0})
    assert recommend(Constraints(64, budget="compute-limited"), slow_tf).choice == "lstm"


def test_the_latency_budget_excludes_and_can_leave_nothing():
    m = _measured()
    rec = recommend(Constraints(64, latency_ms=0.3), m)
    assert "transformer" in rec.excluded and rec.choice == "lstm"  # best bpc of the rest
    rec = recommend(Constraints(64, latency_ms=0.12), m)
    assert rec.choice == "rnn" and set(rec.excluded) == {"lstm", "gru", "transformer"}
    none = recommend(Constraints(64, latency_ms=0.01), m)
    assert none.choice is None and "No model" in none.summary()


def test_a_difference_within_the_spread_is_tied():
    same = {"rnn": 3.0, "lstm": 2.0, "gru": 2.0, "transformer": 2.0}
    equal_speed = {m: 2.0 for m in ARCHS}
    rec = recommend(Constraints(64), _measured(train=equal_speed, bpc=same, spread=0.05))
    assert set(rec.tied) == {"lstm", "gru", "transformer"} and rec.runner_up == "rnn"
    assert rec.summary().startswith("Tied")


def test_extrapolated_lengths_are_flagged():
    rec = recommend(Constraints(1024), _measured())
    assert rec.estimates["extrapolated"].all()
    # train_ms grows as T: 1024 / 16 times the base value, from the fitted power law
    assert rec.estimates.loc["transformer", "train_ms"] == pytest.approx(64.0, rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"seq_len": 0}, "seq_len"), ({"seq_len": 2.5}, "seq_len"),
     ({"seq_len": 8, "latency_ms": 0}, "latency_ms"),
     ({"seq_len": 8, "latency_ms": "fast"}, "latency_ms"),
     ({"seq_len": 8, "device": ""}, "device"), ({"seq_len": 8, "budget": "lots"}, "budget")],
)  # fmt: skip
def test_bad_constraints_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Constraints(**kwargs)


def test_bad_measurements_and_devices_are_refused():
    m = _measured()
    with pytest.raises(ValueError, match="device 'cuda'"):
        recommend(Constraints(64, device="cuda"), m)
    with pytest.raises(ValueError, match="measurements"):
        recommend(Constraints(64), m.drop(columns="sample"))
    with pytest.raises(ValueError, match="bpc"):
        recommend(Constraints(64), m[m.quantity != "bpc"])
    with pytest.raises(TypeError, match="Constraints"):
        recommend({"seq_len": 64}, m)


def test_an_update_is_fast():
    m = _measured()
    recommend(Constraints(256), m)
    start = time.perf_counter()
    for T in (16, 64, 256, 1024, 4096):
        recommend(Constraints(T, latency_ms=0.3), m)
    ms = (time.perf_counter() - start) / 5 * 1e3
    print(f"recommend: {ms:.1f} ms per update")
    if ms > 100:
        warnings.warn(f"recommend: {ms:.0f} ms per update (a loaded machine?)", stacklevel=1)
    assert ms < 300


def _result(**values):
    return types.SimpleNamespace(**values)


def _table_results(lstm_copy=(0.9, 0.92, 0.95), tf_copy=(0.2, 0.25, 0.3)):
    cfg = CostsConfig(lengths=(16, 64), positions=(16, 64))
    train = pd.DataFrame(
        [(r, m, T, "ok", base * T * (1 + 0.01 * r), 1.0, 8)
         for r in range(3) for m, base in zip(ARCHS, (4, 3, 3.5, 1), strict=True)
         for T in (16, 64)],
        columns=["round", "model", "seq_len", "status", "median_ms", "tokens_per_s", "batch_size"],
    )  # fmt: skip
    stream = pd.DataFrame(
        [(r, m, p, base * (1 + 0.01 * r)) for r in range(3)
         for m, base in zip(ARCHS, (0.1, 0.1, 0.1, 0.1), strict=True) for p in (16, 64)],
        columns=["round", "model", "position", "ms_per_token"],
    )  # fmt: skip
    memory = pd.DataFrame([(m, p, b * (p if m == "transformer" else 1)) for m, b in
                           zip(ARCHS, (256, 512, 256, 512), strict=True) for p in (16, 64)],
                          columns=["model", "position", "state_bytes"])  # fmt: skip
    values = dict(train=train, stream=stream, memory=memory, device="cpu",
                  params=dict(zip(ARCHS, (100, 400, 300, 500), strict=True)))  # fmt: skip
    costs = Result("costs", cfg, values, provenance={})
    lm = _result(runs=pd.DataFrame(
        [(c, s, 1000, 1e4, v + 0.01 * s) for c, v in (("rnn", 2.0), ("gru", 1.8), ("lstm", 1.7))
         for s in range(3)], columns=["cell", "seed", "n_params", "tokens_per_s", "val_loss"]))  # fmt: skip
    gpt = _result(runs=pd.DataFrame(
        [(m, s, 1000, 2e4, v + 0.01 * s) for m, v in (("GPT", 1.5), ("LSTM", 1.7))
         for s in range(3)], columns=["model", "seed", "n_params", "tokens_per_s", "val_loss"]))  # fmt: skip
    copy = _result(runs=pd.DataFrame(
        [(c, 10, s, a) for c, accs in (("rnn", (0.1, 0.12, 0.11)), ("gru", (0.9, 0.91, 0.93)),
                                       ("lstm", lstm_copy)) for s, a in enumerate(accs)]
        + [("rnn", 5, 0, 1.0)], columns=["cell", "T", "seed", "score"]).assign(n_params=50))  # fmt: skip
    long_range = _result(runs=pd.DataFrame(
        [("transformer", 10, s, a) for s, a in enumerate(tf_copy)]
        + [("lstm", 10, s, a) for s, a in enumerate(lstm_copy)],
        columns=["cell", "T", "seed", "score"]).assign(n_params=50))  # fmt: skip
    return {"costs": costs, "lm": lm, "gpt": gpt, "copy": copy, "long_range": long_range}


def test_the_table_marks_winners_by_the_tie_rule_and_flags_contradictions():
    t = comparison_table(_table_results()).set_index(["property", "model"])
    assert len(t) == 8 * 4
    # training step at T = 64: the Transformer (base 1) beats all three recurrent layers
    assert t.loc[("parallelism over time", "transformer"), "best"]
    assert not t.loc[("parallelism over time", "transformer"), "contradicts"]
    assert t.loc[("parallelism over time", "transformer"), "growth"] == pytest.approx(1.0)
    # copy task: LSTM and GRU beat the Transformer, against the claim
    assert t.loc[("long-range dependencies", "transformer"), "contradicts"]
    assert not t.loc[("long-range dependencies", "transformer"), "best"]
    # streaming: all equal up to 2 % -> no winner, no contradiction
    assert not t.xs("streaming / latency")["best"].any()
    assert "tied" in t.loc[("streaming / latency", "rnn"), "verdict"]
    # memory: exact bytes; RNN and GRU hold the least at p = 64
    best = t.xs("memory")["best"]
    assert set(best[best].index) == {"rnn", "gru"}
    assert t.loc[("memory", "transformer"), "value"] == 512 * 64
    # quality: the GPT's 1.5 bpc-equivalent wins; the link names both chapters
    assert t.loc[("quality at equal parameters", "transformer"), "best"]
    assert "03_gru.html" in t.loc[("quality at equal parameters", "rnn"), "link"]
    assert "05_transformer.html" in t.loc[("quality at equal parameters", "rnn"), "link"]


def test_measurements_from_the_results_feed_recommend():
    r = _table_results()
    lm = pd.DataFrame({"model": ["rnn"] * 3 + ["lstm"] * 3 + ["gru"] * 3 + ["transformer"] * 3,
                       "seed": [0, 1, 2] * 4, "bpc": [3, 3.1, 3.05, 2, 2.1, 2.05, 2.5, 2.6,
                                                       2.55, 1, 1.1, 1.05]})  # fmt: skip
    m = measurements(r["costs"], lm)
    assert set(m["quantity"]) == {"train_ms", "token_ms", "bpc"} and set(m["device"]) == {"cpu"}
    assert recommend(Constraints(64), m).choice == "transformer"
    lm.loc[lm.model == "lstm", "bpc"] -= 1.5  # the LSTM now learns best
    assert recommend(Constraints(64), measurements(r["costs"], lm)).choice == "lstm"


def test_the_table_needs_every_result():
    r = _table_results()
    del r["copy"]
    with pytest.raises(KeyError, match="copy"):
        comparison_table(r)


def test_stream_memory_is_read_off_the_tensors():
    cfg = CostsConfig(positions=(4, 16), hidden_size=16, nhead=2)
    models = decode_models(cfg, torch.device("cpu"))
    H = cfg.hidden_size
    assert stream_bytes(models["rnn"], 16, torch.device("cpu")) == H * 4
    assert stream_bytes(models["lstm"], 16, torch.device("cpu")) == 2 * H * 4
    # keys and values of one layer, p positions, C = H, float32
    assert stream_bytes(models["transformer"], 16, torch.device("cpu")) == 2 * 16 * H * 4


def test_costs_config_names_bad_fields():
    with pytest.raises(ValueError, match="rounds"):
        CostsConfig(rounds=2)
    with pytest.raises(ValueError, match="lengths"):
        CostsConfig(lengths=())


def test_accuracy_rewards_the_majority_class_f1_does_not():
    truth = np.array([False] * 95 + [True] * 5)
    never = binary_scores(np.zeros(100, dtype=bool), truth)
    assert never["accuracy"] == 0.95 and never["f1"] == 0.0
    half = binary_scores(np.r_[np.zeros(95, bool), [True, True, True, False, False]], truth)
    assert half["precision"] == 1.0 and half["recall"] == 0.6
    assert half["f1"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="shape"):
        binary_scores(np.zeros(3), np.zeros(4))


def test_bleu_pitfalls_show_their_differences():
    refs = ["12345", "678", "90210", "4711", "31415", "2718"]
    preds = ["12345", "67", "90211", "4711", "3141", "2781"]
    scores, subsets = bleu_pitfalls(preds, refs, n_subsets=20, size=4, seed=0)
    assert scores["arguments swapped"] != scores["corpus BLEU, characters"]
    assert scores["mean of sentence BLEUs"] != scores["corpus BLEU, characters"]
    assert len(subsets) == 20 and subsets.std() > 0
    assert math.isfinite(scores["corpus BLEU, 13a words"])


def test_the_interactive_precomputes_its_presets_and_draws_the_choice():
    from seqlab.viz.choosing import recommend_interactive

    when = recommend_interactive(_measured(), seq_lens=(16, 64), latencies=(0.3, math.inf))
    fig = when.static_figure()
    assert len(when.states()) == 2 * 2 * 1 * 2  # seq_len x latency x device x budget
    assert fig.layout.sliders and fig.layout.updatemenus
    titles = {s.data[1].choice for s in when.states()}
    assert titles == {"lstm", "transformer"}  # the latency budget 0.3 ms excludes the GPT
    assert when.make_figure(seq_len=64, latency_ms=0.3).layout.title.text.startswith("Choose LSTM")
