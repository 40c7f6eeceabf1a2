"""Long-range memory, measured: train a recurrent model on a synthetic task at a given delay.

Three tasks from :mod:`seqlab.data.tasks`, each with the score of a model that has no memory:

- ``"copy"``: read ``n_copy`` symbols, wait T steps, write them back (Arjovsky et al. 2016).
  Scored by the accuracy on the recalled symbols; no memory gives chance, 1 / ``n_symbols``.
- ``"adding"``: add the two marked numbers of a length-T sequence (Hochreiter & Schmidhuber
  1997). Scored by the MSE; always answering 1 gives 1/6.
- ``"reversal"``: output the sequence backwards; a causal model must guess the first half.
  Scored by the accuracy at every position (this is where a bidirectional layer helps).

:class:`MemoryModel` is a recurrent layer (``make_recurrent``) with a linear readout;
:func:`run_memory_task` trains it with :func:`seqlab.train.train` and scores it on a fixed
held-out set; :func:`delay_sweep` does that for several cells and delays.

Letters: B batch, T delay (sequence length for "adding"/"reversal"), S = T + 2*n_copy the copy
task's sequence length, C input features, H hidden, D directions, V symbols + blank + delimiter.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.checks import check_choice
from seqlab.data.tasks import (
    ADDING_BASELINE_MSE,
    adding_task,
    copy_task,
    reversal_task,
)
from seqlab.experiments.cpu_threads import cpu_threads, show_progress
from seqlab.models import init_forget_bias, make_recurrent
from seqlab.train import TrainConfig, train

TASKS: tuple[str, ...] = ("copy", "adding", "reversal")


@dataclass
class MemoryTaskConfig:
    """One training run. ``T`` is the delay (copy) or the sequence length (adding, reversal).

    ``forget_bias`` sets b_if + b_hf of an LSTM at initialisation (None: torch's uniform init);
    ``cell_options`` go to ``make_recurrent`` (``bidirectional``, ``peephole``, ...);
    ``time_budget_s`` stops training early on wall-clock time (``max_iters`` is then an upper bound);
    ``cpu_threads``: torch threads while training on a CPU (see :mod:`.cpu_threads`; None: keep);
    ``progress``: show the training loop's progress bar (default: yes, except in a book build).
    """

    task: str = "copy"
    cell: str = "lstm"
    T: int = 50
    hidden: int = 32
    max_iters: int = 500
    batch_size: int = 64
    learning_rate: float = 1e-2
    time_budget_s: float | None = None
    n_symbols: int = 8
    n_copy: int = 3
    forget_bias: float | None = 1.0
    impl: str = "fused"
    cell_options: dict[str, Any] = field(default_factory=dict)
    eval_size: int = 1000
    seed: int = 0
    cpu_threads: int | None = 1
    progress: bool = field(default_factory=show_progress)

    def __post_init__(self) -> None:
        check_choice(self.task, TASKS, "task")
        for name in ("T", "hidden", "max_iters", "batch_size", "n_symbols", "n_copy", "eval_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.task == "adding" and self.T < 2:
            raise ValueError(f"the adding problem needs T >= 2, got T={self.T}")

    @property
    def vocab(self) -> int:
        """V: symbols, plus blank and delimiter for the copy task."""
        return self.n_symbols + 2 if self.task == "copy" else self.n_symbols


def make_batch(config: MemoryTaskConfig, n: int, generator: torch.Generator):
    """``n`` examples of the config's task: (x, y) on the CPU (see :mod:`seqlab.data.tasks`)."""
    if config.task == "copy":
        return copy_task(n, config.T, config.n_symbols, config.n_copy, generator=generator)
    if config.task == "adding":
        return adding_task(n, config.T, generator=generator)
    return reversal_task(n, config.T, config.n_symbols, generator=generator)


def baseline(config: MemoryTaskConfig) -> float:
    """The no-memory score: chance accuracy 1/n_symbols, or the adding problem's MSE 1/6."""
    return ADDING_BASELINE_MSE if config.task == "adding" else 1.0 / config.n_symbols


class MemoryModel(nn.Module):
    """A recurrent layer stack with a linear readout, for the tasks above.

    Inputs: ``x`` (B, S) symbol ids (copy, reversal; fed one-hot) or (B, T, 2) floats (adding);
    ``y`` the task's targets or None.
    Outputs: ``(out, loss)``: copy: logits of the last ``n_copy`` steps (B, n_copy, V), trained
    on those steps only (the blanks before them are trivial to predict); adding: the sum (B, 1)
    read from the last step, MSE loss; reversal: logits at every step (B, T, V).
    """

    def __init__(self, config: MemoryTaskConfig) -> None:
        super().__init__()
        self.task, self.vocab, self.n_copy = config.task, config.vocab, config.n_copy
        C = 2 if config.task == "adding" else config.vocab
        self.rnn = make_recurrent(
            config.cell, C, config.hidden, impl=config.impl, **config.cell_options
        )
        D = 2 if config.cell_options.get("bidirectional") else 1
        self.head = nn.Linear(D * config.hidden, 1 if config.task == "adding" else config.vocab)
        if config.cell == "lstm" and config.forget_bias is not None:
            init_forget_bias(self.rnn, config.forget_bias)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.task != "adding":
            x = F.one_hot(x, self.vocab).float()  # (B, S, V)
        out, _ = self.rnn(x)  # (B, S, D*H)
        if self.task == "adding":
            pred = self.head(out[:, -1])  # (B, 1)
            return pred, None if y is None else F.mse_loss(pred, y)
        if self.task == "copy":
            out, y = out[:, -self.n_copy :], None if y is None else y[:, -self.n_copy :]
        logits = self.head(out)  # (B, n_copy or T, V)
        if y is None:
            return logits, None
        return logits, F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1))


