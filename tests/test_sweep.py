"""The scaling sweep's engine: the run table, skipping and resuming, the command line, seeds."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from seqlab.experiments import profiles, scaling
from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.profiles import config_for
from seqlab.experiments.scaling import (
    COLUMNS,
    RunSpec,
    SweepConfig,
    build_model,
    kaplan_lr,
    learning_rates,
    lr_check_specs,
    run_sweep,
    sweep_specs,
)
from seqlab.experiments.scaling_specs import flops_per_step, isoflop_budget_of, isoflop_specs
from seqlab.experiments.sweep_table import read_table, run_id
from seqlab.models import count_params
from seqlab.models.accounting import flops_per_token
from seqlab.sweep import main

REPO = Path(__file__).resolve().parent.parent
TINY = dict(block_size=16, batch_size=4, max_iters=3, warmup_iters=1, eval_iters=1,
            eval_batch_size=4)  # fmt: skip
SPECS = [
    RunSpec("gpt", 1, 2, 8, 0, learning_rate=3e-3, seed=0, **TINY),
    RunSpec("gpt", 1, 2, 16, 0, learning_rate=3e-3, seed=0, **TINY),
    RunSpec("lstm", 1, 0, 8, 16, learning_rate=3e-3, seed=0, **TINY),
]


@pytest.fixture
def trainings(monkeypatch):
    """Counts the runs that are trained (not read from the table)."""
    calls: list[RunSpec] = []
    real = scaling.train_run

    def counting(spec, *args, **kw):
        calls.append(spec)
        return real(spec, *args, **kw)

    monkeypatch.setattr(scaling, "train_run", counting)
    return calls


def test_the_table_has_one_row_per_run_with_the_schema(tmp_path, trainings):
    path = tmp_path / "runs.csv"
    df = run_sweep(SPECS, path, device="cpu", progress=False)
    assert len(trainings) == 3 and len(df) == 3
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert list(df["run_id"]) == [s.run_id for s in SPECS]
    assert pd.read_csv(path).shape == df.shape  # what is on disk is what came back
    for spec, (_, r) in zip(SPECS, df.iterrows(), strict=True):
        model = build_model(spec, shakespeare().tokenizer.vocab_size)
        assert r["arch"] == spec.arch and r["n_embd"] == spec.n_embd
        assert r["n_params"] == count_params(model)
        assert r["n_params_non_embedding"] == count_params(model, non_embedding=True)
        assert r["tokens"] == 3 * 4 * 16
        assert r["flops"] == flops_per_token(model) * r["tokens"]
        assert r["flops_6nd"] == 6 * r["n_params"] * r["tokens"]
        assert 0 < r["val_loss"] < 5 and 0 < r["train_loss"] < 5  # ln 65 = 4.17 at chance
        assert r["world_size"] == 1 and r["dtype"] == "float32" and r["wall_s"] > 0
        assert r["torch_version"] == torch.__version__ and r["device"].startswith("CPU")
    gpt, lstm = df.iloc[0], df.iloc[2]
    assert gpt["n_params"] > gpt["n_params_non_embedding"]  # the token and position tables
    assert lstm["n_head"] == 0 and lstm["hidden_size"] == 16


def test_a_rerun_trains_nothing_and_a_new_run_only_itself(tmp_path, trainings):
    path = tmp_path / "runs.csv"
    first = run_sweep(SPECS[:2], path, device="cpu", progress=False)
    assert len(trainings) == 2
    again = run_sweep(SPECS[:2], path, device="cpu", progress=False)
    assert len(trainings) == 2  # nothing retrained
    pd.testing.assert_frame_equal(first, again)
    more = run_sweep(SPECS, path, device="cpu", progress=False)
    assert len(trainings) == 3 and trainings[-1] == SPECS[2] and len(more) == 3
    assert len(run_sweep(SPECS[1:2], path, progress=False)) == 1  # only the rows asked for


def test_an_interrupted_sweep_keeps_finished_runs_and_resumes(tmp_path, trainings):
    path = tmp_path / "runs.csv"

    def interrupt(row):
        raise KeyboardInterrupt  # Ctrl-C right after the first run is written

    with pytest.raises(KeyboardInterrupt):
        run_sweep(SPECS, path, device="cpu", progress=False, on_run=interrupt)
    kept = read_table(path)
    assert list(kept["run_id"]) == [SPECS[0].run_id] and len(trainings) == 1
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written file left
    df = run_sweep(SPECS, path, device="cpu", progress=False)
    assert trainings[1:] == SPECS[1:]  # only the missing runs were trained
    assert df.iloc[0]["finished_at"] == kept.iloc[0]["finished_at"]  # the finished row kept


def test_a_killed_process_loses_no_finished_run(tmp_path):
    """A sweep in another process, killed (SIGKILL) once its first row is on disk."""
    path = tmp_path / "runs.csv"
    code = (
        "import os, signal, sys\n"
        "from seqlab.experiments.scaling import RunSpec, run_sweep\n"
        f"specs = [RunSpec('gpt', 1, 2, 8, 0, seed=s, **{TINY!r}) for s in range(3)]\n"
        "kill = lambda row: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"run_sweep(specs, {str(path)!r}, device='cpu', progress=False, on_run=kill)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "SEQLAB_CPU_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert out.returncode == -9, out.stderr.decode()[-2000:]
    kept = read_table(path)
    assert len(kept) == 1 and kept.iloc[0]["seed"] == 0
    specs = [RunSpec("gpt", 1, 2, 8, 0, seed=s, **TINY) for s in range(3)]
    assert kept.iloc[0]["run_id"] == specs[0].run_id


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    spec = SPECS[0]
    a = run_sweep([spec], tmp_path / "a.csv", device="cpu", progress=False)
    b = run_sweep([spec], tmp_path / "b.csv", device="cpu", progress=False)
    assert a.iloc[0]["val_loss"] == b.iloc[0]["val_loss"]
    assert a.iloc[0]["train_loss"] == b.iloc[0]["train_loss"]
    other = RunSpec(**{**spec.fields(), "seed": 1})
    c = run_sweep([other], tmp_path / "c.csv", device="cpu", progress=False)
    assert c.iloc[0]["val_loss"] != a.iloc[0]["val_loss"]


def test_run_id_is_the_spec_not_the_source(monkeypatch):
    spec = SPECS[0]
    assert run_id(spec) == run_id(RunSpec(**spec.fields())) and len(spec.run_id) == 12
    assert run_id(RunSpec(**{**spec.fields(), "max_iters": 4})) != spec.run_id
    before = spec.run_id
    monkeypatch.setattr("seqlab.experiments.sweep_table.SWEEP_VERSION", 999)
    assert run_id(spec) != before  # bumping the version retrains


def test_spec_errors_name_the_field():
    with pytest.raises(ValueError, match="arch"):
        RunSpec("rnn")
    with pytest.raises(ValueError, match="max_iters"):
        RunSpec(max_iters=0)
    with pytest.raises(ValueError, match="hidden_size"):
        RunSpec("lstm", hidden_size=0)
    with pytest.raises(ValueError, match="not a sweep table"):
        bad = Path(os.environ["SEQLAB_CACHE_DIR"]) / "not_a_table.csv"
        bad.write_text("a,b\n1,2\n")
        read_table(bad)


def test_kaplan_learning_rate_rule():
    """Kaplan et al. 2020, eq. D.1: 0.003239 - 0.0001395 ln N."""
    assert kaplan_lr(1) == pytest.approx(0.003239)
    assert kaplan_lr(10**6) == pytest.approx(0.003239 - 0.0001395 * math.log(1e6))
    assert kaplan_lr(10**4) > kaplan_lr(10**6) > 0
    with pytest.raises(ValueError, match="n_params_non_embedding"):
        kaplan_lr(0)


def test_the_standard_sweep_spans_the_axes_the_chapter_needs():
    config = config_for(SweepConfig, "scaling.sweep", "standard")
    specs = sweep_specs(config)
    gpt = [s for s in specs if s.arch == "gpt"]
    sizes = {(s.n_layer, s.n_embd): s for s in gpt}
    counts = [count_params(build_model(s, 2), non_embedding=True) for s in sizes.values()]
    assert len(sizes) >= 6 and math.log10(max(counts) / min(counts)) >= 1.5
    assert len({s.max_iters for s in gpt}) >= 3
    for size in sizes:
        for steps in {s.max_iters for s in gpt}:
            seeds = {s.seed for s in gpt if (s.n_layer, s.n_embd) == size and s.max_iters == steps}
            assert len(seeds) >= 2
    lstm = [s for s in specs if s.arch == "lstm"]
    assert len({s.hidden_size for s in lstm}) >= 4
    for steps in {s.max_iters for s in lstm}:  # GPT and LSTM compared over >= 3 seeds
        assert len({s.seed for s in lstm if s.max_iters == steps}) >= 3
        assert len({s.seed for s in gpt if s.max_iters == steps}) >= 3
    for (s, c), scale in zip(zip(sizes.values(), counts, strict=True),
                             config.gpt_lr_scales, strict=True):  # fmt: skip
        assert s.learning_rate == round(kaplan_lr(c) * scale, 7)  # Kaplan's rule x its factor
    assert len(specs) == len({s.run_id for s in specs})
    assert sweep_specs(config, arch=("lstm",)) == lstm
    with pytest.raises(ValueError, match="arch"):
        sweep_specs(config, arch=("rnn",))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--profile", "huge"], "--profile: invalid choice"),
        (["--arch", "rnn"], "--arch: invalid choice"),
        (["--device", "tpu"], "--device: invalid choice"),
        (["--out", "/"], "is a folder"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_command_runs_as_a_module():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "seqlab.sweep", "--profile", "nope"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_a_dry_run_lists_the_runs_and_trains_nothing(tmp_path, capsys, trainings):
    table = tmp_path / "smoke.csv"
    argv = ["--profile", "smoke", "--arch", "lstm", "--out", str(table)]
    assert main([*argv, "--dry-run"]) == 0
    config = config_for(SweepConfig, "scaling.sweep", "smoke")
    n = len(sweep_specs(config, ("lstm",)) + lr_check_specs(config, ("lstm",)))
    assert f"{n} runs, 0 done" in capsys.readouterr().out and not table.exists()
    assert not trainings


def test_the_learning_rate_check_brackets_every_size():
    config = SweepConfig(gpt_sizes=((1, 2, 16), (2, 4, 32)), gpt_lr_scales=(9.0, 3.0),
                         lstm_sizes=((1, 32),), lstm_learning_rates=(1e-2,),
                         lstm_budgets=(100,), seeds=(4, 5))  # fmt: skip
    rates = learning_rates(config)
    main = {(s.arch, s.n_layer, s.n_embd, s.hidden_size): s for s in sweep_specs(config)
            if s.max_iters == 100 and s.seed == 0}  # fmt: skip
    check = lr_check_specs(config)
    assert len(check) == 3 * 2 and {s.max_iters for s in check} == {100}
    assert {s.seed for s in check} == {0}  # the first comparison seed
    for s in check:
        twin = main[(s.arch, s.n_layer, s.n_embd, s.hidden_size)]
        assert dataclasses.replace(s, learning_rate=twin.learning_rate) == twin  # only the rate
        ratio = s.learning_rate / twin.learning_rate
        assert min(abs(ratio - 3), abs(ratio - 1 / 3)) < 1e-3  # a third and three times
    assert rates[("lstm", 1, 32)] == 1e-2
    assert not set(check) & set(sweep_specs(config))
    with pytest.raises(ValueError, match="gpt_lr_scales must have 1 or len"):
        SweepConfig(gpt_lr_scales=(1.0, 2.0, 3.0))


def test_the_chapter_functions_run_a_profile_row(tmp_path, monkeypatch, trainings):
    """sweep() and lr_check() on a tiny row: the main runs, then only the check's extra runs."""
    tiny = dict(gpt_sizes=((1, 2, 8),), gpt_lr_scales=(3.0,), budgets=(3,), seeds=(0,),
                lstm_sizes=((1, 8),), lstm_learning_rates=(1e-2,), lstm_n_embd=8,
                lstm_budgets=(3,), comparison_seeds=(0,), block_size=16, batch_size=4,
                eval_iters=1, eval_batch_size=4)  # fmt: skip
    monkeypatch.setitem(profiles.SIZES, "scaling", {"sweep": tiny})
    path = tmp_path / "tiny.csv"
    df = scaling.sweep("smoke", table_path=path, device="cpu", progress=False)
    assert list(df["arch"]) == ["gpt", "lstm"] and len(trainings) == 2
    check = scaling.lr_check("smoke", table_path=path, device="cpu", progress=False)
    assert len(trainings) == 2 + 4  # the two main runs came from the table
    assert sorted(check["lr_factor"]) == [0.333, 0.333, 1.0, 1.0, 3.0, 3.0]
    assert len(read_table(path)) == 6


