"""What the LM benchmark trains: :class:`LMBenchConfig` (the ``lm`` flags have the same names),
its presets, and the device checks it needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqlab.bench.seqlen import IMPLS
from seqlab.checks import check_choice, check_dropout, check_positive
from seqlab.device import get_device
from seqlab.train import DTYPES

LM_ARCHS: tuple[str, ...] = ("gpt", "lstm", "gru", "rnn")
LM_DTYPES: tuple[str, ...] = (*DTYPES, "best")

#: ``--preset fast``: the time-to-quality configuration (see benchmarks/README.md).
PRESETS: dict[str, dict[str, Any]] = {
    # nanoGPT's model at 3x its learning rate on a 1500-step schedule, bf16 matmuls where the
    # hardware has them: val 1.88 after 1150 steps, where nanoGPT's recipe needs > 2000.
    "fast": dict(arch="gpt", n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12,
                 learning_rate=3e-3, max_iters=1500, dtype="best", target_loss=1.88,
                 eval_interval=50),
}  # fmt: skip


@dataclass
class LMBenchConfig:
    """What ``python -m seqlab.bench lm`` trains; the flags have the same names.

    Model: ``arch`` "gpt"|"lstm"|"gru"|"rnn", ``n_layer``, ``n_head`` (gpt), ``n_embd`` (for
    recurrent models embedding and hidden size), ``bias`` (gpt: biases in Linear and LayerNorm;
    None = ``GPTConfig``'s default), ``dropout`` (gpt, in [0, 1): nanoGPT's GPU recipe uses
    0.2), ``impl`` (recurrent: "fused"|"scratch").
    Training (AdamW, betas 0.9/0.99, weight decay 0.1, clip 1.0, warm-up then cosine to
    ``learning_rate/10``, as nanoGPT's Shakespeare recipe): ``block_size``, ``batch_size``,
    ``max_iters``, ``learning_rate``, ``warmup_iters`` (None: min(100, max_iters/10)),
    ``compile``, ``dtype`` (as :class:`seqlab.train.TrainConfig`, or "best": bfloat16 autocast
    where the device multiplies bf16 natively (CUDA with bf16, CPUs with AVX512-BF16 or AMX),
    else float32). Stopping: ``target_loss`` (stop when the validation loss reaches it),
    ``time_budget_s`` (of training time, checked at every evaluation). Evaluation: every
    ``eval_interval`` steps (None: 100 with a target, else max_iters/3) on ``eval_iters`` fixed
    batches of ``eval_batch_size`` x ``block_size`` validation tokens: 1,200 windows (nanoGPT's
    estimate_loss takes 20 random batches of 12 = 240; a fixed set of 240 was 0.04 off the whole
    split in our runs); at the end also on ``final_eval_iters`` other batches
    (``val_loss_final``). ``device``: None = the best available. ``measure_peak``: measure the
    matmul peak for the MFU (about 1 s on a CPU). Invalid values raise ``ValueError``.
    """

    arch: str = "gpt"
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    bias: bool | None = None
    dropout: float = 0.0
    impl: str = "fused"
    block_size: int = 64
    batch_size: int = 12
    max_iters: int = 300
    learning_rate: float = 1e-3
    warmup_iters: int | None = None
    dtype: str = "float32"
    compile: bool = False
    target_loss: float | None = None
    time_budget_s: float | None = None
    eval_interval: int | None = None
    eval_iters: int = 10
    eval_batch_size: int = 120
    final_eval_iters: int = 20
    seed: int = 1337
    device: str | None = None
    measure_peak: bool = True

    def __post_init__(self) -> None:
        check_choice(self.arch, LM_ARCHS, "arch")
        check_choice(self.impl, IMPLS, "impl")
        check_choice(self.dtype, LM_DTYPES, "dtype")
        for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "max_iters",
                     "eval_iters", "eval_batch_size", "final_eval_iters"):  # fmt: skip
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("warmup_iters", "seed"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=0)
        if self.eval_interval is not None:
            _check_int("eval_interval", self.eval_interval, minimum=1)
        check_positive(self.learning_rate, "learning_rate")
        self.dropout = check_dropout(self.dropout)
        if self.dropout > 0 and self.arch != "gpt":
            raise ValueError(f"dropout={self.dropout} is a gpt option; arch={self.arch!r}")
        for name in ("target_loss", "time_budget_s"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), name)
        if self.warmup_iters is not None and self.warmup_iters > self.max_iters:
            raise ValueError(
                f"warmup_iters={self.warmup_iters} must not exceed max_iters={self.max_iters}"
            )
        if self.arch == "gpt" and self.n_embd % self.n_head != 0:
            raise ValueError(
                f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head} "
                f"(each head gets n_embd / n_head dimensions)"
            )
        if self.device is not None:
            check_device(self.device)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_device(name: str) -> torch.device:
    """``name`` as a ``torch.device`` if it exists on this machine, else ``ValueError`` naming
    the problem in one line (unknown kind, malformed, unavailable, or no such CUDA index)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(
            f"unknown device {name!r}; valid: 'cpu', 'cuda', 'cuda:N', 'mps'"
        ) from None
    get_device(device.type)  # ValueError if this kind is unknown or not available here
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise ValueError(
                f"device {name!r} does not exist; this machine has {count} CUDA devices"
            )
    return device


def native_bf16(device: torch.device) -> bool:
    """True if ``device`` multiplies bf16 matrices in hardware (so bf16 autocast can pay off)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
        return " avx512_bf16" in flags or " amx_bf16" in flags
    return False
