"""Positional encodings, measured (chapter 5).

The formula of Vaswani et al. (2017, section 3.5), with pair index i = 0 .. C/2 - 1:

    PE[p, 2i] = sin(p * w_i),  PE[p, 2i+1] = cos(p * w_i),  w_i = 1 / 10000^(2i/C)     ("vaswani")

and the misprint of the text this book started from, angle = p * 10000 * 2i / C, that is
w_i = 10000 * 2i / C ("misprint"). :func:`sinusoid_table` computes either in a chosen dtype;
:func:`offset_dots` measures PE(p) . PE(p + k) for every p and k (for any frequencies w_i it
is sum_i cos(k w_i): a function of the offset k alone); :func:`pe_properties` puts the two
formulas side by side; :func:`pe_state` is the state of the chapter's interactive.

:func:`extrapolation` (row ``transformer.positions``) trains small GPTs with learned or
sinusoidal positions on windows of ``train_len`` characters and measures the validation loss
at every position of windows twice as long.

Letters: T positions, C width (``d_model``), k offset, B batch, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats

from seqlab.checks import check_choice, check_positive_int
from seqlab.device import cpu_threads
from seqlab.experiments.char_lm import shakespeare
from seqlab.experiments.results import Result, experiment
from seqlab.experiments.seeds import compare
from seqlab.models.gpt import GPT, GPTConfig
from seqlab.train import TrainConfig, train

FORMULAS = ("vaswani", "misprint")
FORMULA_NAMES = {"vaswani": "pos / 10000^(2i/C)", "misprint": "pos · 10000 · 2i/C"}


# ----------------------------------------------------------------------------- the tables


def frequencies(d_model: int, formula: str = "vaswani") -> torch.Tensor:
    """The angular frequencies w_i (radians per position) of the pairs i = 0 .. ceil(C/2) - 1,
    float64: ``1 / 10000^(2i/C)`` ("vaswani") or ``10000 * 2i / C`` ("misprint")."""
    C = check_positive_int(d_model, "d_model")
    check_choice(formula, FORMULAS, "formula")
    two_i = torch.arange(0, C, 2, dtype=torch.float64)  # the values 2i
    return 1.0 / torch.pow(10000.0, two_i / C) if formula == "vaswani" else 10000.0 * two_i / C


def sinusoid_table(
    T: int, d_model: int, formula: str = "vaswani", dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """(T, C): PE[p, 2i] = sin(p w_i), PE[p, 2i+1] = cos(p w_i), every step done in ``dtype``
    (as a model that computes its table in float32 would). Raises ``ValueError`` for T < 1,
    C < 1 or an unknown formula."""
    T = check_positive_int(T, "T")
    w = frequencies(d_model, formula).to(dtype)  # (ceil(C/2),)
    angle = torch.arange(T, dtype=dtype)[:, None] * w  # (T, ceil(C/2))
    pe = torch.zeros(T, d_model, dtype=dtype)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe


def offset_dots(pe: torch.Tensor, max_k: int) -> pd.DataFrame:
    """PE(p) . PE(p + k) for k = 0 .. max_k over every p with p + k < T.

    Inputs: ``pe`` (T, C); ``max_k`` < T. Outputs: one row per k: ``k``, ``mean``,
    ``spread`` (max - min over p), ``n`` (positions p), in the dtype's precision (float64 out).
    """
    T = pe.shape[0]
    if isinstance(max_k, bool) or not isinstance(max_k, int) or not 0 <= max_k < T:
        raise ValueError(f"max_k must be an int in [0, T={T}), got {max_k!r}")
    rows = []
    for k in range(max_k + 1):
        dots = (pe[: T - k] * pe[k:]).sum(-1).double()  # (T - k,)
        rows.append(dict(k=k, mean=dots.mean().item(), spread=(dots.max() - dots.min()).item(),
                         n=T - k))  # fmt: skip
    return pd.DataFrame(rows)


def pe_properties(T: int = 256, d_model: int = 64, max_k: int = 64) -> pd.DataFrame:
    """Both formulas side by side, one row each (index: formula), measured.

    Columns: ``constant_dims`` (dimensions equal at every position: they carry no position),
    ``max_angle`` (radians, at p = T - 1), ``spread_f64`` / ``spread_f32`` (largest spread over
    p of PE(p).PE(p+k), k <= max_k, tables computed in float64 / float32), ``dot_k1`` and
    ``dot_far`` (mean PE(p).PE(p+k) at k = 1, and the mean |.| over k = max_k/2 .. max_k, each
    divided by PE(p).PE(p)), ``rank_corr`` (Spearman correlation of k with the dot over k = 1 ..
    max_k: -1 = the further apart, the less alike), ``effective_w`` (the median over pairs of
    the frequency a sampled sinusoid shows, |w_i| wrapped to [0, pi]: above ~1 neighbouring
    positions are far apart on the circle).
    """
    rows = {}
    for formula in FORMULAS:
        pe64 = sinusoid_table(T, d_model, formula, torch.float64)
        d64 = offset_dots(pe64, max_k)
        d32 = offset_dots(sinusoid_table(T, d_model, formula, torch.float32), max_k)
        norm = d64["mean"].iloc[0]  # PE(p).PE(p) = number of sin/cos pairs (+ a lone sine)
        w = frequencies(d_model, formula)
        wrapped = (w - 2 * np.pi * torch.round(w / (2 * np.pi))).abs()  # in [0, pi]
        rows[formula] = dict(
            constant_dims=int((pe64.std(0) < 1e-12).sum()),
            max_angle=float(w.max() * (T - 1)),
            spread_f64=float(d64["spread"].max()),
            spread_f32=float(d32["spread"].max()),
            dot_k1=float(d64["mean"].iloc[1] / norm),
            dot_far=float(d64["mean"].iloc[max_k // 2 :].abs().mean() / norm),
            rank_corr=float(stats.spearmanr(d64["k"].iloc[1:], d64["mean"].iloc[1:])[0]),
            effective_w=float(wrapped.median()),
        )
    return pd.DataFrame(rows).T.rename_axis("formula")


def pe_state(formula: str = "vaswani", d_model: int = 64, T: int = 64, max_k: int = 48) -> dict:
    """One state of the chapter's interactive: the float32 table (T, C), the dot products
    PE(p).PE(p+k) by offset (mean and spread over p, float32) and the frequencies."""
    pe = sinusoid_table(T, d_model, formula, torch.float32)
    return dict(formula=formula, d_model=d_model, pe=pe.numpy(),
                dots=offset_dots(pe, max_k), w=frequencies(d_model, formula).numpy())  # fmt: skip


# ----------------------------------------------------------------------------- beyond T_train


@dataclass
class ExtrapolationConfig:
    """GPTs with ``positions`` ("learned", "sinusoidal") trained on windows of ``train_len``
    characters, evaluated on ``eval_windows`` validation windows of ``eval_len`` (the model's
    ``block_size``), losses averaged in bands of ``band`` positions. Same data, batches and
    steps for every run; ``seeds`` (initial weights and batches). ``sinusoid_rms``: the
    sinusoidal table is scaled to this root-mean-square value (None: as computed, RMS
    1/sqrt(2)); the default 0.02 is the standard deviation of GPT-2's initial token vectors,
    which the table is added to (Vaswani et al. instead scale the token vectors up by
    sqrt(C))."""

    positions: tuple[str, ...] = ("learned", "sinusoidal")
    seeds: tuple[int, ...] = (0, 1, 2)
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 48
    train_len: int = 32
    eval_len: int = 64
    batch_size: int = 32
    max_iters: int = 300
    learning_rate: float = 3e-3
    warmup_iters: int = 20
    eval_windows: int = 256
    band: int = 8
    sinusoid_rms: float | None = 0.02
    cpu_threads: int | str | None = 1

    def __post_init__(self) -> None:
        for p in self.positions:
            check_choice(p, ("learned", "sinusoidal"), "positions")
        if self.eval_len < self.train_len or self.eval_len % self.band:
            raise ValueError(
                f"eval_len={self.eval_len} must be >= train_len={self.train_len} and a multiple "
                f"of band={self.band}"
            )


@torch.no_grad()
def loss_by_position(model: GPT, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Cross-entropy (nats) at each position, averaged over the windows: (B, T) -> (T,)."""
    logits, _ = model(x)  # (B, T, V)
    return F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(0).numpy()


