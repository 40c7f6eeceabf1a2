"""Scaling-law fits: pure functions of a run table (numpy/scipy), no training.

- :func:`fit_power_law`: L(N) = (N_c / N)^alpha_N, Kaplan et al. (2020, eq. 1.1), fitted as a
  straight line in log space; optionally L(N) = E + (N_c / N)^alpha_N (an irreducible term).
- :func:`fit_chinchilla`: L(N, D) = E + A / N^alpha + B / D^beta, Hoffmann et al. (2022, eq. 2),
  fitted as their approach 3: the Huber loss (delta = 1e-3) of the log-residuals
  ``LSE(a - alpha log N, b - beta log D, e) - log L`` (A = e^a, B = e^b, E = e^e), minimised with
  L-BFGS from a grid of initialisations.
- :func:`isoflop_optimum`: for each FLOP budget, the loss-minimising N from a parabola in log N
  (Hoffmann et al. 2022, approach 2) and the tokens per parameter there.

Intervals on exponents are bootstrap percentile intervals: runs are resampled with replacement
(``n_boot`` times, fixed ``seed``) and refitted. Units: N parameters, D tokens (characters
here), C FLOPs, L nats per token. Every function raises ``ValueError`` naming the argument and
the offending value for empty, NaN/infinite, mismatched or non-positive input.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
from scipy import optimize

from seqlab.experiments.fit_input import as_array, same_length
from seqlab.experiments.isoflop import IsoflopFit, isoflop_fit, isoflop_optimum, isoflop_slices

__all__ = [
    "ChinchillaFit",
    "IsoflopFit",
    "PowerLawFit",
    "fit_chinchilla",
    "fit_power_law",
    "isoflop_fit",
    "isoflop_optimum",
    "isoflop_slices",
]

HUBER_DELTA = 1e-3  # Hoffmann et al. (2022), approach 3
# Hoffmann et al.'s grid of starting points (alpha, beta 0..2, e -1..1, a, b 0..25), thinned.
GRID = {
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}
N_STARTS = 6  # L-BFGS runs from the best grid points (the whole grid is scored first)


def _check_boot(n_boot, ci) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be an int >= 0, got {n_boot!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")


def _interval(samples: np.ndarray, ci: float) -> tuple[float, float]:
    s = samples[np.isfinite(samples)]
    if s.size < 2:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(s, [50 * (1 - ci), 50 * (1 + ci)])
    return (float(lo), float(hi))


# --- L(N) ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLawFit:
    """L(N) = E + (N_c / N)^alpha (E = 0 without an irreducible term).

    ``alpha_ci``: the bootstrap percentile interval of alpha (NaN when ``n_boot = 0``);
    ``boot``: the bootstrap fits, columns ``alpha``, ``N_c``, ``E`` (one row per resample;
    NaN where a resample had too few distinct N); ``n``: runs fitted.
    """

    alpha: float
    N_c: float
    E: float
    alpha_ci: tuple[float, float]
    n: int
    boot: pd.DataFrame = field(repr=False)

    def predict(self, N) -> np.ndarray:
        """L at parameter counts ``N`` (any shape), in the units of the fitted losses."""
        N = np.asarray(N, dtype=np.float64)
        return self.E + (self.N_c / N) ** self.alpha

    def band(self, N, ci: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise bootstrap percentile band of L at ``N`` (1-D): (lo, hi); NaN without
        bootstrap."""
        N = np.asarray(N, dtype=np.float64)
        b = self.boot[["alpha", "N_c", "E"]].to_numpy()
        b = b[np.isfinite(b).all(axis=1)]  # resamples with N_c = inf (alpha ~ 0) left out
        if len(b) < 2:
            return np.full(N.shape, np.nan), np.full(N.shape, np.nan)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            curves = b[:, 2:3] + (b[:, 1:2] / N[None]) ** b[:, 0:1]
        curves[~np.isfinite(curves)] = np.nan  # a resample's curve that over/underflowed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column stays NaN
            lo, hi = np.nanpercentile(curves, [50 * (1 - ci), 50 * (1 + ci)], axis=0)
        return lo, hi


