"""seqlab.experiments.seeds: the tie rule, its refusals, and the words it may print."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from seqlab.experiments.seeds import (
    compare,
    format_mean_sem,
    join_words,
    phrase_up_to,
    phrase_values,
    summarize_seeds,
)


def runs(groups: dict, value="val_loss", by="model") -> pd.DataFrame:
    """Long table, one row per (group, seed), from ``{group: [value per seed]}``."""
    return pd.DataFrame(
        [{by: g, "seed": s, value: v} for g, vals in groups.items() for s, v in enumerate(vals)]
    )


CLEAR = {"LSTM": [1.90, 1.91, 1.92], "GRU": [1.95, 1.96, 1.94], "RNN": [2.07, 2.08, 2.09]}


def test_summary_has_n_mean_std_sem_min_max_per_group():
    s = summarize_seeds(runs(CLEAR), "model", "val_loss")
    assert list(s.columns) == ["n", "mean", "std", "sem", "min", "max"]
    assert list(s.index) == ["LSTM", "GRU", "RNN"]  # first-appearance order
    lstm = s.loc["LSTM"]
    assert lstm["n"] == 3 and lstm["mean"] == pytest.approx(1.91)
    assert lstm["std"] == pytest.approx(0.01)  # sample std (ddof=1), not 0.00816
    assert lstm["sem"] == pytest.approx(0.01 / np.sqrt(3))
    assert (lstm["min"], lstm["max"]) == (1.90, 1.92)


def test_clear_winner_is_named_with_every_number_and_the_seed_count():
    c = compare(runs(CLEAR), "model", "val_loss")
    assert c.winner == "LSTM" and c.best == ("LSTM",)
    assert list(c.table.index) == ["LSTM", "GRU", "RNN"]
    assert list(c.table["rank"]) == [1, 2, 3]
    assert c.phrase() == (
        "LSTM lowest (1.910 ± 0.006) vs GRU (1.950 ± 0.006) and RNN (2.080 ± 0.006); "
        "mean ± s.e. over 3 seeds each"
    )
    assert c.phrase_pair("GRU", "LSTM", word="better") == (
        "LSTM better than GRU (1.910 ± 0.006 vs 1.950 ± 0.006; mean ± s.e. over 3 seeds each)"
    )
    # the Welch p-value is scipy's
    row = c.pairs[(c.pairs.a == "LSTM") & (c.pairs.b == "GRU")].iloc[0]
    ref = stats.ttest_ind(CLEAR["LSTM"], CLEAR["GRU"], equal_var=False)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert row["df"] == pytest.approx(ref.df, rel=1e-9)


def test_the_gru_vs_rnn_fault_is_a_tie():
    # issue #9: "GRU lowest at 2.08269 vs the RNN's 2.08323" -- a difference far inside the spread
    c = compare(
        runs({"GRU": [2.08269, 2.0905, 2.0781], "RNN": [2.08323, 2.0790, 2.0889]}),
        "model",
        "val_loss",
    )
    assert c.winner is None and set(c.best) == {"GRU", "RNN"}
    assert c.better("GRU", "RNN") is None
    text = c.phrase()
    assert text == (
        "RNN and GRU tied (2.0837 ± 0.0029 vs 2.0838 ± 0.0036; difference 0.0001 within the "
        "spread; mean ± s.e. over 3 seeds each)"
    )
    assert "lowest" not in text and "lower" not in c.phrase_pair("GRU", "RNN")


def test_both_halves_of_the_rule_are_needed():
    # ranges apart, but Welch p = 0.063 with 3 seeds: tied
    c = compare(runs({"A": [1.0, 1.1, 1.2], "B": [1.21, 1.3, 1.4]}), "model", "val_loss")
    assert not c.pairs["ranges_overlap"].iloc[0] and c.winner is None
    # Welch p = 0.034, but one seed of A lands among B's: tied
    c = compare(
        runs({"A": [0.99, 1.0, 1.01, 1.0, 1.25], "B": [1.2, 1.21, 1.22, 1.2, 1.21]}),
        "model",
        "val_loss",
    )
    assert c.pairs["p_value"].iloc[0] < 0.05 and c.winner is None
    # min_diff: a real but negligible gap is a tie when asked
    c = compare(runs({"A": [1.0, 1.001, 1.002], "B": [1.01, 1.011, 1.012]}), "model", "val_loss")
    assert c.winner == "A"
    c = compare(
        runs({"A": [1.0, 1.001, 1.002], "B": [1.01, 1.011, 1.012]}),
        "model",
        "val_loss",
        min_diff=0.02,
    )
    assert c.winner is None


def test_three_groups_two_tied_at_the_top_one_behind():
    c = compare(
        runs({"RNN": [2.07, 2.08, 2.09], "GRU": [1.915, 1.9, 1.93], "LSTM": [1.91, 1.92, 1.90]}),
        "model",
        "val_loss",
    )
    assert c.best == ("LSTM", "GRU") and c.winner is None
    assert dict(c.table["rank"]) == {"LSTM": 1, "GRU": 1, "RNN": 3}
    assert c.phrase() == (
        "LSTM and GRU tied lowest (1.910 ± 0.006, 1.915 ± 0.009) vs RNN (2.080 ± 0.006); "
        "mean ± s.e. over 3 seeds each"
    )
    assert c.better("RNN", "GRU") == "GRU"


def test_a_chain_of_ties_is_reported_as_a_tie_though_the_ends_differ():
    # A ~ B and B ~ C, but A beats C: nobody beats everyone, so nobody is "lowest"
    c = compare(
        runs({"A": [1.00, 1.01, 1.02], "B": [1.00, 1.06, 1.12], "C": [1.10, 1.11, 1.12]}),
        "model",
        "val_loss",
    )
    assert c.better("A", "B") is None and c.better("B", "C") is None
    assert c.better("A", "C") == "A"
    assert c.best == ("A", "B", "C")
    # ... and the phrase says what was decided instead of calling all three "tied"
    assert c.phrase().startswith("A lower than C; A and B tied, B and C tied (A 1.010 ± 0.006, ")
    assert "mean ± s.e. over 3 seeds each)" in c.phrase()
    acc = compare(runs({"A": [0.9, 0.91, 0.92], "B": [0.9, 0.85, 0.8], "C": [0.8, 0.81, 0.82]}),
                  "model", "val_loss", lower_is_better=False)  # fmt: skip
    assert acc.phrase().startswith("A higher than C; A and B tied, B and C tied (")
    assert c.phrase_pair("C", "A").startswith("A lower than C (")


def test_higher_is_better_for_accuracy():
    acc = {"LSTM": [0.97, 0.98, 0.975], "RNN": [0.61, 0.60, 0.64]}
    c = compare(runs(acc, value="accuracy"), "model", "accuracy", lower_is_better=False)
    assert c.winner == "LSTM"
    assert c.phrase().startswith("LSTM highest (0.9750 ± 0.0029) vs RNN (0.6167 ± 0.0120)")
    assert c.phrase_pair("RNN", "LSTM", word="more accurate").startswith(
        "LSTM more accurate than RNN"
    )
    # the same numbers read as a loss make the RNN the winner
    assert compare(runs(acc, value="accuracy"), "model", "accuracy").winner == "RNN"


def test_sample_size_and_unequal_seed_counts_are_stated():
    c = compare(runs({"A": [1.0, 1.01, 1.02, 1.01], "B": [2.0, 2.01, 2.02]}), "model", "val_loss")
    text = c.phrase(sample="val: 478,220 characters per seed")
    assert text.endswith(
        "mean ± s.e. over 4 and 3 seeds respectively; val: 478,220 characters per seed"
    )


def test_refuses_two_seeds_nan_duplicates_and_bad_arguments():
    with pytest.raises(ValueError, match=r"need >= 3 seeds.*GRU \(n=2\)"):
        compare(runs({"GRU": [2.08, 2.09], "RNN": [2.08, 2.07, 2.09]}), "model", "val_loss")
    # the minimum is explicit and configurable, but a spread needs 2
    assert compare(runs({"GRU": [2.0, 2.1], "RNN": [3.0, 3.1]}), "model", "val_loss", min_seeds=2)
    with pytest.raises(ValueError, match="min_seeds"):
        compare(runs(CLEAR), "model", "val_loss", min_seeds=1)
    with pytest.raises(ValueError, match="NaN or infinite"):
        compare(runs({"A": [1.0, np.nan, 1.1], "B": [1.0, 1.2, 1.1]}), "model", "val_loss")
    with pytest.raises(ValueError, match="NaN or infinite"):
        compare(runs({"A": [1.0, np.inf, 1.1], "B": [1.0, 1.2, 1.1]}), "model", "val_loss")
    dup = pd.concat([runs(CLEAR), runs(CLEAR)])
    with pytest.raises(ValueError, match="more than one row"):
        compare(dup, "model", "val_loss")
    with pytest.raises(ValueError, match=r"no column\(s\) \['loss'\]"):
        compare(runs(CLEAR), "model", "loss")
    with pytest.raises(ValueError, match="two groups"):
        compare(runs({"A": [1, 2, 3]}), "model", "val_loss")
    with pytest.raises(ValueError, match="alpha"):
        compare(runs(CLEAR), "model", "val_loss", alpha=1.5)
    with pytest.raises(ValueError, match="empty"):
        compare(runs(CLEAR).iloc[:0], "model", "val_loss")
    with pytest.raises(ValueError, match="unknown group 'Transformer'"):
        compare(runs(CLEAR), "model", "val_loss").better("LSTM", "Transformer")


def test_several_columns_name_a_group():
    df = pd.concat(
        [runs(CLEAR).assign(size="small"), runs({"LSTM": [1.5, 1.51, 1.52]}).assign(size="big")]
    )
    c = compare(df, ["model", "size"], "val_loss")
    assert c.winner == "LSTM, big"


def test_mean_sem_formatting_follows_the_pdg_rounding_rule():
    assert format_mean_sem(1.91234, 0.0123) == "1.912 ± 0.012"  # leading 123: two digits
    assert format_mean_sem(1.9, 0.04) == "1.90 ± 0.04"  # leading 400: one digit
    assert format_mean_sem(0.5, 0.0097) == "0.500 ± 0.010"  # leading 970: up to 1000, two digits
    assert format_mean_sem(21605.0, 350.0) == "21600 ± 350"
    assert format_mean_sem(21605.0, 420.0) == "21600 ± 400"
    assert format_mean_sem(2.0, 0.0) == "2 ± 0"
    col = format_mean_sem(pd.Series([1.9, 2.08], index=["a", "b"]), pd.Series([0.04, 0.0123]))
    assert list(col) == ["1.900 ± 0.040", "2.080 ± 0.012"] and list(col.index) == ["a", "b"]


def test_lists_are_phrased_without_repeating_equal_values():
    assert phrase_values([300, 300, 300], "steps") == "300 steps each"
    assert phrase_values([300, 400, 500], "steps") == "300, 400 and 500 steps"
    assert phrase_values([300, 400], "steps", respectively=True) == "300 and 400 steps respectively"
    assert phrase_values([1], ("step", "steps")) == "1 step"
    assert phrase_values([1, 1], ("step", "steps")) == "1 step each"
    assert phrase_values([0.5, 0.25], fmt="{:.0%}") == "50% and 25%"
    assert join_words(["RNN"]) == "RNN" and join_words(["a", "b"], "or") == "a or b"
    with pytest.raises(ValueError, match="empty"):
        phrase_values([], "steps")


def test_up_to_never_names_an_untested_setting():
    tested = [10, 20, 50, 100]
    assert phrase_up_to(50, tested) == "up to T = 50"
    assert phrase_up_to(100, tested) == "at every tested T (up to 100)"
    assert phrase_up_to(None, tested) == "at no tested T (10 to 100)"
    assert phrase_up_to(10, tested, var="delay") == "only at delay = 10, the smallest tested"
    with pytest.raises(ValueError, match="value=0 is not one of the tested"):
        phrase_up_to(0, tested)  # the "RNN up to T = 0" fault
