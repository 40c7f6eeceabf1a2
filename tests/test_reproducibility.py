"""The appendix's reproducibility experiment: what repeats bit for bit on a CPU, and what not."""

import pytest
import torch

from seqlab.experiments.reproducibility import ReproducibilityConfig, reproducibility, run_specs

TINY = ReproducibilityConfig(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4,
                             max_iters=4, seeds=(0, 1), threads=(1,))  # fmt: skip


def test_the_same_seed_repeats_and_another_does_not():
    before = torch.are_deterministic_algorithms_enabled()
    result = reproducibility(TINY, device="cpu", cache=False)
    table = result.summary.set_index("run")
    ref = table.index[0]
    assert ref.startswith("reference (seed 0, 1 thread")
    assert table.loc[ref, "identical"] and table.loc[ref, "max_loss_diff"] == 0
    assert table.loc["the same again", "identical"]
    assert table.loc["use_deterministic_algorithms(True)", "identical"]  # nothing to change on CPU
    assert not table.loc["seed 1", "identical"] and table.loc["seed 1", "max_weight_diff"] > 1e-3
    assert not table.loc["bfloat16 autocast", "identical"]
    assert list(result.losses.columns) == list(table.index)
    assert result.losses.shape == (TINY.max_iters, len(table))
    assert torch.are_deterministic_algorithms_enabled() == before  # the switch is restored


def test_run_specs_name_every_setting_and_refuse_empty_lists():
    specs = run_specs(ReproducibilityConfig(seeds=(3, 4), threads=(1, 2)), torch.device("cpu"))
    assert [s.name for s in specs] == [
        "reference (seed 3, 1 thread, float32)", "the same again", "2 CPU threads",
        "use_deterministic_algorithms(True)", "bfloat16 autocast", "seed 4",
    ]  # fmt: skip
    assert specs[2].threads == 2 and specs[3].deterministic and specs[4].dtype == "bfloat16"
    gpu = run_specs(ReproducibilityConfig(), torch.device("cuda"))  # names only: nothing runs
    assert [s.device for s in gpu[-2:]] == ["cuda", "cuda"]
    with pytest.raises(ValueError, match="seeds and threads must be non-empty"):
        run_specs(ReproducibilityConfig(seeds=()), torch.device("cpu"))