def _fit_pure(logN: np.ndarray, logL: np.ndarray) -> tuple[float, float]:
    """log L = alpha log N_c - alpha log N, least squares: (alpha, log N_c)."""
    slope, intercept = np.polyfit(logN, logL, 1)
    alpha = -slope
    return float(alpha), float(intercept / alpha) if alpha != 0 else float("nan")


def _fit_irreducible(logN: np.ndarray, L: np.ndarray, start: tuple[float, float]) -> tuple:
    """L = E + exp(alpha (log N_c - log N)), least squares on log L: (alpha, log N_c, E)."""
    alpha0, lognc0 = start
    Lmin = L.min()

    def resid(p):
        alpha, lognc, e_frac = p
        E = Lmin * e_frac
        return np.log(E + np.exp(alpha * (lognc - logN))) - np.log(L)

    best = None
    for frac in (0.0, 0.5, 0.9):
        x0 = (max(alpha0, 1e-3), lognc0 if np.isfinite(lognc0) else logN.mean(), frac)
        try:
            r = optimize.least_squares(
                resid, x0, bounds=([0.0, -np.inf, 0.0], [10.0, np.inf, 0.999])
            )
        except ValueError:
            continue
        if best is None or r.cost < best.cost:
            best = r
    alpha, lognc, e_frac = best.x
    return float(alpha), float(lognc), float(Lmin * e_frac)


def fit_power_law(
    N, L, *, irreducible: bool = False, n_boot: int = 1000, ci: float = 0.9, seed: int = 0
) -> PowerLawFit:
    """Fit L(N) = (N_c / N)^alpha_N (Kaplan et al. 2020, eq. 1.1), or E + (N_c / N)^alpha_N.

    Inputs: ``N`` (n,) parameters per run (> 0), ``L`` (n,) final losses (> 0; one row per run,
    seeds as separate rows); ``irreducible`` adds E in [0, min L); ``n_boot`` bootstrap
    resamples of the runs, ``ci`` their percentile interval (0.9: the 5th to 95th), ``seed``.
    Without E the fit is ordinary least squares of log L on log N; with E, least squares on
    log L (``scipy.optimize.least_squares``). Outputs: :class:`PowerLawFit`.
    Raises ``ValueError`` for empty, NaN, non-positive or mismatched input, or fewer than 2
    distinct N (3 with ``irreducible``).
    """
    N, L = as_array(N, "N"), as_array(L, "L")
    same_length(N=N, L=L)
    _check_boot(n_boot, ci)
    need = 3 if irreducible else 2
    if np.unique(N).size < need:
        raise ValueError(f"N needs >= {need} distinct values, got {np.unique(N).tolist()}")
    logN, logL = np.log(N), np.log(L)

    def one(idx: np.ndarray) -> tuple[float, float, float]:
        alpha, lognc = _fit_pure(logN[idx], logL[idx])
        if irreducible:
            return _fit_irreducible(logN[idx], L[idx], (alpha, lognc))
        return alpha, lognc, 0.0

    alpha, lognc, E = one(np.arange(N.size))
    idx = np.random.default_rng(seed).integers(0, N.size, (n_boot, N.size))
    boot = np.full((n_boot, 3), np.nan)
    if irreducible:
        for i, row in enumerate(idx):
            if np.unique(N[row]).size >= need:
                boot[i] = one(row)
    elif n_boot:  # least squares of every resample at once
        x, y = logN[idx], logL[idx]
        xc, yc = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
        var = (xc**2).sum(1)
        ok = var > 1e-12 * max(1.0, float(np.var(logN)) * N.size)
        slope = np.where(ok, (xc * yc).sum(1) / np.where(ok, var, 1.0), np.nan)
        a = -slope
        boot[:, 0] = a
        boot[:, 1] = (y.mean(1) - slope * x.mean(1)) / a
        boot[:, 2] = 0.0
    with np.errstate(over="ignore"):  # a resample with alpha ~ 0 has N_c -> inf: kept as inf
        n_c = np.exp(boot[:, 1])
    table = pd.DataFrame({"alpha": boot[:, 0], "N_c": n_c, "E": boot[:, 2]})
    ci_ = _interval(boot[:, 0], ci)
    return PowerLawFit(alpha, float(np.exp(lognc)), E, ci_, int(N.size), table)


