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
held-out set. The experiments (cached, so a run that two studies share trains once):
:func:`memory_run` (one run), :func:`delay_sweep` (several cells at equal parameter budgets
and several delays), :func:`seed_study` (one setting varied over seeds) and :func:`reversal`
(left-to-right vs bidirectional).

Letters: B batch, T delay (sequence length for "adding"/"reversal"), S = T + 2*n_copy the copy
task's sequence length, C input features, H hidden, D directions, V symbols + blank + delimiter.
"""

from __future__ import annotations

import time
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
from seqlab.device import cpu_threads
from seqlab.experiments.parallel import map_runs
from seqlab.experiments.param_budget import equal_budget_sizes, recurrent_param_count
from seqlab.experiments.results import experiment
from seqlab.experiments.seeds import compare
from seqlab.models import init_forget_bias, make_recurrent
from seqlab.models.transformer import TransformerBlock, sinusoidal_positional_encoding
from seqlab.train import TrainConfig, train

TASKS: tuple[str, ...] = ("copy", "adding", "reversal")


class CausalTransformer(nn.Module):
    """A Transformer in the place of a recurrent layer: ``out, None = layer(x)``, x (B, S, C).

    C -> H by a linear map, plus the sinusoidal positions of Vaswani et al. (2017), then
    ``num_layers`` causal pre-LN :class:`~seqlab.models.transformer.TransformerBlock` s of width
    H with ``nhead`` heads and a final LayerNorm: position t sees inputs 1..t, as a
    left-to-right recurrent layer does. The path from any input to any later output is one
    attention step, whatever the distance. Outputs: (B, S, H) and None (no state).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2, nhead: int = 2):
        super().__init__()
        self.embed = nn.Linear(input_size, hidden_size)
        self.blocks = nn.ModuleList(TransformerBlock(hidden_size, nhead) for _ in range(num_layers))
        self.ln_f = nn.LayerNorm(hidden_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        B, S, _ = x.shape
        pe = sinusoidal_positional_encoding(S, self.ln_f.normalized_shape[0], x.dtype, x.device)
        h = self.embed(x) + pe  # (B, S, H)
        for block in self.blocks:
            h = block(h, causal=True)  # (B, S, H)
        return self.ln_f(h), None


@dataclass
class MemoryTaskConfig:
    """One training run. ``T`` is the delay (copy) or the sequence length (adding, reversal).

    ``cell`` "rnn" | "gru" | "lstm" or "transformer" (:class:`CausalTransformer`, width
    ``hidden_size``; ``cell_options`` ``num_layers``, ``nhead``). ``warmup_iters``: linear
    learning-rate warm-up steps (then cosine decay to a tenth, as without warm-up).
    ``forget_bias`` sets b_if + b_hf of an LSTM at initialisation (None: torch's uniform init);
    ``cell_options`` go to ``make_recurrent`` (``bidirectional``, ``peephole``, ...);
    ``time_budget_s`` stops training early on wall-clock time (``max_iters`` is then an upper
    bound); ``cpu_threads``: torch threads while training on a CPU (see :func:`seqlab.device.cpu_threads_for`;
    None: keep torch's setting).
    """

    task: str = "copy"
    cell: str = "lstm"
    T: int = 50
    hidden_size: int = 32
    max_iters: int = 500
    batch_size: int = 64
    learning_rate: float = 1e-2
    warmup_iters: int = 0
    time_budget_s: float | None = None
    n_symbols: int = 8
    n_copy: int = 3
    forget_bias: float | None = 1.0
    impl: str = "fused"
    cell_options: dict[str, Any] = field(default_factory=dict)
    eval_size: int = 1000
    seed: int = 0
    cpu_threads: int | str | None = "recurrent"

    def __post_init__(self) -> None:
        check_choice(self.task, TASKS, "task")
        for name in ("T", "hidden_size", "max_iters", "batch_size", "n_symbols", "n_copy",
                     "eval_size"):  # fmt: skip
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
        if config.cell == "transformer":
            self.rnn = CausalTransformer(C, config.hidden_size, **config.cell_options)
        else:
            self.rnn = make_recurrent(
                config.cell, C, config.hidden_size, impl=config.impl, **config.cell_options
            )
        D = 2 if config.cell_options.get("bidirectional") else 1
        self.head = nn.Linear(
            D * config.hidden_size, 1 if config.task == "adding" else config.vocab
        )
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
    config: MemoryTaskConfig, device: torch.device | str | None = None, progress: bool = False
) -> dict[str, Any]:
    """Train one model on one task and delay; score it on a fixed held-out set.

    Outputs: a dict (one row of :func:`delay_sweep`'s table): the config's fields, ``n_params``,
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
        warmup_iters=config.warmup_iters,
        weight_decay=0.0,
        grad_clip=1.0,
        log_interval=25,
        seed=config.seed,
        progress=progress,
    )
    with cpu_threads(config.cpu_threads, device):
        start = time.perf_counter()
        history = train(model, get_batch, train_config, device=device)
        train_s = time.perf_counter() - start
        result = evaluate(model, x_val.to(device), y_val.to(device))
    row = {k: v for k, v in asdict(config).items() if k != "cell_options"}
    row.update(
        options=",".join(f"{k}={v}" for k, v in config.cell_options.items()) or "-",
        n_params=sum(p.numel() for p in model.parameters()),
        steps_done=len(history),
        train_s=train_s,
        score=result["score"],
        baseline=baseline(config),
        final_loss=float(history["loss"].iloc[-20:].mean()),
        per_position=result["per_position"],
        history=history,
    )
    return row


@experiment()
def memory_run(config: MemoryTaskConfig, device: torch.device, progress: bool) -> dict:
    """One run of :func:`run_memory_task`, cached: the unit the studies below share.

    Values: the row of :func:`run_memory_task` (``score``, ``per_position``, ``history``, ...).
    """
    return run_memory_task(config, device, progress)


def _cached_memory_run(config: MemoryTaskConfig, device: torch.device) -> dict:
    return memory_run(config, device=device, progress=False).values


@dataclass
class DelaySweepConfig:
    """``task`` (the base run) for every cell at every delay and seed; the cells other than
    ``reference`` get the hidden size of its parameter budget at ``task.hidden_size``; the runs
    train side by side in ``processes`` worker processes (None: one per core; same numbers)."""

    task: MemoryTaskConfig = field(default_factory=MemoryTaskConfig)
    cells: tuple[str, ...] = ("rnn", "lstm")
    delays: tuple[int, ...] = (10, 20, 50)
    reference: str = "lstm"
    seeds: tuple[int, ...] = (0,)
    processes: int | None = 1

    def hidden_sizes(self) -> dict[str, int]:
        """``{cell: H}`` at equal parameter budgets (C inputs: one-hot symbols, or 2 for adding)."""
        C = 2 if self.task.task == "adding" else self.task.vocab
        count = lambda cell, H: recurrent_param_count(cell, C, H)  # noqa: E731
        return equal_budget_sizes(count, self.reference, self.task.hidden_size, self.cells)


@experiment("lstm.copy_sweep")
def delay_sweep(config: DelaySweepConfig, device: torch.device, progress: bool) -> dict:
    """Every cell at every delay and seed, one :func:`memory_run` each (cached run by run).

    Values: ``runs`` (one row per run, the columns of :func:`run_memory_task`, ``seed`` among
    them) and ``hidden_sizes`` ``{cell: H}``.
    """
    sizes = config.hidden_sizes()
    tasks = [(replace(config.task, cell=cell, hidden_size=H, T=T, seed=seed), device)
             for T in config.delays for cell, H in sizes.items() for seed in config.seeds]  # fmt: skip
    rows = map_runs(_cached_memory_run, tasks, config.processes, progress, desc="delay sweep")
    return {"runs": pd.DataFrame(rows), "hidden_sizes": sizes}


@dataclass
class SeedStudyConfig:
    """``task`` with its field ``vary`` set to each of ``values``, for each of ``seeds``."""

    task: MemoryTaskConfig = field(default_factory=MemoryTaskConfig)
    vary: str = "forget_bias"
    values: tuple[Any, ...] = (0.0, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2)


@experiment("lstm.forget_bias")
def seed_study(config: SeedStudyConfig, device: torch.device, progress: bool) -> dict:
    """One :func:`memory_run` per value and seed (runs a sweep already made come from the cache).

    Values: ``runs`` with columns ``config.vary``, seed, score, steps_done, cached (True where
    the run was loaded from the cache).
    """
    rows = []
    for value in config.values:
        for seed in config.seeds:
            run = replace(config.task, **{config.vary: value}, seed=seed)
            r = memory_run(run, device=device, progress=progress)
            rows.append({config.vary: value, "seed": seed, "score": r["score"],
                         "steps_done": r["steps_done"], "cached": r.cached})  # fmt: skip
    return {"runs": pd.DataFrame(rows)}


@dataclass
class ReversalConfig:
    """Sequence reversal with ``task``, once left to right and once bidirectional."""

    task: MemoryTaskConfig = field(default_factory=lambda: MemoryTaskConfig(task="reversal"))


@experiment("lstm.reversal")
def reversal(config: ReversalConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``runs`` ``{"left-to-right": row, "bidirectional": row}`` (rows of
    :func:`run_memory_task`) and ``chance`` (1 / n_symbols)."""
    variants = {"left-to-right": {}, "bidirectional": {"bidirectional": True}}
    runs = {
        name: memory_run(
            replace(config.task, cell_options=options), device=device, progress=progress
        ).values
        for name, options in variants.items()
    }
    return {"runs": runs, "chance": 1 / config.task.n_symbols}


