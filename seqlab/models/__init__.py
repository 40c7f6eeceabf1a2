"""Every era's models: recurrent cells and layers, attention, Transformers, language models.

Arguments take torch.nn's names for layers and nanoGPT's for language-model configs (the
glossary in ``seqlab/__init__.py``). Parameter and FLOP counts: :mod:`seqlab.models.accounting`.
"""

# Recurrent cells and layers.
from seqlab.models.gru import GRU, GRUCell, gru_step  # noqa: F401
from seqlab.models.lstm import LSTM, LSTMCell, init_forget_bias, lstm_step  # noqa: F401
from seqlab.models.recurrent import make_recurrent  # noqa: F401
from seqlab.models.recurrent_layer import RecurrentLayer  # noqa: F401
from seqlab.models.rnn import RNN, RNNCell, rnn_step  # noqa: F401

# isort: split
# Attention, Transformer blocks, sequence-to-sequence models.
from seqlab.models.attention import (  # noqa: F401
    AdditiveAttention,
    DotAttention,
    GeneralAttention,
    MultiHeadAttention,
    causal_mask,
    masked_softmax,
    scaled_dot_product_attention,
)
from seqlab.models.efficient_attention import (  # noqa: F401
    LinearAttention,
    SlidingWindowAttention,
    linear_attention,
    sliding_window_attention,
)
from seqlab.models.seq2seq import (  # noqa: F401
    RNNSeq2Seq,
    Seq2SeqConfig,
    TransformerSeq2Seq,
    greedy_decode,
)
from seqlab.models.transformer import (  # noqa: F401
    Decoder,
    Encoder,
    EncoderDecoder,
    FeedForward,
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    TransformerBlock,
    sinusoidal_positional_encoding,
)

# isort: split
# Language models behind one interface; counting.
from seqlab.models.accounting import count_params, flops_per_token, matmul_params  # noqa: F401
from seqlab.models.gpt import GPT, GPTConfig  # noqa: F401
from seqlab.models.kv_cache import KVCache  # noqa: F401
from seqlab.models.lm import RecurrentLM, RecurrentLMConfig, build_lm, generate  # noqa: F401

# isort: split
# Forecasting a scalar series (owner: datapages helper).
from seqlab.models.forecast import FORECASTERS, Forecaster, seasonal_naive  # noqa: F401
