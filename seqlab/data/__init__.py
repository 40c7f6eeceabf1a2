"""Data: the Shakespeare corpus, a char tokenizer, batching, and synthetic tasks."""

# Corpus, tokenizer, batching and synthetic tasks (owner: data-train helper).
from seqlab.data.corpus import (  # noqa: F401
    CharDataset,
    CharTokenizer,
    load_shakespeare,
    markdown_to_text,
)
from seqlab.data.tasks import (  # noqa: F401
    ADDING_BASELINE_MSE,
    DATE_FORMATS,
    DATE_VOCAB,
    DateVocab,
    adding_mse,
    adding_task,
    copy_accuracy,
    copy_baseline,
    copy_task,
    date_examples,
    date_task,
    format_date,
    reversal_task,
    sequence_accuracy,
    token_accuracy,
)

# isort: split
# Time series (owner: datapages helper).
from seqlab.data.sunspots import load_sunspots, windows  # noqa: F401
