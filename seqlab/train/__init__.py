"""One plain, visible training loop for every model and experiment in the book.

``train(model, get_batch, config)`` runs, per step: batch -> forward (mixed precision where it
pays) -> NaN guard -> backward -> clip -> AdamW or SGD step -> learning-rate schedule, and
returns the history as a ``pandas.DataFrame``, one row per step. :func:`train_steps` is the
same loop as a generator that yields after every step, so a caller can interleave it with
other work (the benchmark alternates it with nanoGPT's loop, step by step).

- :mod:`seqlab.train.config`: :class:`TrainConfig` (nanoGPT's names; every field checked),
  :func:`param_groups` (the one weight-decay rule), :func:`make_optimizer`, :func:`lr_lambda`
  (warm-up + cosine to ``min_lr`` at the last step), :func:`resolve_dtype`.
- :mod:`seqlab.train.loop`: :func:`train`, :func:`train_steps`, :class:`TrainState`,
  callbacks (:func:`stop_at_loss`), the NaN guard (:class:`NonFiniteLossError`),
  :func:`estimate_loss` (nanoGPT's evaluation).
- :mod:`seqlab.train.distill`: :func:`distillation_loss` (Hinton et al. 2015) and
  :func:`distillation_loss_fn`, a ``loss_fn`` for :func:`train`.
- :mod:`seqlab.train.checkpoint`: :func:`save_checkpoint`, :func:`load_checkpoint`.
"""

from seqlab.train.checkpoint import load_checkpoint, save_checkpoint
from seqlab.train.config import (
    DTYPES,
    ON_NAN,
    OPTIMIZERS,
    TrainConfig,
    lr_lambda,
    make_optimizer,
    param_groups,
    resolve_dtype,
)
from seqlab.train.distill import distillation_loss, distillation_loss_fn
from seqlab.train.loop import (
    Callback,
    EvalFn,
    LossFn,
    NonFiniteLossError,
    TrainState,
    estimate_loss,
    stop_at_loss,
    train,
    train_steps,
)

__all__ = [
    "DTYPES",
    "ON_NAN",
    "OPTIMIZERS",
    "Callback",
    "EvalFn",
    "LossFn",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainState",
    "distillation_loss",
    "distillation_loss_fn",
    "estimate_loss",
    "load_checkpoint",
    "lr_lambda",
    "make_optimizer",
    "param_groups",
    "resolve_dtype",
    "save_checkpoint",
    "stop_at_loss",
    "train",
    "train_steps",
]