# --- L(N, D) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChinchillaFit:
    """L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, eq. 2).

    ``ci``: bootstrap percentile intervals per parameter name (NaN when ``n_boot = 0``);
    ``boot``: the bootstrap fits (one row each); ``objective``: the mean Huber loss; ``n``.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float
    n: int
    ci: dict[str, tuple[float, float]]
    boot: pd.DataFrame = field(repr=False)

    def predict(self, N, D) -> np.ndarray:
        """L at (``N``, ``D``), broadcast."""
        N, D = np.asarray(N, dtype=np.float64), np.asarray(D, dtype=np.float64)
        return self.E + self.A / N**self.alpha + self.B / D**self.beta

    def optimal_tokens_per_param(self, C) -> np.ndarray:
        """D/N at the minimum of L under C = 6 N D (Hoffmann et al. 2022, eq. 4)."""
        C = np.asarray(C, dtype=np.float64)
        a, b = self.beta / (self.alpha + self.beta), self.alpha / (self.alpha + self.beta)
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        N = G * (C / 6) ** a
        D = (C / 6) ** b / G
        return D / N


def _huber(r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss of r and its derivative."""
    small = np.abs(r) <= delta
    loss = np.where(small, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
    grad = np.where(small, r, delta * np.sign(r))
    return loss, grad


def _lse(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log-sum-exp over axis 0 and the softmax (its gradient), in plain numpy (fast)."""
    m = terms.max(axis=0)
    ex = np.exp(terms - m)
    total = ex.sum(axis=0)
    return m + np.log(total), ex / total


def _objective(p: np.ndarray, logN, logD, logL, delta: float) -> tuple[float, np.ndarray]:
    """Mean Huber loss of LSE(a - alpha logN, b - beta logD, e) - log L, and its gradient."""
    a, b, e, alpha, beta = p
    terms = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])
    lse, soft = _lse(terms)
    r = lse - logL
    loss, dr = _huber(r, delta)
    w = soft * dr  # d LSE / d term, times d huber / d r
    g = np.array([w[0].sum(), w[1].sum(), w[2].sum(), -(w[0] * logN).sum(), -(w[1] * logD).sum()])
    return float(loss.mean()), g / logN.size


def _grid_scores(logN, logD, logL, delta) -> tuple[np.ndarray, np.ndarray]:
    """Every grid point (rows: a, b, e, alpha, beta) and its objective, vectorised."""
    pts = np.array(list(itertools.product(*GRID.values())))
    a, b, e, al, be = (pts[:, i : i + 1] for i in range(5))
    terms = np.stack([a - al * logN, b - be * logD, np.broadcast_to(e, (len(pts), logN.size))])
    r = _lse(terms)[0] - logL
    return pts, _huber(r, delta)[0].mean(axis=1)


@contextlib.contextmanager
def _one_blas_thread():
    """Run scipy's L-BFGS-B on one OpenBLAS thread (restored after).

    Its BLAS calls are on 5-vectors; on a loaded machine OpenBLAS's worker threads spin and
    made one fit ~15x slower (16 s against 1 s, measured on the book's 2-core machine).
    A no-op where scipy's bundled OpenBLAS is not found.
    """
    libs = sorted((Path(scipy.__file__).parent.parent / "scipy.libs").glob("libscipy_openblas*"))
    try:
        lib = ctypes.CDLL(str(libs[0]))
        get, set_ = lib.scipy_openblas_get_num_threads, lib.scipy_openblas_set_num_threads
    except (IndexError, OSError, AttributeError):
        yield
        return
    before = get()
    set_(1)
    try:
        yield
    finally:
        set_(before)


_BOUNDS = [(None, None), (None, None), (None, None), (0.0, 5.0), (0.0, 5.0)]


def _minimise(starts, logN, logD, logL, delta) -> tuple[np.ndarray, float]:
    best_x, best_f = None, np.inf
    with _one_blas_thread():
        for x0 in starts:
            r = optimize.minimize(
                _objective, x0, args=(logN, logD, logL, delta), jac=True, method="L-BFGS-B",
                bounds=_BOUNDS, options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-9},
            )  # fmt: skip
            if r.fun < best_f:
                best_x, best_f = r.x, float(r.fun)
    return best_x, best_f


def fit_chinchilla(
    N, D, L, *, delta: float = HUBER_DELTA, n_boot: int = 200, ci: float = 0.9, seed: int = 0
) -> ChinchillaFit:
    """Fit L(N, D) = E + A / N^alpha + B / D^beta as Hoffmann et al. (2022), approach 3.

    Inputs: ``N`` (n,) parameters, ``D`` (n,) training tokens, ``L`` (n,) final losses, one row
    per run; ``delta`` the Huber threshold on log-residuals; ``n_boot`` bootstrap resamples of
    the runs (each refitted by L-BFGS from the full fit), ``ci``, ``seed``.
    Method: the objective ``mean Huber_delta(LSE(a - alpha log N, b - beta log D, e) - log L)``
    is scored on a grid of 4,500 starting points (:data:`GRID`), then L-BFGS-B
    (``scipy.optimize.minimize``, analytic gradient, 0 <= alpha, beta <= 5) runs from the
    :data:`N_STARTS` best. Outputs: :class:`ChinchillaFit`. Raises ``ValueError`` for empty,
    NaN, non-positive or mismatched input, fewer than 5 runs, or fewer than 2 distinct N or D.
    """
    N, D, L = as_array(N, "N"), as_array(D, "D"), as_array(L, "L")
    same_length(N=N, D=D, L=L)
    _check_boot(n_boot, ci)
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta!r}")
    if N.size < 5:
        raise ValueError(f"need >= 5 runs to fit 5 parameters, got {N.size}")
    for name, x in (("N", N), ("D", D)):
        if np.unique(x).size < 2:
            raise ValueError(f"{name} needs >= 2 distinct values, got {np.unique(x).tolist()}")
    logN, logD, logL = np.log(N), np.log(D), np.log(L)
    pts, scores = _grid_scores(logN, logD, logL, delta)
    starts = pts[np.argsort(scores)[:N_STARTS]]
    x, f = _minimise(starts, logN, logD, logL, delta)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_boot):
        idx = rng.integers(0, N.size, N.size)
        if np.unique(N[idx]).size < 2 or np.unique(D[idx]).size < 2:
            continue
        xb, _f = _minimise([x], logN[idx], logD[idx], logL[idx], delta)
        rows.append(xb)
    names = ["E", "A", "B", "alpha", "beta"]
    boot = pd.DataFrame(_natural(np.array(rows).reshape(-1, 5)), columns=names)
    intervals = {k: _interval(boot[k].to_numpy(), ci) for k in names}
    E, A, B, alpha, beta = _natural(x[None])[0]
    return ChinchillaFit(E, A, B, alpha, beta, f, int(N.size), intervals, boot)


def _natural(p: np.ndarray) -> np.ndarray:
    """(a, b, e, alpha, beta) rows -> (E, A, B, alpha, beta) rows."""
    return np.column_stack([np.exp(p[:, 2]), np.exp(p[:, 0]), np.exp(p[:, 1]), p[:, 3], p[:, 4]])
