"""Attention, measured (chapter 4): the context bottleneck, why sqrt(d_k), alignments, attribution.

- :func:`seq2seq_run` trains one :class:`~seqlab.models.seq2seq.RNNSeq2Seq` on a translation
  task (:mod:`seqlab.data.translation`) and scores it on held-out pairs: exact match, per-character
  accuracy, BLEU, and exact match per source length. It keeps snapshots of the weights during
  training, for the alignment heatmap's "checkpoint" control.
- :func:`bottleneck` runs it with no attention, additive (Bahdanau) and multiplicative (Luong
  "general") attention at an equal parameter count, over seeds.
- :func:`softmax_scaling` (the compute function of the sqrt(d_k) interactive) and
  :func:`scaling_sweep` (its table): scores q.k of random vectors, their softmax, its entropy,
  largest weight and gradient, with and without the 1/sqrt(d_k) scale.
- :func:`alignment` (the compute function of the heatmap): where each output character of a
  trained model looks, for any input text; :func:`attribution` compares those weights with
  leave-one-out influence (Jain & Wallace 2019; Wiegreffe & Pinter 2019).

Letters: B batch, S source length (characters + <eos>), T target length, U generated length,
H hidden, E embedding, V vocabulary, N examples, d_k key/query size, n keys.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from seqlab.checks import check_choice
from seqlab.data.translation_data import (
    Seq2SeqData,
    bleu,
    char_accuracy,
    exact_match,
    task_vocabs,
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
class Seq2SeqRunConfig:
    """One training run of an ``RNNSeq2Seq`` on a translation task.

    Data: ``task`` "numbers" (``lang``, numbers up to ``max_value``) or "dates"; ``n_train`` /
    ``n_test`` unique pairs drawn with ``data_seed`` (the same data for every model and seed).
    Model: ``attention``, ``hidden_size``, ``n_embd``, a GRU. Training: ``max_iters`` AdamW steps
    of ``batch_size`` with ``learning_rate`` (warm-up, cosine), ``seed`` (initial weights and
    batches). ``n_checkpoints`` weight snapshots are kept, evenly spaced, the last at the end.
    ``cpu_threads``: torch threads while training on a CPU (:func:`seqlab.device.cpu_threads`).
    """

    task: str = "numbers"
    lang: str = "de"
    max_value: int = 99_999
    n_train: int = 5000
    n_test: int = 1000
    data_seed: int = 0
    attention: str = "additive"
    hidden_size: int = 64
    n_embd: int = 32
    batch_size: int = 128
    max_iters: int = 300
    learning_rate: float = 1e-2
    warmup_iters: int = 20
    n_checkpoints: int = 4
    length_bins: tuple[int, ...] = (0, 15, 25, 35, 45, 80)
    seed: int = 0
    cpu_threads: int | str | None = "recurrent"

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
    config: Seq2SeqRunConfig, device: torch.device, progress: bool = False
) -> dict[str, Any]:
    """Train and score one model; see :func:`seq2seq_run` for the values."""
    data = task_data(config)
    train_data, test = data["train"], data["test"]
    torch.manual_seed(config.seed)
    model = RNNSeq2Seq(model_config(config)).to(device)
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
    init = RNNSeq2Seq(model_config(config))  # the same initial weights the run started from
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


# ----------------------------------------------------------------------------- why sqrt(d_k)


def softmax_scaling(
    d_k: int, scale: str = "1/sqrt(d_k)", n_keys: int = 16, n_queries: int = 512, seed: int = 0
) -> dict[str, Any]:
    """Attention scores of random queries and keys, and what the softmax makes of them.

    q, k have ``d_k`` independent N(0, 1) components, so Var(q . k) = d_k (Vaswani et al. 2017,
    footnote 4). ``scale`` "1/sqrt(d_k)" divides the scores by sqrt(d_k), "1" does not.
    Outputs: ``var_qk`` (variance of the unscaled q . k), ``var_score`` (of the scores fed to
    the softmax), ``entropy`` (mean, nats; the uniform maximum is ln n_keys), ``max_weight``
    (mean largest weight), ``grad_norm`` (mean Frobenius norm of the softmax Jacobian
    diag(a) - a a^T, which carries the gradient back to the scores), ``saturated`` (fraction
    of rows whose largest weight exceeds 0.99), ``example`` (n_keys,) the weights of query 0,
    ``n_keys``, ``max_entropy``.
    """
    check_choice(scale, ("1/sqrt(d_k)", "1"), "scale")
    if isinstance(d_k, bool) or not isinstance(d_k, int) or d_k < 1:
        raise ValueError(f"d_k must be a positive int, got d_k={d_k!r}")
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n_queries, d_k, generator=g, dtype=torch.float64)  # (Nq, d_k)
    k = torch.randn(n_keys, d_k, generator=g, dtype=torch.float64)  # (n, d_k)
    qk = q @ k.T  # (Nq, n)
    scores = qk / math.sqrt(d_k) if scale == "1/sqrt(d_k)" else qk
    a = scores.softmax(dim=-1)  # (Nq, n)
    entropy = -(a * a.clamp_min(1e-300).log()).sum(-1)  # (Nq,)
    # ||diag(a) - a a^T||_F^2 = sum a^2 - 2 sum a^3 + (sum a^2)^2
    s2, s3 = a.square().sum(-1), a.pow(3).sum(-1)
    grad_norm = (s2 - 2 * s3 + s2.square()).clamp_min(0).sqrt()  # (Nq,)
    top = a.max(dim=-1).values
    return {
        "d_k": d_k,
        "scale": scale,
        "var_qk": float(qk.var()),
        "var_score": float(scores.var()),
        "entropy": float(entropy.mean()),
        "max_weight": float(top.mean()),
        "grad_norm": float(grad_norm.mean()),
        "saturated": float((top > 0.99).double().mean()),
        "example": a[0].numpy(),
        "n_keys": n_keys,
        "max_entropy": math.log(n_keys),
    }


@dataclass
class ScalingConfig:
    """:func:`softmax_scaling` at every ``d_ks`` with and without the scale."""

    d_ks: tuple[int, ...] = (1, 4, 16, 64, 256, 1024)
    n_keys: int = 16
    n_queries: int = 2048
    seed: int = 0


@experiment("attention.scaling")
def scaling_sweep(config: ScalingConfig, device: torch.device, progress: bool) -> dict:
    """Values: ``table`` one row per (d_k, scale) with the scalar outputs of
    :func:`softmax_scaling`."""
    rows = []
    for d_k in config.d_ks:
        for scale in ("1/sqrt(d_k)", "1"):
            s = softmax_scaling(d_k, scale, config.n_keys, config.n_queries, config.seed)
            rows.append({k: v for k, v in s.items() if k != "example"})
    return {"table": pd.DataFrame(rows)}


# ----------------------------------------------------------------------------- alignments


@torch.no_grad()
def alignment(model: RNNSeq2Seq, text: str, src_vocab, tgt_vocab, max_len: int = 12) -> dict:
    """Where each output character of ``model`` looks when it translates ``text``.

    Outputs: ``{"ok": True, "source": list of source tokens (characters + "<eos>"),
    "output": generated characters + "<eos>" if produced, "weights": (U, S) array}``; or, for
    text the model cannot read (empty, or a character outside its vocabulary),
    ``{"ok": False, "message": one line}`` -- never an exception.
    """
    with cpu_threads("recurrent"):  # one token at a time through a GRU
        return _alignment(model, text, src_vocab, tgt_vocab, max_len)


def _alignment(model: RNNSeq2Seq, text: str, src_vocab, tgt_vocab, max_len: int) -> dict:
    text = text.strip()
    if not text:
        return {"ok": False, "message": "Type some text to translate."}
    try:
        ids = src_vocab.encode(text, eos=True)
    except ValueError:
        bad = next(c for c in text if c not in src_vocab.stoi)
        return {"ok": False, "message": f"The model cannot read {bad!r}: it knows only "
                f"{src_vocab.chars.strip()!r}."}  # fmt: skip
    src = torch.tensor([ids])  # (1, S)
    out = greedy_decode(model, src, max_len, tgt_vocab.bos_id, tgt_vocab.eos_id)[0]  # (U,)
    ends = (out == tgt_vocab.eos_id).nonzero()
    U = int(ends[0]) + 1 if len(ends) else len(out)
    out = out[:U]
    tgt_in = torch.cat([torch.tensor([tgt_vocab.bos_id]), out[:-1]])[None]  # (1, U)
    weights = model.alignments(src, tgt_in)[0]  # (U, S)
    labels = [tgt_vocab.itos[i] for i in out.tolist()]
    return {
        "ok": True,
        "source": list(text) + ["<eos>"],
        "output": labels,
        "translation": tgt_vocab.decode(out),
        "weights": weights.numpy(),
    }


# ----------------------------------------------------------------------------- attribution


@torch.no_grad()
def leave_one_out(model: RNNSeq2Seq, src_ids: list[int], out_ids: list[int], bos: int):
    """Influence of each source token on each output token, by deleting it.

    Inputs: ``src_ids`` the source (characters + <eos>, no padding), ``out_ids`` the model's
    own output (with its <eos>). Outputs: (attention weights (U, S), influence (U, S - 1)):
    influence[t, j] = log p(y_t | x) - log p(y_t | x without character j), teacher-forced on y.
    """
    S, U = len(src_ids), len(out_ids)
    tgt_in = torch.tensor([[bos, *out_ids[:-1]]])  # (1, U)
    target = torch.tensor(out_ids)  # (U,)
    src = torch.tensor([src_ids])  # (1, S)
    memory = model.encode(src)
    logits, weights = model.decode_with_attention(tgt_in, memory)  # (1, U, V), (1, U, S)
    base = logits[0].log_softmax(-1)[torch.arange(U), target]  # (U,)
    variants = torch.tensor([src_ids[:j] + src_ids[j + 1 :] for j in range(S - 1)])  # (S-1, S-1)
    logits_j = model(variants, tgt_in.expand(S - 1, -1))[0]  # (S-1, U, V)
    logp_j = logits_j.log_softmax(-1)[:, torch.arange(U), target]  # (S-1, U)
    return weights[0].numpy(), (base[None, :] - logp_j).T.numpy()  # (U, S), (U, S-1)


@dataclass
class AttributionConfig:
    """Attention vs leave-one-out influence for the seed-0 models of ``bottleneck`` (a row key
    of the size table) on the first ``n_examples`` test pairs, each with the model's own
    output (right or wrong: the question is what the model used to write it)."""

    bottleneck: str = "attention.bottleneck"
    kinds: tuple[str, ...] = ("additive", "general")
    n_examples: int = 60


@experiment("attention.attribution")
def attribution(config: AttributionConfig, device: torch.device, progress: bool) -> dict:
    """Rank correlation (Kendall's tau, as Jain & Wallace 2019) between the attention weights on
    the source characters and their leave-one-out influence, per output character.

    Values: ``rows`` (one per kind, example and output position: kind, example, correct (the
    output is the target), t, tau (NaN when either row is constant), argmax_agree (the
    most-attended and the most influential character are the same)),
    ``maps`` ``{kind: [(source, output, weights (U, S), influence (U, S-1)), ...]}``.
    """
    result = bottleneck(config.bottleneck, device=device)
    with cpu_threads("recurrent"):
        return _attribution(config, result)


def _attribution(config: AttributionConfig, result) -> dict:
    test = result["test"]
    rows, maps = [], {}
    for kind in config.kinds:
        model = result.model(kind)
        preds = result["predictions"][kind]
        src_vocab, tgt_vocab = task_vocabs(result.config.run.task)
        maps[kind] = []
        for i in range(min(config.n_examples, len(test))):
            src_ids = src_vocab.encode(test[i].src, eos=True)
            out_ids = tgt_vocab.encode(preds[i], eos=True)
            w, infl = leave_one_out(model, src_ids, out_ids, tgt_vocab.bos_id)
            w = w[:, :-1]  # the characters only (deleting <eos> is not a removal of content)
            for t in range(len(out_ids)):
                tau = stats.kendalltau(w[t], infl[t]).statistic
                rows.append({"kind": kind, "example": i, "correct": preds[i] == test[i].tgt,
                             "t": t, "tau": float(tau),
                             "argmax_agree": bool(w[t].argmax() == infl[t].argmax())})  # fmt: skip
            maps[kind].append((test[i].src, preds[i], w, infl))
    return {"rows": pd.DataFrame(rows), "maps": maps}


__all__ = [
    "KIND_NAMES",
    "AttributionConfig",
    "BottleneckConfig",
    "ScalingConfig",
    "Seq2SeqRunConfig",
    "alignment",
    "alignment_at",
    "attribution",
    "bottleneck",
    "leave_one_out",
    "load_snapshot",
    "n_params",
    "scaling_sweep",
    "seq2seq_run",
    "softmax_scaling",
    "task_data",
]


# ----------------------------------------------------------------------------- heatmap states


def alignment_at(result, kind: str, checkpoint: int, text: str, max_len: int = 12) -> dict:
    """The compute function of the alignment heatmap: :func:`alignment` of the seed-0 model of
    attention ``kind`` in a :func:`bottleneck` ``result``, at training step ``checkpoint`` (one
    of its snapshots; 0 = untrained), for the source ``text``. Bad text or an unknown kind or
    checkpoint gives ``{"ok": False, "message": ...}``."""
    snapshots = result["snapshots"]
    if kind not in snapshots or kind == "none":
        kinds = [k for k in snapshots if k != "none"]
        return {"ok": False, "message": f"No alignments for {kind!r}; choose one of {kinds}."}
    if checkpoint not in snapshots[kind]:
        steps = list(snapshots[kind])
        return {"ok": False, "message": f"No checkpoint at step {checkpoint}; steps: {steps}."}
    model = _snapshot_model(result, kind, checkpoint)
    src_vocab, tgt_vocab = task_vocabs(result.config.run.task)
    return alignment(model, text, src_vocab, tgt_vocab, max_len)


_MODELS: dict[tuple[int, str, int], RNNSeq2Seq] = {}


def _snapshot_model(result, kind: str, checkpoint: int) -> RNNSeq2Seq:
    key = (id(result), kind, checkpoint)
    if key not in _MODELS:
        if len(_MODELS) > 64:
            _MODELS.clear()
        _MODELS[key] = load_snapshot(result, kind, checkpoint)
    return _MODELS[key]
