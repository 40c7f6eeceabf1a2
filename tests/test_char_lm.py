"""Char-level LM comparisons: one run, several cells, samples, and the profile setups."""

from __future__ import annotations

import pytest

from seqlab.data.corpus import CharDataset
from seqlab.experiments.char_lm import (
    CharLMSetup,
    compare_char_lms,
    comparison_setup,
    equal_steps_setup,
    sample_text,
    train_char_lm,
)

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 30


@pytest.fixture(scope="module")
def data():
    return CharDataset(TEXT, val_frac=0.2)


def _setup(**kw):
    base = dict(n_embd=8, batch_size=4, block_size=16, max_iters=6, eval_interval=3, eval_iters=1,
                warmup_iters=1, progress=False)  # fmt: skip
    return CharLMSetup(**{**base, **kw})


def test_train_char_lm_history(data):
    model, history = train_char_lm(data, "gru", 12, _setup())
    assert history["iter"].tolist()[0] == -1  # the evaluation before training
    evaluated = history.dropna(subset=["val_loss"])
    assert evaluated["iter"].tolist() == [-1, 2, 5]
    assert (history["cell"] == "gru").all() and history["params"].iloc[0] > 0
    assert model.config.cell == "gru" and model.config.hidden_size == 12


def test_same_seed_same_history(data):
    _, a = train_char_lm(data, "lstm", 8, _setup())
    _, b = train_char_lm(data, "lstm", 8, _setup())
    assert a["loss"].dropna().tolist() == b["loss"].dropna().tolist()


def test_compare_char_lms_summary(data):
    models, history, summary = compare_char_lms(data, {"rnn": 10, "lstm": 5}, _setup(max_iters=3))
    assert set(models) == {"rnn", "lstm"} and list(summary.index) == ["rnn", "lstm"]
    assert summary.loc["rnn", "steps"] == 3 and summary.loc["lstm", "hidden"] == 5
    assert set(history["cell"]) == {"rnn", "lstm"}


def test_time_budget_stops_early(data):
    _, history = train_char_lm(data, "rnn", 8, _setup(max_iters=10_000, time_budget_s=0.3))
    assert history["iter"].max() < 9_999


def test_sample_text_is_reproducible(data):
    model, _ = train_char_lm(data, "lstm", 8, _setup(max_iters=2))
    a = sample_text(model, data, prompt="RO", n_chars=20, seed=3)
    assert a == sample_text(model, data, prompt="RO", n_chars=20, seed=3)
    assert a.startswith("RO") and len(a) == 22


def test_setups_follow_the_profile(monkeypatch):
    monkeypatch.setenv("SEQLAB_PROFILE", "smoke")
    hidden, setup = comparison_setup()
    assert hidden == 32 and setup.time_budget_s is not None
    _, steps_setup = equal_steps_setup()
    assert steps_setup.max_iters < setup.max_iters
