"""seqlab: the helper package of the book "From RNNs to Transformers".

Layers, each importing only from itself and the ones before it (``tests/test_layers.py``)::

    device, checks, metrics -> data -> models, gradients -> train -> bench -> experiments -> viz
                                                                      -> figures, notebook, sweep
                                                                         (chapters import all)

An experiment is one function in ``seqlab/experiments/<topic>.py`` that returns a cached
``Result``; its sizes come from the chapter's row of ``seqlab/experiments/profiles.py``; viz
only draws what experiments return.

Chapters import what they need from the submodules: ``seqlab.device``, ``seqlab.data``,
``seqlab.models``, ``seqlab.train``, ``seqlab.bench``, ``seqlab.experiments``, ``seqlab.viz``.

Names: one name per quantity
----------------------------
Every module, config, table column and command-line flag uses these names and no synonyms.
Layers take torch.nn's names (a reader who knows ``nn.LSTM`` knows ours); language-model and
training configs take nanoGPT's (``model.py`` / ``train.py``).

========================  ======================================================================
name                      quantity
========================  ======================================================================
``input_size``            features per step entering a recurrent layer (torch.nn.RNN/LSTM/GRU)
``hidden_size``           width of a recurrent layer's state h (and c) (torch.nn.RNN/LSTM/GRU)
``num_layers``            stacked layers inside one layer object: recurrent layers (torch.nn.RNN),
                          blocks of an Encoder / Decoder (torch.nn.TransformerEncoder)
``proj_size``             LSTM output projection size (torch.nn.LSTM)
``embed_dim``             width of an attention layer (torch.nn.MultiheadAttention)
``num_heads``             heads of an attention layer (torch.nn.MultiheadAttention)
``d_model``               width of a Transformer block / encoder / decoder (torch.nn.Transformer*)
``nhead``                 heads of a Transformer block (torch.nn.TransformerEncoderLayer)
``dim_feedforward``       inner width of a block's feed-forward net (torch.nn.TransformerEncoderLayer)
``norm_first``            pre-LN (True) or post-LN (False) block (torch.nn.TransformerEncoderLayer)
``vocab_size``            number of token ids V (nanoGPT); ``src_vocab_size``/``tgt_vocab_size``
``block_size``            context length T of a language model / training window; the length a
                          position table covers (nanoGPT)
``max_new_tokens``        tokens to generate after a prompt (nanoGPT ``generate``; ``greedy_decode``)
``n_layer``               blocks or recurrent layers of a *language model config* (nanoGPT)
``n_head``                heads per block of a language model config (nanoGPT)
``n_embd``                token-embedding width of a language model config (nanoGPT)
``dropout``, ``bias``     as in torch.nn and nanoGPT
``attention``, ``window`` GPT attention: "full", "sliding" (each query sees the last ``window``
                          positions) or "linear" (Katharopoulos et al. 2020)
``use_cache``             ``generate`` steps a model's state / key-value cache (True) or re-reads
                          the context for every token (False)
``batch_size``            sequences per optimisation step B (nanoGPT)
``max_iters``             optimisation steps to run (nanoGPT)
``iter``                  index of an optimisation step, 0-based (history column; nanoGPT iter_num)
``learning_rate``         peak learning rate (nanoGPT)
``min_lr``                learning rate at the last step of the cosine schedule (nanoGPT)
``warmup_iters``          steps of linear warm-up (nanoGPT)
``weight_decay``          AdamW decoupled weight decay (nanoGPT)
``beta1``, ``beta2``      AdamW betas (nanoGPT)
``grad_clip``             max global gradient norm; None = no clipping (nanoGPT)
``eval_interval``         evaluate every this many steps (nanoGPT)
``eval_iters``            batches per evaluation (nanoGPT)
``log_interval``          steps between progress updates / loss read-backs (nanoGPT)
``dtype``                 compute precision: "auto", "float32", "bfloat16", "float16" (nanoGPT)
``compile``               wrap the model in torch.compile (nanoGPT)
``time_budget_s``         wall-clock budget of a run, seconds
``seed``                  the one integer that makes a run repeatable
``loss``                  mean cross-entropy, nats per token (``train_loss``, ``val_loss``)
``bpc``                   bits per character = loss / ln 2;  ``ppl`` perplexity = exp(loss)
``n_params``              parameter count (``non_embedding`` says which are excluded)
``flops``                 floating-point operations (multiply and add counted as 2)
``tokens_per_s``          training throughput; ``time_s`` seconds since the start of a run
========================  ======================================================================
"""

from seqlab.device import get_device, get_profile, provenance, seed_everything

__version__ = "0.2.0"
__all__ = [
    "get_device",
    "get_profile",
    "provenance",
    "seed_everything",
    "__version__",
]
