"""The context bottleneck of encoder-decoders, measured (chapter 4).

- :func:`seq2seq_run` trains one :class:`~seqlab.models.seq2seq.RNNSeq2Seq` on a translation
  task (:mod:`seqlab.data.translation`) and scores it on held-out pairs: exact match, per-character
  accuracy, BLEU, and exact match per source length. It keeps snapshots of the weights during
  training, for the alignment heatmap's "checkpoint" control.
- :func:`bottleneck` runs it with no attention, additive (Bahdanau) and multiplicative (Luong
  "general") attention at an equal parameter count, over seeds.

The chapter's other experiments: :mod:`seqlab.experiments.softmax_scaling` (why sqrt(d_k)) and
:mod:`seqlab.experiments.alignments` (heatmaps of trained models; weights vs attribution).

Letters: B batch, S source length (characters + <eos>), T target length, H hidden,
E embedding, V vocabulary, N examples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqlab.checks import check_choice
from seqlab.data.translation_data import (
    Seq2SeqData,
    bleu,
    char_accuracy,
    exact_match,
    translation_splits,
)
from seqlab.device import cpu_threads
from seqlab.experiments.param_budget import hidden_for_budget
from seqlab.experiments.results import SavedModel, experiment
from seqlab.models.seq2seq import ATTENTIONS, RNNSeq2Seq, Seq2SeqConfig, greedy_decode
from seqlab.train import TrainConfig, train

#: how the chapter names the attention kinds of ``RNNSeq2Seq``
KIND_NAMES = {
    "none": "no attention",
    "additive": "additive (Bahdanau)",
    "general": "multiplicative (Luong)",
    "dot": "dot (Luong)",
}


# ----------------------------------------------------------------------------- one run


@dataclass
class Seq2SeqTaskConfig:
    """The data and training fields every model trained on a translation task shares (chapter
    4's RNNs, chapter 5's Transformer: :class:`Seq2SeqRunConfig` and
    ``seqlab.experiments.transformer_seq2seq.TransformerRunConfig`` add their model's fields).

    Data: ``task`` "numbers" (``lang``, numbers up to ``max_value``) or "dates"; ``n_train`` /
    ``n_test`` unique pairs drawn with ``data_seed`` (the same data for every model and seed).
    Training: ``max_iters`` AdamW steps of ``batch_size`` with ``learning_rate`` (warm-up,
    cosine), ``seed`` (initial weights and batches). ``n_checkpoints`` weight snapshots are
    kept, evenly spaced, the last at the end; ``length_bins`` group the test pairs by source
    length. ``cpu_threads``: torch threads while training on a CPU
    (:func:`seqlab.device.cpu_threads`).
    """

    task: str = "numbers"
    lang: str = "de"
    max_value: int = 99_999
    n_train: int = 5000
    n_test: int = 1000
    data_seed: int = 0
    batch_size: int = 128
    max_iters: int = 300
    learning_rate: float = 1e-2
    warmup_iters: int = 20
    n_checkpoints: int = 4
    length_bins: tuple[int, ...] = (0, 15, 25, 35, 45, 80)
    seed: int = 0
    cpu_threads: int | str | None = "recurrent"

    #: the fields that fix the data, the batches and the number of steps
    SAME_DATA = ("task", "lang", "max_value", "n_train", "n_test", "data_seed", "batch_size",
                 "max_iters")  # fmt: skip


@dataclass
class Seq2SeqRunConfig(Seq2SeqTaskConfig):
    """One training run of an ``RNNSeq2Seq`` on a translation task: the fields of
    :class:`Seq2SeqTaskConfig` and the model, ``attention``, ``hidden_size``, ``n_embd``, a GRU.
    """

    attention: str = "additive"
    hidden_size: int = 64
    n_embd: int = 32

    def __post_init__(self) -> None:
        check_choice(self.attention, ATTENTIONS, "attention")
        check_choice(self.task, ("numbers", "dates"), "task")
        for name in ("n_train", "n_test", "hidden_size", "n_embd", "batch_size", "max_iters",
                     "n_checkpoints"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {name}={value!r}")


@lru_cache(maxsize=4)
def _splits(task: str, lang: str, max_value: int, n_train: int, n_test: int, seed: int):
    kwargs = {"lang": lang, "max_value": max_value} if task == "numbers" else {}
    return translation_splits(task, (n_train, 0, n_test), seed=seed, **kwargs)


def task_data(config: Seq2SeqRunConfig) -> dict[str, Seq2SeqData]:
    """The run's ``{"train", "val", "test"}`` splits (val is empty), cached in memory."""
    c = config
    return _splits(c.task, c.lang, c.max_value, c.n_train, c.n_test, c.data_seed)


def model_config(config: Seq2SeqRunConfig, hidden_size: int | None = None) -> Seq2SeqConfig:
    data = task_data(config)["train"]
    return Seq2SeqConfig(
        src_vocab_size=data.src_vocab.vocab_size,
        tgt_vocab_size=data.tgt_vocab.vocab_size,
        n_embd=config.n_embd,
        hidden_size=hidden_size or config.hidden_size,
        attention=config.attention,
        pad_id=data.src_vocab.pad_id,
    )


def n_params(config: Seq2SeqConfig) -> int:
    return sum(p.numel() for p in RNNSeq2Seq(config).parameters())


class _TeacherForced(nn.Module):
    """``model(x, y) -> (logits, loss)`` for :func:`seqlab.train.train`: x = [src | tgt_in]."""

    def __init__(self, model: RNNSeq2Seq, S: int) -> None:
        super().__init__()
        self.model, self.S = model, S

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        return self.model(x[:, : self.S], x[:, self.S :], y)  # (B, T, V), loss


@torch.no_grad()
def predict(model: RNNSeq2Seq, data: Seq2SeqData, chunk: int = 500) -> list[str]:
    """Greedy translations of every source in ``data`` (decoded strings)."""
    T, vocab = data.tgt_in.shape[1], data.tgt_vocab
    out = []
    for i in range(0, len(data), chunk):
        ids = greedy_decode(model, data.src[i : i + chunk], T, vocab.bos_id, vocab.eos_id)
        out += vocab.decode_batch(ids)
    return out


def score(predictions: list[str], data: Seq2SeqData, bins: tuple[int, ...]) -> dict[str, Any]:
    """Exact match, char accuracy, BLEU, and exact match per source-length bin."""
    targets = data.targets
    lengths = np.array([len(s) for s in data.sources])
    right = np.array([p == t for p, t in zip(predictions, targets, strict=True)])
    rows = []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        sel = (lengths >= lo) & (lengths < hi)
        if sel.any():  # label by the lengths present: "45-50", not "45-79"
            label = f"{lengths[sel].min()}-{lengths[sel].max()}"
            rows.append({"length": label, "lo": lo, "hi": hi,
                         "n": int(sel.sum()), "exact_match": float(right[sel].mean())})  # fmt: skip
    return {
        "exact_match": exact_match(predictions, targets),
        "char_accuracy": char_accuracy(predictions, targets),
        "bleu": bleu(predictions=predictions, targets=targets),
        "by_length": pd.DataFrame(rows),
    }


def run_seq2seq(
    config: Seq2SeqRunConfig,
    device: torch.device,
    progress: bool = False,
    build: Callable[[], nn.Module] | None = None,
) -> dict[str, Any]:
    """Train and score one model; see :func:`seq2seq_run` for the values. ``build()`` makes
    the model (default: the ``RNNSeq2Seq`` of ``config``; chapter 5 passes a Transformer's)."""
    build = build or (lambda: RNNSeq2Seq(model_config(config)))
    data = task_data(config)
    train_data, test = data["train"], data["test"]
    torch.manual_seed(config.seed)
    model = build().to(device)
    S = train_data.src.shape[1]
    x_all = torch.cat([train_data.src, train_data.tgt_in], dim=1).to(device)  # (N, S + T)
    y_all = train_data.tgt_out.to(device)  # (N, T)
    g = torch.Generator().manual_seed(config.seed)

    def get_batch(step: int):
        idx = torch.randint(len(train_data), (config.batch_size,), generator=g).to(device)
        return x_all[idx], y_all[idx]

    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    every = max(1, config.max_iters // config.n_checkpoints)

    def snapshot(wrapper: nn.Module) -> dict[str, float]:
        # called after steps every, 2 * every, ... and after the last one
        step = min((len(snapshots) + 1) * every, config.max_iters)
        snapshots[step] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return {"checkpoint": float(step)}

    train_config = TrainConfig(
        max_iters=config.max_iters,
        learning_rate=config.learning_rate,
        warmup_iters=min(config.warmup_iters, config.max_iters // 4),
        weight_decay=0.0,
        grad_clip=1.0,
        eval_interval=every,
        log_interval=25,
        seed=config.seed,
        progress=progress,
    )
    with cpu_threads(config.cpu_threads, device):
        start = time.perf_counter()
        history = train(_TeacherForced(model, S), get_batch, train_config, device, snapshot)
        train_s = time.perf_counter() - start
        model.eval()
        predictions = predict(model, test)
    scores = score(predictions, test, config.length_bins)
    torch.manual_seed(config.seed)
    init = build()  # the same initial weights the run started from
    snapshots[0] = {k: v.detach().clone() for k, v in init.state_dict().items()}
    return {
        **{k: v for k, v in asdict(config).items() if k != "length_bins"},
        "n_params": sum(p.numel() for p in model.parameters()),
        "steps_done": len(history),
        "train_s": train_s,
        "final_loss": float(history["loss"].iloc[-10:].mean()),
        **scores,
        "predictions": predictions,
        "history": history,
        "model": SavedModel.of(model),
        "snapshots": dict(sorted(snapshots.items())),
    }


@experiment()
def seq2seq_run(config: Seq2SeqRunConfig, device: torch.device, progress: bool) -> dict:
    """One trained encoder-decoder, cached.

    Values: the config's fields, ``n_params``, ``steps_done``, ``train_s``, ``final_loss``,
    ``exact_match``, ``char_accuracy``, ``bleu``, ``by_length`` (DataFrame: length bin, n,
    exact_match), ``predictions`` (test set), ``history``, ``model`` (a SavedModel) and
    ``snapshots`` ``{step: state_dict}`` (0 = the initial weights).
    """
    return run_seq2seq(config, device, progress)


# ----------------------------------------------------------------------------- the bottleneck


@dataclass
class BottleneckConfig:
    """``run`` for each of ``attentions`` and ``seeds``; every kind gets the hidden size whose
    parameter count is closest to ``reference`` at ``run.hidden_size``."""

    run: Seq2SeqRunConfig = field(default_factory=Seq2SeqRunConfig)
    attentions: tuple[str, ...] = ("none", "additive", "general")
    reference: str = "additive"
    seeds: tuple[int, ...] = (0, 1, 2)

    def hidden_sizes(self) -> dict[str, int]:
        """``{attention: H}`` at the reference's parameter count."""
        ref = n_params(model_config(replace(self.run, attention=self.reference)))
        return {
            kind: self.run.hidden_size
            if kind == self.reference
            else hidden_for_budget(
                lambda H, k=kind: n_params(model_config(replace(self.run, attention=k), H)), ref
            )
            for kind in self.attentions
        }


@experiment("attention.bottleneck")
def bottleneck(config: BottleneckConfig, device: torch.device, progress: bool) -> dict:
    """Every attention kind and seed, one :func:`seq2seq_run` each (cached run by run).

    Values: ``runs`` (one row per run: attention, seed, hidden_size, n_params, steps_done,
    train_s, exact_match, char_accuracy, bleu, final_loss), ``by_length`` (attention, seed,
    length, lo, hi, n, exact_match), ``hidden_sizes``, ``models`` and ``snapshots`` (seed 0 of
    each kind), ``predictions`` (seed 0 of each kind, on the test set), ``test`` (the test pairs).
    """
    sizes = config.hidden_sizes()
    runs, by_length, models, snapshots, predictions = [], [], {}, {}, {}
    for kind in config.attentions:
        for seed in config.seeds:
            run = replace(config.run, attention=kind, hidden_size=sizes[kind], seed=seed)
            r = seq2seq_run(run, device=device, progress=progress)
            keep = ("attention", "seed", "hidden_size", "n_params", "steps_done", "train_s",
                    "exact_match", "char_accuracy", "bleu", "final_loss")  # fmt: skip
            runs.append({k: r[k] for k in keep})
            by_length.append(r["by_length"].assign(attention=kind, seed=seed))
            if seed == config.seeds[0]:
                models[kind], snapshots[kind] = r["model"], r["snapshots"]
                predictions[kind] = r["predictions"]
    return {
        "runs": pd.DataFrame(runs),
        "by_length": pd.concat(by_length, ignore_index=True),
        "hidden_sizes": sizes,
        "models": models,
        "snapshots": snapshots,
        "predictions": predictions,
        "test": task_data(config.run)["test"].pairs,
    }


def load_snapshot(result, kind: str, step: int) -> RNNSeq2Seq:
    """The model of attention ``kind`` (seed 0 of a :func:`bottleneck`) at training ``step``."""
    saved = result["models"][kind]
    model = saved.cls(saved.config)
    model.load_state_dict(result["snapshots"][kind][step])
    return model.eval()


__all__ = [
    "KIND_NAMES",
    "BottleneckConfig",
    "Seq2SeqRunConfig",
    "Seq2SeqTaskConfig",
    "bottleneck",
    "load_snapshot",
    "model_config",
    "n_params",
    "seq2seq_run",
    "task_data",
]
