"""Chapter 5: the GPT against the LSTM, its heads, and the Transformer encoder-decoder."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch

from seqlab.experiments.attention import BottleneckConfig
from seqlab.experiments.char_lm import CharLMConfig
from seqlab.experiments.lm_compare import LMCompareConfig
from seqlab.experiments.profiles import config_for
from seqlab.experiments.results import SavedModel
from seqlab.experiments.transformer_lm import (
    GPTLMConfig,
    GPTvsLSTMConfig,
    gpt_config,
    gpt_heads,
    gpt_vs_lstm,
    head_entropy,
    head_table,
    heads_vs_uniform,
    matched_lstm,
    uniform_maps,
)
from seqlab.experiments.transformer_seq2seq import (
    TransformerRunConfig,
    TransformerSeq2SeqCompare,
    _check_same_data,
    cross_attention,
    cross_heads,
    matched_d_model,
    steps_to_target,
    transformer_config,
)
from seqlab.models import GPT, RecurrentLM, RecurrentLMConfig, count_params
from seqlab.models.seq2seq import TransformerSeq2Seq, TransformerSeq2SeqConfig, greedy_decode
from seqlab.viz.alignments import layer_head_interactive

V = 76  # the Shakespeare corpus's vocabulary


def _best_ms(fn, repeats: int = 3) -> float:
    """The fastest of ``repeats`` calls in ms (the machine may be shared: take the best)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


@pytest.mark.parametrize("profile", ["smoke", "standard", "full"])
def test_the_lstm_gets_the_gpts_parameter_count_within_one_percent(profile):
    c = config_for(GPTvsLSTMConfig, "transformer.char_lm", profile)
    lstm = matched_lstm(c.gpt, c.lstm, V)
    n_gpt = count_params(GPT(gpt_config(c.gpt, c.lstm, V)))
    model = RecurrentLM(RecurrentLMConfig(vocab_size=V, cell="lstm", n_embd=lstm.n_embd,
                                          hidden_size=lstm.hidden_size))  # fmt: skip
    assert abs(count_params(model) / n_gpt - 1) < 0.01
    if profile == "full":  # nanoGPT's CPU recipe, exactly
        g, r = c.gpt, c.lstm
        assert (g.n_layer, g.n_head, g.n_embd, g.learning_rate) == (4, 4, 128, 1e-3)
        assert (r.block_size, r.batch_size, r.max_iters) == (64, 12, 2000)


def test_standard_lstm_is_chapter_twos_so_it_comes_from_the_cache():
    c = config_for(GPTvsLSTMConfig, "transformer.char_lm", "standard")
    lstm = matched_lstm(c.gpt, c.lstm, V)
    ch2 = config_for(LMCompareConfig, "lstm.lm_compare", "standard").char_lm
    assert lstm == CharLMConfig(**{**ch2.__dict__, "cells": ("lstm",)})


def _tiny(time_budget_s=None, seeds=(0, 1, 2)) -> GPTvsLSTMConfig:
    run = CharLMConfig(cells=("lstm",), reference="lstm", n_embd=8, batch_size=4, block_size=16,
                       max_iters=6 if time_budget_s is None else 100_000,
                       time_budget_s=time_budget_s, warmup_iters=2, eval_interval=3,
                       eval_iters=1, cpu_threads=1)  # fmt: skip
    gpt = GPTLMConfig(n_layer=1, n_head=2, n_embd=8, warmup_iters=2)
    return GPTvsLSTMConfig(gpt, run, seeds=seeds)


def test_equal_steps_run_reports_every_model_and_seed_on_the_same_budget():
    r = gpt_vs_lstm(_tiny(), device="cpu", progress=False)
    runs = r["runs"]
    assert sorted(runs["model"].unique()) == ["GPT", "LSTM"]
    assert (runs.groupby("model")["seed"].nunique() == 3).all()
    assert (runs["steps"] == 6).all()
    n = runs.groupby("model")["n_params"].first()
    assert abs(n["LSTM"] / n["GPT"] - 1) < 0.05  # tiny sizes: the nearest H is coarser
    np.testing.assert_allclose(runs["bpc"], runs["val_loss"] / np.log(2))
    again = gpt_vs_lstm(_tiny(seeds=(0,)), device="cpu", progress=False, cache=False)["runs"]
    np.testing.assert_allclose(again["val_loss"], runs.query("seed == 0")["val_loss"])


def test_equal_time_run_stops_on_the_clock_and_reports_the_steps():
    r = gpt_vs_lstm(_tiny(time_budget_s=0.4, seeds=(0, 1)), device="cpu", progress=False)
    runs = r["runs"]
    assert (runs["steps"] > 1).all() and (runs["steps"] < 100_000).all()
    assert (runs["train_s"] >= 0.4).all() and (runs["train_s"] < 5).all()
    last = r["history"].dropna(subset=["lr"]).groupby(["model", "seed"])["lr"].last()
    config = _tiny(0.4)  # no cosine decay under a time budget: the full rate to the end
    assert (last["GPT"] == config.gpt.learning_rate).all()
    assert (last["LSTM"] == config.lstm.learning_rate).all()


