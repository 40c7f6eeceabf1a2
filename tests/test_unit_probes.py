"""Gate traces of a char-LSTM, text features, and the unit probe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from seqlab.data.corpus import CharTokenizer
from seqlab.experiments.unit_probes import (
    FIELDS,
    as_scratch_lstm,
    best_units,
    lstm_trace,
    text_features,
    unit_correlations,
)
from seqlab.models import RecurrentLM, RecurrentLMConfig

TEXT = "ROMEO:\nBut soft, what light\nthrough yonder window breaks?\n\nJULIET:\nAy me!\n"


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    tok = CharTokenizer.from_text(TEXT)
    return RecurrentLM(RecurrentLMConfig(tok.vocab_size, cell="lstm", n_embd=6, hidden_size=5)), tok


def test_trace_matches_the_fused_layer(lm):
    model, tok = lm
    trace = lstm_trace(model, tok, TEXT, chunk=None)
    assert set(trace) == set(FIELDS)
    assert all(v.shape == (len(TEXT), 5) for v in trace.values())
    with torch.no_grad():
        emb = model.embedding(tok.encode(TEXT)[None])
        out, _ = model.rnn(emb)  # the fused torch.nn.LSTM
    np.testing.assert_allclose(trace["h"], out[0].numpy(), atol=1e-5)
    assert ((trace["f"] > 0) & (trace["f"] < 1)).all()


def test_chunked_trace_runs_pieces_side_by_side(lm):
    model, tok = lm
    exact = lstm_trace(model, tok, TEXT, chunk=None)
    chunked = lstm_trace(model, tok, TEXT, chunk=16, warmup=8)
    assert all(chunked[k].shape == exact[k].shape for k in FIELDS)
    np.testing.assert_allclose(chunked["c"][:16], exact["c"][:16], atol=1e-6)  # first piece exact
    # later pieces start from a warmed-up state: close to the exact trace, not equal
    assert np.abs(chunked["h"] - exact["h"]).max() < 0.5


def test_as_scratch_lstm_rejects_other_cells():
    gru = RecurrentLM(RecurrentLMConfig(7, cell="gru", n_embd=4, hidden_size=3))
    with pytest.raises(ValueError, match="LSTM"):
        as_scratch_lstm(gru)


def test_text_features_by_hand():
    f = text_features("AB:\nab c\n")
    assert len(f) == 9
    assert list(f["line_position"]) == [0, 1, 2, 3, 0, 1, 2, 3, 4]
    assert list(f["speaker_name"]) == [1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert list(f["in_word"]) == [1, 1, 0, 0, 1, 1, 0, 1, 0]
    assert list(f["word_position"]) == [1, 2, 0, 0, 1, 2, 0, 1, 0]
    assert list(f["line_in_speech"]) == [0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_speaker_names_in_any_case_after_a_blank_line():
    f = text_features("First Witch:\nWhen?\n\nSecond Witch:\nSoon: now.\n")
    lines = "First Witch:\nWhen?\n\nSecond Witch:\nSoon: now.\n".split("\n")
    starts = np.cumsum([0] + [len(line) + 1 for line in lines])
    spoken = f["speaker_name"].to_numpy()
    assert spoken[starts[0] : starts[1]].all() and spoken[starts[3] : starts[4]].all()
    assert not spoken[starts[1] : starts[3]].any() and not spoken[starts[4] :].any()


def test_correlations_find_a_planted_unit():
    feats = text_features(TEXT * 3)
    T = len(feats)
    rng = np.random.default_rng(0)
    trace = {"c": rng.normal(size=(T, 4)), "h": rng.normal(size=(T, 4))}
    trace["c"][:, 2] = feats["line_position"] * 0.1 + rng.normal(scale=0.01, size=T)
    corr = unit_correlations(trace, feats)
    assert len(corr) == 2 * 4 * feats.shape[1]
    best = best_units(corr)
    top = best.iloc[0]
    assert (top.feature, top.field, top.unit) == ("line_position", "c", 2)
    assert top.r > 0.99
    assert best["r"].abs().is_monotonic_decreasing


def test_correlations_check_lengths():
    with pytest.raises(ValueError, match="steps"):
        unit_correlations({"c": np.zeros((3, 2))}, pd.DataFrame({"a": [1.0, 2.0]}))
