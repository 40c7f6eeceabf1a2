"""The char-LM experiment: one run, several cells at equal budgets, the cached result and its
trained models, the reference losses, and the figures drawn from it."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from seqlab.data.corpus import CharDataset
from seqlab.experiments import char_lm as char_lm_module
from seqlab.experiments.char_lm import (
    CharLMConfig,
    char_lm,
    hidden_sizes,
    reference_losses,
    shakespeare,
    summarize,
    train_char_lm,
    unigram_entropy,
)
from seqlab.experiments.sampling import sample
from seqlab.viz.char_lm import loss_curve_figure, loss_curves_figure

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 30
TINY = dict(n_embd=8, batch_size=4, block_size=16, max_iters=6, eval_interval=3, eval_iters=1,
            warmup_iters=1)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    return CharDataset(TEXT, val_frac=0.2)


def _config(**kw) -> CharLMConfig:
    return CharLMConfig(**{**TINY, **kw})


def test_train_char_lm_history(data):
    model, history = train_char_lm(data, "gru", 12, _config())
    assert history["iter"].tolist()[0] == -1  # the evaluation before training
    evaluated = history.dropna(subset=["val_loss"])
    assert evaluated["iter"].tolist() == [-1, 2, 5]
    assert (history["cell"] == "gru").all() and history["n_params"].iloc[0] > 0
    assert model.config.cell == "gru" and model.config.hidden_size == 12


def test_same_seed_same_history(data):
    _, a = train_char_lm(data, "lstm", 8, _config())
    _, b = train_char_lm(data, "lstm", 8, _config())
    assert a["loss"].dropna().tolist() == b["loss"].dropna().tolist()


def test_time_budget_stops_early(data):
    _, history = train_char_lm(data, "rnn", 8, _config(max_iters=10_000, time_budget_s=0.3))
    assert history["iter"].max() < 9_999


def test_summary_has_one_row_per_cell(data):
    histories = [
        train_char_lm(data, c, h, _config(max_iters=3))[1] for c, h in (("rnn", 10), ("lstm", 5))
    ]
    summary = summarize(pd.concat(histories, ignore_index=True))
    assert list(summary.index) == ["rnn", "lstm"]
    assert summary.loc["rnn", "steps"] == 3 and summary.loc["lstm", "hidden_size"] == 5


def test_equal_budgets_around_the_reference():
    sizes = hidden_sizes(CharLMConfig(cells=("rnn", "gru", "lstm"), reference="lstm",
                                      hidden_size=64, n_embd=16), vocab_size=50)  # fmt: skip
    assert sizes["lstm"] == 64 and sizes["rnn"] > sizes["gru"] > sizes["lstm"]
    assert hidden_sizes(CharLMConfig(cells=("rnn",), reference="rnn", hidden_size=7), 50) == {
        "rnn": 7
    }
    with pytest.raises(ValueError, match="cell"):
        CharLMConfig(cells=("transformer",))


def test_the_experiment_trains_once_and_then_loads(monkeypatch):
    """A second call with the same config does not train: train_char_lm is not called again."""
    calls = []
    real = char_lm_module.train_char_lm
    monkeypatch.setattr(
        char_lm_module, "train_char_lm", lambda *a, **k: calls.append(a[1]) or real(*a, **k)
    )
    config = CharLMConfig(cells=("rnn", "lstm"), reference="lstm", hidden_size=8, **TINY)
    first = char_lm(config, device="cpu")
    assert calls == ["rnn", "lstm"] and not first.cached
    start = time.perf_counter()
    second = char_lm(config, device="cpu")
    assert calls == ["rnn", "lstm"] and second.cached and time.perf_counter() - start < 2.0
    pd.testing.assert_frame_equal(second.summary, first.summary)
    assert set(second.hidden_sizes) == {"rnn", "lstm"}
    model = second.model("lstm")  # the trained weights, rebuilt
    assert model.config.hidden_size == 8
    tok = shakespeare().tokenizer
    assert sample(model, tok, "RO", 10, 1.0, seed=3) == sample(
        first.model("lstm"), tok, "RO", 10, 1.0, seed=3
    )
    char_lm(CharLMConfig(cells=("rnn",), hidden_size=8, **{**TINY, "max_iters": 3}), device="cpu")
    assert calls[-1] == "rnn" and len(calls) == 3  # another config trains


def test_unigram_entropy_and_reference_losses(data):
    assert unigram_entropy("aabb") == pytest.approx(math.log(2))
    assert unigram_entropy("aaaa") == pytest.approx(0.0)
    ref = reference_losses(data)
    assert ref["uniform"] == pytest.approx(math.log(data.tokenizer.vocab_size))
    assert 0 < ref["unigram"] < ref["uniform"]


def test_loss_figures():
    history = pd.DataFrame(
        {"iter": [-1, 0, 1, 2], "time_s": [0, 0.5, 1.0, 1.5], "loss": [np.nan, 4.0, 3.0, 2.5],
         "val_loss": [4.3, np.nan, np.nan, 2.6], "cell": "lstm", "n_params": 100}
    )  # fmt: skip
    fig = loss_curve_figure(history, references={"uniform": 4.33})
    assert [t.name for t in fig.data] == ["training batch", "validation"]
    assert list(fig.data[1].x) == [0, 2]  # the evaluation before training is drawn at step 0
    assert len(fig.layout.shapes) == 1
    fig = loss_curves_figure(history)
    assert list(fig.data[0].y) == [4.3, 2.6] and "100 params" in fig.data[0].name


def test_loss_figure_shows_every_seed():
    """Chapter 1's curve over seeds: a thin training line per seed (one legend entry) and the
    validation mean in a band from the lowest to the highest seed."""
    base = pd.DataFrame({"iter": [-1, 0, 1], "loss": [np.nan, 4.0, 3.0],
                         "val_loss": [4.3, np.nan, 2.6]})  # fmt: skip
    history = pd.concat(
        [base.assign(seed=s, loss=base["loss"] + s, val_loss=base["val_loss"] + s / 10)
         for s in (0, 1, 2)], ignore_index=True,
    )  # fmt: skip
    fig = loss_curve_figure(history, title="3 seeds")
    train = [t for t in fig.data if t.legendgroup == "train"]
    assert len(train) == 3 and [t.showlegend for t in train] == [True, False, False]
    assert train[0].name == "training batch (3 seeds)" and list(train[2].y) == [6.0, 5.0]
    band, mean = (t for t in fig.data if t.legendgroup == "val")
    assert band.fill == "toself"
    np.testing.assert_allclose(list(band.y), [4.5, 2.8, 2.6, 4.3])  # max, then min back
    assert mean.name == "validation, mean of 3 seeds"
    np.testing.assert_allclose(list(mean.y), [4.4, 2.7])
