"""Random windows vs truncated BPTT (chapter 1), the n-gram baseline experiment, and the
gradient-flow grid over seeds and input scales."""

from __future__ import annotations

import pytest
import torch

from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.gradient_flow import (
    GradientFlowConfig,
    factor_table,
    gradient_flow,
    gradient_flow_state,
    unit_sigma_max,
)
from seqlab.experiments.training_scheme import (
    TrainingSchemeConfig,
    _window,
    streamed_loss,
    train_scheme,
    training_scheme,
)
from seqlab.models import RecurrentLM, RecurrentLMConfig

TINY = dict(hidden_size=16, n_embd=8, batch_size=4, block_size=8, max_iters=3, eval_iters=1,
            eval_chars=32)  # fmt: skip


def test_windows_are_consecutive_and_wrap():
    data = torch.arange(10)
    x, y = _window(data, torch.tensor([0, 8]), 3)
    assert x.tolist() == [[0, 1, 2], [8, 9, 0]]
    assert y.tolist() == [[1, 2, 3], [9, 0, 1]]


def test_streamed_loss_equals_one_pass_over_the_stream():
    torch.manual_seed(0)
    model = RecurrentLM(RecurrentLMConfig(vocab_size=7, cell="rnn", n_embd=4, hidden_size=8))
    data = torch.randint(7, (200,))
    B, T, n = 2, 5, 20
    windowed = streamed_loss(model, data, B, T, n)
    pos = torch.arange(B) * ((len(data) - n - 1) // B)
    x, y = _window(data, pos, n)  # the same characters in one window per stream
    logits, _ = model.step(x)
    whole = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), y.reshape(-1)).item()
    assert windowed == pytest.approx(whole, rel=1e-5)  # carrying the state = reading it whole


def test_both_schemes_train_and_report_their_steps():
    config = TrainingSchemeConfig(**TINY)
    for scheme in config.schemes:
        _, row = train_scheme(shakespeare(), scheme, 0, config, torch.device("cpu"))
        assert row["steps"] == 3 and row["scheme"] == scheme
        for key in ("val_loss", "streamed_val_loss", "train_loss"):
            assert 0 < row[key] < 10


def test_experiment_runs_every_scheme_and_seed():
    r = training_scheme(TrainingSchemeConfig(**TINY, seeds=(0, 1, 2)), cache=False)
    runs = r["runs"]
    assert len(runs) == 6 and set(runs["seed"]) == {0, 1, 2}
    assert r["val_chars"]["val_loss"] == 1 * 4 * 8
    assert r["val_chars"]["streamed_val_loss"] == 4 * 32


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="unknown schemes"):
        TrainingSchemeConfig(schemes=("stateful",))


def test_gradient_flow_grid_over_seeds_and_input_scales():
    config = GradientFlowConfig(nonlinearities=("tanh", "relu"), rhos=(1.0,), T=30,
                                hidden_size=16, seeds=(0, 1, 2), input_scales=(0.1, 3.0))  # fmt: skip
    f = gradient_flow(config, cache=False)["factors"]
    assert len(f) == 2 * 2 * 3
    relu = f[f.nonlinearity == "relu"].pivot(index="seed", columns="input_scale", values="factor")
    assert (relu[0.1] - relu[3.0]).abs().max() < 1e-9  # homogeneous: the scale does not matter
    tanh = f[f.nonlinearity == "tanh"].groupby("input_scale")["factor"].mean()
    assert tanh[0.1] > tanh[3.0]  # saturation shrinks the gradient
    table = factor_table(f[f.input_scale == 0.1])
    assert list(table.columns) == ["relu", "tanh"] and "±" in table.loc[1.0, "tanh"]


def test_sigma_max_bounds_the_spectral_radius():
    for seed in range(3):
        assert unit_sigma_max(32, seed) > 1.0  # sigma_max >= rho = 1, strictly for random W
    s = gradient_flow_state("RNN", rho=0.5, T=10, hidden_size=32, seed=1)
    assert s["sigma_max"] == pytest.approx(0.5 * unit_sigma_max(32, 1))


def test_default_grid_keeps_one_seed_and_unit_inputs():
    config = GradientFlowConfig(rhos=(1.0,), T=10, hidden_size=8)
    f = gradient_flow(config, cache=False)["factors"]
    assert f[["seed", "input_scale"]].drop_duplicates().values.tolist() == [[1.0 * 0, 1.0]]


def test_ngram_baseline_selects_on_validation_and_reports_bpc_and_ppl():
    from seqlab.experiments.char_lm import NGramBaselineConfig, ngram_baseline

    r = ngram_baseline(NGramBaselineConfig(orders=(1, 2, 3), train_chars=50_000), cache=False)
    best, table = r["best"], r["table"]
    assert best["val_loss"] == table["val_loss"].min() and best["order"] == 3
    assert r["n_train"] == 50_000 and r["n_val"] == len(shakespeare().split("val"))
    assert best["ppl"] == pytest.approx(2 ** best["bpc"])


def test_factor_verdict_needs_the_seeds_to_agree():
    from seqlab.experiments.gradient_flow import factor_verdict

    assert factor_verdict([0.83, 0.84, 0.835]) == "shrinks"
    assert factor_verdict([1.48, 1.49, 1.47]) == "grows"
    assert factor_verdict([0.95, 1.02, 0.97]) == "stays within the spread of 1"
    with pytest.raises(ValueError):
        factor_verdict([0.9])


def test_seed_band_figure_and_print_builder_use_one_curve_per_setting():
    from seqlab.viz.gradient_flow import _seed_band, seed_band_figure

    config = GradientFlowConfig(nonlinearities=("tanh", "linear"), rhos=(1.5,), T=20,
                                hidden_size=8, seeds=(0, 1, 2), input_scales=(1.0, 3.0))  # fmt: skip
    curves = gradient_flow(config, cache=False)["curves"]
    band = _seed_band(curves[(curves.nonlinearity == "tanh") & (curves.input_scale == 1.0)])
    assert (
        len(band) == 20 and (band["lo"] <= band["mid"]).all() and (band["mid"] <= band["hi"]).all()
    )
    fig = seed_band_figure(curves, rho=1.5)
    lines = [t for t in fig.data if t.fill != "toself"]
    assert [t.name for t in lines] == ["f = tanh", "f = linear", "theory ρ<sup>k</sup>"]
    assert all(len(t.x) == 20 for t in lines)
