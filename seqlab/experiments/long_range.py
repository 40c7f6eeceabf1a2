"""Long range: the copy task of chapter 2 at growing delays, a Transformer against the LSTM.

The copy task (:mod:`seqlab.experiments.memory_tasks`, Arjovsky et al. 2016): read a symbol,
wait T steps, write it back; a model without memory scores chance, 1 / ``n_symbols``. The LSTM
carries the symbol through T updates of its cell state. The Transformer
(:class:`~seqlab.experiments.memory_tasks.CausalTransformer`, causal, so that it sees what a
left-to-right LSTM sees) reaches it in one attention step from the output position, whatever T,
at a cost that grows as T² per layer.

:func:`long_range` (``cost.long_range``) runs both at every delay and seed as
:func:`~seqlab.experiments.memory_tasks.memory_run` s: the LSTM's config is chapter 2's copy
sweep's, so those runs come from the cache when chapter 2 ran first. :func:`verdicts`: the tie
rule at every delay.

Letters: T delay, B batch, H width.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd
import torch

from seqlab.experiments.memory_tasks import MemoryTaskConfig, memory_run
from seqlab.experiments.results import experiment
from seqlab.experiments.seeds import Comparison, compare

NAMES = {"lstm": "LSTM", "transformer": "Transformer"}


def _transformer_task() -> MemoryTaskConfig:
    return MemoryTaskConfig(
        cell="transformer", hidden_size=20, learning_rate=3e-3, warmup_iters=40,
        forget_bias=None, cell_options={"num_layers": 1, "nhead": 2},
    )  # fmt: skip


@dataclass
class LongRangeConfig:
    """``lstm`` and ``transformer`` (base runs; ``T`` and ``seed`` are set per run) at every
    delay in ``delays`` and seed in ``seeds``. Both must be the same task."""

    lstm: MemoryTaskConfig = field(default_factory=MemoryTaskConfig)
    transformer: MemoryTaskConfig = field(default_factory=_transformer_task)
    delays: tuple[int, ...] = (10, 20, 50)
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        a, b = self.lstm, self.transformer
        same = ("task", "n_symbols", "n_copy", "batch_size", "max_iters", "eval_size")
        differ = [f for f in same if getattr(a, f) != getattr(b, f)]
        if differ:
            raise ValueError(f"lstm and transformer must share the task; they differ in {differ}")
        if b.cell != "transformer":
            raise ValueError(f"transformer.cell must be 'transformer', got {b.cell!r}")


@experiment("cost.long_range")
def long_range(config: LongRangeConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``runs``, one row per (cell, T, seed): the columns of
    :func:`~seqlab.experiments.memory_tasks.run_memory_task` (``score``, ``baseline``,
    ``n_params``, ``steps_done``, ``train_s``, ``history``, ...) and ``cached`` (True where the
    run came from the cache, e.g. chapter 2's LSTM runs)."""
    rows = []
    for T in config.delays:
        for base in (config.lstm, config.transformer):
            for seed in config.seeds:
                r = memory_run(replace(base, T=T, seed=seed), device=device, progress=progress)
                rows.append({**r.values, "cached": r.cached})
    return {"runs": pd.DataFrame(rows)}


def verdicts(runs: pd.DataFrame) -> pd.DataFrame:
    """The tie rule (:func:`seqlab.experiments.seeds.compare`, higher accuracy wins) at every
    delay of :func:`long_range`'s ``runs`` (>= 3 seeds per cell and delay).

    Outputs: DataFrame indexed by T: one column per model (``mean ± s.e.``), ``best`` (the
    tied-best models joined by " = ") and ``verdict`` (the comparison in words).
    """
    rows = []
    named = runs.assign(cell=runs["cell"].map(NAMES).fillna(runs["cell"]))
    for T, g in named.groupby("T"):
        c = compare(g, "cell", "score", lower_is_better=False)
        rows.append({"T": int(T), **c.table["mean ± sem"].to_dict(),
                     "best": " = ".join(c.best), "verdict": c.phrase("higher")})  # fmt: skip
    return pd.DataFrame(rows).set_index("T")


def versus_chance(runs: pd.DataFrame, cell: str) -> dict[int, Comparison]:
    """Per delay, the tie rule between ``cell``'s recall accuracy and chance (the runs'
    ``baseline``, 1 / n_symbols, the same for every seed), higher wins: ``{T: Comparison}``
    with the groups ``NAMES[cell]`` and ``"chance"``. Raises ``ValueError`` for a cell with
    no runs."""
    mine = runs[runs["cell"] == cell]
    if mine.empty:
        raise ValueError(f"cell {cell!r} has no runs; cells are {sorted(runs['cell'].unique())}")
    out = {}
    for T, g in mine.groupby("T"):
        both = pd.concat([g.assign(cell=NAMES.get(cell, cell)),
                          g.assign(cell="chance", score=g["baseline"])])  # fmt: skip
        out[int(T)] = compare(both, "cell", "score", lower_is_better=False)
    return out
