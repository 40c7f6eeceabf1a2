"""Compute-optimal size per FLOP budget from a sweep (Hoffmann et al. 2022, approach 2).

:func:`isoflop_slices` turns a sizes x token-budgets grid into isoFLOP slices (interpolating
each size's loss along D); :func:`isoflop_optimum` fits a parabola in log N per slice;
:func:`isoflop_fit` does it on a grid trained *at* fixed FLOPs (the sweep's isoFLOP runs),
with bootstrap intervals over seeds and the exponent of N_opt proportional to C^a.
Re-exported by :mod:`seqlab.experiments.scaling_fits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqlab.experiments.fit_input import as_array

__all__ = ["IsoflopFit", "isoflop_fit", "isoflop_optimum", "isoflop_slices"]


# --- isoFLOP ---------------------------------------------------------------------------------


def _check_table(table: pd.DataFrame, cols: list[str], what: str) -> None:
    """ValueError unless ``table`` is a non-empty DataFrame with the columns ``cols``."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"table has no column(s) {missing}; columns are {list(table.columns)}")
    if table.empty:
        raise ValueError(f"table is empty: no runs to {what}")


def _budget_groups(flops: np.ndarray, rel_tol: float) -> np.ndarray:
    """Group labels: runs whose FLOPs are within a factor (1 + rel_tol) of their neighbour."""
    order = np.argsort(flops)
    logs = np.log(flops[order])
    labels_sorted = np.concatenate([[0], np.cumsum(np.diff(logs) > np.log1p(rel_tol))])
    labels = np.empty_like(labels_sorted)
    labels[order] = labels_sorted
    return labels


def isoflop_optimum(
    table: pd.DataFrame,
    *,
    n_col: str = "n_params",
    loss_col: str = "val_loss",
    flops_col: str = "flops",
    tokens_col: str = "tokens",
    budget_col: str | None = None,
    rel_tol: float = 0.3,
) -> pd.DataFrame:
    """Compute-optimal model size per FLOP budget (Hoffmann et al. 2022, approach 2).

    Inputs: ``table`` one row per run with columns ``n_col`` (N), ``loss_col``, ``flops_col``
    (training FLOPs) and ``tokens_col`` (D). Runs are grouped by ``budget_col`` when given,
    else by FLOPs within a factor ``1 + rel_tol`` of each other. In each group with >= 3
    distinct N, the losses (averaged over seeds at each N) get a parabola in log N; its vertex
    is the optimum N_opt when the parabola opens upward and the vertex lies inside the sizes
    tried (``interior``), else the optimum is not located (NaN), not forced to an edge. D_opt
    is read off the group's own log D - log N line at N_opt.
    Outputs: one row per group: ``flops`` (geometric mean), ``n_runs``, ``n_sizes``, ``N_opt``,
    ``tokens_opt``, ``tokens_per_param``, ``loss_opt`` (the parabola at N_opt),
    ``curvature`` (d^2 L / d(ln N)^2), ``interior``, ``best_N_tried`` (lowest mean loss).
    Raises ``ValueError`` for a missing column, an empty table, NaN or non-positive values.
    """
    cols = [n_col, loss_col, flops_col, tokens_col] + ([budget_col] if budget_col else [])
    _check_table(table, cols, "group")
    if not rel_tol > 0:
        raise ValueError(f"rel_tol must be > 0, got {rel_tol!r}")
    N = as_array(table[n_col], n_col)
    loss = as_array(table[loss_col], loss_col)
    flops = as_array(table[flops_col], flops_col)
    tokens = as_array(table[tokens_col], tokens_col)
    groups = table[budget_col].to_numpy() if budget_col else _budget_groups(flops, rel_tol)
    df = pd.DataFrame({"N": N, "L": loss, "C": flops, "D": tokens, "g": groups})
    rows = []
    for _, g in df.groupby("g", sort=True):
        per_n = g.groupby("N").agg(L=("L", "mean"), D=("D", "mean")).reset_index()
        row = {"flops": float(np.exp(np.log(g["C"]).mean())), "n_runs": len(g),
               "n_sizes": len(per_n), "best_N_tried": float(per_n.loc[per_n["L"].idxmin(), "N"])}  # fmt: skip
        nan = float("nan")
        row.update(N_opt=nan, tokens_opt=nan, tokens_per_param=nan, loss_opt=nan,
                   curvature=nan, interior=False)  # fmt: skip
        if len(per_n) >= 3:
            x = np.log(per_n["N"].to_numpy())
            c2, c1, c0 = np.polyfit(x, per_n["L"].to_numpy(), 2)
            row["curvature"] = float(2 * c2)
            if c2 > 0 and x.min() <= -c1 / (2 * c2) <= x.max():
                xo = -c1 / (2 * c2)
                s, i = np.polyfit(x, np.log(per_n["D"].to_numpy()), 1)
                n_opt, d_opt = float(np.exp(xo)), float(np.exp(i + s * xo))
                row.update(N_opt=n_opt, tokens_opt=d_opt, tokens_per_param=d_opt / n_opt,
                           loss_opt=float(c0 + c1 * xo + c2 * xo**2), interior=True)  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def isoflop_slices(
    table: pd.DataFrame,
    budgets=None,
    *,
    n_budgets: int = 4,
    n_col: str = "n_params",
    loss_col: str = "val_loss",
    seed_col: str = "seed",
) -> pd.DataFrame:
    """IsoFLOP slices of a sizes x token-budgets grid, by interpolation along each size's D.

    A sweep that trains every size at the same few step budgets has no two runs at one FLOP
    count. For each (size, seed), ``log L`` is interpolated linearly in ``log D`` between its
    runs (no extrapolation), and read at D = C / (FLOPs per token of that size, from the
    table's exact ``flops / tokens``) for each budget C in ``budgets`` (default: ``n_budgets``
    budgets log-spaced over the range that >= 3 sizes reach, or 2 where no budget is reached
    by 3: a grid too narrow in D for a parabola, which :func:`isoflop_optimum` then reports
    as not located). Outputs: rows ``budget``,
    ``flops`` (= C), ``tokens``, ``n_col``, ``seed_col``, ``loss_col``: feed them to
    :func:`isoflop_optimum` with ``budget_col="budget"``. Raises ``ValueError`` for missing
    columns, an empty table, or no budget that two sizes reach.
    """
    cols = [n_col, loss_col, seed_col, "flops", "tokens"]
    _check_table(table, cols, "slice")
    for c in (n_col, loss_col, "flops", "tokens"):
        as_array(table[c], c)
    t = table.assign(_fpt=table["flops"] / table["tokens"])
    lo_hi = t.groupby(n_col)["flops"].agg(["min", "max"])
    lo_hi = lo_hi[t.groupby(n_col)["tokens"].nunique() >= 2]
    if budgets is None:
        lo, hi = lo_hi["min"].to_numpy(), lo_hi["max"].to_numpy()
        grid = np.geomspace(lo.min(), hi.max(), 64)
        reach = np.array([((lo <= g) & (g <= hi)).sum() for g in grid])
        need = min(3, int(reach.max()))
        if need < 2:
            raise ValueError("no FLOP budget is reached by >= 2 sizes: the grid is too sparse")
        ok = grid[reach >= need]
        budgets = np.geomspace(min(ok), max(ok), n_budgets)
    budgets = as_array(budgets, "budgets")
    rows = []
    for (n, seed), g in t.groupby([n_col, seed_col]):
        g = g.groupby("tokens", as_index=False).agg(L=(loss_col, "mean"), fpt=("_fpt", "mean"))
        if len(g) < 2:
            continue
        logD, logL = np.log(g["tokens"].to_numpy()), np.log(g["L"].to_numpy())
        for C in budgets:
            d = C / g["fpt"].mean()
            if logD.min() - 1e-9 <= np.log(d) <= logD.max() + 1e-9:
                L = float(np.exp(np.interp(np.log(d), logD, logL)))
                rows.append({"budget": float(C), "flops": float(C), "tokens": float(d),
                             n_col: n, seed_col: seed, loss_col: L})  # fmt: skip
    return pd.DataFrame(rows, columns=["budget", "flops", "tokens", n_col, seed_col, loss_col])


