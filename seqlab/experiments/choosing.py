"""Choosing an architecture from measurements (chapter 8): the costs, measured on one device.

:func:`costs` (``choosing.costs``) times the four architectures the book compares on the work
that separates them, with the same width H for all, in ``rounds`` interleaved repeats (the
"seeds" of the tie rule, :func:`seqlab.experiments.seeds.compare`):

- **training step**: forward + backward of one layer on x (B, T, H) against the sequence length
  T (:func:`seqlab.bench.bench_seqlen`, ``torch.nn.RNN/LSTM/GRU`` and a causal Transformer block
  with ``F.scaled_dot_product_attention``): what "parallel over time" buys on this device;
- **one token of streaming**: the time to produce the next token after p positions
  (:func:`seqlab.bench.per_token_latency`): a recurrent LM steps its state, the GPT reads its
  key/value cache (``GPT.forward_cached``);
- **the memory a stream holds** after p positions, read off the tensors themselves: the
  recurrent state (h, or (h, c)) against the GPT's cache (keys and values, 2 L p C numbers).

The comparison table of the chapter (:func:`seqlab.experiments.choosing_table.comparison_table`)
reads these and the results of chapters 2-6. Letters: B batch, T sequence length, p context
positions, H width, L layers, C = n_embd.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

from seqlab.bench import bench_seqlen, per_token_latency
from seqlab.checks import check_positive_int
from seqlab.device import cpu_threads
from seqlab.experiments.results import experiment
from seqlab.models import GPT, GPTConfig, RecurrentLM, RecurrentLMConfig, count_params
from seqlab.models.kv_cache import KVCache

__all__ = ["ARCHS", "ARCH_NAMES", "CostsConfig", "costs", "decode_models", "stream_bytes"]

ARCHS: tuple[str, ...] = ("rnn", "lstm", "gru", "transformer")
ARCH_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "transformer": "Transformer"}


@dataclass
class CostsConfig:
    """``lengths`` T of the training step (batch ``batch_size``), ``positions`` p of the
    streaming step (batch 1), width ``hidden_size`` H for every model (the GPT: ``n_embd`` = H,
    ``n_layer`` 1, ``n_head`` ``nhead``), ``rounds`` interleaved repeats of everything,
    ``repeats`` timed calls per point, ``timeout_s`` per point."""

    lengths: tuple[int, ...] = (16, 64, 256)
    positions: tuple[int, ...] = (16, 256)
    batch_size: int = 8
    hidden_size: int = 64
    nhead: int = 4
    vocab_size: int = 65
    rounds: int = 3
    repeats: int = 3
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("batch_size", "hidden_size", "nhead", "vocab_size", "rounds", "repeats"):
            check_positive_int(getattr(self, name), name)
        for name in ("lengths", "positions"):
            values = tuple(getattr(self, name))
            if not values:
                raise ValueError(f"{name} must name at least one length, got {values!r}")
            setattr(self, name, tuple(check_positive_int(v, name) for v in values))
        if self.rounds < 3:
            raise ValueError(f"rounds must be >= 3 (the tie rule's seeds), got {self.rounds}")


def decode_models(config: CostsConfig, device: torch.device) -> dict[str, torch.nn.Module]:
    """Untrained LMs of width H (speed does not depend on the weights), eval mode: one-layer
    RNN / LSTM / GRU (:class:`~seqlab.models.RecurrentLM`, embedding H) and a one-block GPT
    (``n_embd`` = H, ``block_size`` = the longest position)."""
    V, H = config.vocab_size, config.hidden_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        models = {
            cell: RecurrentLM(RecurrentLMConfig(V, cell, n_embd=H, hidden_size=H))
            for cell in ARCHS[:3]
        }
        models["transformer"] = GPT(GPTConfig(vocab_size=V, n_layer=1, n_head=config.nhead,
                                              n_embd=H, block_size=max(config.positions)))  # fmt: skip
    return {k: m.to(device).eval() for k, m in models.items()}


@torch.no_grad()
def stream_bytes(model: torch.nn.Module, p: int, device: torch.device) -> int:
    """Bytes of the state a model keeps after reading p tokens (batch 1), summed over the
    tensors that hold it: the recurrent state h or (h, c); the GPT's cached keys and values
    of the p positions (its buffers are allocated for ``block_size``: only p count)."""
    ids = torch.zeros(1, p, dtype=torch.long, device=device)
    if isinstance(model, GPT):
        cache = KVCache(model.config.n_layer, model.config.block_size)
        model.forward_cached(ids, cache)
        kept = [t[:, :, : cache.length] for layer in cache.layers for t in layer.values()]
    else:
        state = model.step(ids)[1]
        kept = list(state) if isinstance(state, tuple) else [state]
    return sum(t.numel() * t.element_size() for t in kept)


@experiment("choosing.costs")
def costs(config: CostsConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``train`` one row per (round, model, seq_len): ``median_ms`` of one forward +
    backward on (B, T, H), ``tokens_per_s`` (B T / time), ``status``; ``stream`` one row per
    (round, model, position): ``ms_per_token``; ``memory`` per (model, position):
    ``state_bytes`` (:func:`stream_bytes`); ``params`` per model (the LMs timed in ``stream``); ``device`` its type ("cpu", "cuda").
    Models are named by :data:`ARCHS`."""
    models = decode_models(config, device)
    decoders = [(m, "cache" if m == "transformer" else "state") for m in ARCHS]
    train, stream = [], []
    for rnd in tqdm(range(config.rounds), desc="rounds", disable=not progress, leave=False):
        with cpu_threads("recurrent", device):
            t = bench_seqlen(config.lengths, config.batch_size, config.hidden_size,
                             cells=ARCHS[:3], impls=("fused",), device=device, nhead=config.nhead,
                             repeats=config.repeats, timeout_s=config.timeout_s, progress=False,
                             seed=rnd)  # fmt: skip
        train.append(t.assign(round=rnd))
        s = per_token_latency(models, config.positions, decoders, 1, repeats=config.repeats,
                              timeout_s=config.timeout_s, seed=rnd)  # fmt: skip
        stream.append(s.assign(round=rnd, ms_per_token=s["median_s"] * 1e3))
    train = pd.concat(train, ignore_index=True)
    keep = ["round", "model", "seq_len", "status", "median_ms", "tokens_per_s", "batch_size"]
    memory = pd.DataFrame(
        [
            {"model": m, "position": p, "state_bytes": stream_bytes(models[m], p, device)}
            for m in ARCHS
            for p in config.positions
        ]  # fmt: skip
    )
    return {
        "train": train[keep],
        "stream": pd.concat(stream, ignore_index=True)[
            ["round", "model", "position", "ms_per_token"]
        ],  # fmt: skip
        "memory": memory,
        "params": {m: count_params(models[m]) for m in ARCHS},
        "device": device.type,
    }
