"""The result type, the disk cache of experiments and the size tables by profile."""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from seqlab.experiments import profiles, results
from seqlab.experiments.profiles import P, config_for, row
from seqlab.experiments.results import Result, SavedModel, experiment
from seqlab.models import RecurrentLM, RecurrentLMConfig

CALLS: list = []


@dataclass
class Inner:
    width: int = 2


@dataclass
class ToyConfig:
    n: int = 3
    scale: float = 1.0
    inner: Inner = field(default_factory=Inner)


@experiment()
def toy(config: ToyConfig, device: torch.device, progress: bool) -> dict:
    """A stand-in experiment: counts its calls, takes a moment, returns an array."""
    CALLS.append(config)
    time.sleep(0.2)
    return {"numbers": np.arange(config.n) * config.scale, "device": str(device)}


def _run(config: ToyConfig, **kw) -> tuple[Result, int]:
    before = len(CALLS)
    result = toy(config, device="cpu", **kw)
    return result, len(CALLS) - before


def test_a_second_call_is_served_from_the_cache():
    config = ToyConfig(n=5, scale=2.0)
    first, computed = _run(config)
    assert computed == 1 and not first.cached
    start = time.perf_counter()
    second, computed = _run(ToyConfig(n=5, scale=2.0))  # an equal config, another object
    assert computed == 0 and second.cached
    assert time.perf_counter() - start < 0.2  # no sleep: nothing ran
    np.testing.assert_array_equal(second.numbers, first["numbers"])
    assert second.provenance["source"] == results.source_hash()
    assert second.provenance["profile"] and second.provenance["seconds"] >= 0.2


def test_a_changed_config_misses_the_cache():
    _run(ToyConfig(n=6))
    assert _run(ToyConfig(n=6, scale=3.0))[1] == 1
    assert _run(ToyConfig(n=6, inner=Inner(width=3)))[1] == 1  # nested configs count too
    assert _run(ToyConfig(n=6))[1] == 0


def test_changed_source_version_torch_or_device_miss_the_cache(monkeypatch):
    config = ToyConfig(n=7)
    _run(config)
    assert _run(config)[1] == 0
    monkeypatch.setattr(results, "source_hash", lambda: "another source")
    assert _run(config)[1] == 1
    monkeypatch.setattr(results, "__version__", "99.0")
    assert _run(config)[1] == 1
    monkeypatch.setattr(results.torch, "__version__", "1.0")
    assert _run(config)[1] == 1
    monkeypatch.setattr(results, "device_key", lambda device: "cuda: another GPU")
    assert _run(config)[1] == 1
    assert _run(config)[1] == 0


def test_cache_false_computes_and_keeps_nothing():
    config = ToyConfig(n=8)
    assert _run(config, cache=False)[1] == 1
    assert _run(config)[1] == 1  # the uncached call wrote nothing
    assert _run(config, cache=False)[1] == 1


def test_the_cache_lives_under_seqlab_cache_dir(private_cache):
    _run(ToyConfig(n=9))
    assert list((private_cache / "results").rglob("output.pkl"))


def test_source_hash_covers_what_experiments_run_and_not_what_draws():
    files = {p.relative_to(p.parents[1]).as_posix() for p in results._source_files()}
    names = {p.name for p in results._source_files()}
    assert {"loop.py", "results.py", "char_lm.py", "corpus.py"} <= names
    assert not any("/viz/" in p.as_posix() for p in results._source_files())
    assert "figures.py" not in names and "notebook.py" not in names
    assert "experiments/profiles.py" not in files
    assert len(results.source_hash()) == 16


