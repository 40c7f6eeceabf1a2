"""Decoding speed: a GPT with and without its key/value cache, and an LSTM stepping its state.

- :func:`per_token_latency`: the time to produce one token at context length p, per model and
  way of decoding, over a grid of p: "recompute" runs the model on all p tokens (what a GPT
  without a cache does, nanoGPT's ``generate``); "cache" reads one token after p - 1 cached
  positions (``GPT.forward_cached``); "state" steps a recurrent model (or linear attention's
  state) once. Each point is :func:`seqlab.bench.timing.time_fn`'s median after a warm-up.
- :func:`bench_decode`: tokens per second of ``seqlab.models.generate`` end to end (the one
  interface the book uses), GPT with ``use_cache`` True and False, and the LSTM; the
  ``python -m seqlab.bench decode`` command prints it.

Letters: B batch, p context length (positions read), V vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from seqlab.bench.timing import time_fn
from seqlab.checks import check_positive_int
from seqlab.device import cpu_threads, get_device
from seqlab.models import GPT, GPTConfig, RecurrentLM, RecurrentLMConfig, generate
from seqlab.models.kv_cache import KVCache

__all__ = ["DECODERS", "bench_decode", "decode_models", "per_token_latency"]

#: (model name, way of decoding) pairs that :func:`per_token_latency` measures
DECODERS: tuple[tuple[str, str], ...] = (
    ("gpt", "recompute"),
    ("gpt", "cache"),
    ("gpt-linear", "state"),
    ("lstm", "state"),
)


def decode_models(
    vocab_size: int = 65,
    n_layer: int = 2,
    n_head: int = 4,
    n_embd: int = 64,
    block_size: int = 512,
    hidden_size: int = 128,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> dict[str, torch.nn.Module]:
    """Untrained models for timing (speed does not depend on the weights), in eval mode:
    ``gpt`` (full attention), ``gpt-linear`` (linear attention, same sizes) and ``lstm``
    (one layer of ``hidden_size``)."""
    device = torch.device(device) if device is not None else get_device()
    sizes = dict(vocab_size=vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        models = {
            "gpt": GPT(GPTConfig(block_size=block_size, **sizes)),
            "gpt-linear": GPT(GPTConfig(block_size=block_size, attention="linear", **sizes)),
            "lstm": RecurrentLM(
                RecurrentLMConfig(vocab_size, "lstm", n_embd=n_embd, hidden_size=hidden_size)
            ),
        }
    return {k: m.to(device).eval() for k, m in models.items()}


def _step_fn(model: torch.nn.Module, mode: str, ids: torch.Tensor, p: int) -> Callable[[], Any]:
    """The untimed set-up and the timed call that produces the logits after p positions."""
    if mode == "recompute":
        context = ids[:, :p]  # (B, p)
        return lambda: model(context)
    last = ids[:, p - 1 : p]  # (B, 1): the newest token, read after p - 1 others
    if isinstance(model, GPT):
        cache = KVCache(model.config.n_layer, model.config.block_size)
        if p > 1:
            model.forward_cached(ids[:, : p - 1], cache)
        saved = [dict(layer) for layer in cache.layers]

        def one_token() -> torch.Tensor:
            cache.length = p - 1  # rewind: the same step every call
            cache.layers = [dict(layer) for layer in saved]  # buffers alike, state restored
            return model.forward_cached(last, cache)

        return one_token
    state = model.step(ids[:, : p - 1])[1] if p > 1 else None
    return lambda: model.step(last, state)


@torch.no_grad()
def per_token_latency(
    models: dict[str, torch.nn.Module],
    positions: Sequence[int],
    decoders: Sequence[tuple[str, str]] = DECODERS,
    batch_size: int = 1,
    warmup: int = 2,
    repeats: int = 7,
    timeout_s: float | None = 10.0,
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Seconds to produce one token at each context length p in ``positions``.

    Inputs: ``models`` by name (:func:`decode_models`); ``decoders`` (name, mode) pairs, mode
    "recompute" | "cache" | "state"; positions p >= 1 (<= a GPT's block_size).
    Output: one row per (model, mode, position): ``median_s``, ``iqr_s``, ``n``; a point whose
    measurement passed ``timeout_s`` is left out (and larger p of that decoder skipped).
    """
    positions = sorted(check_positive_int(p, "position") for p in positions)
    device = next(next(iter(models.values())).parameters()).device
    vocab = min(m.config.vocab_size for m in models.values())
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch_size, positions[-1]), generator=g).to(device)
    rows = []
    with cpu_threads("recurrent", device):
        for name, mode in tqdm(decoders, desc="decoding", disable=not progress, leave=False):
            rows += _latencies(models[name], name, mode, ids, positions, warmup, repeats, timeout_s)
    return pd.DataFrame(rows)


def _latencies(model, name, mode, ids, positions, warmup, repeats, timeout_s) -> list[dict]:
    """:func:`per_token_latency`'s rows for one decoder; stops at the first time-out."""
    rows, limit = [], getattr(model.config, "block_size", None)
    for p in positions:
        if limit is not None and p > limit:
            raise ValueError(f"position {p} > block_size={limit} of model {name!r}")
        try:
            t = time_fn(_step_fn(model, mode, ids, p), warmup, repeats, 0.0, ids.device, timeout_s)
        except TimeoutError:
            break
        rows.append(dict(model=name, mode=mode, position=p, median_s=t.median_s,
                         iqr_s=t.iqr_s, n=t.n))  # fmt: skip
    return rows


@torch.no_grad()
def bench_decode(
    new_tokens: int = 256,
    prompt_len: int = 1,
    batch_size: int = 1,
    repeats: int = 3,
    device: torch.device | str | None = None,
    **sizes: Any,
) -> pd.DataFrame:
    """Tokens per second of ``generate`` (greedy, ``new_tokens`` after a ``prompt_len`` prompt)
    for the GPT with and without its cache and for the LSTM; ``sizes`` go to
    :func:`decode_models` (block_size defaults to prompt_len + new_tokens, so no cropping).
    Output: one row per (model, use_cache): ``median_s`` per call, ``tokens_per_s`` =
    batch_size * new_tokens / median_s, ``ms_per_token``, and ``speedup`` over the GPT without
    its cache."""
    new_tokens = check_positive_int(new_tokens, "new_tokens")
    prompt_len = check_positive_int(prompt_len, "prompt_len")
    batch_size = check_positive_int(batch_size, "batch_size")
    device = torch.device(device) if device is not None else get_device()
    sizes.setdefault("block_size", prompt_len + new_tokens)
    models = decode_models(device=device, **sizes)
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(
        0, models["gpt"].config.vocab_size, (batch_size, prompt_len), generator=g
    )
    prompt = prompt.to(device)
    rows = []
    for name, use_cache in (("gpt", False), ("gpt", True), ("gpt-linear", True), ("lstm", True)):
        model = models[name]

        def run(model=model, use_cache=use_cache) -> torch.Tensor:
            return generate(model, prompt, new_tokens, temperature=0, use_cache=use_cache)

        with cpu_threads("recurrent", device):  # one token at a time: small products
            t = time_fn(run, warmup=1, repeats=repeats, device=device)
        rows.append(dict(model=name, use_cache=use_cache, median_s=t.median_s, iqr_s=t.iqr_s,
                         tokens_per_s=batch_size * new_tokens / t.median_s,
                         ms_per_token=1e3 * t.median_s / new_tokens))  # fmt: skip
    df = pd.DataFrame(rows)
    df["speedup"] = df["tokens_per_s"] / df["tokens_per_s"].iloc[0]
    return df