def test_gpt_heads_rows_sum_to_one_and_are_causal():
    model = GPT(gpt_config(GPTLMConfig(n_layer=2, n_head=3, n_embd=12),
                           CharLMConfig(block_size=16), V))  # fmt: skip
    data = gpt_heads(model, "ROMEO:\nBut soft, what light")
    maps = data["maps"]
    assert maps.shape == (2, 3, 16, 16) and len(data["tokens"]) == 16  # cropped to block_size
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    assert np.allclose(np.triu(maps, k=1), 0.0)
    assert head_entropy(maps).shape == (2, 3)
    assert gpt_heads(model, "")["ok"] is False
    assert "never seen" in gpt_heads(model, "ROMEO ☃")["message"]


def test_head_table_reads_previous_character_and_entropy():
    T = 4
    prev = np.eye(T, k=-1)
    prev[0, 0] = 1.0  # a head that looks one character back (the first row at itself)
    uniform = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]  # spread evenly
    maps = np.stack([np.stack([prev, uniform])])  # (L=1, nh=2, T, T)
    table = head_table(maps)
    assert list(table["head"]) == [1, 2] and (table["layer"] == 1).all()
    np.testing.assert_allclose(
        table["weight on previous char"], [1.0, np.mean([1 / 2, 1 / 3, 1 / 4])]
    )
    np.testing.assert_allclose(
        table["entropy (nats)"], [0.0, np.log(np.arange(1, T + 1)).mean()], atol=1e-9
    )
    with pytest.raises(ValueError, match="maps must be an array"):
        head_table(maps[0])


def test_heads_vs_uniform_reads_an_untrained_gpt_as_uniform():
    T = 6
    uni = head_table(uniform_maps(T)).iloc[0]
    assert uni["weight on previous char"] == pytest.approx(np.mean(1 / np.arange(2, T + 1)))
    assert uni["entropy (nats)"] == pytest.approx(np.log(np.arange(1, T + 1)).mean())
    torch.manual_seed(0)
    model = GPT(gpt_config(GPTLMConfig(n_layer=1, n_head=2, n_embd=8),
                           CharLMConfig(block_size=T), vocab_size=76))  # fmt: skip
    out = heads_vs_uniform(model, "First Citizen: Before we proceed", windows=5)
    assert len(out["table"]) == 2 and out["T"] == T
    assert out["prev_head"].startswith("layer 1, head ")
    # GPT-2 initialisation: near-zero scores, so every head spreads uniformly
    np.testing.assert_allclose(out["table"]["entropy (nats)"], uni["entropy (nats)"], atol=1e-3)
    assert out["prev"].better(out["prev_head"], "a uniform spread") is None
    with pytest.raises(ValueError, match="windows"):
        heads_vs_uniform(model, "First Citizen", windows=2)
    with pytest.raises(ValueError, match="fewer than"):
        heads_vs_uniform(model, "First", windows=3)


def test_layer_head_interactive_has_a_state_per_text_layer_head_and_fast_slider():
    model = GPT(gpt_config(GPTLMConfig(n_layer=2, n_head=4, n_embd=16),
                           CharLMConfig(block_size=32), V))  # fmt: skip
    calls = []

    def maps_of(text):
        calls.append(text)
        d = gpt_heads(model, text)
        return {**d, "source": d["tokens"], "output": d["tokens"]}

    texts = ["To be, or not to be", "ROMEO:\nBut soft"]
    it = layer_head_interactive(maps_of, texts, 2, 4)
    states = it.states()
    assert len(states) == 2 * 2 * 4
    assert calls == texts  # the model runs once per text; the sliders only pick
    w = it.data(text=texts[1], layer=2, head=3)["weights"]
    np.testing.assert_allclose(w, maps_of(texts[1])["maps"][1, 2])
    assert _best_ms(lambda: it.data(text=texts[0], layer=2, head=4)) < 100  # a pick, no model
    it.make_figure(text=texts[0], layer=2, head=4)  # warm Plotly up
    assert _best_ms(lambda: it.make_figure(text=texts[0], layer=1, head=1)) < 3 * 100  # shared
    assert len(it.static_figure().data) >= 16


def test_transformer_seq2seq_keeps_its_config_and_old_calls_still_work():
    config = TransformerSeq2SeqConfig(10, 9, d_model=16, nhead=2, num_layers=1, pad_id=0)
    torch.manual_seed(0)
    model = TransformerSeq2Seq(config)
    again = SavedModel.of(model).load()
    src, tgt = torch.randint(1, 10, (2, 5)), torch.randint(1, 9, (2, 4))
    torch.testing.assert_close(again(src, tgt)[0], model.eval()(src, tgt)[0])
    old = TransformerSeq2Seq(10, 9, d_model=16, nhead=2, num_layers=1, pad_id=0)
    assert old.config == config


