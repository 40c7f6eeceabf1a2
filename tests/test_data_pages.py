"""Chapter 8's data pages: the sunspot loader, the seasonal-naive baseline, the forecasters,
the BPE tokenizer and the bits-per-character conversion that makes tokenizers comparable."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqlab.data import sunspots as sunspots_module
from seqlab.data.bpe import train_bpe
from seqlab.data.sunspots import load_sunspots, windows
from seqlab.experiments.time_series import SunspotConfig, errors, sunspot_forecasts
from seqlab.experiments.tokens import TokensConfig, bpe_vs_chars, text_nats
from seqlab.metrics import bits_per_char
from seqlab.models import Forecaster, seasonal_naive

TEXT = (
    "ROMEO:\nBut soft, what light through yonder window breaks?\n"
    "It is the east, and Juliet is the sun.\n\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n"
) * 20


def test_sunspots_are_the_yearly_series_from_1700_to_2008():
    s = load_sunspots()
    assert len(s) == 309 and s.index[0] == 1700 and s.index[-1] == 2008
    assert s.loc[1700] == 5.0 and s.loc[2008] == 2.9  # the first and last rows of the file
    assert (s >= 0).all()


def test_sunspots_without_statsmodels_say_how_to_install_it(monkeypatch):
    monkeypatch.setattr(sunspots_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install statsmodels"):
        load_sunspots()


def test_windows_read_the_values_before_each_target():
    x, y = windows(np.arange(6.0), 2)
    np.testing.assert_array_equal(x, [[0, 1], [1, 2], [2, 3], [3, 4]])
    np.testing.assert_array_equal(y, [2, 3, 4, 5])
    x, y = windows(np.arange(6.0), 3, range(4, 6))
    np.testing.assert_array_equal(x, [[1, 2, 3], [2, 3, 4]])
    with pytest.raises(ValueError, match="targets"):
        windows(np.arange(6.0), 3, range(2, 4))
    with pytest.raises(ValueError, match="window"):
        windows(np.arange(6.0), 0)


def test_seasonal_naive_repeats_the_value_one_season_back():
    y = np.array([10.0, 20.0, 30.0, 11.0, 21.0, 31.0, 12.0])
    np.testing.assert_array_equal(seasonal_naive(y, 3, 3), [10, 20, 30, 11])
    np.testing.assert_array_equal(seasonal_naive(y, 1, 5), [21, 31])  # naive: the last value
    for bad in (dict(season=0, start=3), dict(season=3, start=2), dict(season=1, start=7)):
        with pytest.raises(ValueError, match="season|start"):
            seasonal_naive(y, **bad)


def test_errors_are_mae_and_rmse():
    e = errors(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 3.0, 8.0]))
    assert e["MAE"] == pytest.approx(1.5) and e["RMSE"] == pytest.approx(math.sqrt(5))


@pytest.mark.parametrize("kind", ["lstm", "gru", "transformer"])
def test_forecasters_map_a_window_to_one_value(kind):
    torch.manual_seed(0)
    model = Forecaster(kind, hidden_size=8, nhead=2, max_window=12)
    x, y = torch.randn(5, 12), torch.randn(5)
    pred, loss = model(x, y)
    assert pred.shape == (5,)
    torch.testing.assert_close(loss, F.mse_loss(pred, y))
    with pytest.raises(ValueError, match="window"):
        model(torch.randn(5, 13))
    with pytest.raises(ValueError, match="x"):
        model(torch.randn(5, 12, 1))


def test_forecaster_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        Forecaster("rnn")


def test_bits_per_char_divides_total_nats_by_characters():
    # 4 tokens of 2 characters, each predicted with probability 1/2: ln 2 nats per token
    assert bits_per_char(4 * math.log(2), 8) == pytest.approx(0.5)
    # per character the same text costs the same bits however it is cut into tokens
    assert bits_per_char(8 * math.log(2), 8) == pytest.approx(1.0)
    np.testing.assert_allclose(bits_per_char(np.array([0.0, math.log(2)]), 1), [0.0, 1.0])
    with pytest.raises(ValueError, match="n_chars"):
        bits_per_char(1.0, 0)
    with pytest.raises(ValueError, match="total_nats"):
        bits_per_char(-1.0, 3)


class _Uniform(torch.nn.Module):
    """Equal probability for each of V tokens: a loss of ln V nats per token."""

    def __init__(self, V: int):
        super().__init__()
        self.V, self.w = V, torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, y):
        logits = torch.zeros(*x.shape, self.V) + self.w
        return logits, F.cross_entropy(logits.view(-1, self.V), y.reshape(-1))


@pytest.mark.parametrize("block_size", [1, 3, 7, 40])
def test_text_nats_predicts_every_token_but_the_first_once(block_size):
    ids = torch.arange(20) % 5
    total, n = text_nats(_Uniform(5), ids, block_size)
    assert n == 19
    assert total == pytest.approx(19 * math.log(5), rel=1e-6)


def test_bpe_round_trips_text_and_shortens_it(private_cache):
    tok = train_bpe(TEXT, 120)
    assert len(set(TEXT)) < tok.vocab_size <= 120  # fewer when no pair is left to merge
    assert tok.path is not None and tok.path.is_file()
    for text in (TEXT[:200], "Romeo, Juliet!\n\n  wherefore?", "new words: the sun ho"):
        ids = tok.encode(text)
        assert ids.dtype == torch.long and tok.decode(ids) == text
        assert "".join(tok.pieces(text)) == text
    assert len(tok.encode(TEXT)) < 0.6 * len(TEXT)
    again = train_bpe(TEXT, 120)  # from the cache file
    assert again.encode(TEXT).tolist() == tok.encode(TEXT).tolist()
    with pytest.raises(ValueError, match="'x'"):  # never seen: an error, not a dropped letter
        tok.encode("xylophone")
    wider = train_bpe(TEXT, 120, alphabet="xyzp")  # the alphabet gives them a token
    assert wider.decode(wider.encode("xylophone")) == "xylophone"


def test_bpe_rejects_bad_input():
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe(TEXT, 10, cache=False)
    with pytest.raises(ValueError, match="text"):
        train_bpe("", 100, cache=False)
    tok = train_bpe(TEXT, 60, cache=False)
    with pytest.raises(TypeError, match="text"):
        tok.encode(b"bytes")


def test_sunspot_experiment_scores_every_model_on_the_held_out_years():
    config = SunspotConfig(
        max_p=1, max_q=0, models=("gru",), max_iters=3, warmup_iters=1, hidden_size=8
    )
    r = sunspot_forecasts(config, device="cpu", cache=False, progress=False)
    assert r.test_years == list(range(1970, 2009)) and r.arima_order == (1, 0)
    e = r.errors.set_index(["model", "seed"])
    assert set(e.index.get_level_values("model")) == {"naive", "seasonal naive", "ARIMA(1,0,0)",
                                                       "GRU"}  # fmt: skip
    y = r.series.to_numpy()
    naive_mae = np.abs(np.diff(y)[-39:]).mean()  # y_t - y_{t-1} on 1970 ... 2008
    assert e.loc[("naive", -1), "MAE"] == pytest.approx(naive_mae)
    assert len(r.forecasts) == 39 * (3 + 3)


def test_bpe_vs_chars_holds_compute_and_text_equal():
    config = TokensConfig(vocab_sizes=(100,), bpe_vocab=100, train_chars=20_000, eval_chars=600,
                          n_layer=1, n_head=2, n_embd=16, context_chars=16, batch_size=2,
                          char_max_iters=4, warmup_iters=1)  # fmt: skip
    r = bpe_vs_chars(config, device="cpu", cache=False, progress=False)
    runs = r.runs.set_index(["tokenizer", "seed"])
    for seed in config.seeds:
        c, b = runs.loc[("chars", seed)], runs.loc[("BPE 100", seed)]
        step_b = b["train_flops"] / b["steps"]
        assert abs(b["train_flops"] - c["train_flops"]) <= step_b / 2  # the nearest step count
        assert c["val_chars"] == r.eval_chars - 1 and b["val_chars"] >= r.eval_chars - 10
        assert b["val_tokens"] < c["val_tokens"]
        assert b["bpc"] == pytest.approx(b["val_nats"] / b["val_chars"] / math.log(2))
    t = r.tokenizers.set_index("tokenizer")
    assert t.loc["chars", "tokens_per_char"] == 1 and t.loc["BPE 100", "tokens_per_char"] < 1
    assert "".join(r.sample["BPE 100"]) == r.sample["text"]


def test_error_comparison_lets_a_deterministic_model_stand_for_every_seed():
    import pandas as pd

    from seqlab.experiments.time_series import error_comparison

    errs = pd.DataFrame({"model": ["ARIMA"] + ["GRU"] * 3 + ["LSTM"] * 3,
                         "seed": [-1, 0, 1, 2, 0, 1, 2],
                         "MAE": [10.0, 20.0, 21.0, 22.0, 10.5, 9.0, 11.0],
                         "RMSE": [1.0] * 7})  # fmt: skip
    c = error_comparison(errs, "MAE")
    assert c.better("ARIMA", "GRU") == "ARIMA"  # every GRU seed is worse
    assert c.better("ARIMA", "LSTM") is None  # the LSTM's seeds straddle ARIMA's value
    with pytest.raises(ValueError, match="metric"):
        error_comparison(errs, "MSE")
