"""Parameter counts from the formula vs torch, and equal-budget hidden sizes."""

from __future__ import annotations

import pytest
import torch

from seqlab.experiments.param_budget import (
    equal_budget_sizes,
    hidden_for_budget,
    lm_param_count,
    recurrent_param_count,
)
from seqlab.models import LSTM, build_lm, count_params

FUSED = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize(
    "C, H, L, bias, bi", [(5, 7, 1, True, False), (3, 4, 2, False, True), (6, 2, 3, True, True)]
)
def test_formula_equals_torch(cell, C, H, L, bias, bi):
    module = FUSED[cell](C, H, L, bias=bias, bidirectional=bi)
    expected = sum(p.numel() for p in module.parameters())
    assert recurrent_param_count(cell, C, H, L, bias=bias, bidirectional=bi) == expected


def test_peepholes_add_three_vectors_per_layer():
    scratch = LSTM(4, 5, num_layers=2, peephole=True)
    assert recurrent_param_count("lstm", 4, 5, 2, peephole=True) == count_params(scratch)
    with pytest.raises(ValueError, match="peephole"):
        recurrent_param_count("gru", 4, 5, peephole=True)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_lm_formula_equals_count_params(cell):
    model = build_lm(cell, 11, n_embd=6, hidden_size=9, n_layer=2)
    assert lm_param_count(cell, 11, 6, 9, 2) == count_params(model)


def test_hidden_for_budget_is_closest():
    count = lambda H: recurrent_param_count("rnn", 10, H)  # noqa: E731
    budget = recurrent_param_count("lstm", 10, 32)
    H = hidden_for_budget(count, budget)
    assert all(abs(count(H) - budget) <= abs(count(h) - budget) for h in range(1, 200))


def test_equal_budget_sizes_orders_cells():
    sizes = equal_budget_sizes(
        lambda c, H: lm_param_count(c, 65, 32, H), "lstm", 64, ("rnn", "gru", "lstm")
    )
    assert sizes["lstm"] == 64 and sizes["rnn"] > sizes["gru"] > sizes["lstm"]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="cell"):
        recurrent_param_count("transformer", 4, 4)
    with pytest.raises(ValueError, match="hidden_size"):
        recurrent_param_count("rnn", 4, 0)
    with pytest.raises(ValueError, match="budget"):
        hidden_for_budget(lambda H: H, 0)
