"""Parameters at equal quality: how many parameters each architecture needs to reach one
validation loss at one training budget, read from chapter 7's scaling sweep (chapter 8).

The sweep (:mod:`seqlab.experiments.scaling`) trains GPT and LSTM char LMs of several sizes
with the same steps, batch and context at its comparison budget (``lstm_budgets[0]`` of the
``scaling.sweep`` row), over >= 3 seeds. For each architecture and seed, the validation loss
against ``log10 N`` (N: non-embedding parameters, Kaplan et al. 2020's count, as chapter 7's
"LSTM against Transformer") is a broken line through the sizes; :func:`params_at_loss` reads
off where it first falls to a reference loss ``L_ref``, interpolating ``log10 N`` linearly
between the two sizes around the crossing. A seed whose smallest size is already at or below
``L_ref`` gives only a bound (N* <= that size: "below the smallest"); one whose largest size
stays above it, the other bound (N* > that size: "not reached").

``L_ref`` (:func:`reference_loss`): each architecture's mean losses over seeds span a range
``[min, max]`` over its sizes; ``L_ref`` is the midpoint of ``[max of the mins, min of the
maxes]``, i.e. of the losses every architecture reaches within its sizes when the ranges
overlap (then, on the mean curves, no architecture is extrapolated), and of the gap between
them when they do not (then both cells are bounds: no loss lies inside both ranges).

Only runs at the rate the sweep's main runs use count, not the learning-rate check's (x1/3,
x3, one seed): :func:`comparison_runs` takes the rate of each size from the sweep config's
run specs (:func:`main_rates`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seqlab.experiments.profiles import config_for
from seqlab.experiments.scaling import SweepConfig, default_table_path, sweep_specs
from seqlab.experiments.sweep_table import read_table

__all__ = ["COUNT", "SIZE", "comparison_runs", "main_rates", "params_at_loss",
           "reference_loss", "stored_comparison"]  # fmt: skip

#: the parameter count on the axis (chapter 7's comparison of the two architectures uses it)
COUNT = "n_params_non_embedding"
#: the columns that name one model size of the sweep
SIZE = ("arch", "n_layer", "n_head", "n_embd", "hidden_size")


def main_rates(config: SweepConfig, budget: int) -> dict[tuple, float]:
    """The learning rate of each size's main runs at ``budget`` steps: ``{(arch, n_layer,
    n_head, n_embd, hidden_size): learning_rate}`` from the config's run specs."""
    return {tuple(getattr(s, c) for c in SIZE): s.learning_rate
            for s in sweep_specs(config) if s.max_iters == budget}  # fmt: skip


