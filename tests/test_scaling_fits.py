"""The scaling-law fits recover laws we know, resist an outlier, and refuse bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqlab.experiments.scaling_fits import (
    fit_chinchilla,
    fit_power_law,
    isoflop_fit,
    isoflop_optimum,
    isoflop_slices,
)

# Hoffmann et al. (2022)'s published law, as a known truth for synthetic runs.
TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def _law(N, D):
    return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]


def _grid(noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    N, D = np.meshgrid(np.geomspace(1e6, 1e9, 7), np.geomspace(1e8, 1e11, 6))
    N, D = N.ravel(), D.ravel()
    return N, D, _law(N, D) * np.exp(noise * rng.standard_normal(N.size))


def test_power_law_recovers_kaplan_exponent():
    rng = np.random.default_rng(1)
    N = np.repeat(np.geomspace(1e4, 1e6, 6), 3)  # 6 sizes x 3 seeds
    L = (8.8e13 / N) ** 0.076 * np.exp(0.002 * rng.standard_normal(N.size))
    fit = fit_power_law(N, L, n_boot=300)
    assert fit.alpha == pytest.approx(0.076, abs=0.004)
    assert fit.alpha_ci[0] < 0.076 < fit.alpha_ci[1]
    assert fit.predict(1e5) == pytest.approx((8.8e13 / 1e5) ** 0.076, rel=0.01)


def test_power_law_with_irreducible_term():
    N = np.geomspace(1e4, 1e7, 8)
    L = 1.2 + (3e3 / N) ** 0.5
    fit = fit_power_law(N, L, irreducible=True, n_boot=0)
    assert fit.alpha == pytest.approx(0.5, rel=1e-3)
    assert fit.E == pytest.approx(1.2, rel=1e-3)
    assert np.isnan(fit.alpha_ci[0])  # no bootstrap asked


def test_chinchilla_recovers_known_law():
    N, D, L = _grid(noise=0.0)
    fit = fit_chinchilla(N, D, L, n_boot=0)
    for k in ("alpha", "beta", "E"):
        assert getattr(fit, k) == pytest.approx(TRUE[k], rel=0.01), k
    assert fit.predict(1e7, 1e9) == pytest.approx(_law(1e7, 1e9), rel=1e-3)


def test_chinchilla_huber_resists_an_outlier():
    N, D, L = _grid(noise=0.002, seed=2)
    L[5] *= 1.5  # one broken run
    huber = fit_chinchilla(N, D, L, n_boot=0)
    squared = fit_chinchilla(N, D, L, n_boot=0, delta=10.0)  # delta >> residuals: least squares
    assert abs(huber.alpha - TRUE["alpha"]) < 0.03
    assert abs(huber.alpha - TRUE["alpha"]) < abs(squared.alpha - TRUE["alpha"])


def test_chinchilla_bootstrap_covers_truth():
    N, D, L = _grid(noise=0.005, seed=3)
    fit = fit_chinchilla(N, D, L, n_boot=40, seed=0)
    lo, hi = fit.ci["alpha"]
    assert lo < TRUE["alpha"] < hi
    lo, hi = fit.ci["beta"]
    assert lo < TRUE["beta"] < hi
    again = fit_chinchilla(N, D, L, n_boot=40, seed=0)
    assert again.ci == fit.ci  # fixed seed: same interval


def test_chinchilla_optimum_matches_a_brute_force_search():
    fit = fit_chinchilla(*_grid(), n_boot=0)
    C = 1e21
    N = np.geomspace(1e7, 1e12, 200_001)
    best = N[np.argmin(fit.predict(N, C / (6 * N)))]
    ratio = C / (6 * best) / best
    assert fit.optimal_tokens_per_param(C) == pytest.approx(ratio, rel=1e-3)


def _isoflop_table(n_opt_by_c: dict[float, float]):
    rows = []
    for C, n_opt in n_opt_by_c.items():
        for N in n_opt * np.geomspace(0.1, 10, 7):
            for seed in range(2):
                loss = 2.0 + 0.3 * (np.log(N) - np.log(n_opt)) ** 2 + 0.001 * seed
                rows.append({"n_params": N, "val_loss": loss, "flops": C * (1 + 0.05 * seed),
                             "tokens": C / (6 * N), "seed": seed})  # fmt: skip
    return pd.DataFrame(rows)


def test_isoflop_finds_known_optimum():
    truth = {1e12: 1e4, 1e13: 3e4, 1e14: 1e5}
    out = isoflop_optimum(_isoflop_table(truth))
    assert len(out) == 3 and out["interior"].all()
    for (C, n_opt), got in zip(truth.items(), out.itertuples(), strict=True):
        assert got.N_opt == pytest.approx(n_opt, rel=1e-6)
        assert got.tokens_per_param == pytest.approx(C / (6 * n_opt**2), rel=1e-3)
        assert got.n_runs == 14 and got.n_sizes == 7


def test_isoflop_does_not_force_an_edge_optimum():
    table = _isoflop_table({1e12: 1e4})
    table = table[table["n_params"] <= 1e4 * 0.99]  # only sizes below the optimum: monotone
    out = isoflop_optimum(table)
    assert not out["interior"].iloc[0] and np.isnan(out["N_opt"].iloc[0])


def test_isoflop_slices_of_a_rectangular_grid_find_the_law_optimum():
    """A sizes x budgets grid from a known L(N, D): the slices' optimum sits where the law's
    is (to the interpolation and parabola error)."""
    rows = []
    for N in np.geomspace(1e4, 1e7, 10):
        for D in np.geomspace(1e5, 1e10, 25):
            rows.append({"n_params": N, "tokens": D, "flops": 6 * N * D, "seed": 0,
                         "val_loss": _law(N, D)})  # fmt: skip
    sl = isoflop_slices(pd.DataFrame(rows), budgets=[1e14])
    out = isoflop_optimum(sl, budget_col="budget")
    N = np.geomspace(1e4, 1e7, 100_001)
    truth = N[np.argmin(_law(N, 1e14 / (6 * N)))]
    assert out["interior"].iloc[0]
    assert out["N_opt"].iloc[0] == pytest.approx(truth, rel=0.25)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([], []), "N is empty"),
        (([1.0, np.nan], [1.0, 2.0]), "N has NaN"),
        (([1.0, 2.0], [1.0]), "lengths differ"),
        (([1.0, -2.0], [1.0, 2.0]), r"N must be > 0, got N\[1\] = -2.0"),
        (([1.0, 2.0], [1.0, 0.0]), r"L must be > 0"),
        (([3.0, 3.0], [1.0, 2.0]), "distinct"),
    ],
)
def test_power_law_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(*args, n_boot=0)


def test_chinchilla_and_isoflop_reject_bad_input():
    N, D, L = _grid()
    with pytest.raises(ValueError, match="D must be > 0"):
        fit_chinchilla(N, -D, L, n_boot=0)
    with pytest.raises(ValueError, match="lengths differ"):
        fit_chinchilla(N, D[:-1], L, n_boot=0)
    with pytest.raises(ValueError, match="n_boot"):
        fit_chinchilla(N, D, L, n_boot=-1)
    with pytest.raises(ValueError, match="no column"):
        isoflop_optimum(pd.DataFrame({"n_params": [1.0]}))
    with pytest.raises(ValueError, match="empty"):
        isoflop_optimum(_isoflop_table({1e12: 1e4}).iloc[:0])
    with pytest.raises(ValueError, match="val_loss has NaN"):
        isoflop_optimum(_isoflop_table({1e12: 1e4}).assign(val_loss=np.nan))


def isoflop_grid(alpha=0.34, beta=0.28, noise=0.002, seeds=2, budgets=(1e17, 1e18, 1e19)):
    """Runs trained *at* FLOP budgets (D = C / 6N) on L = E + A/N^a + B/D^b, 7 sizes per
    budget spread over x30 around the analytic optimum."""
    A, B, E = 406.4, 410.7, 1.69
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    rng = np.random.default_rng(1)
    rows = []
    for C in budgets:
        n_star = G * (C / 6) ** (beta / (alpha + beta))
        for N in n_star * np.geomspace(1 / 5.5, 5.5, 7):
            D = C / (6 * N)
            for s in range(seeds):
                L = (E + A / N**alpha + B / D**beta) * np.exp(noise * rng.standard_normal())
                rows.append({"budget": C, "flops": C, "n_params": N, "tokens": D, "seed": s,
                             "val_loss": L})  # fmt: skip
    return pd.DataFrame(rows), G, beta / (alpha + beta)


def test_isoflop_fit_finds_the_analytic_optimum_and_exponent():
    table, G, a_true = isoflop_grid()
    fit = isoflop_fit(table, n_boot=200)
    o = fit.optima
    assert o["interior"].all() and len(o) == 3 and (o["n_sizes"] == 7).all()
    n_star = G * (o["budget"] / 6) ** a_true
    assert np.allclose(o["N_opt"], n_star, rtol=0.15)  # a parabola in ln N, not the law
    assert np.allclose(o["tokens_per_param"], o["tokens_opt"] / o["N_opt"])
    assert np.allclose(o["tokens_opt"], o["budget"] / (6 * o["N_opt"]), rtol=1e-6)
    assert (o["N_lo"] <= o["N_opt"]).all() and (o["N_opt"] <= o["N_hi"]).all()
    assert (o["tpp_lo"] <= o["tokens_per_param"]).all()
    assert fit.a == pytest.approx(a_true, abs=0.03) and fit.a + fit.b == pytest.approx(1, abs=1e-6)
    assert fit.a_ci[0] <= fit.a <= fit.a_ci[1]


def test_isoflop_fit_does_not_force_an_edge_optimum():
    table, _, _ = isoflop_grid(budgets=(1e17, 1e18))
    small = table[table["n_params"] < table.groupby("budget")["n_params"].transform("median")]
    fit = isoflop_fit(small, n_boot=50)  # the three smallest sizes: loss still falling
    assert not fit.optima["interior"].any() and fit.optima["N_opt"].isna().all()
    assert np.isnan(fit.a)  # fewer than 3 budgets located
    with pytest.raises(ValueError, match="budget"):
        isoflop_fit(table.drop(columns="budget"))
    with pytest.raises(ValueError, match="n_boot"):
        isoflop_fit(table, n_boot=-1)
