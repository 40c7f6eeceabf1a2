"""Chapter 7's figures: the sweep's curves, the live L(N) fit, isoFLOP slices, LSTM vs GPT.

Every function here draws a sweep table (:func:`seqlab.experiments.scaling.sweep`, one row per
run) or a fit of it (:mod:`seqlab.experiments.scaling_fits`); none trains or times.
:func:`power_law_state` is the compute function of the live fit (< 100 ms, tested in
``tests/test_scaling_viz.py``); :func:`power_law_interactive` wraps it in an
:class:`~seqlab.viz.interactive.Interactive`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from seqlab.experiments.scaling import isoflop_sweep, sweep
from seqlab.experiments.scaling_fits import (
    fit_power_law,
    isoflop_fit,
    isoflop_optimum,
    isoflop_slices,
)
from seqlab.experiments.seeds import summarize_seeds
from seqlab.viz.export import plotly_to_matplotlib, register_figure
from seqlab.viz.interactive import Interactive
from seqlab.viz.style import color

COUNTS = {"all parameters": "n_params", "non-embedding": "n_params_non_embedding"}
CI = 0.9  # bootstrap percentile intervals: 5th to 95th
KAPLAN_ALPHA_N = 0.076  # Kaplan et al. (2020), L(N) with N non-embedding parameters
LOSS_AXIS = "val. loss (nats/char)"


def _mean_sem(df: pd.DataFrame, by: list[str], value: str = "val_loss") -> pd.DataFrame:
    """Mean, s.e.m., min and max over seeds per group (single-seed groups: sem NaN)."""
    out = summarize_seeds(df, by, value, min_seeds=1).reset_index()
    return out


def gpt_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The GPT rows of a sweep table."""
    return table[table["arch"] == "gpt"]


def budget_labels(table: pd.DataFrame) -> dict[int, str]:
    """``{max_iters: "S steps (D chars)"}`` for the GPT budgets, in order."""
    g = gpt_runs(table).groupby("max_iters")["tokens"].first().sort_index()
    return {int(k): f"{k:,} steps ({v:.2g} chars)" for k, v in g.items()}


def size_points(table: pd.DataFrame, count: str, budget: int) -> pd.DataFrame:
    """Per GPT size at one budget: N (by ``count``), mean, sem, min, max of the seeds' losses."""
    if count not in COUNTS:
        raise ValueError(f"count must be one of {list(COUNTS)}, got {count!r}")
    runs = gpt_runs(table)
    runs = runs[runs["max_iters"] == budget]
    if runs.empty:
        budgets = sorted(gpt_runs(table)["max_iters"].unique().tolist())
        raise ValueError(f"budget {budget!r} has no GPT runs; budgets: {budgets}")
    col = COUNTS[count]
    pts = _mean_sem(runs, [col]).sort_values(col).reset_index(drop=True)
    return pts.rename(columns={col: "N"})


