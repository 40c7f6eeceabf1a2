"""Tests of seqlab.bench: timing, sweeps with failures as rows, the seqlen and lm benchmarks."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch

from seqlab import bench
from seqlab.bench import BenchTimeout, LMBenchConfig, bench_seqlen, sweep, time_fn

# ----------------------------------------------------------------------------- time_fn


def test_time_fn_runs_warmup_then_exactly_repeats():
    calls = []
    x = torch.ones(64, 64)

    def fn():
        calls.append(1)
        return x @ x

    t = time_fn(fn, warmup=2, repeats=5, device="cpu")
    assert len(calls) == 7 and t.n == 5 and len(t.times_s) == 5
    assert 0 < t.min_s <= t.median_s <= t.max_s
    assert t.iqr_s >= 0
    assert t.mem_kind in ("rss", "maxrss") and t.peak_mem_bytes >= 0


def test_time_fn_min_time_takes_more_samples():
    t = time_fn(lambda: time.sleep(0.005), warmup=0, repeats=1, min_time_s=0.03, device="cpu")
    assert sum(t.times_s) >= 0.03 and t.n >= 2 and t.median_s >= 0.004


def test_time_fn_timeout_and_bad_arguments():
    with pytest.raises(BenchTimeout, match="timeout_s"):
        time_fn(lambda: time.sleep(0.1), warmup=1, repeats=3, timeout_s=0.02, device="cpu")
    with pytest.raises(ValueError, match="repeats"):
        time_fn(lambda: None, repeats=0, device="cpu")


def test_is_oom_recognises_torch_and_message_forms():
    assert bench.is_oom(torch.OutOfMemoryError("CUDA out of memory"))
    assert bench.is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: 8 GB"))
    assert not bench.is_oom(RuntimeError("shape mismatch"))


# ----------------------------------------------------------------------------- sweep


def _factory(size: int, mode: str):
    def fn():
        if mode == "oom" and size >= 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if mode == "slow" and size >= 2:
            time.sleep(0.15)

    return fn


def test_sweep_records_oom_and_timeout_as_rows():
    grid = {"size": [1, 2, 3], "mode": ["ok", "oom", "slow"]}
    df = sweep(_factory, grid, warmup=1, repeats=2, timeout_s=0.05, device="cpu", progress=False)
    assert len(df) == 9
    status = {(r.size, r.mode): r.status for r in df.itertuples()}
    assert all(status[(s, "ok")] == "ok" for s in (1, 2, 3))
    assert status[(1, "oom")] == status[(1, "slow")] == "ok"
    assert status[(2, "oom")] == status[(3, "oom")] == "oom"
    assert status[(2, "slow")] == status[(3, "slow")] == "timeout"
    skipped = df[(df["size"] == 3) & (df["mode"] != "ok")]
    assert skipped["error"].str.startswith("skipped").all()  # bigger than a failure: not run
    ok = df[df.status == "ok"]
    assert (ok["median_s"] > 0).all() and (ok["n"] == 2).all()
    assert df.loc[df.status != "ok", "median_s"].isna().all()


def test_sweep_without_skipping_and_real_errors_propagate():
    df = sweep(_factory, {"size": [2, 3], "mode": ["oom"]}, repeats=1, device="cpu",
               skip_larger=False, progress=False)  # fmt: skip
    assert list(df["status"]) == ["oom", "oom"]
    assert not df["error"].str.startswith("skipped").any()

    def broken(size: int):
        raise ValueError(f"bad size {size}")

    with pytest.raises(ValueError, match="bad size"):
        sweep(broken, {"size": [1]}, device="cpu", progress=False)


def test_matmul_peak_flops_is_positive():
    flops = bench.matmul_peak_flops("cpu", sizes=[(64, 64, 64)], repeats=2)
    assert flops > 0 and math.isfinite(flops)


# ----------------------------------------------------------------------------- seqlen


def test_bench_seqlen_tiny_returns_every_combination():
    df = bench_seqlen(lengths=(3, 6), batch_size=2, hidden_size=8, nhead=2, device="cpu", repeats=1,
                      progress=False)  # fmt: skip
    assert len(df) == 4 * 2 * 2  # models x impls x lengths
    assert set(df["model"]) == {"rnn", "lstm", "gru", "transformer"}
    assert set(df["impl"]) == {"scratch", "fused"} and set(df["seq_len"]) == {3, 6}
    assert (df["status"] == "ok").all()
    assert (df["median_ms"] > 0).all() and (df["tokens_per_s"] > 0).all()


def test_bench_seqlen_rejects_bad_input():
    with pytest.raises(ValueError, match="cell"):
        bench_seqlen(lengths=(4,), cells=("lstm", "mamba"), device="cpu")
    with pytest.raises(ValueError, match="multiple of nhead"):
        bench_seqlen(lengths=(4,), hidden_size=10, nhead=4, device="cpu")


def test_seqlen_cli_prints_strict_json_last(capsys):
    argv = ["seqlen", "--lengths", "4", "--batch", "1", "--hidden", "8", "--heads", "2",
            "--cells", "gru", "--impls", "fused"]  # fmt: skip
    assert bench.main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert result["benchmark"] == "seqlen" and len(result["results"]) == 2
    assert result["provenance"]["torch"] == torch.__version__


# ----------------------------------------------------------------------------- lm

TINY = ["--layers", "1", "--dim", "16", "--heads", "2", "--context", "8", "--batch", "2",
        "--eval-batches", "1", "--final-eval-batches", "1", "--no-peak"]  # fmt: skip


def _last_json(capsys) -> dict:
    last = capsys.readouterr().out.strip().splitlines()[-1]
    return json.loads(last, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_lm_cli_three_steps_with_reference(capsys):
    assert bench.main(["lm", "--steps", "3", "--reference", *TINY]) == 0
    result = _last_json(capsys)
    ours, ref = result["ours"], result["reference"]
    assert ours["steps"] == ref["steps"] == 3
    assert ours["tokens_per_s"] > 0 and ref["tokens_per_s"] > 0
    assert result["speed_ratio"] == pytest.approx(ours["tokens_per_s"] / ref["tokens_per_s"])
    assert math.isfinite(ours["val_loss"]) and math.isfinite(ours["train_loss"])
    assert result["config"]["arch"] == "gpt" and result["eval_set"]["batches"] == 1
    assert "device" in result["provenance"]


def test_lm_target_loss_stops_early():
    # any loss is below 100: the first evaluation reaches the target and training stops
    cfg = LMBenchConfig(arch="gru", steps=50, eval_every=2, target_loss=100.0, layers=1, dim=16,
                        context=8, batch=2, eval_batches=1, final_eval_batches=1,
                        measure_peak=False)  # fmt: skip
    result = bench.bench_lm(cfg, out=lambda line: None)
    assert result["ours"]["steps"] == 2
    hit = result["ours"]["reached"]
    assert hit["step"] == 2 and 0 < hit["train_s"] <= hit["with_eval_s"]


def test_run_throughput_windows_and_time_ratios():
    run = bench._Run("x", tokens_per_step=100)
    run.starts = [0.01 * i for i in range(40)] + [0.4 + 0.02 * i for i in range(40)]
    run.end = 0.4 + 0.02 * 40
    assert run.tokens_per_s(skip=0, upto=40) == pytest.approx(100 / 0.01)  # fast half only
    assert run.tokens_per_s(skip=40) == pytest.approx(100 / 0.02)  # slow half only
    assert run.train_s() == pytest.approx(1.2)
    ours = dict(reached=dict(step=100, train_s=5.0), paired_ms_per_step=10.0)
    ref = dict(reached=None, steps=400, train_s=20.0, paired_ms_per_step=10.0)
    out = bench._time_to_target(ours, ref)
    assert out["time_to_target_ratio"] is None
    assert out["time_to_target_ratio_upper_bound"] == pytest.approx(0.25)
    assert out["time_to_target_ratio_robust_upper_bound"] == pytest.approx(0.25)
    ref["reached"] = dict(step=200, train_s=8.0)
    out = bench._time_to_target(ours, ref)
    assert out["time_to_target_ratio"] == pytest.approx(5 / 8)
    assert out["time_to_target_ratio_robust"] == pytest.approx(0.5)


def test_lm_unknown_arch_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["lm", "--arch", "mamba", "--steps", "1"])
    assert exc.value.code == 2
    assert "invalid choice: 'mamba'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown arch 'mamba'; valid: 'gpt'"):
        LMBenchConfig(arch="mamba")
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        LMBenchConfig(precision="fp8")


def test_preset_fills_defaults_and_flags_win():
    args = bench._parser().parse_args(["lm", "--preset", "fast", "--batch", "4"])
    cfg = bench.lm_config_from_args(args)
    assert cfg.batch == 4
    assert cfg.target_loss == bench.PRESETS["fast"]["target_loss"]
    assert cfg.lr == bench.PRESETS["fast"]["lr"] and cfg.precision == "best"
