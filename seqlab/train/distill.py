"""Knowledge distillation's loss (Hinton et al. 2015): a student learns from a teacher's soft
targets as well as from the data.

With logits z_s (student) and z_t (teacher) over V classes, a temperature tau > 0 and a weight
alpha in [0, 1],

    loss = alpha * tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau)) + (1 - alpha) * CE(z_s, y),

KL and CE averaged over the tokens. tau > 1 softens both distributions so that the teacher's
small probabilities (which wrong characters are nearly right) carry signal; the tau^2 keeps the
soft term's gradients on the scale of the hard one's as tau changes (Hinton et al. 2015, sec. 2).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["distillation_loss", "distillation_loss_fn"]


def _check(temperature: float, alpha: float) -> None:
    t_ok = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not t_ok or not 0 < temperature < math.inf:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    a_ok = isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
    if not a_ok or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 2.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """Hinton et al.'s loss (module docstring), a scalar in nats per token.

    Inputs: ``student_logits`` and ``teacher_logits`` (..., V) of the same shape; ``targets``
    (...) class ids (-1 = ignored by the CE term); ``temperature`` tau > 0; ``alpha`` in [0, 1]
    (0: plain cross-entropy; 1: soft targets only). The teacher's logits get no gradient.
    Raises ``ValueError`` naming ``temperature``, ``alpha`` or the mismatched shapes.
    """
    _check(temperature, alpha)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} and teacher_logits "
            f"{tuple(teacher_logits.shape)} must have the same shape"
        )
    V = student_logits.shape[-1]
    s = student_logits.reshape(-1, V).float()
    t = teacher_logits.reshape(-1, V).detach().float()
    ce = F.cross_entropy(s, targets.reshape(-1).long(), ignore_index=-1)
    if alpha == 0:
        return ce
    log_p_s = F.log_softmax(s / temperature, dim=-1)
    log_p_t = F.log_softmax(t / temperature, dim=-1)
    kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)  # KL(t || s)
    return alpha * temperature**2 * kl + (1 - alpha) * ce


def distillation_loss_fn(teacher: nn.Module, temperature: float = 2.0, alpha: float = 0.5):
    """A ``loss_fn(student, x, y)`` for :func:`seqlab.train.train`: runs the ``teacher`` (eval
    mode, no gradients; same ``model(x) -> (logits, _)`` interface) on the batch and returns
    :func:`distillation_loss` of the student's logits. Raises as ``distillation_loss``."""
    _check(temperature, alpha)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss_fn(student: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher(x)[0]
        return distillation_loss(student(x)[0], teacher_logits, y, temperature, alpha)

    return loss_fn
