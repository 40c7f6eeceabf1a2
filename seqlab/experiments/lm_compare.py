"""Char-level language models compared over seeds, beside a count-based n-gram baseline.

:func:`lm_compare` trains every cell of a :class:`~seqlab.experiments.char_lm.CharLMConfig` once
per seed, one cached :func:`~seqlab.experiments.char_lm.char_lm` run per (cell, seed), so a
chapter that compares more cells with the same config (chapter 3 adds the GRU to chapter 2's RNN
and LSTM) trains only the new ones. Its ``runs`` table (one row per cell and seed) is what the
tie rule (:func:`seqlab.experiments.seeds.compare`) reads.

The bar a recurrent LM has to clear to show that its state carries more than the last few
characters is :func:`~seqlab.experiments.char_lm.ngram_baseline`: an interpolated Kneser-Ney
n-gram whose order and discount are chosen on the same validation split; :func:`lm_table` and
:func:`ngram_position` put the two side by side.

Every loss is in nats per character, with ``bpc`` and ``ppl`` beside it (:mod:`seqlab.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from seqlab.experiments.char_lm import CharLMConfig, char_lm, shakespeare
from seqlab.experiments.context_window import context_saliency, fit_context
from seqlab.experiments.parallel import map_runs
from seqlab.experiments.results import experiment
from seqlab.experiments.seeds import compare, format_mean_sem
from seqlab.metrics import bpc, ppl


@dataclass
class LMCompareConfig:
    """Every cell of ``char_lm`` (sized against its ``reference``), once per seed; the runs
    train side by side in ``processes`` worker processes (None: one per core; the same
    numbers, :func:`seqlab.experiments.parallel.map_runs`)."""

    char_lm: CharLMConfig = field(default_factory=CharLMConfig)
    seeds: tuple[int, ...] = (0, 1, 2)
    processes: int | None = 1


def eval_chars(config: CharLMConfig) -> int:
    """Characters in one evaluation: ``eval_iters`` batches of ``batch_size`` x ``block_size``
    (the same held-out batches for every model and seed)."""
    return config.eval_iters * config.batch_size * config.block_size


def _cached_char_lm(config: CharLMConfig, device: torch.device):
    return char_lm(config, device=device, progress=False)


@experiment("lstm.lm_compare")
def lm_compare(config: LMCompareConfig, device: torch.device, progress: bool) -> dict:
    """One char-LM per cell and seed, at an equal parameter budget and an equal number of steps.

    Values: ``runs`` (one row per cell and seed: cell, seed, hidden_size, n_params, steps,
    train_s, tokens_per_s, val_loss, train_loss, bpc, ppl), ``history`` (every run's history,
    columns ``cell`` and ``seed``), ``hidden_sizes`` ``{cell: H}``, ``eval_chars`` (characters
    per evaluation) and ``models`` ``{cell: SavedModel}`` of the first seed.
    """
    rows, histories, models, sizes = [], [], {}, {}
    runs = [(cell, seed) for cell in config.char_lm.cells for seed in config.seeds]
    tasks = [(replace(config.char_lm, cells=(cell,), seed=seed), device) for cell, seed in runs]
    results = map_runs(_cached_char_lm, tasks, config.processes, progress, desc="char LMs")
    for (cell, seed), result in zip(runs, results, strict=True):
        summary = result.summary.reset_index().assign(seed=seed)
        rows.append(summary)
        histories.append(result.history.assign(seed=seed))
        sizes[cell] = result.hidden_sizes[cell]
        if seed == config.seeds[0]:
            models[cell] = result["models"][cell]
    runs = pd.concat(rows, ignore_index=True)
    runs["bpc"], runs["ppl"] = bpc(runs["val_loss"]), ppl(runs["val_loss"])
    return {
        "runs": runs,
        "history": pd.concat(histories, ignore_index=True),
        "hidden_sizes": sizes,
        "eval_chars": eval_chars(config.char_lm),
        "models": models,
    }


def ngram_orders(table: pd.DataFrame) -> pd.DataFrame:
    """The best discount of each order of an n-gram search table (:func:`~seqlab.experiments.
    char_lm.ngram_baseline`'s ``table``): one row per order with order, discount, val_loss,
    bpc, ppl."""
    best = table.loc[table.groupby("order")["val_loss"].idxmin()].reset_index(drop=True)
    return best[["order", "discount", "val_loss", "bpc", "ppl"]]


@dataclass
class LMContextConfig:
    """The effective context (gradient saliency, :mod:`seqlab.experiments.context_window`) of
    every model of the :func:`lm_compare` run ``compare``: ``n_windows`` validation windows of
    ``length`` characters, the same windows for every model."""

    compare: LMCompareConfig = field(default_factory=LMCompareConfig)
    length: int = 100
    n_windows: int = 128
    seed: int = 0


def context_tail(saliency: pd.DataFrame, ks=(1, 5, 10, 20, 50)) -> pd.DataFrame:
    """The whole saliency curve in a few numbers, per (cell, seed).

    Inputs: ``saliency`` with columns cell, seed, k, saliency, relative (= s(k) / s(0)).
    Outputs: one row per (cell, seed): ``s(k)/s(0)`` at each k of ``ks`` below the window length
    and at the last k (the tail), and ``mass beyond 10`` (share of sum_k s(k), k >= 1, at k >= 10).
    """
    rows = []
    for (cell, seed), g in saliency.groupby(["cell", "seed"], sort=False):
        g = g.set_index("k")
        last = int(g.index.max())
        row = {"cell": cell, "seed": seed}
        for k in [k for k in ks if k < last] + [last]:
            row[f"k = {k}"] = float(g.at[k, "relative"])
        memory = g.loc[g.index >= 1, "saliency"]
        row["mass beyond 10"] = float(memory[memory.index >= 10].sum() / memory.sum())
        rows.append(row)
    return pd.DataFrame(rows)


@experiment("lstm.lm_context")
def lm_context(config: LMContextConfig, device: torch.device, progress: bool) -> dict:
    """Gradient saliency s(k) of every cell and seed of ``config.compare``.

    Values: ``saliency`` (columns cell, seed, k, saliency, relative), ``tail``
    (:func:`context_tail`) and ``fits`` (one row per cell and seed: the exponential fit of
    :func:`~seqlab.experiments.context_window.fit_context` over the first 20 steps back).
    """
    curves, fits = [], []
    for cell in config.compare.char_lm.cells:
        for seed in config.compare.seeds:
            run = replace(config.compare.char_lm, cells=(cell,), seed=seed)
            model = char_lm(run, device=device, progress=progress).model(cell, device)
            s = context_saliency(
                model, shakespeare(), config.length, config.n_windows, seed=config.seed
            )
            curves.append(s.assign(cell=cell, seed=seed))
            fit = fit_context(s[s["k"] <= 20])
            fits.append({"cell": cell, "seed": seed, **fit})
    saliency = pd.concat(curves, ignore_index=True)
    return {"saliency": saliency, "tail": context_tail(saliency), "fits": pd.DataFrame(fits)}


def lm_table(runs: pd.DataFrame, ngram: pd.DataFrame | None = None, orders=(3, 5, 7)):
    """The comparison as a reader's table: one row per model, best first.

    Inputs: ``runs`` (:func:`lm_compare`'s), ``ngram`` (the search table of
    :func:`~seqlab.experiments.char_lm.ngram_baseline`) and the n-gram ``orders`` to list below
    the recurrent models.
    Outputs: DataFrame indexed by model with columns parameters, steps, seeds, "val loss
    (nats/char)" (mean ± s.e. over seeds), bpc, perplexity (of the mean loss) and "seed
    range" (the seeds' lowest to highest loss); n-gram rows have one fit and no spread.
    """
    rows = []
    for cell, g in runs.groupby("cell", sort=False):
        loss = g["val_loss"]
        sem = loss.std(ddof=1) / np.sqrt(len(loss)) if len(loss) > 1 else float("nan")
        rows.append({
            "model": cell.upper(), "parameters": f"{int(g['n_params'].iloc[0]):,}",
            "steps": f"{int(g['steps'].iloc[0]):,}", "seeds": len(g),
            "val loss (nats/char)": format_mean_sem(loss.mean(), sem) if len(g) > 1
            else f"{loss.mean():.3f}",
            "bpc": f"{float(bpc(loss.mean())):.3f}", "perplexity": f"{float(ppl(loss.mean())):.2f}",
            "seed range": f"{loss.min():.3f} to {loss.max():.3f}", "_mean": loss.mean(),
        })  # fmt: skip
    rows.sort(key=lambda r: r["_mean"])
    if ngram is not None:
        by_order = ngram_orders(ngram)
        for r in by_order[by_order["order"].isin(orders)].itertuples():
            rows.append({
                "model": f"{r.order}-gram (Kneser-Ney)", "parameters": "counts", "steps": "-",
                "seeds": "-", "val loss (nats/char)": f"{r.val_loss:.3f}",
                "bpc": f"{r.bpc:.3f}", "perplexity": f"{r.ppl:.2f}", "seed range": "-",
                "_mean": r.val_loss,
            })  # fmt: skip
    table = pd.DataFrame(rows).astype({"seeds": str})
    return table.drop(columns="_mean").set_index("model")


def ngram_position(loss: float, ngram: pd.DataFrame) -> str:
    """Where ``loss`` lies among the orders of an n-gram search table, in words:
    ``"between the 2-gram's 2.493 and the 3-gram's 2.049"``, ``"below every n-gram tried
    (best 1.487)"`` or ``"above even the 1-gram's 3.302"``."""
    orders = ngram_orders(ngram).set_index("order")["val_loss"]
    beaten = orders[orders > loss]  # n-grams with a higher loss
    better = orders[orders <= loss]
    if better.empty:
        return f"below every n-gram tried (best {orders.min():.3f})"
    if beaten.empty:
        lo = int(orders.index.min())
        return f"above even the {lo}-gram's {orders[lo]:.3f}"
    lo, hi = int(beaten.index.max()), int(better.index.min())
    return f"between the {lo}-gram's {orders[lo]:.3f} and the {hi}-gram's {orders[hi]:.3f}"


def versus_level(
    runs: pd.DataFrame, level: float, label: str, level_label: str, value: str = "val_loss"
) -> tuple[str | None, str]:
    """The tie rule (:func:`~seqlab.experiments.seeds.compare`) between runs over seeds and a
    fixed level: a baseline that no seed changes, such as the n-gram's loss.

    The level enters :func:`compare` as a group with the same value at every seed, so Welch's
    test becomes the one-sample t-test of the runs against the level (n - 1 degrees of
    freedom) and the range rule asks every seed to lie on the same side of it.
    Inputs: ``runs`` with columns ``seed`` and ``value`` (lower is better), >= 3 seeds.
    Outputs: ``(better, words)``: ``better`` is ``label``, ``level_label`` or None (tied);
    ``words`` e.g. ``"above the 7-gram (2.051 ± 0.012 vs 1.487; mean ± s.e. over 3 seeds)"``.
    Raises ``ValueError`` as :func:`compare` does (e.g. fewer than 3 seeds).
    """
    level_runs = pd.DataFrame({"seed": runs["seed"], value: float(level), "model": level_label})
    df = pd.concat([runs[["seed", value]].assign(model=label), level_runs], ignore_index=True)
    c = compare(df, "model", value)
    better = c.better(label, level_label)
    mean_sem, n = c.table.at[label, "mean ± sem"], int(c.table.at[label, "n"])
    numbers = f"{mean_sem} vs {level:.3f}; mean ± s.e. over {n} seeds"
    if better is None:
        return None, f"tied with the {level_label} ({numbers}; the difference is within the spread)"
    side = "below" if better == label else "above"
    return better, f"{side} the {level_label} ({numbers})"