@experiment("transformer.positions")
def extrapolation(config: ExtrapolationConfig, device: torch.device, progress: bool) -> dict:
    """Validation loss at positions 0 .. eval_len - 1 of models trained on train_len.

    Values: ``per_position`` (positions, seed, position, loss), ``bands`` (positions, seed,
    band label, lo, inside = band within train_len, loss), ``steps`` per run.
    """
    c, dataset = config, shakespeare()
    x, y = dataset.batch("val", c.eval_windows, c.eval_len, torch.Generator().manual_seed(7))
    rows, steps = [], {}
    with cpu_threads(c.cpu_threads, "cpu"):
        for positions in c.positions:
            for seed in c.seeds:
                torch.manual_seed(seed)
                gpt = GPTConfig(vocab_size=dataset.tokenizer.vocab_size, block_size=c.eval_len,
                                n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd,
                                pos=positions)  # fmt: skip
                model = GPT(gpt)
                if positions == "sinusoidal" and c.sinusoid_rms is not None:
                    with torch.no_grad():  # RMS of sin and cos over a period: 1/sqrt(2)
                        model.wpe.pe.mul_(c.sinusoid_rms * np.sqrt(2.0))
                g = torch.Generator().manual_seed(seed)
                tc = TrainConfig(max_iters=c.max_iters, learning_rate=c.learning_rate,
                                 warmup_iters=c.warmup_iters, seed=seed, progress=progress)  # fmt: skip
                history = train(
                    model, lambda it, g=g: dataset.batch("train", c.batch_size, c.train_len, g), tc
                )
                steps[(positions, seed)] = len(history)
                model.eval()
                for t, loss in enumerate(loss_by_position(model, x, y)):
                    rows.append(dict(positions=positions, seed=seed, position=t, loss=loss))
    per_position = pd.DataFrame(rows)
    lo = per_position["position"] // c.band * c.band
    bands = (
        per_position.assign(lo=lo, band=[f"{a}–{a + c.band - 1}" for a in lo])
        .groupby(["positions", "seed", "lo", "band"], as_index=False)["loss"]
        .mean()
    )
    bands["inside"] = bands["lo"] < c.train_len
    return {"per_position": per_position, "bands": bands, "steps": steps}


def extrapolation_verdicts(result: Result) -> dict[str, str]:
    """The comparisons the chapter prints, each decided by the tie rule
    (:func:`seqlab.experiments.seeds.compare`) over seeds, on the mean loss of each run over
    the positions inside (< train_len) and beyond the trained length.

    Keys: ``inside`` and ``beyond`` (learned vs sinusoidal there), and one per kind of
    position (``learned``, ``sinusoidal``: inside vs beyond for that kind).
    """
    b = result["bands"]
    per_seed = (
        b.assign(where=b["inside"].map({True: "inside", False: "beyond"}))
        .groupby(["positions", "where", "seed"], as_index=False)["loss"]
        .mean()
    )
    sample = f"{result.config.eval_windows} validation windows"
    out = {}
    for where in ("inside", "beyond"):
        c = compare(per_seed[per_seed["where"] == where], "positions", "loss")
        out[where] = c.phrase_pair("learned", "sinusoidal", sample=sample)
    for kind in result.config.positions:
        c = compare(per_seed[per_seed["positions"] == kind], "where", "loss")
        out[kind] = c.phrase_pair("inside", "beyond", sample=sample)
    return out