def power_law_state(
    table: pd.DataFrame,
    smallest: int,
    count: str,
    budget: int,
    n_boot: int = 400,
    points: pd.DataFrame | None = None,
) -> dict:
    """The L(N) fit of the GPT runs at one budget, from the ``smallest``-th size up.

    Inputs: a sweep ``table``; ``smallest`` the index (0 = smallest) of the first size that
    enters the fit; ``count`` a key of :data:`COUNTS`; ``budget`` a ``max_iters`` value.
    Outputs: ``{"points"}`` (per size: N, mean, sem, min, max, used), ``"fit"``
    (:class:`~seqlab.experiments.scaling_fits.PowerLawFit`), ``"curve"`` (N grid to 10x the
    largest size, L and its 90% band), ``"extrapolated"`` (L at 10x, lo, hi), ``"count"``.
    ``points``: :func:`size_points` of the same (count, budget), precomputed (the live
    interactive caches them: the seed summary is half the update time).
    Raises ``ValueError`` for an unknown count or budget, or fewer than 2 sizes left.
    """
    pts = (size_points(table, count, budget) if points is None else points).copy()
    col = COUNTS[count]
    sizes = pts["N"].to_numpy()
    if not 0 <= smallest <= len(sizes) - 2:
        raise ValueError(f"smallest must be in 0..{len(sizes) - 2}, got {smallest!r}")
    pts["used"] = pts["N"] >= sizes[smallest]
    runs = table[(table["arch"] == "gpt") & (table["max_iters"] == budget)]
    used = runs[runs[col].to_numpy() >= sizes[smallest]]
    fit = fit_power_law(used[col].to_numpy(), used["val_loss"].to_numpy(), n_boot=n_boot,
                        ci=CI, seed=0)  # fmt: skip
    grid = np.geomspace(sizes.min() / 1.5, sizes.max() * 10, 40)
    lo, hi = fit.band(grid, CI)
    far = np.array([sizes.max() * 10])
    flo, fhi = fit.band(far, CI)
    return {
        "points": pts,
        "fit": fit,
        "curve": pd.DataFrame({"N": grid, "L": fit.predict(grid), "lo": lo, "hi": hi}),
        "extrapolated": (float(far[0]), float(fit.predict(far)[0]), float(flo[0]), float(fhi[0])),
        "count": count,
    }


def power_law_figure(state: dict, title: str | None = None) -> go.Figure:
    """Points (mean ± s.e.m. over seeds; open: left out of the fit), fit, band, extrapolation."""
    pts, fit, curve = state["points"], state["fit"], state["curve"]
    fig = go.Figure()
    fig.add_scatter(
        x=np.r_[curve["N"], curve["N"][::-1]], y=np.r_[curve["hi"], curve["lo"][::-1]],
        fill="toself", line={"width": 0}, fillcolor="rgba(31,119,180,0.18)",
        name=f"{CI:.0%} bootstrap band", hoverinfo="skip",
    )  # fmt: skip
    fig.add_scatter(x=curve["N"], y=curve["L"], mode="lines", line={"color": color(0)},
                    name=f"fit: α_N = {fit.alpha:.3f}")  # fmt: skip
    for used, symbol, name in ((True, "circle", "in the fit"), (False, "circle-open", "left out")):
        p = pts[pts["used"] == used]
        if p.empty:
            continue
        fig.add_scatter(
            x=p["N"], y=p["mean"], mode="markers", name=f"runs, {name}",
            marker={"symbol": symbol, "size": 9, "color": color(1)},
            error_y={"type": "data", "array": p["sem"].fillna(0)},
        )  # fmt: skip
    n_far, l_far, lo, hi = state["extrapolated"]
    fig.add_scatter(
        x=[n_far], y=[l_far], mode="markers", marker={"symbol": "x", "size": 10, "color": color(3)},
        error_y={"type": "data", "symmetric": False, "array": [hi - l_far], "arrayminus": [l_far - lo]},
        name=f"extrapolated to N = {n_far:.2g}",
    )  # fmt: skip
    a_lo, a_hi = fit.alpha_ci
    fig.update_xaxes(type="log", title=f"N ({state['count']})")
    fig.update_yaxes(type="log", title=LOSS_AXIS)
    fig.update_layout(
        title=title or f"α_N = {fit.alpha:.3f} [{a_lo:.3f}, {a_hi:.3f}] ({fit.n} runs)",
        legend={"font": {"size": 10}},
    )
    return fig


def power_law_interactive(table: pd.DataFrame, n_boot: int = 200, **kwargs) -> Interactive:
    """The live fit: smallest size in the fit, total or non-embedding N, token budget."""
    runs = gpt_runs(table)
    n_sizes = runs["n_params"].nunique()
    budgets = sorted(int(b) for b in runs["max_iters"].unique())

    points = {(c, b): size_points(table, c, b) for c in COUNTS for b in budgets}

    def compute(smallest, count, budget):
        pts = points[(count, budget)]
        return power_law_state(table, smallest, count, budget, n_boot=n_boot, points=pts)

    return Interactive(
        compute, power_law_figure,
        {"smallest": list(range(n_sizes - 2)), "count": list(COUNTS), "budget": budgets},
        labels={"smallest": "smallest size left out: first k", "count": "N counts",
                "budget": "steps per run"},
        defaults={"budget": budgets[-1]}, title="L(N) fitted to the runs you choose", **kwargs,
    )  # fmt: skip


