"""Temperature sampling and the effective context window of a char-LM, and their figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from seqlab.data.corpus import CharDataset
from seqlab.experiments.context_window import context_saliency, fit_context
from seqlab.experiments.sampling import (
    next_token_probs,
    sample,
    samples_at,
    temperature_state,
)
from seqlab.models import RecurrentLM, RecurrentLMConfig
from seqlab.viz.char_lm import context_figure
from seqlab.viz.sampling import temperature_figure, temperature_interactive

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40


@pytest.fixture(scope="module")
def dataset() -> CharDataset:
    return CharDataset(TEXT, val_frac=0.2)


@pytest.fixture(scope="module")
def model(dataset) -> RecurrentLM:
    torch.manual_seed(0)
    config = RecurrentLMConfig(
        vocab_size=dataset.tokenizer.vocab_size, cell="rnn", n_embd=8, hidden_size=16
    )
    return RecurrentLM(config)


def test_next_token_probs_and_temperature(model, dataset):
    idx = dataset.tokenizer.encode("ROMEO:\nBut")
    p1 = next_token_probs(model, idx, 1.0)
    assert p1.shape == (dataset.tokenizer.vocab_size,)
    assert p1.sum().item() == pytest.approx(1.0)
    logits = model(idx[None])[0][0, -1].double()
    torch.testing.assert_close(p1, torch.softmax(logits, -1))
    cold = next_token_probs(model, idx, 0.01)
    torch.testing.assert_close(cold, torch.softmax(logits / 0.01, -1))
    assert cold.argmax() == p1.argmax() and cold.max() > p1.max()
    hot = next_token_probs(model, idx, 100.0)
    assert hot.max() - hot.min() < 0.05
    for bad in (0, -1.0, True):
        with pytest.raises(ValueError, match="temperature"):
            next_token_probs(model, idx, bad)


def test_temperature_state(model, dataset):
    tok = dataset.tokenizer
    states = [temperature_state(model, tok, "ROMEO:\n", t, n_chars=30, top=5) for t in (0.5, 2.0)]
    cold, hot = states
    assert cold["chars"] == hot["chars"] and len(cold["chars"]) == 5
    assert np.all(np.diff(cold["p1"]) <= 0)  # most likely first
    assert cold["entropy"] < hot["entropy"]
    assert len(cold["sample"]) == 30
    again = temperature_state(model, tok, "ROMEO:\n", 0.5, n_chars=30, top=5)
    assert again["sample"] == cold["sample"]  # same seed, same text


def test_samples_at(model, dataset):
    df = samples_at(model, dataset.tokenizer, "R", [0.5, 1.0], n_chars=12)
    assert list(df["temperature"]) == [0.5, 1.0]
    assert df["sample"].str.len().tolist() == [12, 12]
    assert df["sample"].iloc[0] == sample(model, dataset.tokenizer, "R", 12, 0.5)


def test_temperature_interactive_static_figure(model, dataset):
    it = temperature_interactive(model, dataset.tokenizer, "ROMEO:\n", [0.5, 1.0, 2.0], n_chars=20)
    fig = it.static_figure()
    assert len(fig.layout.sliders) == 1 and len(fig.layout.sliders[0].steps) == 3
    assert fig.layout.sliders[0].active == 1  # starts at tau = 1, not at the last step
    single = temperature_figure(it.data(temperature=2.0))
    assert "τ = 2" in single.layout.title.text and len(single.layout.annotations) == 1


def test_context_saliency_and_fit(model, dataset):
    df = context_saliency(model, dataset, length=20, n_windows=4)
    assert df["k"].tolist() == list(range(20))
    assert df["relative"].iloc[0] == pytest.approx(1.0)
    assert (df["saliency"] >= 0).all()
    k = np.arange(40)
    synthetic = pd.DataFrame({"k": k, "saliency": 3 * np.exp(-k / 5.0)})
    synthetic["relative"] = synthetic["saliency"] / synthetic["saliency"][0]
    fit = fit_context(synthetic)
    assert fit["decay_length"] == pytest.approx(5.0, rel=1e-3)
    assert fit["half_life"] == pytest.approx(5.0 * math.log(2), rel=1e-3)
    assert fit["k_1pct"] == 24  # 3 exp(-k/5) < 0.03 from k = 24 (5 ln 100 = 23.03)
    fig = context_figure(synthetic, fit)
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log"
