"""The memory-task experiment: model shapes, losses, scoring, a tiny run and a sweep."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from seqlab.data.tasks import ADDING_BASELINE_MSE
from seqlab.experiments.memory_tasks import (
    MemoryModel,
    MemoryTaskConfig,
    baseline,
    delay_sweep,
    equal_budget_copy_setup,
    evaluate,
    find_run,
    forget_bias_setup,
    make_batch,
    reversal_setup,
    run_memory_task,
    seed_study,
    sweep_setup,
)


def _config(**kw):
    defaults = dict(T=4, hidden=8, max_iters=3, batch_size=8, eval_size=16, progress=False)
    return MemoryTaskConfig(**{**defaults, **kw})


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(
    "task, out_shape", [("copy", (5, 3, 10)), ("adding", (5, 1)), ("reversal", (5, 4, 8))]
)
def test_model_output_shapes_and_loss(cell, task, out_shape):
    config = _config(task=task, cell=cell)
    x, y = make_batch(config, 5, torch.Generator().manual_seed(0))
    out, loss = MemoryModel(config)(x, y)
    assert tuple(out.shape) == out_shape
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert MemoryModel(config)(x)[1] is None


def test_bidirectional_and_peephole_options():
    config = _config(task="reversal", cell_options={"bidirectional": True})
    model = MemoryModel(config)
    assert model.head.in_features == 2 * config.hidden
    scratch = _config(impl="scratch", cell_options={"peephole": True})
    assert any("weight_ch" in n for n, _ in MemoryModel(scratch).named_parameters())


def test_forget_bias_is_set():
    model = MemoryModel(_config(forget_bias=1.0))
    H = 8
    assert torch.all(model.rnn.bias_ih_l0[H : 2 * H] == 1.0)
    assert torch.all(model.rnn.bias_hh_l0[H : 2 * H] == 0.0)


def test_baselines():
    assert baseline(_config(task="copy", n_symbols=8)) == pytest.approx(1 / 8)
    assert baseline(_config(task="adding")) == ADDING_BASELINE_MSE


def test_evaluate_scores_a_perfect_copy_model():
    config = _config(task="copy")
    x, y = make_batch(config, 6, torch.Generator().manual_seed(0))
    model = MemoryModel(config)

    class Oracle(torch.nn.Module):  # returns one-hot logits of the true answer
        task, n_copy, vocab = "copy", config.n_copy, config.vocab

        def forward(self, x, y=None):
            return torch.nn.functional.one_hot(y_true[: len(x), -self.n_copy :], self.vocab), None

    y_true = y
    assert evaluate(Oracle(), x, y)["score"] == 1.0
    assert 0.0 <= evaluate(model, x, y)["score"] <= 1.0


def test_run_is_reproducible_and_reports():
    a = run_memory_task(_config(task="adding", cell="gru"))
    b = run_memory_task(_config(task="adding", cell="gru"))
    assert a["score"] == b["score"] and a["steps_done"] == 3
    assert a["baseline"] == ADDING_BASELINE_MSE and a["params"] > 0
    assert len(a["history"]) == 3


def test_delay_sweep_rows():
    df = delay_sweep(_config(max_iters=2), {"rnn": 6, "lstm": 3}, [3, 5])
    assert list(zip(df["T"], df["cell"], df["hidden"], strict=True)) == [
        (3, "rnn", 6), (3, "lstm", 3), (5, "rnn", 6), (5, "lstm", 3)
    ]  # fmt: skip
    assert df["score"].between(0, 1).all()


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="task"):
        MemoryTaskConfig(task="sorting")
    with pytest.raises(ValueError, match="T must be"):
        MemoryTaskConfig(T=0)
    with pytest.raises(ValueError, match="T >= 2"):
        MemoryTaskConfig(task="adding", T=1)


def test_seed_study_reuses_runs_from_a_sweep():
    base = _config(max_iters=2)
    sweep = delay_sweep(base, ["lstm"], [base.T])
    study = seed_study(base, "forget_bias", [0.0, 1.0], [0], reuse=sweep)
    assert study["reused"].tolist() == [False, True]  # b_f = 1, seed 0 is the sweep's run
    assert study.loc[1, "score"] == sweep.loc[0, "score"]
    assert find_run(sweep, replace(base, seed=5)) is None


def test_setups_follow_the_profile(monkeypatch):
    monkeypatch.setenv("SEQLAB_PROFILE", "smoke")
    copy, delays = sweep_setup("copy")
    assert copy.task == "copy" and delays == sorted(delays)
    adding, _ = sweep_setup("adding")
    assert adding.task == "adding"
    fb, seeds = forget_bias_setup(7)
    assert fb.cell == "lstm" and fb.hidden == 7 and len(seeds) >= 2
    assert reversal_setup().task == "reversal"
    assert equal_budget_copy_setup()[0].task == "copy"
    with pytest.raises(ValueError, match="task"):
        sweep_setup("reversal")