def test_configs_come_from_the_size_table_by_profile(monkeypatch):
    monkeypatch.setattr(profiles, "SIZES", {"toy": {"toy": dict(n=P(1, 2, 3), scale=P(0.5, 1.5),
                                                               inner=dict(width=P(4, 5)))}})  # fmt: skip
    assert config_for(ToyConfig, "toy.toy", "smoke") == ToyConfig(1, 0.5, Inner(4))
    assert config_for(ToyConfig, "toy.toy", "standard") == ToyConfig(2, 1.5, Inner(5))
    assert config_for(ToyConfig, "toy.toy", "full") == ToyConfig(3, 1.5, Inner(5))  # as standard
    monkeypatch.setenv("SEQLAB_PROFILE", "smoke")
    assert toy.config("toy.toy") == ToyConfig(1, 0.5, Inner(4))
    result = toy("toy.toy", device="cpu")  # a row key runs that row at the current profile
    assert result.config == ToyConfig(1, 0.5, Inner(4)) and list(result.numbers) == [0]
    with pytest.raises(KeyError, match="no size-table row 'toy.nope'"):
        toy("toy.nope")
    with pytest.raises(TypeError, match="needs a config"):
        toy()
    with pytest.raises(TypeError, match="ToyConfig"):
        toy(Inner())
    monkeypatch.setattr(profiles, "SIZES", {"toy": {"toy": dict(n=1, colour="red")}})
    with pytest.raises(ValueError, match=r"\['colour'\]"):
        config_for(ToyConfig, "toy.toy")


@pytest.mark.parametrize("profile", ["smoke", "standard", "full"])
def test_every_row_of_the_book_builds_its_config(profile):
    from seqlab.experiments.alignments import attribution
    from seqlab.experiments.attention import bottleneck
    from seqlab.experiments.attention_cost import attention_cost
    from seqlab.experiments.budget import distillation, quantization
    from seqlab.experiments.char_lm import char_lm, ngram_baseline
    from seqlab.experiments.choosing import costs
    from seqlab.experiments.clipping import clipping
    from seqlab.experiments.context_window import context_window
    from seqlab.experiments.decoding import decoding
    from seqlab.experiments.efficient_attention import efficient_cost, efficient_lm
    from seqlab.experiments.gradient_flow import gradient_flow
    from seqlab.experiments.lm_compare import lm_compare, lm_context
    from seqlab.experiments.long_range import long_range
    from seqlab.experiments.memory_tasks import delay_sweep, reversal, seed_study
    from seqlab.experiments.metric_pitfalls import metric_pitfalls
    from seqlab.experiments.moe_lm import moe_lm
    from seqlab.experiments.positional import extrapolation
    from seqlab.experiments.reproducibility import reproducibility
    from seqlab.experiments.reproduction import nanogpt_recipes
    from seqlab.experiments.scaling import sweep as scaling_runs
    from seqlab.experiments.softmax_scaling import scaling_sweep
    from seqlab.experiments.stability import stability
    from seqlab.experiments.time_series import sunspot_forecasts
    from seqlab.experiments.timing import gru_reset_timing, recurrent_timing
    from seqlab.experiments.tokens import bpe_vs_chars
    from seqlab.experiments.training_scheme import training_scheme
    from seqlab.experiments.transformer_lm import gpt_vs_lstm
    from seqlab.experiments.transformer_seq2seq import transformer_seq2seq
    from seqlab.experiments.unit_probes import unit_probe

    by_row = {"char_lm": char_lm, "clipping": clipping, "context_window": context_window,
              "gradient_flow": gradient_flow, "copy_sweep": delay_sweep,
              "adding_sweep": delay_sweep, "forget_bias": seed_study, "reversal": reversal,
              "reset_timing": gru_reset_timing, "timing": recurrent_timing,
              "unit_probe": unit_probe, "bottleneck": bottleneck, "scaling": scaling_sweep,
              "attribution": attribution, "ngram": ngram_baseline, "lm_compare": lm_compare,
              "char_lm_seeds": lm_compare,
              "stacked": lm_compare, "lm_context": lm_context,
              "training_scheme": training_scheme, "positions": extrapolation,
              "stability": stability, "char_lm@transformer": gpt_vs_lstm,
              "equal_time": gpt_vs_lstm, "seq2seq": transformer_seq2seq,
              "nanogpt": nanogpt_recipes, "sweep": attention_cost, "long_range": long_range,
              "efficient": efficient_lm, "efficient_cost": efficient_cost,
              "decoding": decoding, "distillation": distillation,
              "quantization": quantization, "moe": moe_lm,
              "sweep@scaling": scaling_runs,
              "reproducibility": reproducibility,
              "costs": costs, "metrics": metric_pitfalls,
              "sunspots": sunspot_forecasts, "tokens": bpe_vs_chars}  # fmt: skip
    for chapter, rows in profiles.SIZES.items():
        for name in rows:
            fn = by_row.get(f"{name}@{chapter}", by_row[name])  # a name two chapters use
            config = config_for(fn.config_class, f"{chapter}.{name}", profile)
            assert isinstance(config, fn.config_class)
    smoke, standard = (row("rnn.char_lm", p) for p in ("smoke", "standard"))
    assert smoke["max_iters"] < standard["max_iters"]