def test_cross_attention_maps_sum_to_one_and_skip_padding():
    torch.manual_seed(0)
    model = TransformerSeq2Seq(10, 9, d_model=16, nhead=2, num_layers=2, pad_id=0).eval()
    src = torch.tensor([[3, 4, 5, 0, 0], [3, 4, 5, 6, 7]])
    tgt = torch.randint(1, 9, (2, 4))
    maps = model.attention_maps(src, tgt)
    assert [m.shape for m in maps["cross"]] == [(2, 2, 4, 5)] * 2
    for kind in ("encoder", "self", "cross"):
        rows = maps[kind][0][1].sum(-1)  # the unpadded example
        torch.testing.assert_close(rows, torch.ones_like(rows))
    assert torch.all(maps["cross"][1][0, :, :, 3:] == 0)  # padding gets no weight
    assert torch.all(torch.triu(maps["self"][0][1], diagonal=1) == 0)  # causal


def test_cross_attention_of_text_and_one_line_messages():
    run = TransformerRunConfig(max_value=999, n_train=50, n_test=10, d_model=8, nhead=2)
    model = TransformerSeq2Seq(transformer_config(run))
    data = cross_attention(model, "einundzwanzig")
    L, nh, U, S = data["maps"].shape
    assert (L, nh, S) == (2, 2, len("einundzwanzig") + 1) and U == len(data["output"])
    np.testing.assert_allclose(data["maps"].sum(-1), 1.0, atol=1e-5)
    assert cross_attention(model, "  ")["ok"] is False
    assert "cannot read" in cross_attention(model, "zwölf!")["message"]


def test_d_model_is_sized_to_the_rnn_and_the_data_must_match():
    run = TransformerRunConfig(max_value=999, n_train=50, n_test=10, nhead=4)

    def count(d):
        return sum(p.numel() for p in TransformerSeq2Seq(transformer_config(run, d)).parameters())

    d = matched_d_model(run, 20_000)
    assert d % 4 == 0
    assert abs(count(d) - 20_000) <= min(abs(count(d - 4) - 20_000), abs(count(d + 4) - 20_000))
    bn = config_for(BottleneckConfig, "attention.bottleneck", "smoke")
    c = config_for(TransformerSeq2SeqCompare, "transformer.seq2seq", "smoke")
    _check_same_data(c.run, bn)  # the row shares chapter 4's data and steps
    with pytest.raises(ValueError, match="max_iters"):
        _check_same_data(TransformerRunConfig(**{**c.run.__dict__, "max_iters": 7}), bn)


def test_greedy_decode_works_for_the_transformer():
    torch.manual_seed(0)
    model = TransformerSeq2Seq(10, 9, d_model=16, nhead=2, num_layers=1)
    out = greedy_decode(model, torch.randint(0, 10, (3, 5)), 4, bos=1, eos=2)
    assert out.shape[0] == 3 and out.shape[1] <= 4


def test_steps_to_target_is_the_first_smoothed_step_at_the_target():
    history = pd.DataFrame({"iter": range(6), "loss": [3.0, 1.0, 0.5, 0.2, 0.1, 0.05]})
    # steps done: (0.5 + 0.2) / 2 > 0.3 after step 4 (iter 3), (0.2 + 0.1) / 2 after step 5
    assert steps_to_target(history, 0.3, smooth=2) == 5
    assert steps_to_target(history, 0.05, smooth=1) == 6
    assert np.isnan(steps_to_target(history, 0.01))
    with pytest.raises(ValueError, match="smooth must be an int >= 1, got 0"):
        steps_to_target(history, 0.1, smooth=0)


def test_encoder_decoder_tokens_and_positions_enter_at_one_scale():
    # Vaswani et al. scale embeddings by sqrt(C); with torch's N(0, 1) start the tokens were
    # sqrt(C) times louder than the sinusoids and the model could hardly use word order
    model = TransformerSeq2Seq(40, 12, d_model=64, nhead=4, num_layers=1)
    tokens = model.src_emb.weight * model.scale  # (V, C)
    positions = model.pos(32)  # (32, C), RMS 1 / sqrt(2)
    ratio = tokens.pow(2).mean().sqrt() / positions.pow(2).mean().sqrt()
    assert 1.0 < float(ratio) < 2.0


def test_cross_heads_reads_every_head_within_its_bounds():
    run = TransformerRunConfig(max_value=999, n_train=50, n_test=10, d_model=8, nhead=2)
    model = TransformerSeq2Seq(transformer_config(run))
    table = cross_heads(model, ["einundzwanzig", "zwölf!", "drei"])  # the "!" is skipped
    assert len(table) == 2 * 2 and list(table["head"]) == [1, 2, 1, 2]
    assert (table["entropy (nats)"] <= table["uniform (nats)"] + 1e-6).all()
    assert ((table["max weight"] > 0) & (table["max weight"] <= 1)).all()
    with pytest.raises(ValueError, match="could read none"):
        cross_heads(model, ["!"])
