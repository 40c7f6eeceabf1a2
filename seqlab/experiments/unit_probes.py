"""What single units of a trained char-LSTM track: gate traces over real text, and probes.

:func:`lstm_trace` runs the LSTM of a :class:`~seqlab.models.RecurrentLM` over a text and
records every gate and state of layer 0 at every character: i, f, g, o (gates), c (cell state),
h (hidden state). A fused ``torch.nn.LSTM`` is first copied into our from-scratch
:class:`~seqlab.models.LSTM`, whose ``gates()`` exposes what the fused kernel keeps inside.

:func:`text_features` describes each character by simple properties of the text (position in
the line, inside a speaker's name, inside a word, ...). :func:`unit_correlations` correlates
every unit's trace with every feature (Pearson r), so the units that track something can be
*found* rather than hoped for (as Karpathy, Johnson & Fei-Fei 2015 looked for them).
:func:`unit_probe` is the experiment: all of it on the validation text, for the LSTM of a
:func:`~seqlab.experiments.char_lm.char_lm` run.

Letters: T characters, H hidden units, E embedding.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from seqlab.data.corpus import CharTokenizer
from seqlab.device import cpu_threads
from seqlab.experiments.char_lm import CharLMConfig, char_lm, shakespeare
from seqlab.experiments.results import experiment
from seqlab.models import LSTM, RecurrentLM

FIELDS: tuple[str, ...] = ("i", "f", "g", "o", "c", "h")
FIELD_NAMES: dict[str, str] = {
    "i": "input gate i",
    "f": "forget gate f",
    "g": "candidate g",
    "o": "output gate o",
    "c": "cell state c",
    "h": "hidden state h",
}
_SPEAKER_LINE = re.compile(r"^[A-Z][A-Za-z '.&-]{0,40}:$")


def as_scratch_lstm(model: RecurrentLM) -> LSTM:
    """The model's recurrent layer as our :class:`~seqlab.models.LSTM` (weights copied)."""
    rnn = model.rnn
    if isinstance(rnn, LSTM):
        return rnn
    if not isinstance(rnn, torch.nn.LSTM):
        raise ValueError(
            f"expected an LSTM language model, got recurrent layer {type(rnn).__name__}"
        )
    scratch = LSTM(rnn.input_size, rnn.hidden_size, rnn.num_layers, bias=rnn.bias)
    scratch.load_state_dict(rnn.state_dict())
    return scratch.to(next(rnn.parameters()).device)


@torch.no_grad()
def lstm_trace(
    model: RecurrentLM,
    tokenizer: CharTokenizer,
    text: str,
    chunk: int | None = 1000,
    warmup: int = 200,
) -> dict[str, np.ndarray]:
    """Every gate and state of layer 0 at every character of ``text``, from a zero state.

    A long text is cut into pieces of ``chunk`` characters that run side by side as one batch
    (a step-by-step loop over 30,000 characters would take minutes on a busy CPU). Each piece
    after the first starts ``warmup`` characters early, and those steps are dropped, so its
    state has forgotten the zero start (``chunk=None``: one pass, exact).

    Outputs: ``{"i", "f", "g", "o", "c", "h"}`` -> float arrays (T, H).
    """
    device = next(model.parameters()).device
    lstm = as_scratch_lstm(model)
    warmup = min(warmup, chunk or 0)

    def run(pieces: list[str]) -> dict[str, torch.Tensor]:
        idx = torch.stack([tokenizer.encode(p) for p in pieces]).to(device)  # (B, T)
        with cpu_threads("recurrent", device):  # thousands of tiny steps: one thread is fastest
            return lstm.gates(model.embedding(idx))  # each (B, T, H)

    if chunk is None or len(text) <= chunk:
        first, rest = text, ""
    else:
        first, rest = text[:chunk], text[chunk:]
    out = {k: [v[0]] for k, v in run([first]).items()}  # each [(T0, H)]
    n_full = len(rest) // chunk if rest else 0
    if n_full:
        starts = [chunk * (k + 1) for k in range(n_full)]
        pieces = [text[s - warmup : s + chunk] for s in starts]
        for k, v in run(pieces).items():  # (K, warmup + chunk, H)
            out[k].extend(v[:, warmup:])
    tail = rest[n_full * chunk :] if rest else ""
    if tail:
        s = len(text) - len(tail)
        for k, v in run([text[s - warmup :]]).items():
            out[k].append(v[0, warmup:])
    return {k: torch.cat(out[k]).float().cpu().numpy() for k in FIELDS}


