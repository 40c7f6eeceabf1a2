"""nanoGPT's recipes as an experiment: the compute bookkeeping and the rows by profile."""

from __future__ import annotations

import pytest

from seqlab.bench import LMBenchConfig
from seqlab.bench.lm import build_model
from seqlab.experiments.profiles import config_for, row
from seqlab.experiments.reproduction import NANOGPT_RECIPES, ReproductionConfig, nanogpt_recipes
from seqlab.models import accounting


def test_smoke_row_trains_both_recipes_and_counts_their_compute(monkeypatch):
    monkeypatch.setenv("SEQLAB_CPU_THREADS", "1")
    config = config_for(ReproductionConfig, "reproduction.nanogpt", "smoke")
    result = nanogpt_recipes(config, device="cpu", progress=False)
    table = result.values["table"]
    assert list(table.index) == ["CPU recipe", "GPU recipe"]
    recipes = row("reproduction.nanogpt", "smoke")["recipes"]
    for name, r in table.iterrows():
        assert r["steps"] == recipes[name]["max_iters"]
        assert r["tokens"] == r["steps"] * recipes[name]["batch_size"] * recipes[name]["block_size"]
        assert r["flops"] == r["flops_per_token"] * r["tokens"]
        assert r["mfu"] is None and 0 < r["val_loss"] < 10  # no peak measured on a CPU
    assert result.values["compute_ratio"] == pytest.approx(table.flops.max() / table.flops.min())
    assert set(result.values["curves"]["recipe"]) == set(table.index)


def test_standard_row_is_nanogpts_recipes_whose_compute_differs_732_fold():
    assert row("reproduction.nanogpt", "standard")["recipes"] is None  # NANOGPT_RECIPES
    flops = {}
    for name, recipe in NANOGPT_RECIPES.items():
        cfg = LMBenchConfig(**recipe)
        model = build_model(cfg, vocab_size=76)  # the corpus's 76 symbols
        per_token = accounting.flops_per_token(model, T=cfg.block_size)
        flops[name] = per_token * cfg.max_iters * cfg.batch_size * cfg.block_size
    assert flops["GPU recipe"] / flops["CPU recipe"] == pytest.approx(732, abs=1)