def loss_curves_figure(table: pd.DataFrame, arch: str = "gpt") -> go.Figure:
    """Validation loss against training characters, one line per size (mean ± s.e.m.)."""
    runs = table[table["arch"] == arch]
    s = _mean_sem(runs, ["n_params", "tokens"]).sort_values(["n_params", "tokens"])
    fig = go.Figure()
    for i, (n, d) in enumerate(s.groupby("n_params", sort=True)):
        fig.add_scatter(x=d["tokens"], y=d["mean"], mode="lines+markers", name=f"N = {n:,}",
                        line={"color": color(i)},
                        error_y={"type": "data", "array": d["sem"].fillna(0)})  # fmt: skip
    fig.update_xaxes(type="log", title="training characters D")
    fig.update_yaxes(type="log", title=LOSS_AXIS)
    return fig


def isoflop_data(table: pd.DataFrame, n_budgets: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The GPT runs' isoFLOP slices and their optima (:func:`isoflop_slices`, ``_optimum``)."""
    sl = isoflop_slices(gpt_runs(table), n_budgets=n_budgets)
    return sl, isoflop_optimum(sl, budget_col="budget")


def isoflop_figure(slices: pd.DataFrame, optimum: pd.DataFrame) -> go.Figure:
    """Loss against N at fixed FLOPs (mean ± s.e.m. over seeds), the parabola in ln N, its
    vertex (a star, with its bootstrap interval in N where ``optimum`` has ``N_lo``/``N_hi``:
    :func:`~seqlab.experiments.scaling_fits.isoflop_fit`). ``slices``: rows with ``budget``,
    ``n_params``, ``val_loss`` (and ``seed``); ``optimum`` matched by its ``budget`` column,
    else by ``flops``."""
    fig = go.Figure()
    key = "budget" if "budget" in optimum.columns else "flops"
    for i, (C, d) in enumerate(slices.groupby("budget", sort=True)):
        m = _mean_sem(d, ["n_params"]).sort_values("n_params")
        fig.add_scatter(x=m["n_params"], y=m["mean"], mode="markers", name=f"C = {C:.3g}",
                        marker={"color": color(i), "size": 8},
                        error_y={"type": "data", "array": m["sem"].fillna(0)})  # fmt: skip
        if len(m) >= 3:
            x = np.log(m["n_params"].to_numpy())
            c = np.polyfit(x, m["mean"].to_numpy(), 2)
            xs = np.linspace(x.min(), x.max(), 50)
            fig.add_scatter(x=np.exp(xs), y=np.polyval(c, xs), mode="lines", showlegend=False,
                            line={"color": color(i), "dash": "dot"})  # fmt: skip
        o = optimum[np.isclose(optimum[key], C)]
        if len(o) and bool(o["interior"].iloc[0]):
            o = o.iloc[0]
            err = None
            if "N_lo" in o and np.isfinite(o["N_lo"]):
                err = {"type": "data", "symmetric": False, "array": [o["N_hi"] - o["N_opt"]],
                       "arrayminus": [o["N_opt"] - o["N_lo"]], "color": color(i)}  # fmt: skip
            fig.add_scatter(x=[o["N_opt"]], y=[o["loss_opt"]], mode="markers", showlegend=False,
                            marker={"symbol": "star", "size": 14, "color": color(i)},
                            error_x=err)  # fmt: skip
    fig.update_xaxes(type="log", title="N (all parameters)")
    fig.update_yaxes(title=LOSS_AXIS)
    fig.update_layout(title="IsoFLOP slices: loss at fixed training FLOPs (stars: optima)")
    return fig


def arch_figure(table: pd.DataFrame, budget: int, count: str = "non-embedding") -> go.Figure:
    """GPT and LSTM at the same steps: loss against N (mean ± s.e.m.), Kaplan et al. Fig. 7."""
    col = COUNTS[count]
    runs = table[table["max_iters"] == budget]
    fig = go.Figure()
    for i, (arch, d) in enumerate(runs.groupby("arch", sort=True)):
        s = _mean_sem(d, [col]).sort_values(col)
        fig.add_scatter(x=s[col], y=s["mean"], mode="lines+markers", name=arch.upper(),
                        line={"color": color(i)},
                        error_y={"type": "data", "array": s["sem"].fillna(0)})  # fmt: skip
    fig.update_xaxes(type="log", title=f"N ({count})")
    fig.update_yaxes(type="log", title=LOSS_AXIS)
    return fig


def flops_ratio_figure(counts: pd.DataFrame) -> go.Figure:
    """Exact training FLOPs per token over 6N, against N (a ``scaling_counts`` table)."""
    fig = go.Figure()
    fig.add_scatter(x=counts["n_params"], y=counts["exact_over_6n"], mode="lines+markers",
                    name="exact / 6N (all parameters)")  # fmt: skip
    fig.add_scatter(x=counts["n_params"], y=counts["exact_over_6n_ne"], mode="lines+markers",
                    name="exact / 6N (non-embedding)")  # fmt: skip
    fig.add_hline(y=1.0, line={"dash": "dot", "color": "gray"})
    fig.update_xaxes(type="log", title="N (all parameters)")
    fig.update_yaxes(type="log", title="training FLOPs per token / 6N")
    return fig


def _table(profile: str) -> pd.DataFrame:
    return sweep(profile, progress=False)


def _paper(pfig: go.Figure) -> Figure:
    """The Plotly figure as a matplotlib one; the loss axis linear (it spans less than a
    decade, where log ticks print as 4 x 10^0)."""
    fig = plotly_to_matplotlib(pfig)
    for ax in fig.axes:
        ax.set_yscale("linear")
        ax.xaxis.set_minor_formatter(NullFormatter())
    return fig


@register_figure(
    "scaling_power_law",
    chapter="scaling",
    caption=r"$L(N)$ of the GPT sweep at its longest budget: mean $\pm$ s.e.m. over seeds, "
    r"the power law $(N_c/N)^{\alpha_N}$ fitted to all sizes (non-embedding $N$) with its 90\% "
    r"bootstrap band.",
)
def scaling_power_law(profile: str) -> Figure:
    """The L(N) fit, paper version."""
    t = _table(profile)
    budget = max(int(b) for b in gpt_runs(t)["max_iters"].unique())
    state = power_law_state(t, 0, "non-embedding", budget)
    return _paper(power_law_figure(state))


@register_figure(
    "scaling_isoflop",
    chapter="scaling",
    caption=r"IsoFLOP slices: GPTs trained at fixed training FLOPs $C$ (mean $\pm$ s.e.m. "
    r"over seeds), parabolas in $\ln N$, and their vertices with 90\% bootstrap intervals "
    r"where they lie inside the sizes tried (Hoffmann et al. 2022, approach 2).",
)
def scaling_isoflop(profile: str) -> Figure:
    """IsoFLOP slices, paper version."""
    iso = isoflop_sweep(profile, progress=False)
    return _paper(isoflop_figure(iso, isoflop_fit(iso, n_boot=200).optima))


@register_figure(
    "scaling_lstm_vs_gpt",
    chapter="scaling",
    caption=r"LSTM and GPT character models trained the same steps: validation loss against "
    r"non-embedding parameters, mean $\pm$ s.e.m. over seeds (cf. Kaplan et al. 2020, Fig. 7).",
)
def scaling_lstm_vs_gpt(profile: str) -> Figure:
    """LSTM vs GPT, paper version."""
    t = _table(profile)
    budget = int(t.loc[t["arch"] == "lstm", "max_iters"].max())
    return _paper(arch_figure(t, budget))
