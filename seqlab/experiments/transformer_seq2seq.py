"""A small Transformer encoder-decoder on chapter 4's task, beside its RNN with attention.

:func:`transformer_seq2seq` trains a :class:`~seqlab.models.seq2seq.TransformerSeq2Seq` (German
number words -> digits) on exactly the data, batches and number of steps of chapter 4's
:func:`~seqlab.experiments.attention.bottleneck` runs, once per seed, with ``d_model`` chosen so
that its parameter count is closest to the RNN's with ``reference`` attention; the RNN's runs are
that chapter's (cached). Training and scoring are
:func:`~seqlab.experiments.attention.run_seq2seq`'s, so the numbers compare one to one: at
equal steps (exact match after ``max_iters``), and by the steps each model needs to bring its
training loss down to a target (:func:`steps_to_target`).

:func:`cross_attention` translates a text and returns every cross-attention map (layer x head):
where each output digit looks in the source, computed once per text for the heatmap's sliders.

Letters: S source length (characters + <eos>), U generated length, L layers, nh heads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from seqlab.data.translation_data import task_vocabs
from seqlab.experiments.attention import (
    BottleneckConfig,
    Seq2SeqTaskConfig,
    bottleneck,
    run_seq2seq,
    seq2seq_run,
    task_data,
)
from seqlab.experiments.parallel import map_runs
from seqlab.experiments.param_budget import hidden_for_budget
from seqlab.experiments.results import experiment
from seqlab.models.seq2seq import TransformerSeq2Seq, TransformerSeq2SeqConfig, greedy_decode

__all__ = [
    "TransformerRunConfig",
    "TransformerSeq2SeqCompare",
    "cross_attention",
    "cross_heads",
    "transformer_config",
    "transformer_run",
    "steps_to_target",
    "transformer_seq2seq",
]


@dataclass
class TransformerRunConfig(Seq2SeqTaskConfig):
    """One Transformer run on a translation task: the data and training fields of
    :class:`~seqlab.experiments.attention.Seq2SeqTaskConfig` (shared with chapter 4's RNN runs);
    the model is ``d_model``, ``nhead``, ``num_layers`` (encoder and decoder each), pre-LN, no
    dropout."""

    d_model: int = 32
    nhead: int = 4
    num_layers: int = 2


def transformer_config(config: TransformerRunConfig, d_model: int | None = None):
    """The model config of ``config`` (vocabularies and padding from its data)."""
    data = task_data(config)["train"]
    return TransformerSeq2SeqConfig(
        src_vocab_size=data.src_vocab.vocab_size, tgt_vocab_size=data.tgt_vocab.vocab_size,
        d_model=d_model or config.d_model, nhead=config.nhead, num_layers=config.num_layers,
        block_size=max(data.src.shape[1], data.tgt_in.shape[1]), pad_id=data.src_vocab.pad_id,
    )  # fmt: skip


@experiment()
def transformer_run(config: TransformerRunConfig, device: torch.device, progress: bool) -> dict:
    """One trained Transformer encoder-decoder, cached; the values of
    :func:`~seqlab.experiments.attention.seq2seq_run` (exact_match, predictions, model, ...)."""
    model_config = transformer_config(config)
    return run_seq2seq(config, device, progress, build=lambda: TransformerSeq2Seq(model_config))


def _cached_run(config: TransformerRunConfig, device: torch.device):
    return transformer_run(config, device=device, progress=False)


@dataclass
class TransformerSeq2SeqCompare:
    """``run`` once per seed beside the RNN runs of the row ``rnn`` (a
    :func:`~seqlab.experiments.attention.bottleneck` row) with attention ``reference``;
    ``d_model`` (a multiple of ``run.nhead``) gives the parameter count closest to that RNN's;
    ``target_loss``: the training loss (mean of the last ``smooth`` steps) whose first step is
    reported; ``processes``: the Transformer's seeds train side by side in that many processes
    (None: one per core; :func:`seqlab.experiments.parallel.map_runs`, the same numbers)."""

    run: TransformerRunConfig = field(default_factory=TransformerRunConfig)
    rnn: str = "attention.bottleneck"
    reference: str = "additive"
    seeds: tuple[int, ...] = (0, 1, 2)
    target_loss: float = 0.1
    smooth: int = 10
    processes: int | None = 1


def steps_to_target(history: pd.DataFrame, target: float, smooth: int = 10) -> float:
    """The first step after which the training loss, averaged over the last ``smooth`` steps,
    is at most ``target`` (nats per target character); NaN if the run never got there.

    Inputs: ``history`` of :func:`seqlab.train.train` (columns ``iter``, ``loss``). Raises
    ``ValueError`` for ``target`` <= 0 or ``smooth`` < 1.
    """
    if not target > 0:
        raise ValueError(f"target must be > 0 (a loss in nats), got {target!r}")
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be an int >= 1, got {smooth!r}")
    mean = history["loss"].rolling(smooth).mean().to_numpy()  # NaN for the first smooth-1
    hit = np.flatnonzero(mean <= target)
    return float(history["iter"].iloc[hit[0]] + 1) if len(hit) else float("nan")


def matched_d_model(run: TransformerRunConfig, budget: int) -> int:
    """The multiple of ``run.nhead`` whose Transformer has the parameter count closest to
    ``budget``."""
    count = lambda k: sum(  # noqa: E731
        p.numel() for p in TransformerSeq2Seq(transformer_config(run, k * run.nhead)).parameters()
    )
    return run.nhead * hidden_for_budget(count, budget, max_hidden=256)


@experiment("transformer.seq2seq")
def transformer_seq2seq(
    config: TransformerSeq2SeqCompare, device: torch.device, progress: bool
) -> dict:
    """The Transformer encoder-decoder and chapter 4's RNN with attention, over seeds.

    Values: ``runs`` (one row per model and seed: model "Transformer" | "RNN + <kind>", seed,
    n_params, steps_done, train_s, exact_match, char_accuracy, final_loss, steps_to_target:
    :func:`steps_to_target` of ``target_loss``, NaN if not reached), ``d_model``,
    ``rnn_params``, ``model`` (the seed-0 Transformer, a SavedModel), ``predictions`` (its test
    outputs), ``test`` (the test pairs).
    """
    bn_config = bottleneck.config(config.rnn)
    _check_same_data(config.run, bn_config)
    bn = bottleneck(bn_config, device=device, progress=progress)
    rnn = bn["runs"][bn["runs"]["attention"] == config.reference].copy()
    rnn_run = replace(bn_config.run, attention=config.reference,
                      hidden_size=bn["hidden_sizes"][config.reference])  # fmt: skip
    rnn["steps_to_target"] = [  # the runs of the bottleneck row: read from the cache
        steps_to_target(seq2seq_run(replace(rnn_run, seed=int(s)), device=device)["history"],
                        config.target_loss, config.smooth)
        for s in rnn["seed"]
    ]  # fmt: skip
    rnn_params = int(rnn["n_params"].iloc[0])
    d_model = matched_d_model(config.run, rnn_params)
    keep = ["seed", "n_params", "steps_done", "train_s", "exact_match", "char_accuracy",
            "final_loss", "steps_to_target"]  # fmt: skip
    rows, first = [], None
    tasks = [(replace(config.run, d_model=d_model, seed=seed), device) for seed in config.seeds]
    for r in map_runs(_cached_run, tasks, config.processes, progress, desc="Transformer seeds"):
        target = steps_to_target(r["history"], config.target_loss, config.smooth)
        rows.append({"model": "Transformer", **{k: r[k] for k in keep[:-1]},
                     "steps_to_target": target})  # fmt: skip
        first = first or r
    runs = pd.concat(
        [pd.DataFrame(rows), rnn[keep].assign(model=f"RNN + {config.reference} attention")],
        ignore_index=True,
    )
    return {
        "runs": runs,
        "d_model": d_model,
        "rnn_params": rnn_params,
        "model": first["model"],
        "predictions": first["predictions"],
        "test": task_data(config.run)["test"].pairs,
    }


def _check_same_data(run: TransformerRunConfig, bn: BottleneckConfig) -> None:
    """The comparison is one to one only on the same data, batches and steps."""
    for name in Seq2SeqTaskConfig.SAME_DATA:
        if getattr(run, name) != getattr(bn.run, name):
            raise ValueError(
                f"run.{name}={getattr(run, name)!r} differs from the RNN row's "
                f"{getattr(bn.run, name)!r}: the comparison needs the same data and steps"
            )


@torch.no_grad()
def cross_attention(
    model: TransformerSeq2Seq, text: str, task: str = "numbers", max_len: int = 12
) -> dict:
    """Translate ``text`` greedily and return every cross-attention map.

    Outputs: ``{"ok": True, "source": characters + "<eos>" (S), "output": generated characters
    (+ "<eos>") (U), "translation": str, "maps": array (L, nh, U, S)}`` where ``maps[l, h, t]``
    is how output position t of decoder layer l, head h spreads over the source (rows sum to
    1); or ``{"ok": False, "message": one line}`` for text the model cannot read.
    """
    text = text.strip()
    if not text:
        return {"ok": False, "message": "Type some text to translate."}
    src_vocab, tgt_vocab = task_vocabs(task)
    try:
        ids = src_vocab.encode(text, eos=True)
    except ValueError:
        bad = next(c for c in text if c not in src_vocab.stoi)
        return {"ok": False, "message": f"The model cannot read {bad!r}."}
    if len(ids) > model.config.block_size:
        return {"ok": False, "message": f"Too long: at most {model.config.block_size - 1} "
                "characters."}  # fmt: skip
    model.eval()
    src = torch.tensor([ids])  # (1, S)
    out = greedy_decode(model, src, max_len, tgt_vocab.bos_id, tgt_vocab.eos_id)[0]  # (U,)
    ends = (out == tgt_vocab.eos_id).nonzero()
    out = out[: int(ends[0]) + 1 if len(ends) else len(out)]
    tgt_in = torch.cat([torch.tensor([tgt_vocab.bos_id]), out[:-1]])[None]  # (1, U)
    maps = model.attention_maps(src, tgt_in)["cross"]  # L x (1, nh, U, S)
    return {
        "ok": True,
        "source": list(text) + ["<eos>"],
        "output": [tgt_vocab.itos[i] for i in out.tolist()],
        "translation": tgt_vocab.decode(out),
        "maps": np.stack([m[0].numpy() for m in maps]),
    }


def cross_heads(model: TransformerSeq2Seq, texts: list[str], task: str = "numbers") -> pd.DataFrame:
    """How each cross-attention head of ``model`` spreads its weight, over ``texts``.

    Outputs: one row per (layer, head), both from 1: ``entropy (nats)``, the mean entropy of a
    row of :func:`cross_attention`'s maps (one generated character's weights over the source;
    ln S for an even spread over S source positions), ``max weight``, the mean of a row's
    largest weight (1: all on one source character), and ``uniform (nats)``, the mean ln S of
    the same rows. Texts the model cannot read are skipped; raises ``ValueError`` if none is
    left.
    """
    rows = []
    for text in texts:
        d = cross_attention(model, text, task)
        if d["ok"]:
            maps = d["maps"]  # (L, nh, U, S)
            p = np.clip(maps, 1e-12, 1.0)
            rows.append((-(maps * np.log(p)).sum(-1).mean(-1), maps.max(-1).mean(-1),
                         np.log(maps.shape[-1])))  # fmt: skip
    if not rows:
        raise ValueError(f"texts: the model could read none of {texts[:3]!r}...")
    ent, peak = (np.mean([r[i] for r in rows], axis=0) for i in (0, 1))  # (L, nh)
    uniform = float(np.mean([r[2] for r in rows]))
    L, nh = ent.shape
    return pd.DataFrame(
        [{"layer": i + 1, "head": h + 1, "entropy (nats)": float(ent[i, h]),
          "max weight": float(peak[i, h]), "uniform (nats)": uniform}
         for i in range(L) for h in range(nh)]
    )  # fmt: skip