# --- an isoFLOP grid, with intervals ---------------------------------------------------------


@dataclass
class IsoflopFit:
    """:func:`isoflop_fit`'s result. ``optima``: one row per budget (``budget``, ``flops``
    (mean of the runs'), ``n_sizes``, ``n_seeds`` (fewest per size), ``best_N_tried``,
    ``N_opt``, ``N_lo``, ``N_hi``, ``tokens_opt``, ``tokens_per_param``, ``tpp_lo``,
    ``tpp_hi``, ``loss_opt``, ``interior``, ``located_share``: the share of bootstrap
    replicates whose vertex is inside the sizes tried). ``a``: the slope of ln N_opt against
    ln C over the located budgets (NaN with fewer than 3), ``a_ci`` its bootstrap interval;
    ``b`` the same for D_opt; ``n_boot`` replicates."""

    optima: pd.DataFrame
    a: float = float("nan")
    a_ci: tuple[float, float] = (float("nan"), float("nan"))
    b: float = float("nan")
    b_ci: tuple[float, float] = (float("nan"), float("nan"))
    n_boot: int = 0
    boot: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)


def _vertex(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(ln N at the vertex, loss there) of the parabola through (x, y); NaN unless it opens
    upward with its vertex inside [min x, max x]."""
    c2, c1, c0 = np.polyfit(x, y, 2)
    if not c2 > 0:
        return float("nan"), float("nan")
    xo = -c1 / (2 * c2)
    if not x.min() <= xo <= x.max():
        return float("nan"), float("nan")
    return float(xo), float(c0 + c1 * xo + c2 * xo * xo)


def _slope(logC: np.ndarray, logN: np.ndarray) -> float:
    ok = np.isfinite(logN)
    return float(np.polyfit(logC[ok], logN[ok], 1)[0]) if ok.sum() >= 3 else float("nan")


def isoflop_fit(
    table: pd.DataFrame,
    *,
    budget_col: str = "budget",
    n_col: str = "n_params",
    loss_col: str = "val_loss",
    n_boot: int = 1000,
    ci: float = 0.9,
    seed: int = 0,
) -> IsoflopFit:
    """Compute-optimal N per FLOP budget from runs trained at that budget (Hoffmann et al.
    2022, approach 2), with intervals.

    Inputs: ``table`` one row per run with ``budget_col`` (the FLOP budget C it was sized
    for), ``n_col`` (N), ``loss_col``, ``tokens`` (D) and ``flops``; seeds are rows with the
    same (budget, N). Per budget with >= 3 sizes, a parabola in ln N through the mean loss
    per size; its vertex is N_opt where it opens upward inside the sizes tried, else NaN
    ("not located", never an edge). D_opt from the budget's own ln D - ln N line (D = C /
    FLOPs per token). Intervals: ``n_boot`` replicates that resample, at each (budget, N),
    that point's seeds with replacement, refit, and take the central ``ci`` percentiles of
    the replicates that locate a vertex. With >= 3 located budgets, N_opt ~ C^a and
    D_opt ~ C^b by least squares in logs (Hoffmann et al.: a ~ 0.50, b ~ 0.50), intervals
    from the replicates that locate all of them. Outputs: :class:`IsoflopFit`. Raises
    ``ValueError`` for a missing column, an empty table, bad values, ``n_boot`` < 0 or ``ci``
    outside (0, 1).
    """
    cols = [budget_col, n_col, loss_col, "tokens", "flops"]
    _check_table(table, cols, "fit")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be an int >= 0, got {n_boot!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")
    for c in cols:
        as_array(table[c], c)
    rng = np.random.default_rng(seed)
    q = [50 * (1 - ci), 50 * (1 + ci)]
    rows, boots = [], []
    for C, g in table.groupby(budget_col, sort=True):
        per_n = [(n, d[loss_col].to_numpy(float)) for n, d in g.groupby(n_col, sort=True)]
        x = np.log([n for n, _ in per_n])
        d_line = np.polyfit(np.log(g[n_col].to_numpy(float)), np.log(g["tokens"]), 1)
        row = {"budget": float(C), "flops": float(g["flops"].mean()), "n_sizes": len(per_n),
               "n_seeds": min(len(v) for _, v in per_n),
               "best_N_tried": float(per_n[int(np.argmin([v.mean() for _, v in per_n]))][0])}  # fmt: skip
        xo, lo = _vertex(x, np.array([v.mean() for _, v in per_n])) if len(x) >= 3 else (
            float("nan"), float("nan"))  # fmt: skip
        draws = np.full(n_boot, np.nan)
        if len(x) >= 3:
            for i in range(n_boot):
                y = np.array([rng.choice(v, len(v)).mean() for _, v in per_n])
                draws[i] = _vertex(x, y)[0]
        boots.append(draws)
        n_opt = np.exp(xo)
        d_opt = np.exp(np.polyval(d_line, xo))
        n_lo, n_hi = (np.exp(np.percentile(draws[np.isfinite(draws)], q))
                      if np.isfinite(draws).sum() >= 2 else (np.nan, np.nan))  # fmt: skip
        located = draws[np.isfinite(draws)]
        tpp = np.exp(np.polyval(d_line, located) - located)
        t_lo, t_hi = np.percentile(tpp, q) if tpp.size >= 2 else (np.nan, np.nan)
        row.update(N_opt=float(n_opt), N_lo=float(n_lo), N_hi=float(n_hi),
                   tokens_opt=float(d_opt), tokens_per_param=float(d_opt / n_opt),
                   tpp_lo=float(t_lo), tpp_hi=float(t_hi), loss_opt=lo,
                   interior=bool(np.isfinite(xo)),
                   located_share=float(np.isfinite(draws).mean()) if n_boot else float("nan"),
                   _d_line=d_line)  # fmt: skip
        rows.append(row)
    optima = pd.DataFrame(rows)
    fit = IsoflopFit(optima.drop(columns="_d_line"), n_boot=n_boot)
    located = optima["interior"].to_numpy(bool)
    if located.sum() < 3:
        return fit
    logC = np.log(optima["flops"].to_numpy(float))[located]
    logN = np.log(optima["N_opt"].to_numpy(float))[located]
    logD = np.log(optima["tokens_opt"].to_numpy(float))[located]
    fit.a, fit.b = _slope(logC, logN), _slope(logC, logD)
    B = np.array(boots)[located].T  # (n_boot, budgets located)
    B = B[np.isfinite(B).all(axis=1)]
    lines = [ln for ln, ok in zip(optima["_d_line"], located, strict=True) if ok]
    D = np.array([[np.polyval(ln, xo) for ln, xo in zip(lines, b, strict=True)] for b in B])
    fit.boot = B
    if len(B) >= 2:
        fit.a_ci = tuple(float(v) for v in np.percentile([_slope(logC, b) for b in B], q))
        fit.b_ci = tuple(float(v) for v in np.percentile([_slope(logC, d) for d in D], q))
    return fit
