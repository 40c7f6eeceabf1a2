"""Where a trained encoder-decoder looks, and whether that explains its output (chapter 4).

- :func:`alignment`: the attention weights of a model translating any text, with a one-line
  message for text it cannot read; :func:`alignment_at` picks a model and training checkpoint
  of a :func:`~seqlab.experiments.attention.bottleneck` result (the compute function of the
  chapter's heatmap interactive).
- :func:`attribution`: attention weights against leave-one-out influence, ranked with Kendall's
  tau (Jain & Wallace 2019; Wiegreffe & Pinter 2019).

Letters: S source length (characters + <eos>), U generated length, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from scipy import stats

from seqlab.data.translation_data import task_vocabs
from seqlab.device import cpu_threads
from seqlab.experiments.attention import bottleneck, load_snapshot
from seqlab.experiments.results import experiment
from seqlab.models.seq2seq import RNNSeq2Seq, greedy_decode

__all__ = ["AttributionConfig", "alignment", "alignment_at", "attribution", "leave_one_out"]


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
