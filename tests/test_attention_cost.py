"""Chapter 6, the cost of attention: fits, backends, measured memory, OOM rows, long range."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from seqlab.bench import allocated_peak
from seqlab.experiments import attention_cost as ac
from seqlab.experiments.attention_cost import (
    AttentionCostConfig,
    attention_cost,
    attention_factory,
    exponent_words,
    exponents,
    fit_power_law,
    measure_attention,
    sdpa_backend,
)
from seqlab.experiments.long_range import LongRangeConfig, long_range, versus_chance
from seqlab.experiments.memory_tasks import (
    CausalTransformer,
    DelaySweepConfig,
    MemoryTaskConfig,
    run_memory_task,
)
from seqlab.experiments.profiles import config_for
from seqlab.models.attention import scaled_dot_product_attention

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_fit_returns_slope_two_on_quadratic_data():
    T = np.array([64, 128, 256, 512, 1024])
    fit = fit_power_law(T, 3e-4 * T**2)
    assert fit["exponent"] == pytest.approx(2.0, abs=1e-9)
    assert fit["r2"] == pytest.approx(1.0)
    noisy = 3e-4 * T**2 * np.exp(np.random.default_rng(0).normal(0, 0.05, len(T)))
    fit = fit_power_law(T, noisy)
    assert fit["lo"] < 2.0 < fit["hi"] and fit["hi"] - fit["lo"] < 0.5
    assert math.isnan(fit_power_law([1, 2], [1, 4])["lo"])  # n = 2: no interval
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3], [1, 0, 3])
    with pytest.raises(ValueError, match="equal length"):
        fit_power_law([1, 2, 3], [1, 2])


def _grads(impl: str) -> list[torch.Tensor]:
    """Gradients of q, k, v after one call of the timed function of ``impl``."""
    fn = attention_factory(2, 3, 8, torch.device("cpu"), seed=1)(impl, 17)
    fn()
    return [t.grad for t in fn.inputs]


def test_naive_attention_equals_sdpa_forward_and_backward():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 17, 8, generator=g, dtype=torch.float64) for _ in range(3))
    ours, _ = scaled_dot_product_attention(q, k, v, causal=True)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    naive = _grads("naive")  # the timed functions: the same gradients of q, k, v
    for impl in ("sdpa", "sdpa_math"):
        for a, b in zip(_grads(impl), naive, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_backend_is_named_and_agrees_with_forcing_it():
    q, k, v = (torch.randn(1, 2, 16, 8) for _ in range(3))
    name = sdpa_backend(q, k, v, is_causal=True)
    assert name == "flash (CPU)"  # the CPU's fused kernel takes fp32 without dropout
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):  # it runs when forced: it was available
        F.scaled_dot_product_attention(q, k, v, is_causal=True)
    with sdpa_kernel([SDPBackend.MATH]):
        assert sdpa_backend(q, k, v, is_causal=True) == "math"
    assert sdpa_backend(q, k, v, dropout_p=0.5) == "math"  # flash refuses dropout on a CPU


def test_allocated_peak_counts_tensor_bytes_on_cpu():
    def make() -> None:
        a = torch.ones(2**18)  # 1 MiB
        b = torch.ones(2**18)  # held together with a: 2 MiB
        del a, b

    peak, kind = allocated_peak(make, "cpu")
    assert kind == "cpu-allocator" and peak == 2 * 2**20


def test_measure_attention_records_backends_and_quadratic_memory():
    df = measure_attention((32, 64, 128), "cpu", nhead=2, head_dim=8, repeats=1)
    assert set(df["status"]) == {"ok"} and (df["mem_kind"] == "cpu-allocator").all()
    backends = df.groupby("impl")["backend"].first().to_dict()
    assert backends == {"naive": "ours", "sdpa_math": "math", "sdpa": "flash (CPU)"}
    fits = exponents(df, "peak_mem_mb", ["impl"]).set_index("impl")["exponent"]
    assert fits["naive"] == pytest.approx(2.0, abs=0.1)
    assert fits["sdpa"] < 1.3  # the fused kernel never holds the T x T matrix


def test_out_of_memory_is_a_recorded_row(monkeypatch):
    def fake(q, k, v, **kw):
        if q.shape[-2] > 32:
            raise torch.OutOfMemoryError("CUDA out of memory (fake)")
        return scaled_dot_product_attention(q, k, v, **kw)

    monkeypatch.setattr(ac, "scaled_dot_product_attention", fake)
    df = measure_attention((16, 64, 128), "cpu", nhead=1, head_dim=4, repeats=1,
                           impls=("naive", "sdpa"))  # fmt: skip
    status = df.set_index(["impl", "seq_len"])["status"]
    assert status["naive"].tolist() == ["ok", "oom", "oom"]  # 128: skipped after 64 failed
    assert status["sdpa"].tolist() == ["ok", "ok", "ok"]
    with pytest.raises(ValueError, match="impl"):
        measure_attention((16,), "cpu", impls=("flash",))


def test_attention_cost_experiment_and_fits():
    config = AttentionCostConfig(
        hidden_size=8, nhead=2, lengths={"8, 32": (8, 32)}, batches=(1,), static_batches=(1,),
        attn_lengths={"16, 32": (16, 32)}, attn_nhead=1, attn_head_dim=4, repeats=1,
        attn_impls=("naive", "sdpa"), fit_min_len=1,
    )  # fmt: skip
    r = attention_cost(config, device="cpu", cache=False)
    assert set(r["models"]["model"]) == {"lstm", "transformer"}
    assert set(r["model_fits"]["model"]) == {"lstm", "transformer"}
    assert set(r["attention_fits"]["quantity"]) == {"time", "memory"}


@CUDA
def test_cuda_attention_memory_and_backend():
    df = measure_attention((256, 512), "cuda", repeats=1)
    assert (df["mem_kind"] == "cuda-allocator").all()
    assert df.loc[df.impl == "sdpa", "backend"].iloc[0] in {"flash", "efficient", "cudnn"}


def test_causal_transformer_does_not_see_the_future():
    torch.manual_seed(0)
    layer = CausalTransformer(5, 8, num_layers=2, nhead=2)
    x = torch.randn(2, 9, 5)
    y = x.clone()
    y[:, 6:] = torch.randn(2, 3, 5)  # change the future of position 5
    torch.testing.assert_close(layer(x)[0][:, :6], layer(y)[0][:, :6])
    assert not torch.allclose(layer(x)[0][:, 6:], layer(y)[0][:, 6:])


def test_transformer_learns_the_copy_task_at_a_short_delay():
    config = MemoryTaskConfig(
        cell="transformer", T=5, n_copy=1, hidden_size=16, max_iters=120, learning_rate=3e-3,
        warmup_iters=10, forget_bias=None, cell_options={"num_layers": 1, "nhead": 2},
        eval_size=200,
    )  # fmt: skip
    row = run_memory_task(config)
    assert row["score"] > 0.9 > 3 * row["baseline"]


def test_long_range_reuses_chapter_two_lstm_runs():
    for profile in ("smoke", "standard", "full"):
        lr = config_for(LongRangeConfig, "cost.long_range", profile)
        sweep = config_for(DelaySweepConfig, "lstm.copy_sweep", profile)
        H = sweep.hidden_sizes()["lstm"]
        for T in lr.delays:
            assert replace(lr.lstm, T=T) == replace(sweep.task, cell="lstm", hidden_size=H, T=T)
        assert set(lr.delays) <= set(sweep.delays)
    with pytest.raises(ValueError, match="share the task"):
        LongRangeConfig(transformer=replace(LongRangeConfig().transformer, n_copy=2))


def test_long_range_runs_every_cell_delay_and_seed():
    base = MemoryTaskConfig(T=3, n_copy=1, max_iters=3, eval_size=20, batch_size=8)
    transformer = replace(LongRangeConfig().transformer, max_iters=3, eval_size=20, n_copy=1,
                          batch_size=8, warmup_iters=1)  # fmt: skip
    config = LongRangeConfig(lstm=base, transformer=transformer, delays=(2, 3), seeds=(0, 1, 2))
    runs = long_range(config, device="cpu", cache=False)["runs"]
    assert len(runs) == 12 and set(runs["cell"]) == {"lstm", "transformer"}
    assert runs["baseline"].eq(1 / 8).all()


def test_interactives_draw_the_measured_states_without_measuring(monkeypatch):
    from seqlab.viz import attention_cost as viz

    config = AttentionCostConfig(
        hidden_size=8, nhead=2, lengths={"8, 16": (8, 16)}, batches=(1, 2), static_batches=(1,),
        attn_lengths={"8, 16": (8, 16)}, attn_nhead=1, attn_head_dim=4, repeats=1,
        attn_impls=("naive", "sdpa"), fit_min_len=1,
    )  # fmt: skip
    r = attention_cost(config, device="cpu", cache=False)
    monkeypatch.setattr(viz, "measure_models", lambda *a, **k: pytest.fail("re-measured"))
    monkeypatch.setattr(viz, "measure_attention", lambda *a, **k: pytest.fail("re-measured"))
    models = viz.model_cost_interactive(r, ["cpu"]).static_figure()
    assert len(models.data) == 2  # LSTM and Transformer at the one static batch size
    attention = viz.attention_cost_interactive(r, ["cpu"])
    fig = attention.static_figure()
    assert len(fig.data) == 4 and len(fig.layout.updatemenus[0].buttons) == 2  # time, memory
    assert "flash" in fig.data[1].name


def test_exponent_words_read_the_interval():
    assert exponent_words(0.5, 0.8) == "below 1"
    assert exponent_words(0.9, 1.2) == "indistinguishable from 1"
    assert exponent_words(1.2, 1.8) == "between 1 and 2"
    assert exponent_words(1.7, 2.1) == "indistinguishable from 2"
    assert exponent_words(2.1, 2.5) == "above 2"
    assert exponent_words(-1.68, 3.10).startswith("not determined")
    assert exponent_words(float("nan"), float("nan")).startswith("not determined")
    with pytest.raises(ValueError, match="lo <= hi"):
        exponent_words(2.0, 1.0)


def test_versus_chance_ties_a_chance_scorer_and_ranks_a_good_one():
    import pandas as pd

    rows = [dict(cell=c, T=10, seed=s, score=v, baseline=0.125)
            for c, vals in (("lstm", (0.12, 0.13, 0.125)), ("transformer", (0.9, 0.95, 0.92)))
            for s, v in enumerate(vals)]  # fmt: skip
    runs = pd.DataFrame(rows)
    assert versus_chance(runs, "lstm")[10].better("LSTM", "chance") is None
    assert versus_chance(runs, "transformer")[10].better("Transformer", "chance") == "Transformer"
    with pytest.raises(ValueError, match="no runs"):
        versus_chance(runs, "gru")
