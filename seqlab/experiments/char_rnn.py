"""The char-level RNN language model that the RNN chapter trains once and then studies.

:func:`char_rnn_setup` gives its size and training budget for the execution profile (one
place, so the chapter and the paper-figure builders train the same model);
:func:`trained_char_rnn` trains it on the Shakespeare corpus with
:func:`seqlab.experiments.char_lm.train_char_lm` (``seqlab.train`` inside) and caches the result
per profile, so several figure builders in one process share one training run.

Letters: B batch, T block size (the truncated-BPTT length), E embedding, H hidden, V vocabulary.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from seqlab.data.corpus import CharDataset, load_shakespeare
from seqlab.device import by_profile
from seqlab.experiments.char_lm import CharLMSetup, train_char_lm
from seqlab.models import RecurrentLM


def char_rnn_setup() -> tuple[int, CharLMSetup]:
    """``(hidden, setup)`` for the current profile.

    Training stops after ``setup.max_iters`` steps or ``setup.time_budget_s`` seconds, whichever
    comes first (with a time budget the learning rate is constant after warm-up).
    """
    hidden = by_profile(smoke=64, standard=256, full=512)
    setup = CharLMSetup(
        n_embd=by_profile(smoke=16, standard=32, full=64),
        batch_size=by_profile(smoke=16, standard=32, full=64),
        block_size=by_profile(smoke=32, standard=100, full=128),
        max_iters=by_profile(smoke=30, standard=1500, full=5000),
        time_budget_s=by_profile(smoke=8.0, standard=120.0, full=600.0),
        learning_rate=1e-2,
        warmup_iters=by_profile(smoke=5, standard=20),
        eval_interval=by_profile(smoke=15, standard=100, full=250),
        eval_iters=by_profile(smoke=2, standard=8, full=20),
    )
    return hidden, setup


def unigram_entropy(text: str) -> float:
    """Entropy (nats per character) of the character frequencies of ``text``: the loss of the
    best model that ignores context."""
    _, counts = np.unique(
        np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), return_counts=True
    )
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


@functools.lru_cache(maxsize=3)
def trained_char_rnn(profile: str) -> tuple[RecurrentLM, pd.DataFrame, CharDataset]:
    """``(model, history, dataset)``: the chapter's char-RNN trained at ``profile``'s size.

    Cached per profile (a figure export builds several figures from one model). The caller must
    have ``SEQLAB_PROFILE`` set to ``profile`` (``seqlab.viz.export.build_figure`` does).
    """
    dataset = CharDataset(load_shakespeare())
    hidden, setup = char_rnn_setup()
    setup.progress = False
    model, history = train_char_lm(dataset, "rnn", hidden, setup)
    return model, history, dataset
