"""seqlab.experiments.clipping: spectral radius, runs with and without gradient clipping."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from seqlab.data.corpus import CharDataset
from seqlab.experiments import clipping as clipping_module
from seqlab.experiments.clipping import (
    RUNS,
    ClippingConfig,
    ClippingStudyConfig,
    clipping,
    clipping_experiment,
    clipping_run,
    make_model,
    set_spectral_radius,
    spectral_radius,
    summarize,
)

TEXT = "to be, or not to be: that is the question.\n" * 60
TINY = dict(hidden_size=16, n_embd=8, batch_size=4, block_size=24, max_iters=6)


@pytest.fixture(scope="module")
def dataset() -> CharDataset:
    return CharDataset(TEXT, val_frac=0.1)


def test_set_spectral_radius():
    w = torch.randn(12, 12, generator=torch.Generator().manual_seed(0))
    assert set_spectral_radius(w, 1.5) is w
    assert spectral_radius(w) == pytest.approx(1.5, rel=1e-5)
    with pytest.raises(ValueError, match="square"):
        set_spectral_radius(torch.randn(3, 4), 1.0)
    with pytest.raises(ValueError, match="rho"):
        set_spectral_radius(torch.randn(3, 3), 0.0)


def test_make_model_sets_the_radius_and_is_seeded(dataset):
    cfg = ClippingConfig(rho=1.3, **TINY)
    a, b = (
        make_model(dataset.tokenizer.vocab_size, cfg),
        make_model(dataset.tokenizer.vocab_size, cfg),
    )
    assert spectral_radius(a.rnn.weight_hh_l0) == pytest.approx(1.3, rel=1e-4)
    assert a.rnn.nonlinearity == "relu"
    torch.testing.assert_close(a.state_dict(), b.state_dict())


def test_unclipped_sgd_at_large_radius_stops_with_a_nan_row(dataset):
    cfg = ClippingConfig(rho=3.0, optimizer="sgd", learning_rate=1.0, grad_clip=None, **TINY)
    h = clipping_run(dataset, cfg, progress=False)
    assert len(h) < cfg.max_iters and math.isnan(h["loss"].iloc[-1])
    assert h["loss"].iloc[:-1].map(math.isfinite).all()  # stopped on the first NaN
    assert summarize(h.assign(run="x")).loc["x", "diverged"]


def test_runs_train_through_the_one_loop():
    source = inspect.getsource(clipping_module)
    assert "train(" in source and ".backward(" not in source and ".step(" not in source


def test_clipping_records_the_norm_before_clipping_and_survives(dataset):
    cfg = ClippingConfig(rho=3.0, optimizer="sgd", learning_rate=1.0, grad_clip=0.5, **TINY)
    h = clipping_run(dataset, cfg, progress=False)
    assert len(h) == cfg.max_iters and h["loss"].map(math.isfinite).all()
    assert h["grad_norm"].iloc[0] > 0.5 and h["clipped"].iloc[0]
    assert (h["clipped"] == (h["grad_norm"] > 0.5)).all()
    assert {"rho", "optimizer", "grad_clip"} <= set(h.columns)


def test_experiment_is_reproducible_and_summarized(dataset):
    base = ClippingConfig(rho=1.2, **TINY)
    runs = {"sgd": {"grad_clip": None}, "adamw": {"optimizer": "adamw", "learning_rate": 1e-3}}
    h1 = clipping_experiment(dataset, base, runs, progress=False)
    h2 = clipping_experiment(dataset, base, runs, progress=False)
    timing = ["time_s", "tokens_per_s"]
    assert h1.drop(columns=timing).equals(h2.drop(columns=timing))
    s = summarize(h1)
    assert list(s.index) == ["sgd", "adamw"]
    assert set(s.columns) == {
        "steps", "diverged", "final_loss", "median_grad_norm", "max_grad_norm", "clipped_frac"
    }  # fmt: skip
    with pytest.raises(ValueError, match="optimizer"):
        clipping_run(dataset, ClippingConfig(optimizer="lbfgs", **TINY), progress=False)


def test_the_chapter_runs_plain_and_clipped_sgd_and_adamw(monkeypatch):
    monkeypatch.setenv("SEQLAB_PROFILE", "smoke")
    smoke = clipping.config("rnn.clipping")
    monkeypatch.setenv("SEQLAB_PROFILE", "standard")
    standard = clipping.config("rnn.clipping")
    assert smoke.base.max_iters < standard.base.max_iters and smoke.base.rho == 1.5
    runs = standard.runs.values()
    assert sorted(r["grad_clip"] is None for r in runs) == [False, False, True, True]
    assert {r["optimizer"] for r in runs} == {"sgd", "adamw"}
    result = clipping(ClippingStudyConfig(base=ClippingConfig(**TINY)), device="cpu")
    assert list(result.summary.index) == list(RUNS) and set(result.history["run"]) == set(RUNS)