def comparison_runs(
    table: pd.DataFrame, budget: int, rates: dict[tuple, float] | None = None
) -> pd.DataFrame:
    """The runs of a sweep ``table`` at ``budget`` (``max_iters``) with a finite validation
    loss, one row per (size, seed). ``rates``: the main runs' rate per size (:data:`SIZE`
    tuple, :func:`main_rates`); a row at another rate (the learning-rate check, or an older
    setting) or of a size not in ``rates`` is left out. Without ``rates``, each size keeps the
    rate with the most seeds (and raises ``ValueError`` when two rates have as many).
    Columns: :data:`SIZE`, ``seed``, ``learning_rate``, :data:`COUNT`, ``val_loss``.
    Raises ``ValueError`` for a table without those columns."""
    need = [*SIZE, "seed", "max_iters", "learning_rate", COUNT, "val_loss"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks the sweep columns {missing}")
    runs = table[(table["max_iters"] == budget) & np.isfinite(table["val_loss"].astype(float))]
    keep = []
    for size, g in runs.groupby(list(SIZE), sort=False):
        if rates is not None:
            if size not in rates:
                continue
            g = g[np.isclose(g["learning_rate"], rates[size], rtol=1e-6, atol=0)]
        else:
            seeds = g.groupby("learning_rate")["seed"].nunique().sort_values(ascending=False)
            if len(seeds) > 1 and seeds.iloc[0] == seeds.iloc[1]:
                raise ValueError(f"size {size} has rates {list(seeds.index)} with "
                                 f"{seeds.iloc[0]} seeds each: pass rates")  # fmt: skip
            g = g[g["learning_rate"] == seeds.index[0]]
        keep.append(g.drop_duplicates("seed", keep="last"))
    cols = [*SIZE, "seed", "learning_rate", COUNT, "val_loss"]
    if not keep:
        return pd.DataFrame(columns=cols)
    return pd.concat(keep, ignore_index=True)[cols]


def reference_loss(runs: pd.DataFrame) -> tuple[float, bool]:
    """``(L_ref, overlap)``: the midpoint of [max over architectures of their lowest mean
    loss, min of their highest] (module docstring); ``overlap`` says whether the ranges of
    mean losses overlap. Raises ``ValueError`` with fewer than two architectures."""
    means = runs.groupby(["arch", COUNT])["val_loss"].mean()
    spans = means.groupby(level="arch").agg(["min", "max"])
    if len(spans) < 2:
        raise ValueError(f"need two architectures to compare, got {list(spans.index)}")
    lo, hi = float(spans["min"].max()), float(spans["max"].min())
    return (lo + hi) / 2, lo <= hi


def params_at_loss(runs: pd.DataFrame, target: float) -> pd.DataFrame:
    """Where each (arch, seed) curve of loss against ``log10 N`` first reaches ``target``.

    Outputs: one row per (arch, seed) with >= 2 sizes: ``arch``, ``seed``, ``sizes`` (how
    many), ``status`` ("interpolated", "below the smallest", "not reached"), ``log10_n``
    (interpolated; NaN for a bound), ``bound`` (N of the smallest size for "below the
    smallest", of the largest for "not reached"; NaN when interpolated)."""
    rows = []
    for (arch, seed), g in runs.groupby(["arch", "seed"], sort=True):
        g = g.sort_values(COUNT)
        x = np.log10(g[COUNT].to_numpy(dtype=np.float64))
        y = g["val_loss"].to_numpy(dtype=np.float64)
        if len(x) < 2:
            continue
        row = dict(arch=arch, seed=seed, sizes=len(x), log10_n=np.nan, bound=np.nan)
        hit = np.flatnonzero(y <= target)
        if not len(hit):
            row.update(status="not reached", bound=10 ** x[-1])
        elif hit[0] == 0:
            row.update(status="below the smallest", bound=10 ** x[0])
        else:
            i = hit[0]
            frac = (target - y[i - 1]) / (y[i] - y[i - 1])
            row.update(status="interpolated", log10_n=x[i - 1] + frac * (x[i] - x[i - 1]))
        rows.append(row)
    return pd.DataFrame(rows, columns=["arch", "seed", "sizes", "status", "log10_n", "bound"])


def stored_comparison(
    profile: str | None = None, path: str | Path | None = None
) -> tuple[pd.DataFrame | None, str]:
    """The stored sweep's comparison runs of ``profile`` (default: the current one), without
    training: ``(runs, note)``. ``runs`` is :func:`comparison_runs` of the table at ``path``
    (default :func:`~seqlab.experiments.scaling.default_table_path`) at the config's
    ``lstm_budgets[0]`` and main rates, or None when the table is absent or has no such runs;
    ``note`` says which (and how to make the table: ``make sweep``)."""
    config = config_for(SweepConfig, "scaling.sweep", profile)
    budget = config.lstm_budgets[0]
    path = Path(path) if path is not None else default_table_path(profile)
    if not path.is_file():
        return None, f"no sweep table at {path}: run chapter 7 or `make sweep`"
    runs = comparison_runs(read_table(path), budget, main_rates(config, budget))
    if runs["arch"].nunique() < 2:
        return None, (f"the sweep table {path.name} has no GPT and LSTM runs at {budget} steps "
                      "and the config's rates: run `make sweep`")  # fmt: skip
    return runs.assign(max_iters=budget), f"chapter 7's sweep ({path.name}), {budget} steps"
