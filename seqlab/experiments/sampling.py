"""Sampling temperature: how dividing the logits by tau reshapes a language model's next token.

``p_tau(c) = softmax(z / tau)_c`` for the logits z of the next token: tau < 1 sharpens the
distribution (tau -> 0 is greedy decoding), tau > 1 flattens it (tau -> inf is uniform).

- :func:`next_token_probs`: ``p_tau`` after a prompt.
- :func:`temperature_state`: the compute function of the temperature slider: the distribution
  over the most likely characters, its entropy, and a sample drawn at tau (same seed, same text).
- :func:`samples_at`: one sample per temperature, as a table.

Letters: T0 prompt length, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from seqlab.data.corpus import CharTokenizer
from seqlab.device import cpu_threads
from seqlab.models import generate


def _check_temperature(temperature: float) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


@torch.no_grad()
def next_token_probs(
    model: torch.nn.Module, idx: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """``softmax(z / temperature)`` of the logits z after the prompt ``idx`` (T0,) or (1, T0).

    A prompt longer than the model's ``config.block_size`` (a GPT) is cropped to its last
    ``block_size`` tokens, as :func:`seqlab.models.generate` does.
    Outputs: (V,) probabilities (float64, on the CPU). The model's train/eval mode is restored.
    """
    _check_temperature(temperature)
    idx = idx[None] if idx.dim() == 1 else idx  # (1, T0)
    block_size = getattr(getattr(model, "config", None), "block_size", None)
    if block_size is not None:
        idx = idx[:, -block_size:]  # (1, min(T0, block_size))
    was_training = model.training
    model.eval()
    try:
        logits = model(idx.to(next(model.parameters()).device))[0][0, -1]  # (V,)
    finally:
        model.train(was_training)
    return torch.softmax(logits.double().cpu() / temperature, dim=-1)


def sample(
    model: torch.nn.Module,
    tokenizer: CharTokenizer,
    prompt: str,
    n_chars: int,
    temperature: float,
    seed: int = 0,
) -> str:
    """``n_chars`` characters drawn at ``temperature`` after ``prompt`` (not included).

    One character per step: on a CPU this runs on one thread, which is fastest for such tiny
    steps (:func:`seqlab.device.cpu_threads_for`).
    """
    _check_temperature(temperature)
    device = next(model.parameters()).device
    idx = tokenizer.encode(prompt)[None].to(device)  # (1, T0)
    g = torch.Generator(device=device).manual_seed(seed)
    with cpu_threads("recurrent", device):
        out = generate(model, idx, n_chars, temperature=temperature, generator=g)  # (1, T0 + n)
    return tokenizer.decode(out[0, idx.shape[1] :].cpu())


def temperature_state(
    model: torch.nn.Module,
    tokenizer: CharTokenizer,
    prompt: str,
    temperature: float,
    n_chars: int = 160,
    top: int = 15,
    seed: int = 0,
) -> dict[str, Any]:
    """What the temperature slider shows at ``temperature``.

    Outputs: dict with ``chars`` (the ``top`` most likely next characters at tau = 1, most likely
    first; the order does not change with tau), ``probs`` their p_tau, ``p1`` their p at tau = 1,
    ``entropy`` of the whole p_tau in nats, ``sample`` (``n_chars`` drawn at tau with ``seed``),
    ``prompt`` and ``temperature``.
    """
    idx = tokenizer.encode(prompt)
    p1 = next_token_probs(model, idx, 1.0)  # (V,)
    p = next_token_probs(model, idx, temperature)  # (V,)
    order = torch.argsort(p1, descending=True)[:top]
    entropy = -(p * torch.log(p.clamp_min(1e-300))).sum().item()
    return {
        "chars": [tokenizer.itos[i] for i in order.tolist()],
        "probs": p[order].numpy(),
        "p1": p1[order].numpy(),
        "entropy": entropy,
        "sample": sample(model, tokenizer, prompt, n_chars, temperature, seed),
        "prompt": prompt,
        "temperature": temperature,
    }


def samples_at(
    model: torch.nn.Module,
    tokenizer: CharTokenizer,
    prompt: str,
    temperatures: Sequence[float],
    n_chars: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """One sample per temperature (same seed for each): columns temperature, sample."""
    rows = [
        {"temperature": t, "sample": sample(model, tokenizer, prompt, n_chars, t, seed)}
        for t in temperatures
    ]
    return pd.DataFrame(rows)