@torch.no_grad()
def evaluate(model: MemoryModel, x: torch.Tensor, y: torch.Tensor, chunk: int = 500) -> dict:
    """Score ``model`` on (x, y): ``{"score": accuracy or MSE, "per_position": (S,) or None}``."""
    was_training = model.training
    model.eval()
    outs = [model(x[i : i + chunk])[0] for i in range(0, len(x), chunk)]
    model.train(was_training)
    out = torch.cat(outs)
    if model.task == "adding":
        return {"score": F.mse_loss(out, y).item(), "per_position": None}
    target = y[:, -model.n_copy :] if model.task == "copy" else y
    correct = (out.argmax(-1) == target).float()  # (B, n_copy or T)
    return {"score": correct.mean().item(), "per_position": correct.mean(0).cpu().numpy()}


def run_memory_task(
    config: MemoryTaskConfig, device: torch.device | str | None = None
) -> dict[str, Any]:
    """Train one model on one task and delay; score it on a fixed held-out set.

    Outputs: a dict (one row of :func:`delay_sweep`'s table): the config's fields, ``params``,
    ``steps_done``, ``train_s``, ``score`` (accuracy, or MSE for adding), ``baseline``,
    ``final_loss``, ``per_position`` (accuracy per output step, or None) and ``history``
    (the training loop's DataFrame).
    """
    device = torch.device(device or "cpu")
    torch.manual_seed(config.seed)  # the initial weights
    model = MemoryModel(config).to(device)
    g = torch.Generator().manual_seed(config.seed)
    x_val, y_val = make_batch(config, config.eval_size, torch.Generator().manual_seed(10_000))

    def get_batch(step: int):
        x, y = make_batch(config, config.batch_size, g)
        return x.to(device), y.to(device)

    train_config = TrainConfig(
        max_iters=config.max_iters,
        time_budget_s=config.time_budget_s,
        learning_rate=config.learning_rate,
        weight_decay=0.0,
        grad_clip=1.0,
        log_interval=25,
        seed=config.seed,
        progress=config.progress,
    )
    with cpu_threads(config.cpu_threads, device):
        start = time.perf_counter()
        history = train(model, get_batch, train_config, device=device)
        train_s = time.perf_counter() - start
        result = evaluate(model, x_val.to(device), y_val.to(device))
    row = {k: v for k, v in asdict(config).items() if k not in ("progress", "cell_options")}
    row.update(
        options=",".join(f"{k}={v}" for k, v in config.cell_options.items()) or "-",
        params=sum(p.numel() for p in model.parameters()),
        steps_done=len(history),
        train_s=train_s,
        score=result["score"],
        baseline=baseline(config),
        final_loss=float(history["loss"].iloc[-20:].mean()),
        per_position=result["per_position"],
        history=history,
    )
    return row