def test_two_worker_processes_write_each_row_and_survive_a_kill(tmp_path, monkeypatch):
    """processes=2: killed (SIGKILL) once its first row is on disk, the sweep keeps that row
    and its workers exit (else they would hold the pipes open and the call time out); the
    worker's row has the numbers of a one-thread run in this process."""
    monkeypatch.setenv("SEQLAB_CPU_THREADS", "1")
    monkeypatch.delenv("SEQLAB_PROCESSES", raising=False)
    path = tmp_path / "runs.csv"
    code = (
        "import os, signal\n"
        "from seqlab.experiments.scaling import RunSpec, run_sweep\n"
        f"specs = [RunSpec('gpt', 1, 2, 8, 0, seed=s, **{TINY!r}) for s in range(3)]\n"
        "kill = lambda row: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"run_sweep(specs, {str(path)!r}, device='cpu', progress=False, on_run=kill,"
        " processes=2)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert out.returncode == -9, out.stderr.decode()[-2000:]  # and no orphan kept the pipes
    kept = read_table(path)
    assert len(kept) == 1
    specs = [RunSpec("gpt", 1, 2, 8, 0, seed=s, **TINY) for s in range(3)]
    df = run_sweep(specs, path, device="cpu", progress=False)  # the rest, here
    assert list(df["run_id"]) == [s.run_id for s in specs]
    first = df.set_index("run_id").loc[kept["run_id"].iloc[0]]
    assert first["finished_at"] == kept["finished_at"].iloc[0]  # the worker's row kept
    assert "1 thread" in first["device"]
    spec = next(s for s in specs if s.run_id == kept["run_id"].iloc[0])
    alone = run_sweep([spec], tmp_path / "one.csv", device="cpu", progress=False)
    assert first["val_loss"] == alone["val_loss"].iloc[0]  # a worker's numbers are one thread's


def test_isoflop_specs_train_each_size_at_the_budget():
    config = SweepConfig(gpt_sizes=((1, 2, 16), (1, 2, 32), (2, 4, 48)), gpt_lr_scales=(3.0,),
                         isoflop_budgets=(5e8, 2e9), isoflop_steps=(10, 100),
                         isoflop_seeds=(0, 1), block_size=32, batch_size=8)  # fmt: skip
    V = 65
    specs = isoflop_specs(config, V)
    rates = learning_rates(config)
    for s in specs:
        per_step = flops_per_step(config, (s.n_layer, s.n_head, s.n_embd), V)
        model = build_model(s, V)
        assert per_step == flops_per_token(model) * 8 * 32
        C = isoflop_budget_of([per_step * s.max_iters], config.isoflop_budgets)[0]
        assert s.max_iters == round(C / per_step) and 10 <= s.max_iters <= 100
        assert abs(per_step * s.max_iters / C - 1) < 0.05
        assert s.learning_rate == round(rates[("gpt", s.n_layer, s.n_head, s.n_embd)], 7)
        assert s.warmup_iters == max(1, round(0.1 * s.max_iters))
    # every size whose step count is in bounds, at both seeds; the others left out
    for C in config.isoflop_budgets:
        for size in config.gpt_sizes:
            steps = round(C / flops_per_step(config, size, V))
            n = sum((s.n_layer, s.n_head, s.n_embd) == size and s.max_iters == steps for s in specs)
            assert n == (2 if 10 <= steps <= 100 else 0)
    assert 3 <= len(specs) // 2 < 6
    assert isoflop_specs(dataclasses.replace(config, isoflop_budgets=()), V) == []
    with pytest.raises(ValueError, match="isoflop_steps"):
        SweepConfig(isoflop_steps=(100, 10))
    with pytest.raises(ValueError, match="processes"):
        SweepConfig(processes=0)
    with pytest.raises(ValueError, match="vocab_size"):
        isoflop_specs(config, 0)


def test_the_standard_isoflop_grid_brackets_sizes():
    config = config_for(SweepConfig, "scaling.sweep", "standard")
    specs = isoflop_specs(config, 65)
    for C in config.isoflop_budgets:
        at = [s for s in specs if isoflop_budget_of(
            [flops_per_step(config, (s.n_layer, s.n_head, s.n_embd), 65) * s.max_iters],
            config.isoflop_budgets)[0] == C]  # fmt: skip
        assert len({s.n_embd * 10 + s.n_layer for s in at}) >= 4  # >= 4 sizes per budget
        assert min(len({s.seed for s in at if s.n_embd == e}) for e in {s.n_embd for s in at}) >= 2


def test_grid_specs_are_every_run_once_in_training_order():
    config = config_for(SweepConfig, "scaling.sweep", "smoke")
    groups = scaling.grid_specs(config)
    assert list(groups) == ["isoflop", "lr_check", "main"]
    flat = [s for g in groups.values() for s in g]
    assert flat == scaling.all_specs(config) and len(flat) == len(set(flat))
    main = set(sweep_specs(config))
    assert main - set(groups["main"]) <= set(groups["isoflop"])  # shared runs: listed first
    assert all(s.arch == "gpt" for s in groups["isoflop"]) and groups["isoflop"]
