"""The memory-task experiment: model shapes, losses, scoring, a tiny run and a sweep."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from seqlab.data.tasks import ADDING_BASELINE_MSE
from seqlab.experiments import memory_tasks
from seqlab.experiments.memory_tasks import (
    DelaySweepConfig,
    MemoryModel,
    MemoryTaskConfig,
    ReversalConfig,
    SeedStudyConfig,
    baseline,
    delay_sweep,
    evaluate,
    make_batch,
    memory_run,
    reversal,
    run_memory_task,
    seed_study,
)


def _config(**kw):
    defaults = dict(T=4, hidden_size=8, max_iters=3, batch_size=8, eval_size=16)
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
    assert model.head.in_features == 2 * config.hidden_size
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
    assert a["baseline"] == ADDING_BASELINE_MSE and a["n_params"] > 0
    assert len(a["history"]) == 3


def test_delay_sweep_rows_at_equal_budgets():
    config = DelaySweepConfig(task=_config(max_iters=2), cells=("rnn", "lstm"), delays=(3, 5))
    result = delay_sweep(config, device="cpu")
    sizes = result.hidden_sizes
    assert sizes["lstm"] == 8 and sizes["rnn"] > sizes["lstm"]  # the RNN gets the LSTM's budget
    df = result.runs
    assert list(zip(df["T"], df["cell"], df["hidden_size"], strict=True)) == [
        (3, "rnn", sizes["rnn"]), (3, "lstm", 8), (5, "rnn", sizes["rnn"]), (5, "lstm", 8)
    ]  # fmt: skip
    assert df["score"].between(0, 1).all()


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="task"):
        MemoryTaskConfig(task="sorting")
    with pytest.raises(ValueError, match="T must be"):
        MemoryTaskConfig(T=0)
    with pytest.raises(ValueError, match="T >= 2"):
        MemoryTaskConfig(task="adding", T=1)


def test_studies_share_runs_through_the_cache(monkeypatch):
    trained = []
    real = memory_tasks.run_memory_task
    monkeypatch.setattr(memory_tasks, "run_memory_task",
                        lambda config, *a: trained.append(config) or real(config, *a))  # fmt: skip
    base = _config(max_iters=2, T=6)
    sweep = delay_sweep(DelaySweepConfig(task=base, cells=("lstm",), delays=(6,)), device="cpu")
    assert len(trained) == 1
    study = seed_study(SeedStudyConfig(task=replace(base, cell="lstm"), vary="forget_bias",
                                       values=(0.0, 1.0), seeds=(0,)), device="cpu")  # fmt: skip
    assert len(trained) == 2  # b_f = 1, seed 0 is the sweep's run: loaded, not trained
    assert study.runs["cached"].tolist() == [False, True]
    assert study.runs.loc[1, "score"] == sweep.runs.loc[0, "score"]
    again = memory_run(replace(base, cell="lstm"), device="cpu")
    assert again.cached and len(trained) == 2


def test_reversal_runs_left_to_right_and_bidirectional():
    result = reversal(ReversalConfig(task=_config(task="reversal", max_iters=2)), device="cpu")
    uni, bi = result.runs["left-to-right"], result.runs["bidirectional"]
    assert bi["n_params"] > uni["n_params"] and len(uni["per_position"]) == 4
    assert result.chance == 1 / 8
