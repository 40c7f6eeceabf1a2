"""seqlab.train.log: a run's history as CSV with provenance, read back unchanged."""

import math

import pandas as pd
import pytest
import torch

from seqlab.train import TrainConfig, read_log, read_logs, train, write_log


def _history(seed: int = 0, max_iters: int = 5) -> tuple[pd.DataFrame, TrainConfig]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(16, 3), torch.randn(16, 1)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = model

        def forward(self, x, y):
            out = self.lin(x)
            return out, torch.nn.functional.mse_loss(out, y)

    config = TrainConfig(max_iters=max_iters, learning_rate=1e-2, seed=seed, progress=False)
    return train(Wrap(), lambda it: (x, y), config), config


def test_a_log_round_trips_history_provenance_and_fields(tmp_path):
    history, config = _history()
    path = write_log(history, tmp_path / "runs" / "a.csv", config=config, seed=0, note="x: y")
    assert path.read_text().startswith("# seqlab-log 1\n# device: ")
    back, header = read_log(path)
    pd.testing.assert_frame_equal(back, history, check_dtype=False)
    assert back.loss.tolist() == history.loss.tolist()  # floats exactly, not rounded
    assert header["config"]["max_iters"] == 5 and header["config"]["learning_rate"] == 1e-2
    assert header["seed"] == 0 and header["note"] == "x: y"
    assert header["torch"] == torch.__version__ and header["device_type"] == "cpu"
    assert {"device", "python", "profile", "commit", "date"} <= set(header)


def test_read_logs_stacks_runs_with_their_fields(tmp_path):
    for seed in (0, 1):
        history, config = _history(seed, max_iters=3)
        write_log(history, tmp_path / f"s{seed}.csv", config=config, seed=seed)
    table = read_logs(sorted(tmp_path.glob("*.csv")))
    assert table.columns[0] == "run" and len(table) == 6
    assert table.groupby("run").seed.first().to_dict() == {"s0": 0, "s1": 1}
    assert "config" not in table.columns and "torch" in table.columns
    assert list(read_logs([tmp_path / "s0.csv"], columns=["seed"]).columns)[-1] == "seed"
    last = table.groupby("seed").loss.last()
    assert all(math.isfinite(v) for v in last) and last[0] != last[1]


def test_bad_input_is_refused(tmp_path):
    history, _ = _history(max_iters=2)
    with pytest.raises(TypeError, match="history must be a pandas DataFrame"):
        write_log(history.to_dict(), tmp_path / "a.csv")
    with pytest.raises(ValueError, match="field 'torch' is already in the header"):
        write_log(history, tmp_path / "a.csv", torch="2")
    with pytest.raises(TypeError, match="field 'obj' is not JSON-serialisable"):
        write_log(history, tmp_path / "a.csv", obj=object())
    (tmp_path / "plain.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="is not a seqlab log"):
        read_log(tmp_path / "plain.csv")
    with pytest.raises(ValueError, match="paths is empty"):
        read_logs([])