def text_features(text: str) -> pd.DataFrame:
    """Per-character properties of ``text`` (T rows), the candidates a unit might track.

    Columns: ``line_position`` (characters since the last newline), ``speaker_name`` (1 inside
    a "NAME:" line that introduces a speech), ``in_word`` (1 for a letter or apostrophe),
    ``word_position`` (characters since the word began, 0 outside words), ``uppercase``,
    ``after_punctuation`` (characters since the last , . ; : ! ?), ``line_in_speech``
    (lines since the speaker's name).
    """
    rows = []
    line_pos = word_pos = since_punct = line_in_speech = 0
    lines = text.split("\n")
    speaker_lines = {  # "NAME:" or "First Witch:" on its own line, after a blank line
        i
        for i, line in enumerate(lines)
        if _SPEAKER_LINE.match(line.strip()) and (i == 0 or not lines[i - 1].strip())
    }
    line_no = 0
    for ch in text:
        in_word = ch.isalpha() or ch == "'"
        word_pos = word_pos + 1 if in_word else 0
        rows.append(
            (line_pos, float(line_no in speaker_lines), float(in_word), word_pos,
             float(ch.isupper()), since_punct, line_in_speech)
        )  # fmt: skip
        since_punct = 0 if ch in ",.;:!?" else since_punct + 1
        if ch == "\n":
            line_no += 1
            line_pos = 0
            line_in_speech = 0 if line_no in speaker_lines else line_in_speech + 1
        else:
            line_pos += 1
    columns = ["line_position", "speaker_name", "in_word", "word_position", "uppercase",
               "after_punctuation", "line_in_speech"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns, dtype=float)


def unit_correlations(trace: dict[str, np.ndarray], features: pd.DataFrame) -> pd.DataFrame:
    """Pearson r of every (field, unit) trace with every feature.

    Inputs: ``trace`` from :func:`lstm_trace` (each (T, H)); ``features`` (T rows).
    Outputs: long DataFrame with columns field, unit, feature, r (NaN where a trace is constant).
    """
    F = features.to_numpy(dtype=np.float64)  # (T, K)
    F = (F - F.mean(0)) / np.where(F.std(0) > 0, F.std(0), np.nan)
    out = []
    for field, values in trace.items():
        if values.shape[0] != len(features):
            raise ValueError(
                f"trace[{field!r}] has {values.shape[0]} steps, features have {len(features)} rows"
            )
        X = values.astype(np.float64)  # (T, H)
        std = X.std(0)
        X = (X - X.mean(0)) / np.where(std > 1e-8, std, np.nan)
        r = X.T @ F / len(X)  # (H, K)
        for k, feature in enumerate(features.columns):
            out.append(pd.DataFrame({"field": field, "unit": np.arange(X.shape[1]),
                                     "feature": feature, "r": r[:, k]}))  # fmt: skip
    return pd.concat(out, ignore_index=True)


def best_units(correlations: pd.DataFrame, fields: tuple[str, ...] = ("c", "h")) -> pd.DataFrame:
    """For each feature, the (field, unit) with the largest |r| among ``fields``.

    Outputs: one row per feature, sorted by |r| (largest first): feature, field, unit, r.
    """
    sub = correlations[correlations["field"].isin(fields)].dropna(subset=["r"])
    idx = sub["r"].abs().groupby(sub["feature"]).idxmax()
    best = sub.loc[idx, ["feature", "field", "unit", "r"]]
    return best.reindex(best["r"].abs().sort_values(ascending=False).index).reset_index(drop=True)


@dataclass
class UnitProbeConfig:
    """Probe the ``cell`` model of the :func:`~seqlab.experiments.char_lm.char_lm` run
    ``char_lm`` on the first ``n_chars`` validation characters; keep the traces of a passage of
    ``passage_chars`` that starts at the first speech after character ``passage_after``."""

    char_lm: CharLMConfig = dataclasses.field(
        default_factory=lambda: CharLMConfig(cells=("lstm",), reference="lstm")
    )
    cell: str = "lstm"
    n_chars: int = 30_000
    passage_chars: int = 600
    passage_after: int = 1000


@experiment("lstm.unit_probe")
def unit_probe(config: UnitProbeConfig, device: torch.device, progress: bool) -> dict:
    """Gate traces, feature correlations and the best unit per feature of a trained char-LSTM.

    Values: ``correlations`` (:func:`unit_correlations`), ``best`` (:func:`best_units`),
    ``text`` (the probed characters), ``passage`` (a passage of them that starts with a
    speaker's name) and ``passage_trace`` (field -> (len(passage), H), from ``trace``).
    """
    model = char_lm(config.char_lm, device=device, progress=progress).model(config.cell, device)
    data = shakespeare()
    text = data.tokenizer.decode(data.split("val")[: config.n_chars])
    trace = lstm_trace(model, data.tokenizer, text)
    correlations = unit_correlations(trace, text_features(text))
    start = text.index("\n\n", config.passage_after) + 2  # a speech begins with its speaker
    passage = text[start : start + config.passage_chars]
    return {
        "correlations": correlations,
        "best": best_units(correlations),
        "text": text,
        "passage": passage,
        "passage_trace": {k: v[start : start + len(passage)] for k, v in trace.items()},
    }
