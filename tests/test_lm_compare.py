"""Chapters 2-3: language models over seeds, the n-gram comparison, the effective-context tail,
the memory sweeps' tie-rule verdicts and the probes' untrained column."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from seqlab.experiments.char_lm import CharLMConfig, char_lm, hidden_sizes
from seqlab.experiments.lm_compare import (
    LMCompareConfig,
    LMContextConfig,
    context_tail,
    eval_chars,
    lm_compare,
    lm_context,
    lm_table,
    ngram_orders,
    ngram_position,
    versus_level,
)
from seqlab.experiments.memory_tasks import delay_verdicts, longest_passing
from seqlab.experiments.param_budget import lm_param_count
from seqlab.experiments.seeds import phrase_up_to

TINY = dict(hidden_size=8, n_embd=4, batch_size=2, block_size=8, max_iters=3, eval_interval=3,
            eval_iters=1, warmup_iters=1, reference="lstm")  # fmt: skip
NGRAM = pd.DataFrame(
    {
        "order": [1, 1, 2, 3],
        "discount": [0.5, 1.0, 1.0, 1.0],
        "val_loss": [3.4, 3.3, 2.49, 2.05],
    }  # fmt: skip
).assign(bpc=lambda d: d.val_loss / np.log(2), ppl=lambda d: np.exp(d.val_loss))


def test_ngram_orders_keeps_the_best_discount_per_order():
    by_order = ngram_orders(NGRAM)
    assert by_order["order"].tolist() == [1, 2, 3]
    assert by_order.loc[0, "discount"] == 1.0 and by_order.loc[0, "val_loss"] == 3.3


@pytest.mark.parametrize(
    ("loss", "words"),
    [
        (2.08, "between the 2-gram's 2.490 and the 3-gram's 2.050"),
        (1.90, "below every n-gram tried (best 2.050)"),
        (3.50, "above even the 1-gram's 3.300"),
    ],
)
def test_ngram_position_in_words(loss, words):
    assert ngram_position(loss, NGRAM) == words


def _runs():
    rows = []
    for cell, losses in {"rnn": (2.10, 2.11, 2.12), "lstm": (2.05, 2.06, 2.07)}.items():
        for seed, loss in enumerate(losses):
            rows.append(dict(cell=cell, seed=seed, n_params=1000, steps=300, val_loss=loss,
                             train_s=1.0))  # fmt: skip
    return pd.DataFrame(rows)


def test_lm_table_best_first_with_ngrams_below():
    table = lm_table(_runs(), NGRAM, orders=(2, 3))
    assert table.index.tolist() == ["LSTM", "RNN", "2-gram (Kneser-Ney)", "3-gram (Kneser-Ney)"]
    assert table.loc["LSTM", "val loss (nats/char)"] == "2.060 ± 0.006"
    assert table.loc["LSTM", "bpc"] == f"{2.06 / np.log(2):.3f}"
    assert table.loc["LSTM", "perplexity"] == f"{np.exp(2.06):.2f}"
    assert table.loc["LSTM", "seeds"] == "3" and table.loc["RNN", "seed range"] == "2.100 to 2.120"


def test_stacked_layers_keep_the_parameter_budget():
    one = CharLMConfig(cells=("lstm",), **TINY, n_layer=1)
    two = CharLMConfig(cells=("lstm",), **TINY, n_layer=2)
    V = 20
    H1, H2 = hidden_sizes(one, V)["lstm"], hidden_sizes(two, V)["lstm"]
    assert H1 == 8 and H2 < H1
    budget = lm_param_count("lstm", V, 4, 8)
    assert abs(lm_param_count("lstm", V, 4, H2, 2) - budget) <= abs(
        lm_param_count("lstm", V, 4, H2 + 1, 2) - budget
    )


def test_lm_compare_one_cached_run_per_cell_and_seed(monkeypatch):
    config = LMCompareConfig(CharLMConfig(cells=("rnn", "lstm"), **TINY), seeds=(0, 1, 2))
    result = lm_compare(config)
    runs = result.runs
    assert len(runs) == 6 and set(runs["seed"]) == {0, 1, 2}
    assert set(runs.columns) >= {"cell", "seed", "val_loss", "bpc", "ppl", "steps", "n_params"}
    assert (runs["steps"] == 3).all()
    assert np.allclose(runs["bpc"], runs["val_loss"] / np.log(2))
    assert result.eval_chars == eval_chars(config.char_lm) == 2 * 8
    assert set(result.history["seed"]) == {0, 1, 2}
    # a wider comparison with the same config trains only the new cell
    from seqlab.experiments import char_lm as char_lm_module

    calls = []
    real = char_lm_module.train_char_lm
    monkeypatch.setattr(
        char_lm_module, "train_char_lm", lambda *a, **k: calls.append(a[1]) or real(*a, **k)
    )
    wider = LMCompareConfig(CharLMConfig(cells=("rnn", "gru", "lstm"), **TINY), (0, 1, 2))
    again = lm_compare(wider)
    assert calls == ["gru"] * 3
    same = again.runs[again.runs.cell != "gru"].reset_index(drop=True)
    pd.testing.assert_frame_equal(same[runs.columns], runs)


def test_lm_compare_hands_the_runs_to_workers_in_order(monkeypatch):
    """Chapter 1's seeds run two at a time in standard (``processes``): the runs go to
    :func:`map_runs` (spawning workers is tested in test_parallel.py; here a loop stands in) and
    come back in the order of the seeds, with the numbers of a run in this process."""
    from seqlab.experiments import lm_compare as module

    calls = []

    def loop(fn, tasks, processes, progress, desc):
        calls.append(processes)
        return [fn(*args) for args in tasks]

    monkeypatch.setattr(module, "map_runs", loop)
    config = LMCompareConfig(CharLMConfig(cells=("rnn",), **{**TINY, "reference": "rnn"}),
                             seeds=(10, 11, 12), processes=2)  # fmt: skip
    runs = lm_compare(config, device="cpu").runs
    assert calls == [2] and runs["seed"].tolist() == [10, 11, 12]
    alone = char_lm(replace(config.char_lm, seed=11), device="cpu", cache=False).summary
    assert runs.loc[1, "val_loss"] == alone.loc["rnn", "val_loss"]  # bit for bit


def _seeded(losses) -> pd.DataFrame:
    return pd.DataFrame({"seed": range(len(losses)), "val_loss": losses})


def test_versus_level_applies_the_tie_rule_to_a_fixed_baseline():
    better, words = versus_level(_seeded([2.10, 2.11, 2.12]), 1.5, "char-RNN", "7-gram")
    assert better == "7-gram"
    assert words == "above the 7-gram (2.110 ± 0.006 vs 1.500; mean ± s.e. over 3 seeds)"
    better, words = versus_level(_seeded([1.40, 1.41, 1.42]), 1.5, "char-RNN", "7-gram")
    assert better == "char-RNN" and words.startswith("below the 7-gram (1.410 ± 0.006")
    # a seed on each side of the level: tied, whatever the mean says
    better, words = versus_level(_seeded([1.45, 1.46, 1.52]), 1.5, "char-RNN", "7-gram")
    assert better is None and words.startswith("tied with the 7-gram")
    with pytest.raises(ValueError, match="seeds"):
        versus_level(_seeded([2.1, 2.2]), 1.5, "char-RNN", "7-gram")


def test_context_tail_sees_the_far_end():
    k = np.arange(40)
    rows = []
    for cell, rate in (("rnn", 1.0), ("lstm", 0.05)):
        for seed in range(3):
            s = np.exp(-rate * k)
            rows.append(pd.DataFrame(dict(cell=cell, seed=seed, k=k, saliency=s, relative=s)))
    tail = context_tail(pd.concat(rows), ks=(1, 10, 50))
    assert list(tail.columns) == ["cell", "seed", "k = 1", "k = 10", "k = 39", "mass beyond 10"]
    lstm, rnn = tail[tail.cell == "lstm"].iloc[0], tail[tail.cell == "rnn"].iloc[0]
    assert lstm["k = 39"] == pytest.approx(np.exp(-0.05 * 39))
    assert lstm["mass beyond 10"] > 0.5 > rnn["mass beyond 10"]


def test_lm_context_every_cell_and_seed():
    config = LMContextConfig(
        LMCompareConfig(CharLMConfig(cells=("rnn", "lstm"), **TINY), seeds=(0, 1, 2)),
        length=12,
        n_windows=2,
    )
    result = lm_context(config)
    assert len(result.tail) == 6 and len(result.fits) == 6
    assert set(result.saliency["k"]) == set(range(12))


def _sweep(scores: dict[tuple[str, int], tuple[float, ...]], baseline=0.125):
    rows = []
    for (cell, T), values in scores.items():
        for seed, score in enumerate(values):
            rows.append(dict(cell=cell, T=T, seed=seed, score=score, baseline=baseline))
    return pd.DataFrame(rows)


def test_delay_verdicts_say_tied_within_the_spread():
    runs = _sweep({("rnn", 10): (0.90, 0.95, 1.0), ("lstm", 10): (0.2, 0.25, 0.3),
                   ("rnn", 50): (0.13, 0.61, 0.3), ("lstm", 50): (0.2, 0.4, 0.5)})  # fmt: skip
    table = delay_verdicts(runs, lower_is_better=False)
    assert table.loc[10, "best"] == "RNN" and table.loc[10, "verdict"].startswith("RNN highest")
    assert "=" in table.loc[50, "best"] and "tied" in table.loc[50, "verdict"]
    assert table.loc[10, "RNN"] == "0.950 ± 0.029"


def test_longest_passing_never_says_up_to_zero():
    runs = _sweep({("rnn", 10): (0.9, 0.9, 0.9), ("rnn", 20): (0.1, 0.1, 0.1),
                   ("lstm", 10): (0.1, 0.2, 0.1), ("lstm", 20): (0.2, 0.1, 0.1)})  # fmt: skip
    ok = longest_passing(runs, lambda m, b: m > 0.5)
    assert ok == {"rnn": 10, "lstm": None}
    assert phrase_up_to(ok["lstm"], [10, 20]) == "at no tested T (10 to 20)"
    assert "T = 0" not in phrase_up_to(ok["rnn"], [10, 20])


def test_unit_probe_has_an_untrained_column():
    from seqlab.experiments.unit_probes import UnitProbeConfig, unit_probe

    config = UnitProbeConfig(
        char_lm=CharLMConfig(cells=("lstm",), **TINY), n_chars=1500, passage_chars=50
    )
    best = unit_probe(config).best
    assert {"r_untrained", "gain"} <= set(best.columns)
    assert np.allclose(best["gain"], best["r"].abs() - best["r_untrained"])
    assert best["gain"].is_monotonic_decreasing
