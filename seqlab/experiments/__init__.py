"""The experiments the book runs: one function per experiment, one module per topic.

Each experiment is a function ``name(config=None, *, device=None) -> Result``
(:mod:`seqlab.experiments.results`). It sizes itself from a row of the size table
(:mod:`seqlab.experiments.profiles`, one table per chapter, keyed by profile), trains or measures
through :mod:`seqlab.train` and :mod:`seqlab.bench`, and returns its numbers, its config and its
provenance, cached on disk by config, seqlab's version and source, torch and the device. The
chapter, its interactive, its paper figure (:mod:`seqlab.viz`) and its test call that one
function, so they show one run. The compute functions behind the interactives live here too.

Topics: ``char_lm`` (char-level language models on Shakespeare), ``sampling`` (temperature),
``context_window`` (effective context by gradient saliency), ``gradient_flow`` (vanishing and
exploding gradients by cell), ``clipping`` (exploding gradients in training), ``unit_probes``
(what single LSTM units track), ``memory_tasks`` (copy, adding and reversal against the delay),
``param_budget`` (parameter counts, equal budgets), ``timing`` (forward + backward time),
``attention`` (the context bottleneck of encoder-decoders), ``softmax_scaling`` (why
sqrt(d_k)), ``alignments`` (attention heatmaps; weights against attribution),
``attention_cost`` (time and memory of attention against T, fitted exponents),
``long_range`` (the copy task at long delays, Transformer vs LSTM), ``transformer_lm`` (a
GPT against the LSTM at equal parameters, equal steps or seconds; the GPT's heads),
``transformer_seq2seq`` (a Transformer encoder-decoder on chapter 4's task), ``scaling`` (the
scaling sweep: GPT and LSTM runs over sizes, budgets and seeds in a resumable table on disk;
``scaling_specs`` which runs, ``sweep_table`` the table), ``seeds`` (repeated runs over seeds and the tie rule). ``results`` holds the result type and the
cache, ``profiles`` the size tables.
"""

from seqlab.experiments.profiles import P, config_for
from seqlab.experiments.results import Result, SavedModel, clear_cache, experiment

__all__ = ["P", "Result", "SavedModel", "clear_cache", "config_for", "experiment"]