def delay_verdicts(runs: pd.DataFrame, lower_is_better: bool, word: str | None = None):
    """The tie rule (:func:`seqlab.experiments.seeds.compare`) at every delay of a sweep.

    Inputs: ``runs`` of :func:`delay_sweep` with >= 3 seeds per cell and delay; ``word`` the
    comparative of a win (default "higher"/"lower").
    Outputs: DataFrame indexed by T: one column per cell (``mean ± s.e.``), ``best`` (the
    tied-best cells joined by " = ", e.g. "LSTM" or "RNN = LSTM"), and ``verdict`` (the
    :meth:`~seqlab.experiments.seeds.Comparison.phrase` of that delay).
    """
    rows = []
    for T, g in runs.assign(cell=runs["cell"].str.upper()).groupby("T"):
        c = compare(g, "cell", "score", lower_is_better=lower_is_better)
        row = {"T": int(T)}
        row.update(c.table["mean ± sem"].to_dict())
        row["best"] = " = ".join(c.best)
        row["verdict"] = c.phrase(word)
        rows.append(row)
    return pd.DataFrame(rows).set_index("T")


def longest_passing(runs: pd.DataFrame, ok) -> dict[str, int | None]:
    """``{cell: the largest T whose mean score over seeds passes ok(mean, baseline)}`` (None:
    at no tested T). Feed the value to :func:`seqlab.experiments.seeds.phrase_up_to`."""
    out = {}
    for cell, g in runs.groupby("cell", sort=False):
        means = g.groupby("T")["score"].mean()
        base = float(g["baseline"].iloc[0])
        passing = [int(T) for T, m in means.items() if ok(m, base)]
        out[cell] = max(passing) if passing else None
    return out
