"""What a training run is: :class:`TrainConfig` (nanoGPT's names, every field checked), the one
weight-decay rule (:func:`param_groups`), the optimizer, the learning-rate schedule and the
autocast dtype. The loop that uses them is :mod:`seqlab.train.loop`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from seqlab.checks import check_choice, check_positive
from seqlab.models.transformer import LearnedPositionalEmbedding

DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
OPTIMIZERS: tuple[str, ...] = ("adamw", "sgd")
ON_NAN: tuple[str, ...] = ("raise", "stop")


@dataclass
class TrainConfig:
    """Everything the loop needs; nanoGPT's names. Invalid values raise ``ValueError``.

    Schedule: linear warm-up over ``warmup_iters`` steps to ``learning_rate``, then cosine
    decay that reaches ``min_lr`` exactly at the last step (``max_iters - 1``);
    ``min_lr=None`` means ``learning_rate / 10``, ``min_lr=learning_rate`` a constant rate.
    ``optimizer``: "adamw" (``beta1``, ``beta2``, decoupled ``weight_decay``) or "sgd" (plain
    SGD, no momentum; ``weight_decay`` is then an L2 penalty); decay follows
    :func:`param_groups`. ``grad_clip``: max global gradient norm, None = no clipping (the norm
    is still measured). ``eval_interval``: call ``eval_fn`` every this many steps and after the
    last one (None: after the last one only). ``log_interval``: steps between progress-bar
    updates, callback calls and, on a GPU, loss read-backs. ``dtype``: "auto" (bfloat16 on CUDA
    if supported, else float16 with a GradScaler; float32 on CPU/MPS), "float32", "bfloat16",
    "float16". ``time_budget_s``: stop after this many seconds of wall time. ``on_nan``: when
    the loss or gradient norm becomes NaN/inf, "raise" :class:`NonFiniteLossError` or "stop"
    and return the history with that step's row. ``seed``: ``torch.manual_seed`` before the
    first step (dropout etc.); None leaves the generator alone.
    """

    max_iters: int = 1000
    learning_rate: float = 1e-3
    min_lr: float | None = None
    warmup_iters: int = 0
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float | None = 1.0
    optimizer: str = "adamw"
    eval_interval: int | None = None
    log_interval: int = 10
    dtype: str = "auto"
    compile: bool = False
    time_budget_s: float | None = None
    on_nan: str = "raise"
    seed: int | None = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("max_iters", "log_interval"):
            _check_int(self, name, minimum=1)
        if self.eval_interval is not None:
            _check_int(self, "eval_interval", minimum=1)
        _check_int(self, "warmup_iters", minimum=0)
        if self.warmup_iters > self.max_iters:
            raise ValueError(
                f"warmup_iters={self.warmup_iters} must not exceed max_iters={self.max_iters}"
            )
        check_positive(self.learning_rate, "learning_rate")
        for name in ("grad_clip", "time_budget_s"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), name)
        if self.min_lr is not None and not 0 <= _finite(self, "min_lr") <= self.learning_rate:
            raise ValueError(
                f"min_lr must be between 0 and learning_rate={self.learning_rate}, "
                f"got {self.min_lr!r}"
            )
        if _finite(self, "weight_decay") < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        for name in ("beta1", "beta2"):
            if not 0 <= _finite(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")
        check_choice(self.dtype, DTYPES, "dtype")
        check_choice(self.on_nan, ON_NAN, "on_nan")
        for name in ("compile", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.seed is not None:
            _check_int(self, "seed", minimum=0)


def _check_int(config: TrainConfig, name: str, minimum: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _finite(config: TrainConfig, name: str) -> float:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """The one weight-decay rule: decay weight matrices (>= 2-D parameters of Linear, recurrent
    and attention layers), never biases, norm gains (1-D) or embeddings (``nn.Embedding``:
    token and position tables, ``LearnedPositionalEmbedding`` too, and an output head tied
    to one).

    Why not nanoGPT's "every >= 2-D parameter": decay pulls *every* row of a table towards zero
    on *every* step, while a row of an embedding only gets a gradient when its token appears,
    so rare tokens' vectors are erased by decay rather than learnt (minGPT excludes embeddings
    for this reason). Our measured benchmarks (benchmarks/README.md) use this rule.
    Outputs: ``[{"params": decay, "weight_decay": weight_decay}, {"params": rest,
    "weight_decay": 0.0}]``, each shared (tied) parameter once.
    """
    tables = (torch.nn.Embedding, LearnedPositionalEmbedding)  # GPT's wpe is a table too
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, tables)}
    decay, no_decay, seen = [], [], set()
    for p in model.parameters():  # yields each shared (tied) parameter once
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.dim() < 2 or id(p) in embeddings else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (fused into one kernel where this torch and device support it) or plain SGD, over
    :func:`param_groups`."""
    groups = param_groups(model, config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.learning_rate)
    betas = (config.beta1, config.beta2)
    try:
        return torch.optim.AdamW(groups, lr=config.learning_rate, betas=betas, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, lr=config.learning_rate, betas=betas)


def lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    """Multiplier of ``learning_rate`` at step ``it``: (it + 1) / warmup_iters during warm-up,
    then cosine from 1 down to ``min_lr / learning_rate``, reached at ``it = max_iters - 1``."""
    min_lr = config.min_lr if config.min_lr is not None else config.learning_rate / 10
    min_ratio = min_lr / config.learning_rate
    warmup, decay_iters = config.warmup_iters, config.max_iters - 1 - config.warmup_iters

    def factor(it: int) -> float:
        if it < warmup:
            return (it + 1) / warmup
        progress = min(1.0, (it - warmup) / decay_iters) if decay_iters > 0 else 1.0
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The autocast dtype for ``dtype`` on ``device`` (``torch.float32`` = no autocast)."""
    check_choice(dtype, DTYPES, "dtype")
    if dtype == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, dtype)