def test_shared_rows_make_shared_runs():
    """The GRU chapter's copy runs are the LSTM chapter's; the forget-bias study's b_f = 1,
    seed 0 run is the copy sweep's LSTM run at its delay."""
    lstm, gru = row("lstm.copy_sweep"), row("gru.copy_sweep")
    assert lstm["task"] == gru["task"] and set(gru["delays"]) & set(lstm["delays"])
    fb = row("lstm.forget_bias")
    assert fb["task"] == {**lstm["task"], "cell": "lstm", "T": fb["task"]["T"]}
    assert fb["task"]["T"] in lstm["delays"] and 1.0 in fb["values"] and 0 in fb["seeds"]
    assert set(fb["seeds"]) == set(lstm["seeds"])  # every b_f = 1 run is a copy-sweep run


@pytest.mark.parametrize("profile", ["smoke", "standard"])
def test_chapter_3_reuses_chapter_2_language_models(profile):
    """Same char-LM config (but the cell list) and seeds: chapter 3 trains only the GRU, and the
    stacked runs differ from chapter 2's LSTM only in n_layer; the probe and the context study
    read chapter 2's runs; every budget is steps, not seconds."""
    two, three = row("lstm.lm_compare", profile), row("gru.lm_compare", profile)
    strip = lambda r: {k: v for k, v in r["char_lm"].items() if k != "cells"}  # noqa: E731
    assert strip(two) == strip(three) and two["seeds"] == three["seeds"]
    assert len(two["seeds"]) >= 3 and set(two["char_lm"]["cells"]) <= set(three["char_lm"]["cells"])
    stacked = row("gru.stacked", profile)["char_lm"]
    assert {k: v for k, v in stacked.items() if k not in ("cells", "n_layer")} == strip(two)
    assert stacked["n_layer"] == 2
    assert row("lstm.lm_context", profile)["compare"] == two
    assert strip({"char_lm": row("lstm.unit_probe", profile)["char_lm"]}) == strip(two)
    assert two["char_lm"]["time_budget_s"] is None
    for key in ("lstm.copy_sweep", "lstm.adding_sweep", "gru.copy_sweep"):
        sweep = row(key, profile)
        assert sweep["task"]["time_budget_s"] is None and len(sweep["seeds"]) >= 3


def test_result_reads_its_values_and_pickles():
    r = Result("toy", ToyConfig(), {"table": [1, 2]}, {"date": "d"})
    assert r.table == r["table"] == [1, 2]
    with pytest.raises(AttributeError, match="values: \\['table'\\]"):
        _ = r.nope
    again = pickle.loads(pickle.dumps(r))
    assert again.table == [1, 2] and again.config == ToyConfig()


def test_saved_model_round_trip():
    torch.manual_seed(0)
    model = RecurrentLM(RecurrentLMConfig(vocab_size=11, cell="gru", n_embd=4, hidden_size=6))
    saved = pickle.loads(pickle.dumps(SavedModel.of(model)))
    loaded = saved.load()
    assert type(loaded) is RecurrentLM and loaded.config == model.config and not loaded.training
    idx = torch.randint(11, (2, 5))
    torch.testing.assert_close(loaded(idx)[0], model.eval()(idx)[0])
