"""Which runs a scaling sweep trains: :class:`SweepConfig` (a row ``"scaling.sweep"`` of the
size table) -> a list of :class:`~seqlab.experiments.sweep_table.RunSpec`.

Learning rates. GPT: Kaplan et al. (2020, appendix D.6, eq. D.1) fitted the best peak rate
against non-embedding parameters, LR(N) = 0.003239 - 0.0001395 ln N (:func:`kaplan_lr`), at
batch 512 x 1024 tokens and 2.5e5 steps. Our runs are tiny and short (32 x 64 characters,
a few hundred steps), where that rule is too low, and more so the smaller the model. Tuned on
150-step runs of the standard shapes (seed 0, validation loss in nats/char, rule x1 / x3 / x9
/ x27, 2026-11-30 on the 2-core build machine): (1, 2, 16) 3.15 / 2.79 / 2.68 / 2.61;
(1, 2, 32) - / 2.63 / 2.62; (2, 2, 32) - / 2.71 / 2.88; (2, 4, 48) - / 2.64 / 2.78; (2, 4, 64)
2.58 / 2.50 / 2.62; (3, 4, 96) 2.51 / 2.46 / 2.73. So each GPT size gets the rule times a
factor of a small tuned table (``gpt_lr_scales``: 27, 9, then 3), and the sweep *keeps the
check*: :func:`lr_check_specs` are the same runs at the factor / 3 and x 3
(``lr_check_factors``) at the comparison budget, seed ``comparison_seeds[0]``, so the chapter
shows that each size's rate is the best of three (or where it is not) instead of asking the
reader to trust it. LSTM: a rate per size (``lstm_learning_rates``), checked the same way;
at 150 steps H=32 and H=64 were best at 3e-2 (of 1e-3 / 3e-3 / 1e-2 / 3e-2; chapter 2 uses
3e-3 at longer budgets), H=256 better at 3e-3 than at 1e-3; 1e-2 for H=128 and H=256 is our
interpolation, which the check measures. That check (150 steps, seed 0) then found every LSTM
better at 3x its rate (H=32: 3e-2 -> 9e-2, 2.27 -> 2.15; H=64 2.14 -> 2.11; H=128 1e-2 -> 3e-2,
2.21 -> 2.06; H=256 2.10 -> 1.99), so the rates are now 9e-2, 9e-2, 3e-2, 3e-2 and the check
measures a third and three times those.

IsoFLOP grid (Hoffmann et al. 2022, approach 2): :func:`isoflop_specs` trains each GPT size
for ``round(C / flops_per_step)`` steps at each budget C of ``isoflop_budgets`` (exact
training FLOPs, :func:`seqlab.models.accounting.flops_per_token` x ``batch_size`` x
``block_size``), where that step count lies within ``isoflop_steps``, over ``isoflop_seeds``,
each run with its own warm-up and cosine. (In ``smoke`` the budgets are chosen so that 3 of its
6 isoFLOP runs are main runs, trained once.)
Warm-up: ``warmup_frac`` of each run's steps; then a cosine to lr / 10 at the last step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from seqlab.checks import check_choice
from seqlab.experiments.sweep_table import ARCHS, RunSpec
from seqlab.models import GPT, GPTConfig, RecurrentLM, RecurrentLMConfig, count_params
from seqlab.models.accounting import flops_per_token

__all__ = [
    "SweepConfig",
    "build_model",
    "flops_per_step",
    "isoflop_budget_of",
    "isoflop_specs",
    "kaplan_lr",
    "lr_check_specs",
    "sweep_specs",
]


def kaplan_lr(n_params_non_embedding: int) -> float:
    """Kaplan et al. (2020), eq. D.1: LR(N) ~ 0.003239 - 0.0001395 ln N, the peak rate they
    found best for a Transformer of N non-embedding parameters (natural log; positive up to
    N ~ 1.2e10). Raises ``ValueError`` for N < 1."""
    if n_params_non_embedding < 1:
        raise ValueError(f"n_params_non_embedding must be >= 1, got {n_params_non_embedding!r}")
    return 0.003239 - 0.0001395 * math.log(n_params_non_embedding)


@dataclass
class SweepConfig:
    """A sweep: GPT sizes x token budgets x seeds, LSTM sizes at a budget or two.

    ``gpt_sizes``: ``(n_layer, n_head, n_embd)`` per GPT, each trained at
    ``kaplan_lr(N) * gpt_lr_scales[i]`` (one factor per size, or one for all);
    ``budgets``: ``max_iters`` of the GPT runs (each its own run and schedule); ``seeds``:
    every GPT (size, budget); ``lstm_sizes``: ``(n_layer, hidden_size)`` per LSTM on
    ``lstm_n_embd``-wide embeddings at ``lstm_learning_rates[i]``; ``lstm_budgets``: where GPT
    and LSTM are compared, over ``comparison_seeds`` (GPTs get those seeds there too);
    ``lr_check_factors``: the learning-rate check (:func:`lr_check_specs`), () for none.
    ``isoflop_budgets``: training FLOPs C of the isoFLOP grid (:func:`isoflop_specs`; () for
    none), each size trained ``round(C / flops_per_step)`` steps where that lies within
    ``isoflop_steps`` = (min, max), over ``isoflop_seeds``. ``processes``: worker processes
    that train independent runs at once (CPU only; ``$SEQLAB_PROCESSES`` caps it).
    ``block_size``, ``batch_size`` (global), evaluation (``eval_iters`` x
    ``eval_batch_size`` windows per split), ``warmup_frac`` of each run's steps, ``dtype``
    (the GPTs' autocast; LSTMs train in float32). Raises ``ValueError`` when a per-size tuple
    does not match its sizes.
    """

    gpt_sizes: tuple[tuple[int, int, int], ...] = ((1, 2, 16), (2, 4, 32))
    gpt_lr_scales: tuple[float, ...] = (3.0,)
    budgets: tuple[int, ...] = (50, 100)
    seeds: tuple[int, ...] = (0, 1)
    lstm_sizes: tuple[tuple[int, int], ...] = ((1, 32), (1, 64))
    lstm_learning_rates: tuple[float, ...] = (1e-2,)
    lstm_n_embd: int = 32
    lstm_budgets: tuple[int, ...] = (100,)
    comparison_seeds: tuple[int, ...] = (0, 1, 2)
    lr_check_factors: tuple[float, ...] = (1 / 3, 3.0)
    isoflop_budgets: tuple[float, ...] = ()
    isoflop_steps: tuple[int, int] = (100, 4000)
    isoflop_seeds: tuple[int, ...] = (0, 1)
    processes: int = 1
    block_size: int = 64
    batch_size: int = 32
    eval_iters: int = 8
    eval_batch_size: int = 64
    warmup_frac: float = 0.1
    weight_decay: float = 0.1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for sizes, values in (("gpt_sizes", "gpt_lr_scales"),
                              ("lstm_sizes", "lstm_learning_rates")):  # fmt: skip
            n, k = len(getattr(self, sizes)), len(getattr(self, values))
            if k not in (1, n):
                raise ValueError(f"{values} must have 1 or len({sizes})={n} values, got {k}")
        if not self.lstm_budgets:
            raise ValueError("lstm_budgets must name at least one budget (the comparison)")
        lo, hi = self.isoflop_steps
        if not 1 <= lo <= hi:
            raise ValueError(f"isoflop_steps must be (min, max) with 1 <= min <= max, "
                             f"got {self.isoflop_steps!r}")  # fmt: skip
        if any(not c > 0 for c in self.isoflop_budgets):
            raise ValueError(f"isoflop_budgets must be > 0 FLOPs, got {self.isoflop_budgets!r}")
        p = self.processes
        if isinstance(p, bool) or not isinstance(p, int) or p < 1:
            raise ValueError(f"processes must be an int >= 1, got {self.processes!r}")


def build_model(spec: RunSpec, vocab_size: int) -> torch.nn.Module:
    """The untrained model of ``spec`` (GPT without biases, as chapter 5's; LSTM RecurrentLM)."""
    if spec.arch == "gpt":
        config = GPTConfig(vocab_size=vocab_size, block_size=spec.block_size,
                           n_layer=spec.n_layer, n_head=spec.n_head, n_embd=spec.n_embd,
                           bias=False)  # fmt: skip
        return GPT(config)
    config = RecurrentLMConfig(vocab_size=vocab_size, cell="lstm", n_embd=spec.n_embd,
                               hidden_size=spec.hidden_size, n_layer=spec.n_layer)  # fmt: skip
    return RecurrentLM(config)


def _per_size(values: tuple[float, ...], i: int) -> float:
    return values[0] if len(values) == 1 else values[i]


def learning_rates(config: SweepConfig) -> dict[tuple, float]:
    """The peak rate of each size: ``{("gpt", n_layer, n_head, n_embd) | ("lstm", n_layer,
    hidden_size): lr}``. A GPT's :func:`kaplan_lr` uses its non-embedding count, which does not
    depend on the vocabulary (the head is tied to the token table), so a 2-token stand-in
    counts it without loading the corpus."""
    rates: dict[tuple, float] = {}
    for i, (n_layer, n_head, n_embd) in enumerate(config.gpt_sizes):
        spec = RunSpec("gpt", n_layer, n_head, n_embd, block_size=config.block_size)
        N = count_params(build_model(spec, 2), non_embedding=True)
        rates[("gpt", n_layer, n_head, n_embd)] = kaplan_lr(N) * _per_size(config.gpt_lr_scales, i)
    for i, (n_layer, hidden) in enumerate(config.lstm_sizes):
        rates[("lstm", n_layer, hidden)] = _per_size(config.lstm_learning_rates, i)
    return rates


def _spec(config: SweepConfig, size: tuple, steps: int, lr: float, seed: int) -> RunSpec:
    common = dict(block_size=config.block_size, batch_size=config.batch_size,
                  eval_iters=config.eval_iters, eval_batch_size=config.eval_batch_size,
                  weight_decay=config.weight_decay, max_iters=steps,
                  learning_rate=round(lr, 7), seed=seed,
                  warmup_iters=max(1, round(config.warmup_frac * steps)))  # fmt: skip
    if size[0] == "gpt":
        return RunSpec("gpt", size[1], size[2], size[3], 0, dtype=config.dtype, **common)
    # the LSTM in float32 always: cuDNN's recurrent kernels under bf16 autocast are not a
    # path this book has measured
    return RunSpec("lstm", size[1], 0, config.lstm_n_embd, size[2], dtype="float32", **common)


def _check_arch(arch: Sequence[str]) -> None:
    for a in arch:
        check_choice(a, ARCHS, "arch")


def sweep_specs(config: SweepConfig, arch: Sequence[str] = ARCHS) -> list[RunSpec]:
    """The main runs of ``config`` for the architectures ``arch`` ("gpt", "lstm"): GPTs by
    size, then budget, then seed; then LSTMs. Duplicates (a comparison seed that is also a
    seed) appear once. Raises ``ValueError`` for an unknown arch."""
    _check_arch(arch)
    specs: list[RunSpec] = []
    for size, lr in learning_rates(config).items():
        if size[0] not in arch:
            continue
        gpt = size[0] == "gpt"
        budgets = (
            sorted(set(config.budgets) | set(config.lstm_budgets)) if gpt else config.lstm_budgets
        )
        for steps in budgets:
            seeds = set(config.seeds) if gpt and steps in config.budgets else set()
            if steps in config.lstm_budgets:
                seeds |= set(config.comparison_seeds)
            specs += [_spec(config, size, steps, lr, s) for s in sorted(seeds)]
    return list(dict.fromkeys(specs))


def lr_check_specs(config: SweepConfig, arch: Sequence[str] = ARCHS) -> list[RunSpec]:
    """The learning-rate check: every size of ``arch`` at its rate times each of
    ``lr_check_factors``, at the comparison budget ``lstm_budgets[0]`` and seed
    ``comparison_seeds[0]``
    (the main run with factor 1 is in :func:`sweep_specs`). Raises ``ValueError`` for an
    unknown arch."""
    _check_arch(arch)
    steps, seed = config.lstm_budgets[0], config.comparison_seeds[0]
    return [_spec(config, size, steps, lr * f, seed)
            for size, lr in learning_rates(config).items() if size[0] in arch
            for f in config.lr_check_factors]  # fmt: skip


def flops_per_step(config: SweepConfig, size: tuple[int, int, int], vocab_size: int) -> int:
    """Exact training FLOPs of one step of the GPT ``size`` = (n_layer, n_head, n_embd):
    ``flops_per_token(model) * batch_size * block_size`` (the table's ``flops / max_iters``)."""
    spec = RunSpec("gpt", *size, block_size=config.block_size)
    model = build_model(spec, vocab_size)
    return flops_per_token(model) * config.batch_size * config.block_size


def isoflop_specs(config: SweepConfig, vocab_size: int) -> list[RunSpec]:
    """The isoFLOP grid (Hoffmann et al. 2022, approach 2): for each budget C of
    ``config.isoflop_budgets`` and each GPT size, ``round(C / flops_per_step)`` steps at the
    size's rate (warm-up ``warmup_frac`` of them, then the cosine), for every seed of
    ``isoflop_seeds``, where the steps lie within ``isoflop_steps``. ``vocab_size`` enters the
    head's FLOPs. Ordered by budget, size, seed; a run equal to a main run is the same run
    (same ``run_id``), trained once. Raises ``ValueError`` for ``vocab_size`` < 1."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be an int >= 1, got {vocab_size!r}")
    lo, hi = config.isoflop_steps
    rates = {k: v for k, v in learning_rates(config).items() if k[0] == "gpt"}
    per_step = {k: flops_per_step(config, k[1:], vocab_size) for k in rates}
    specs = []
    for C in config.isoflop_budgets:
        for size, lr in rates.items():
            steps = round(C / per_step[size])
            if lo <= steps <= hi:
                specs += [_spec(config, size, steps, lr, s) for s in config.isoflop_seeds]
    return list(dict.fromkeys(specs))


def isoflop_budget_of(flops, budgets: Sequence[float]) -> list[float]:
    """The budget of ``budgets`` nearest (in log) to each value of ``flops`` (a run's
    ``flops`` misses its budget C by the rounding of its steps, < 1 % at >= 100 steps)."""
    logs = [math.log(c) for c in budgets]
    return [budgets[min(range(len(logs)), key=lambda i: abs(logs[i] - math.log(f)))]
            for f in flops]  # fmt: skip
