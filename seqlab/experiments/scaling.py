"""The scaling sweep: GPT and LSTM char LMs on Shakespeare over sizes, token budgets and seeds,
one row per finished run in a table on disk (chapter 7).

API for the chapter and the fits (helper ``scaling``)
-----------------------------------------------------
::

    from seqlab.experiments.scaling import sweep, sweep_specs, run_sweep, SweepConfig

    df = sweep()                  # the current profile's sweep: reads the stored table
                                  # (``make sweep`` / ``make book`` wrote it), trains the rest
    lr = lr_check()               # the learning-rate check: each size at x1/3, x1, x3
    df = sweep("smoke")           # a profile by name; table_path=..., device=..., progress=...
    specs = sweep_specs(SweepConfig(...), arch=("gpt",))   # list[RunSpec] of a config
    df = run_sweep(specs, "runs.csv")                      # any list of runs

``sweep(profile)`` = ``run_sweep(sweep_specs(config_for(SweepConfig, "scaling.sweep",
profile)), default_table_path(profile))``, the table at
``seqlab.device.cache_dir("sweeps") / f"{profile}.csv"``. Every call returns a
``pandas.DataFrame``, one row per run of the specs asked for (in spec order), columns
(:data:`~seqlab.experiments.sweep_table.COLUMNS`):

- ``run_id`` (hash of the spec and ``SWEEP_VERSION``), ``arch`` "gpt" | "lstm";
- the spec: ``n_layer``, ``n_head`` (0 for an LSTM), ``n_embd`` (GPT width; LSTM embedding
  width), ``hidden_size`` (LSTM H; 0 for a GPT), ``block_size``, ``batch_size`` (global),
  ``max_iters`` (the token budget in steps; each budget is its own run with its own cosine
  ending at ``max_iters``), ``learning_rate`` (peak), ``warmup_iters``, ``seed``,
  ``eval_iters``, ``eval_batch_size``, ``weight_decay``;
- sizes: ``n_params`` (all parameters, the tied head once), ``n_params_non_embedding``
  (``count_params(non_embedding=True)``: Kaplan et al.'s N, without token and position tables);
- compute: ``tokens`` = max_iters * batch_size * block_size, ``flops`` = exact training FLOPs
  (``flops_per_token(model) * tokens``: 6 N_mm + 12 L T C per token for a GPT, multiply-add = 2),
  ``flops_6nd`` = 6 * n_params * tokens;
- results: ``val_loss``, ``train_loss`` (nats per character, ``estimate_loss`` after the last
  step on fixed windows, the same windows for every run), ``wall_s`` (seconds, training and
  evaluation), ``cpu_s`` (CPU seconds of this process, all its threads: on a busy machine a
  better measure of a run's cost than ``wall_s``);
- provenance: ``device``, ``dtype``, ``world_size``, ``torch_version``, ``seqlab_version``,
  ``sweep_version``, ``finished_at`` (UTC, ISO 8601).

Seeds: ``config.seeds`` for every (size, budget); ``config.comparison_seeds`` (>= 3) at the
``config.lstm_budgets``, where GPT and LSTM runs stand on the same axes (Kaplan et al. 2020,
Fig. 7) and :func:`seqlab.experiments.seeds.compare` needs three seeds.

Learning rates: Kaplan et al.'s eq. D.1 for the GPT times a small tuned factor per size, a
tuned rate per LSTM size, and the check that keeps them honest (:func:`lr_check`: the same runs
at a third and three times the rate); see :mod:`seqlab.experiments.scaling_specs`.

Resuming: :func:`run_sweep` reads the table, trains only the runs whose ``run_id`` is missing
and appends each row the moment its run finishes (atomically), so Ctrl-C or a killed process
loses at most the run in progress, and a re-run trains nothing it has.

Distributed: under ``torchrun --nproc_per_node=N`` (``python -m seqlab.sweep``), every process
trains each run on its shard of the same global batch (:mod:`seqlab.train.distributed`), the
losses are averaged over the processes and only rank 0 writes the table.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from seqlab import __version__
from seqlab.data.corpus import CharDataset
from seqlab.device import (
    cache_dir,
    cpu_threads,
    device_name,
    get_device,
    get_profile,
    show_progress,
)
from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.parallel import imap_runs, n_processes
from seqlab.experiments.profiles import config_for
from seqlab.experiments.scaling_specs import (
    SweepConfig,
    build_model,
    isoflop_budget_of,
    isoflop_specs,
    kaplan_lr,
    learning_rates,
    lr_check_specs,
    sweep_specs,
)
from seqlab.experiments.sweep_table import (
    ARCHS,
    COLUMNS,
    SWEEP_VERSION,
    RunSpec,
    append_row,
    read_table,
)
from seqlab.models import count_params
from seqlab.models.accounting import flops_per_token
from seqlab.train import TrainConfig, make_optimizer, train
from seqlab.train import distributed as ddp
from seqlab.train.loop import TrainState, estimate_loss

__all__ = [
    "COLUMNS",
    "all_specs",
    "grid_specs",
    "isoflop_sweep",
    "SWEEP_VERSION",
    "RunSpec",
    "SweepConfig",
    "build_model",
    "default_table_path",
    "kaplan_lr",
    "learning_rates",
    "lr_check",
    "lr_check_specs",
    "run_sweep",
    "sweep",
    "sweep_specs",
    "train_run",
]

EVAL_SEED = 12_345  # the generator of the evaluation windows: the same for every run


def train_run(
    spec: RunSpec,
    dataset: CharDataset,
    ctx: ddp.DistContext,
    on_step: Callable[[int], None] | None = None,
) -> dict:
    """Train ``spec`` once on ``ctx.device`` (its shard of each global batch when distributed);
    return its table row (every column of :data:`COLUMNS`).

    The batches: a generator seeded with ``spec.seed`` draws each global batch (the model's
    initial weights come from ``torch.manual_seed(spec.seed)``); the evaluation windows come
    from a generator seeded with :data:`EVAL_SEED`. ``on_step(iters_done)`` is called as the
    loop reads back its loss (a progress bar). Deterministic on a CPU given the seed and the
    number of threads.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(spec.seed)
    raw = build_model(spec, dataset.tokenizer.vocab_size).to(ctx.device)
    model = ddp.wrap(raw, ctx)
    data = ddp.ShardedBatches(dataset, ctx)
    g = torch.Generator().manual_seed(spec.seed)

    def get_batch(it: int) -> tuple[torch.Tensor, torch.Tensor]:
        return data.batch("train", spec.batch_size, spec.block_size, g)

    def eval_fn(m: torch.nn.Module) -> dict[str, float]:
        fixed = torch.Generator().manual_seed(EVAL_SEED)
        losses = estimate_loss(ddp.unwrap(m), data, spec.eval_batch_size, spec.block_size,
                               spec.eval_iters, fixed)  # fmt: skip
        return {k: ddp.all_reduce_mean(v, ctx) for k, v in losses.items()}

    def callback(state: TrainState) -> None:
        if on_step is not None:
            on_step(state.iter + 1)

    config = TrainConfig(
        max_iters=spec.max_iters, learning_rate=spec.learning_rate,
        warmup_iters=spec.warmup_iters, weight_decay=spec.weight_decay, dtype=spec.dtype,
        seed=spec.seed, log_interval=10, progress=False,
    )  # fmt: skip
    kind = None if ctx.distributed else ("parallel" if spec.arch == "gpt" else "recurrent")
    with cpu_threads(kind, ctx.device):
        history = train(model, get_batch, config, eval_fn=eval_fn, callbacks=[callback])
        where = device_name(ctx.device)  # a CPU's name says the threads it trained with
    last = history.dropna(subset=["val_loss"]).iloc[-1]
    n_params = count_params(raw)
    return {
        "run_id": spec.run_id, **spec.fields(),
        "n_params": n_params, "n_params_non_embedding": count_params(raw, non_embedding=True),
        "tokens": spec.tokens, "flops": flops_per_token(raw) * spec.tokens,
        "flops_6nd": 6 * n_params * spec.tokens,
        "val_loss": float(last["val_loss"]), "train_loss": float(last["train_loss"]),
        "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu_start,
        "device": where,
        "world_size": ctx.world_size, "torch_version": torch.__version__,
        "seqlab_version": __version__, "sweep_version": SWEEP_VERSION,
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip


def _select(table: pd.DataFrame, specs: Sequence[RunSpec]) -> pd.DataFrame:
    ids = [s.run_id for s in specs]
    found = table.drop_duplicates("run_id", keep="last").set_index("run_id")
    return found.loc[[i for i in ids if i in found.index]].reset_index()


def run_sweep(
    specs: Sequence[RunSpec],
    table_path: str | Path,
    device: torch.device | str | None = None,
    progress: bool = True,
    on_run: Callable[[dict], None] | None = None,
    processes: int = 1,
) -> pd.DataFrame:
    """Train the runs of ``specs`` that the table at ``table_path`` lacks; return the table's
    rows for ``specs`` (spec order), one per run.

    Each finished run's row is appended to the CSV at once and atomically, so an interrupted
    sweep (Ctrl-C, a killed process) keeps every finished run and the next call trains only
    the rest; a call with nothing missing trains nothing. ``device``: default
    :func:`seqlab.device.get_device`; under torchrun each process uses ``cuda:LOCAL_RANK`` or
    the CPU (:mod:`seqlab.train.distributed`), and only rank 0 reads and writes the table (the
    list of missing runs is broadcast). ``progress``: a bar over runs and one over each run's
    steps (tqdm.auto). ``on_run(row)`` is called after each row is written. ``processes`` > 1
    (a CPU, not under torchrun): the runs go to that many worker processes of one thread each
    (:func:`seqlab.experiments.parallel.imap_runs`, capped by ``$SEQLAB_PROCESSES``), longest
    first, and this process writes each row the moment its run finishes; the numbers are
    those of a one-thread run here.
    Raises ``ValueError`` for a file that is not a sweep table.
    """
    specs = list(dict.fromkeys(specs))
    table_path = Path(table_path)
    device = torch.device(device) if device is not None else get_device()
    ctx = ddp.init_from_env(device)
    try:
        todo = None
        if ctx.is_main:
            have = set(read_table(table_path)["run_id"])
            todo = [s for s in specs if s.run_id not in have]
        todo = ddp.broadcast_object(todo, ctx)
        show = progress and ctx.is_main and bool(todo)
        runs = tqdm(total=len(todo), desc="sweep runs", disable=not show)
        steps = tqdm(total=1, desc="steps", leave=False, disable=not show)
        n = 1 if ctx.distributed or device.type != "cpu" else n_processes(processes, len(todo))
        dataset = shakespeare() if todo and n == 1 else None
        if todo and n == 1:  # torch's optimizers import torch._dynamo on first use (seconds)
            make_optimizer(torch.nn.Linear(1, 1), TrainConfig())

        def done(row: dict) -> None:
            if ctx.is_main:
                append_row(table_path, row)
                if on_run is not None:
                    on_run(row)
            runs.update(1)

        try:
            if n > 1:  # the longest runs first, so that no worker is left with a long tail
                order = sorted(todo, key=_cost, reverse=True)
                for _, row in imap_runs(_train_alone, [(s,) for s in order], n):
                    done(row)
            for spec in todo if n == 1 else ():
                steps.reset(total=spec.max_iters)
                steps.set_description(_label(spec))
                done(train_run(spec, dataset, ctx, on_step=lambda k: steps.update(k - steps.n)))
        finally:
            steps.close()
            runs.close()
        ddp.barrier(ctx)
        table = read_table(table_path) if ctx.is_main else None
        table = ddp.broadcast_object(table, ctx)
    finally:
        ddp.cleanup(ctx)
    return _select(table, specs)


def _label(spec: RunSpec) -> str:
    return (f"{spec.arch} L{spec.n_layer} C{spec.n_embd}"
            + (f" H{spec.hidden_size}" if spec.arch == "lstm" else "")
            + f" {spec.max_iters} it s{spec.seed}")  # fmt: skip


def _cost(spec: RunSpec) -> float:
    """A rough CPU cost of a run (steps x a per-step cost, fitted by eye to the stored
    table's cpu_s at 1 thread), only to start the longest runs first."""
    width = spec.n_embd / 16 if spec.arch == "gpt" else spec.hidden_size / 32
    return spec.max_iters * (1 + spec.n_layer * width)


def _train_alone(spec: RunSpec) -> dict:
    """A worker's run: the CPU, one thread, no process group (the corpus is cached)."""
    return train_run(spec, shakespeare(), ddp.DistContext(device=torch.device("cpu")))


def default_table_path(profile: str | None = None) -> Path:
    """``cache_dir("sweeps") / f"{profile}.csv"`` (``$SEQLAB_CACHE_DIR`` moves it)."""
    return cache_dir("sweeps") / f"{profile or get_profile()}.csv"


def _profile_run(
    profile: str | None, table_path: str | Path | None, progress: bool | None
) -> tuple[SweepConfig, Path, bool]:
    """The config of ``profile``'s row, its table path and whether to show bars."""
    profile = profile or get_profile()
    config = config_for(SweepConfig, "scaling.sweep", profile)
    path = Path(table_path) if table_path is not None else default_table_path(profile)
    return config, path, show_progress() if progress is None else progress


def _check_specs(config: SweepConfig, arch: Sequence[str]) -> list[RunSpec]:
    """The check's runs: the main runs at the check's budget and seed, then the others."""
    steps, seed = config.lstm_budgets[0], config.comparison_seeds[0]
    main = [s for s in sweep_specs(config, arch) if s.max_iters == steps and s.seed == seed]
    return main + lr_check_specs(config, arch)


def _isoflop_specs(config: SweepConfig, arch: Sequence[str]) -> list[RunSpec]:
    if "gpt" not in arch or not config.isoflop_budgets:
        return []
    return isoflop_specs(config, shakespeare().tokenizer.vocab_size)


def grid_specs(config: SweepConfig, arch: Sequence[str] = ARCHS) -> dict[str, list[RunSpec]]:
    """The runs of ``config`` by grid, in the order the command trains them: ``"isoflop"``
    (GPTs only), ``"lr_check"`` (the check's extra runs), ``"main"``; a run in two grids is
    listed in the first only."""
    groups = {"isoflop": _isoflop_specs(config, arch),
              "lr_check": lr_check_specs(config, arch), "main": sweep_specs(config, arch)}  # fmt: skip
    seen: set[RunSpec] = set()
    for name, specs in groups.items():
        groups[name] = [s for s in dict.fromkeys(specs) if s not in seen]
        seen |= set(groups[name])
    return groups


def all_specs(config: SweepConfig, arch: Sequence[str] = ARCHS) -> list[RunSpec]:
    """Every run of ``config`` (what ``python -m seqlab.sweep`` trains): the isoFLOP grid,
    the learning-rate check and the main grid (:func:`grid_specs`), each run once."""
    return [s for specs in grid_specs(config, arch).values() for s in specs]


def _profile_sweep(which, profile, table_path, device, progress, arch) -> tuple:
    """(config, rows) of the runs ``which(config, arch)`` of ``profile``'s row."""
    config, path, progress = _profile_run(profile, table_path, progress)
    specs = which(config, arch)
    rows = run_sweep(specs, path, device=device, progress=progress, processes=config.processes)
    return config, rows


def sweep(
    profile: str | None = None,
    table_path: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    arch: Sequence[str] = ARCHS,
) -> pd.DataFrame:
    """The sweep of ``profile`` (default: the current one) for the chapter: its row
    ``"scaling.sweep"`` of the size table through :func:`run_sweep`, stored at
    :func:`default_table_path` unless ``table_path`` is given. In ``smoke`` it trains (a few
    seconds); in ``standard`` it reads what ``make sweep`` (run by ``make book``) stored and
    trains only what is missing. ``progress`` None: bars except in a book build. Returns the
    rows of the main grid (see the module docstring)."""
    return _profile_sweep(sweep_specs, profile, table_path, device, progress, arch)[1]


def lr_check(
    profile: str | None = None,
    table_path: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    arch: Sequence[str] = ARCHS,
) -> pd.DataFrame:
    """The learning-rate check of ``profile``'s sweep (arguments as :func:`sweep`): each size
    at its rate (factor 1, the main run) and at ``lr_check_factors`` times it, at the
    comparison budget, one seed; stored in the same table as :func:`sweep`. Returns those rows
    with a column ``lr_factor`` (1 for the main run)."""
    config, df = _profile_sweep(_check_specs, profile, table_path, device, progress, arch)
    size = ["arch", "n_layer", "n_head", "n_embd", "hidden_size"]
    main = set(sweep_specs(config, arch))
    rate = {(s.arch, s.n_layer, s.n_head, s.n_embd, s.hidden_size): s.learning_rate
            for s in _check_specs(config, arch) if s in main}  # fmt: skip
    base = [rate[tuple(k)] for k in df[size].itertuples(index=False)]
    df["lr_factor"] = (df["learning_rate"] / base).round(3)
    return df


def isoflop_sweep(
    profile: str | None = None,
    table_path: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """The isoFLOP grid of ``profile``'s sweep (arguments as :func:`sweep`; GPTs only):
    :func:`~seqlab.experiments.scaling_specs.isoflop_specs`, stored in the same table. Returns
    those rows with a column ``budget``: the FLOP budget C each run was sized for (its
    ``flops`` differ from C by the rounding of its steps). Empty when the row has no budgets."""
    config, df = _profile_sweep(_isoflop_specs, profile, table_path, device, progress, ("gpt",))
    df["budget"] = isoflop_budget_of(df["flops"], config.isoflop_budgets) if len(df) else []
    return df


sweep.config_class = SweepConfig  # the size-table row's config (tests/test_results.py)
