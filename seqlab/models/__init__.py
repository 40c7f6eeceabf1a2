"""Every era's models: recurrent cells and layers, attention, Transformers, language models."""

# Recurrent cells and layers, recurrent language models (owner: recurrent helper).
from seqlab.models.gru import GRU, GRUCell, gru_step  # noqa: F401
from seqlab.models.lm import (  # noqa: F401
    RecurrentLM,
    RecurrentLMConfig,
    build_lm,
    count_params,
    flops_per_token,
    generate,
)
from seqlab.models.lstm import LSTM, LSTMCell, init_forget_bias, lstm_step  # noqa: F401
from seqlab.models.recurrent import RecurrentLayer, make_recurrent  # noqa: F401
from seqlab.models.rnn import RNN, RNNCell, rnn_step  # noqa: F401

# isort: split
# Attention, Transformer blocks and GPT, sequence-to-sequence models (owner: transformer helper).
from seqlab.models.attention import (  # noqa: F401
    AdditiveAttention,
    DotAttention,
    GeneralAttention,
    MultiHeadAttention,
    causal_mask,
    masked_softmax,
    scaled_dot_product_attention,
)
from seqlab.models.seq2seq import (  # noqa: F401
    RNNSeq2Seq,
    Seq2SeqConfig,
    TransformerSeq2Seq,
    greedy_decode,
)
from seqlab.models.transformer import (  # noqa: F401
    GPT,
    Decoder,
    Encoder,
    EncoderDecoder,
    FeedForward,
    GPTConfig,
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    TransformerBlock,
    sinusoidal_positional_encoding,
)
