"""Tests of seqlab.bench: timing, sweeps with failures as rows, the seqlen and lm benchmarks."""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqlab import bench
from seqlab.bench import BenchTimeout, LMBenchConfig, bench_seqlen, sweep, time_fn
from seqlab.bench import lm as bench_lm_module
from seqlab.bench.cli import _parser, lm_config_from_args, main

REPO = Path(__file__).resolve().parent.parent

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
    argv = ["seqlen", "--lengths", "4", "--batch_size", "1", "--hidden-size", "8", "--nhead", "2",
            "--cells", "gru", "--impls", "fused"]  # fmt: skip
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert result["benchmark"] == "seqlen" and len(result["results"]) == 2
    assert result["results"][0]["batch_size"] == 1 and result["results"][0]["hidden_size"] == 8
    assert result["provenance"]["torch"] == torch.__version__


# ----------------------------------------------------------------------------- lm

TINY = ["--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "8",
        "--batch_size", "2", "--eval_iters", "1", "--final_eval_iters", "1", "--no_peak"]  # fmt: skip


def _last_json(text: str) -> dict:
    last = text.strip().splitlines()[-1]
    return json.loads(last, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_lm_cli_three_steps_alone(capsys):
    assert main(["lm", "--max_iters", "3", *TINY]) == 0
    result = _last_json(capsys.readouterr().out)
    ours = result["ours"]
    assert ours["steps"] == 3 and result["reference"] is None and result["speed_ratio"] is None
    assert ours["tokens_per_s"] > 0 and math.isfinite(ours["val_loss"])
    # FLOP rate = 6 N tokens/s, N counting every parameter once (nanoGPT's convention)
    assert ours["model_flops_per_s"] == pytest.approx(6 * ours["params"] * ours["tokens_per_s"])
    assert ours["ms_per_step"] == pytest.approx(1e3 * 2 * 8 / ours["tokens_per_s"])  # B*T tokens
    assert result["eval_set"]["eval_iters"] == 1 and result["config"]["arch"] == "gpt"


def test_compare_nanogpt_alternates_with_the_reference():
    cmd = [sys.executable, "benchmarks/compare_nanogpt.py", "--max_iters", "3", *TINY]
    path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = _last_json(out.stdout)
    ours, ref = result["ours"], result["reference"]
    assert ours["steps"] == ref["steps"] == 3 and result["paired_steps"] == 3
    assert result["speed_ratio"] == pytest.approx(
        ours["paired_tokens_per_s"] / ref["paired_tokens_per_s"]
    )
    assert result["reference_config"]["n_layer"] == 1 and math.isfinite(ref["val_loss"])


def test_lm_target_loss_stops_early_through_a_callback():
    # any loss is below 100: the first evaluation reaches the target and training stops
    cfg = LMBenchConfig(arch="gru", max_iters=50, eval_interval=2, target_loss=100.0, n_layer=1,
                        n_embd=16, block_size=8, batch_size=2, eval_iters=1, final_eval_iters=1,
                        measure_peak=False)  # fmt: skip
    result = bench.bench_lm(cfg, out=lambda line: None)
    assert result["ours"]["steps"] == 2
    hit = result["ours"]["reached"]
    assert hit["step"] == 2 and 0 < hit["train_s"] <= hit["with_eval_s"]
    assert "_StopTraining" not in dir(bench_lm_module)  # stopped by stop_at_loss, no exception


def test_lm_partner_runs_alternating_windows():
    log = []

    class Stub(torch.nn.Module):
        def forward(self, x, y):
            return None, torch.tensor(3.0)

    def steps():
        while True:
            log.append("partner")
            yield 0.0

    cfg = LMBenchConfig(arch="gru", max_iters=25, n_layer=1, n_embd=8, block_size=8, batch_size=2,
                        eval_iters=1, final_eval_iters=1, measure_peak=False)  # fmt: skip
    partner = bench.Partner("stub", Stub(), steps(), max_iters=12, tokens_per_step=16, block_size=8)
    result = bench.bench_lm(cfg, out=lambda line: log.append(line.split()[0]), partner=partner)
    assert result["reference"]["steps"] == 12 and result["ours"]["steps"] == 25
    assert result["paired_steps"] == 12 and result["reference"]["val_loss"] == 3.0
    turns = [name for name in log if name == "partner"]
    assert len(turns) == 12
    first = log.index("partner")  # ours ran its first WINDOW (and evaluations) before
    assert log[first : first + 10] == ["partner"] * 10 and "seqlab" not in log[first : first + 10]


def test_run_throughput_windows_and_time_ratios():
    run = bench_lm_module._Run("x", tokens_per_step=100)
    run.starts = [0.01 * i for i in range(40)] + [0.4 + 0.02 * i for i in range(40)]
    run.end = 0.4 + 0.02 * 40
    assert run.tokens_per_s(skip=0, upto=40) == pytest.approx(100 / 0.01)  # fast half only
    assert run.tokens_per_s(skip=40) == pytest.approx(100 / 0.02)  # slow half only
    assert run.train_s() == pytest.approx(1.2)
    ours = dict(reached=dict(step=100, train_s=5.0), paired_ms_per_step=10.0)
    ref = dict(reached=None, steps=400, train_s=20.0, paired_ms_per_step=10.0)
    out = bench_lm_module._time_to_target(ours, ref)
    assert out["time_to_target_ratio"] is None
    assert out["time_to_target_ratio_upper_bound"] == pytest.approx(0.25)
    assert out["time_to_target_ratio_robust_upper_bound"] == pytest.approx(0.25)
    ref["reached"] = dict(step=200, train_s=8.0)
    out = bench_lm_module._time_to_target(ours, ref)
    assert out["time_to_target_ratio"] == pytest.approx(5 / 8)
    assert out["time_to_target_ratio_robust"] == pytest.approx(0.5)


def test_preset_fills_defaults_and_flags_win():
    args = _parser().parse_args(["lm", "--preset", "fast", "--batch-size", "4"])
    cfg = lm_config_from_args(args)
    assert cfg.batch_size == 4
    assert cfg.target_loss == bench.PRESETS["fast"]["target_loss"]
    assert cfg.learning_rate == bench.PRESETS["fast"]["learning_rate"] and cfg.dtype == "best"


def test_lm_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown arch 'mamba'; valid: 'gpt'"):
        LMBenchConfig(arch="mamba")
    with pytest.raises(ValueError, match="unknown dtype 'bf16'"):
        LMBenchConfig(dtype="bf16")
    with pytest.raises(ValueError, match="n_embd=128 must be a multiple of n_head=3"):
        LMBenchConfig(n_head=3)
    with pytest.raises(ValueError, match="n_layer must be an int >= 1, got 0"):
        LMBenchConfig(n_layer=0)


# ----------------------------------------------------------------------------- CLI errors

BAD_ARGS = [
    (["lm", "--n_layer", "0"], "argument --n_layer/--n-layer: must be a positive int, got '0'"),
    (["lm", "--max_iters", "-5"], "argument --max_iters/--max-iters: must be a positive int"),
    (["lm", "--block_size", "0"], "argument --block_size/--block-size: must be a positive int"),
    (["lm", "--batch_size", "0"], "argument --batch_size/--batch-size: must be a positive int"),
    (["lm", "--batch_size", "two"], "must be a positive int, got 'two'"),
    (["lm", "--learning_rate=-1e-3"], "argument --learning_rate/--learning-rate: must be a "),
    (["lm", "--learning_rate", "inf"], "must be a positive number, got 'inf'"),
    (["lm", "--n_head", "3", "--n_embd", "128"], "n_embd=128 must be a multiple of n_head=3"),
    (["lm", "--warmup_iters", "400", "--max_iters", "300"], "warmup_iters=400 must not exceed"),
    (["lm", "--device", "tpu9"], "argument --device: unknown device 'tpu9'"),
    (["lm", "--device", "cuda:x"], "argument --device: unknown device 'cuda:x'"),
    (["lm", "--arch", "mamba"], "argument --arch: invalid choice: 'mamba'"),
    (["lm", "--dtype", "fp8"], "argument --dtype: invalid choice: 'fp8'"),
    (["lm", "--dropout", "1.5"], "dropout must be a number in [0, 1), got 1.5"),
    (["lm", "--arch", "lstm", "--dropout", "0.1"], "dropout=0.1 is a gpt option"),
    (["lm", "--reference"], "unrecognized arguments: --reference"),  # moved to benchmarks/
    (["seqlen", "--lengths", "0"], "argument --lengths: must be a positive int, got '0'"),
    (["seqlen", "--hidden_size", "10", "--nhead", "4"], "hidden_size=10 must be a multiple"),
    (["seqlen", "--cells", "mamba"], "argument --cells: invalid choice: 'mamba'"),
    (["nonsense"], "invalid choice: 'nonsense'"),
]
if not torch.cuda.is_available():
    BAD_ARGS.append((["lm", "--device", "cuda"], "device 'cuda' is not available here"))
else:
    n = torch.cuda.device_count()
    BAD_ARGS.append((["lm", "--device", f"cuda:{n}"], f"device 'cuda:{n}' does not exist"))


@pytest.mark.parametrize("argv, message", BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "error: " in lines[0] and message in lines[0], captured.err
    assert captured.out == ""


def test_bad_argument_from_the_shell_has_no_traceback():
    cmd = [sys.executable, "-m", "seqlab.bench", "lm", "--n_head", "3", "--n_embd", "128"]
    path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        "python -m seqlab.bench lm: error: n_embd=128 must be a multiple of n_head=3 "
        "(each head gets n_embd / n_head dimensions)"
    )


# ----------------------------------------------------------------------------- the package's edges


def test_the_bench_package_reads_nothing_outside_seqlab():
    """No module of seqlab imports from benchmarks/ or loads a file by path."""
    package = REPO / "seqlab"
    for path in package.rglob("*.py"):
        source = path.read_text()
        assert "spec_from_file_location" not in source, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any("reference_nanogpt" in n or "benchmarks" in n for n in names), path
    assert "--reference" not in _parser().format_help()
    assert all(p.stat().st_size and len(p.read_text().splitlines()) < 400
               for p in (package / "bench").glob("*.py"))  # fmt: skip


def test_lm_dropout_reaches_the_gpt():
    build_model = bench_lm_module.build_model
    model = build_model(LMBenchConfig(n_layer=1, n_embd=32, n_head=2, dropout=0.2), vocab_size=11)
    assert model.config.dropout == 0.2
    assert build_model(LMBenchConfig(n_layer=1, n_embd=32, n_head=2), 11).config.dropout == 0.0