def delay_sweep(
    base: MemoryTaskConfig,
    cells: dict[str, int] | Sequence[str],
    delays: Sequence[int],
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    """Train every cell at every delay with ``base``'s settings; one row per run.

    ``cells``: a list of cell names (all at ``base.hidden``) or ``{cell: hidden}`` (e.g. equal
    parameter budgets from :mod:`seqlab.experiments.param_budget`).
    Outputs: DataFrame with the columns of :func:`run_memory_task`.
    """
    sizes = cells if isinstance(cells, dict) else {c: base.hidden for c in cells}
    rows = []
    for T in delays:
        for cell, hidden in sizes.items():
            rows.append(run_memory_task(replace(base, cell=cell, hidden=hidden, T=T), device))
    return pd.DataFrame(rows)


def sweep_setup(task: str) -> tuple[MemoryTaskConfig, list[int]]:
    """``(base config, delays)`` of the book's sweep of ``task`` for the current profile.

    One place for the sizes, so the chapter and the paper-figure builders run the same sweep.
    Each run stops after ``max_iters`` or ``time_budget_s``, whichever comes first.
    """
    from seqlab.device import by_profile

    check_choice(task, ("copy", "adding"), "task")
    if task == "copy":
        base = MemoryTaskConfig(
            task="copy",
            n_copy=1,
            hidden=32,
            learning_rate=1e-2,
            max_iters=by_profile(smoke=40, standard=600, full=3000),
            time_budget_s=by_profile(smoke=1.0, standard=6.0, full=120.0),
        )
        delays = by_profile(smoke=[5, 10], standard=[10, 20, 50, 100], full=[10, 20, 50, 100, 200])
    else:
        base = MemoryTaskConfig(
            task="adding",
            hidden=32,
            learning_rate=1e-2,
            max_iters=by_profile(smoke=40, standard=1200, full=5000),
            time_budget_s=by_profile(smoke=1.0, standard=12.0, full=180.0),
        )
        delays = by_profile(smoke=[10, 20], standard=[25, 50, 100], full=[25, 50, 100, 200, 400])
    return base, delays


def find_run(runs: pd.DataFrame | None, config: MemoryTaskConfig) -> dict[str, Any] | None:
    """The row of ``runs`` (a :func:`delay_sweep` table) trained with exactly ``config``, or None.

    Lets a later experiment reuse a run instead of training the same model twice.
    """
    if runs is None or runs.empty:
        return None
    fields = {k: v for k, v in asdict(config).items() if k not in ("progress", "cell_options")}
    fields["options"] = ",".join(f"{k}={v}" for k, v in config.cell_options.items()) or "-"
    match = pd.Series(True, index=runs.index)
    for key, value in fields.items():
        if key not in runs:
            return None
        column = runs[key]
        match &= column.isna() if value is None else column.eq(value)
    return runs[match].iloc[0].to_dict() if match.any() else None


def seed_study(
    base: MemoryTaskConfig,
    field_name: str,
    values: Sequence[Any],
    seeds: Sequence[int],
    reuse: pd.DataFrame | None = None,
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    """Train ``base`` with ``field_name`` set to each of ``values``, for each seed.

    Runs already in ``reuse`` (same config) are taken from there, not trained again.
    Outputs: DataFrame with columns ``field_name``, seed, score, steps_done, reused.
    """
    rows = []
    for value in values:
        for seed in seeds:
            config = replace(base, **{field_name: value}, seed=seed)
            row = find_run(reuse, config)
            reused = row is not None
            row = row if reused else run_memory_task(config, device)
            rows.append({field_name: value, "seed": seed, "score": row["score"],
                         "steps_done": row["steps_done"], "reused": reused})  # fmt: skip
    return pd.DataFrame(rows)


def forget_bias_setup(lstm_hidden: int) -> tuple[MemoryTaskConfig, list[int]]:
    """``(LSTM copy config at one delay, seeds)`` of the book's forget-bias study, by profile."""
    from seqlab.device import by_profile

    base, _ = sweep_setup("copy")
    config = replace(base, cell="lstm", hidden=lstm_hidden, T=by_profile(smoke=10, standard=20))
    return config, by_profile(smoke=[0, 1], standard=[0, 1, 2])


def reversal_setup() -> MemoryTaskConfig:
    """The LSTM on sequence reversal that the book runs left-to-right and bidirectional."""
    from seqlab.device import by_profile

    return MemoryTaskConfig(
        task="reversal",
        cell="lstm",
        hidden=by_profile(smoke=32, standard=64),
        learning_rate=1e-2,
        T=by_profile(smoke=6, standard=10),
        max_iters=by_profile(smoke=60, standard=800, full=2000),
        time_budget_s=by_profile(smoke=1.0, standard=10.0, full=60.0),
    )


def equal_budget_copy_setup() -> tuple[MemoryTaskConfig, list[int]]:
    """``(base config, delays)`` of the GRU / LSTM / RNN copy comparison at equal parameters."""
    from seqlab.device import by_profile

    base, _ = sweep_setup("copy")
    return base, by_profile(smoke=[10], standard=[20, 50], full=[50, 100, 200])
