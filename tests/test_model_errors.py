"""Clear errors, the whole kind: every constructor checks its sizes, every config every field,
every forward the rank, dtype, length and token ids of its inputs.

Each message names the argument and the value that arrived (``seqlab.checks``).
"""

from __future__ import annotations

import re

import pytest
import torch

from seqlab.models import (
    GPT,
    GRU,
    LSTM,
    RNN,
    AdditiveAttention,
    Decoder,
    DotAttention,
    Encoder,
    EncoderDecoder,
    FeedForward,
    GeneralAttention,
    GPTConfig,
    GRUCell,
    LearnedPositionalEmbedding,
    LSTMCell,
    MultiHeadAttention,
    RecurrentLM,
    RecurrentLMConfig,
    RNNCell,
    RNNSeq2Seq,
    Seq2SeqConfig,
    SinusoidalPositionalEncoding,
    TransformerBlock,
    build_lm,
    make_recurrent,
    scaled_dot_product_attention,
    sinusoidal_positional_encoding,
)

# Every public constructor with valid sizes; the test swaps one size for a bad value.
CONSTRUCTORS = {
    "RNN": (RNN, dict(input_size=3, hidden_size=4, num_layers=1)),
    "LSTM": (LSTM, dict(input_size=3, hidden_size=4, num_layers=1, proj_size=2)),
    "GRU": (GRU, dict(input_size=3, hidden_size=4, num_layers=1)),
    "RNNCell": (RNNCell, dict(input_size=3, hidden_size=4)),
    "LSTMCell": (LSTMCell, dict(input_size=3, hidden_size=4)),
    "GRUCell": (GRUCell, dict(input_size=3, hidden_size=4)),
    "fused rnn": (
        lambda **kw: make_recurrent("rnn", impl="fused", **kw),
        dict(input_size=3, hidden_size=4, num_layers=1),
    ),
    "fused lstm": (
        lambda **kw: make_recurrent("lstm", impl="fused", **kw),
        dict(input_size=3, hidden_size=4, num_layers=1, proj_size=2),
    ),
    "MultiHeadAttention": (MultiHeadAttention, dict(embed_dim=8, num_heads=2)),
    "AdditiveAttention": (AdditiveAttention, dict(query_size=3, key_size=4, hidden_size=5)),
    "GeneralAttention": (GeneralAttention, dict(query_size=3, key_size=4)),
    "FeedForward": (FeedForward, dict(d_model=8, dim_feedforward=16)),
    "TransformerBlock": (TransformerBlock, dict(d_model=8, nhead=2, dim_feedforward=16)),
    "Encoder": (Encoder, dict(d_model=8, nhead=2, num_layers=1, dim_feedforward=16)),
    "Decoder": (Decoder, dict(d_model=8, nhead=2, num_layers=1, dim_feedforward=16)),
    "EncoderDecoder": (
        EncoderDecoder,
        dict(
            src_vocab_size=5,
            tgt_vocab_size=6,
            d_model=8,
            nhead=2,
            num_layers=1,
            dim_feedforward=16,
            block_size=10,
        ),
    ),
    "LearnedPositionalEmbedding": (LearnedPositionalEmbedding, dict(block_size=4, d_model=8)),
    "SinusoidalPositionalEncoding": (SinusoidalPositionalEncoding, dict(block_size=4, d_model=8)),
    "sinusoidal_positional_encoding": (sinusoidal_positional_encoding, dict(T=3, d_model=8)),
    "GPTConfig": (
        GPTConfig,
        dict(vocab_size=5, block_size=8, n_layer=1, n_head=2, n_embd=8),
    ),
    "RecurrentLMConfig": (
        RecurrentLMConfig,
        dict(vocab_size=5, n_embd=4, hidden_size=6, n_layer=1),
    ),
    "Seq2SeqConfig": (
        Seq2SeqConfig,
        dict(src_vocab_size=5, tgt_vocab_size=6, n_embd=4, hidden_size=6, n_layer=1),
    ),
}
BAD_SIZES = [0, -2, 2.5, True, "4", None]
SIZE_CASES = [
    (name, arg, bad)
    for name, (_, kw) in CONSTRUCTORS.items()
    for arg in kw
    if not (name == "sinusoidal_positional_encoding" and arg == "T")  # T = 0 is allowed
    for bad in BAD_SIZES
    if not (arg == "proj_size" and bad == 0)  # proj_size = 0 means no projection
    if not (arg == "dim_feedforward" and bad is None and name != "FeedForward")  # None: 4 C
]


@pytest.mark.parametrize("name,arg,bad", SIZE_CASES)
def test_every_size_is_checked(name, arg, bad):
    build, kw = CONSTRUCTORS[name]
    build(**kw)  # the valid sizes build
    with pytest.raises(ValueError, match=re.escape(f"{arg} must be a positive int, got {bad!r}")):
        build(**{**kw, arg: bad})


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: MultiHeadAttention(10, 3), "embed_dim=10 must be a multiple of num_heads=3"),
        (lambda: TransformerBlock(10, 4), "d_model=10 must be a multiple of nhead=4"),
        (lambda: Encoder(10, 4, 1), "d_model=10 must be a multiple of nhead=4"),
        (lambda: EncoderDecoder(5, 5, d_model=10, nhead=3), "d_model=10 must be a multiple"),
        (lambda: GPTConfig(5, n_embd=10, n_head=4), "n_embd=10 must be a multiple of n_head=4"),
        (lambda: LSTM(3, 4, proj_size=4), "proj_size=4 must be smaller than hidden_size=4"),
        (
            lambda: make_recurrent("lstm", 3, 4, impl="fused", proj_size=5),
            "proj_size=5 must be smaller than hidden_size=4",
        ),
        (
            lambda: RecurrentLMConfig(5, hidden_size=8, cell_options={"proj_size": 9}),
            "proj_size=9 must be smaller than hidden_size=8",
        ),
    ],
)
def test_size_relations(call, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        call()


DROPOUT_CASES = [
    ("MultiHeadAttention", lambda p: MultiHeadAttention(8, 2, dropout=p)),
    ("FeedForward", lambda p: FeedForward(8, 16, dropout=p)),
    ("TransformerBlock", lambda p: TransformerBlock(8, 2, dropout=p)),
    ("Encoder", lambda p: Encoder(8, 2, 1, dropout=p)),
    ("EncoderDecoder", lambda p: EncoderDecoder(5, 5, 8, 2, dropout=p)),
    ("RNN", lambda p: RNN(3, 4, 2, dropout=p)),
    ("fused gru", lambda p: make_recurrent("gru", 3, 4, 2, impl="fused", dropout=p)),
    ("GPTConfig", lambda p: GPTConfig(5, n_embd=8, n_head=2, dropout=p)),
    ("RecurrentLMConfig", lambda p: RecurrentLMConfig(5, dropout=p)),
    ("Seq2SeqConfig", lambda p: Seq2SeqConfig(5, 5, dropout=p)),
]


@pytest.mark.parametrize("bad", [-0.1, 1.0, True, "0.1"])
@pytest.mark.parametrize("name,build", DROPOUT_CASES, ids=[n for n, _ in DROPOUT_CASES])
def test_every_dropout_is_checked(name, build, bad):
    build(0.1)
    with pytest.raises(
        ValueError, match=re.escape(f"dropout must be a number in [0, 1), got {bad!r}")
    ):
        build(bad)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: RNN(3, 4, bias=1), "bias must be True or False, got 1"),
        (lambda: LSTM(3, 4, bidirectional="yes"), "bidirectional must be True or False"),
        (lambda: LSTM(3, 4, peephole=1), "peephole must be True or False, got 1"),
        (lambda: GRUCell(3, 4, bias=None), "bias must be True or False, got None"),
        (lambda: make_recurrent("gru", 3, 4, impl="fused", bias=0), "bias must be True or False"),
        (lambda: TransformerBlock(8, 2, norm_first="pre"), "norm_first must be True or False"),
        (lambda: TransformerBlock(8, 2, cross=1), "cross must be True or False, got 1"),
        (lambda: MultiHeadAttention(8, 2, fused=None), "fused must be True or False, got None"),
        (lambda: DotAttention(scaled=1), "scaled must be True or False, got 1"),
        (lambda: GPTConfig(5, n_embd=8, n_head=2, bias=1), "bias must be True or False, got 1"),
        (lambda: GPTConfig(5, n_embd=8, n_head=2, norm_first="pre"), "norm_first must be True"),
        (lambda: GPTConfig(5, pos="rope"), "unknown pos 'rope'; valid: 'learned', 'sinusoidal'"),
        (lambda: FeedForward(8, 16, activation="swish"), "unknown activation 'swish'"),
        (lambda: RecurrentLMConfig(5, forget_bias=float("nan")), "forget_bias must be None or"),
        (lambda: RecurrentLMConfig(5, cell_options=[]), "cell_options must be a dict, got []"),
        (lambda: Seq2SeqConfig(5, 6, pad_id=6), "pad_id must be None or a token id in 0..4"),
        (lambda: EncoderDecoder(5, 6, pad_id=-1), "pad_id must be None or a token id in 0..4"),
        (lambda: GPT(dict(vocab_size=5)), "expected a GPTConfig, got dict"),
        (lambda: RecurrentLM(GPTConfig(5)), "expected a RecurrentLMConfig, got GPTConfig"),
        (lambda: RNNSeq2Seq(None), "expected a Seq2SeqConfig, got NoneType"),
    ],
)
def test_flags_choices_and_configs(call, match):
    with pytest.raises((ValueError, TypeError), match=re.escape(match)):
        call()


# ----------------------------------------------------------------------------- cell options


@pytest.mark.parametrize("impl", ["scratch", "fused"])
@pytest.mark.parametrize(
    "cell,option", [("rnn", "peephole"), ("gru", "proj_size"), ("lstm", "reset"), ("lstm", "nope")]
)
def test_unknown_cell_options_name_the_option_for_both_impls(cell, option, impl):
    match = f"unknown option '{option}' for cell '{cell}'"
    with pytest.raises(ValueError, match=match):
        make_recurrent(cell, 3, 4, impl=impl, **{option: 1})
    with pytest.raises(ValueError, match=f"unknown cell_options '{option}' for cell '{cell}'"):
        build_lm(cell, 5, impl=impl, cell_options={option: 1})


# ----------------------------------------------------------------------------- inputs

FLOAT_INPUTS = {  # module, a valid input; the test breaks its rank, dtype and length
    "RNN": (RNN(3, 4), torch.randn(2, 5, 3)),
    "LSTM": (LSTM(3, 4, proj_size=2), torch.randn(2, 5, 3)),
    "GRU": (GRU(3, 4), torch.randn(2, 5, 3)),
    "MultiHeadAttention": (MultiHeadAttention(8, 2), torch.randn(2, 5, 8)),
    "FeedForward": (FeedForward(8, 16), torch.randn(2, 5, 8)),
    "TransformerBlock": (TransformerBlock(8, 2), torch.randn(2, 5, 8)),
    "Encoder": (Encoder(8, 2, 1), torch.randn(2, 5, 8)),
}


@pytest.mark.parametrize("name", list(FLOAT_INPUTS))
def test_float_inputs_rank_dtype_and_length(name):
    module, x = FLOAT_INPUTS[name]
    module(x)
    with pytest.raises(ValueError, match=r"expected x\w* of shape \(B, T\w*, C"):
        module(x[0])
    with pytest.raises(ValueError, match=r"expected x\w* of shape \(B, T\w*, C"):
        module(x[None])
    with pytest.raises(ValueError, match=r"to hold floating-point features, got dtype torch.int64"):
        module(x.long())
    with pytest.raises(ValueError, match="has sequence length 0"):
        module(x[:, :0])
    with pytest.raises(TypeError, match=r"to be a torch.Tensor of shape"):
        module(x.tolist())


@pytest.mark.parametrize(
    "cell,x", [(RNNCell(3, 4), torch.randn(2, 3)), (LSTMCell(3, 4), torch.randn(2, 3))]
)
def test_cell_inputs(cell, x):
    with pytest.raises(ValueError, match=r"expected x of shape \(B, C\)"):
        cell(x[None])
    with pytest.raises(ValueError, match="floating-point features"):
        cell(x.long())


def test_attention_function_inputs():
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match=r"expected q of shape \(B, nh, T, hs\)"):
        scaled_dot_product_attention(q[0], q, q)
    with pytest.raises(ValueError, match="expected k to hold floating-point"):
        scaled_dot_product_attention(q, q.long(), q)
    with pytest.raises(ValueError, match="expected query to hold floating-point"):
        DotAttention()(torch.ones(2, 4, dtype=torch.long), torch.randn(2, 5, 4))


def _lms():
    torch.manual_seed(0)
    return {
        "gpt": GPT(GPTConfig(10, block_size=8, n_layer=1, n_head=2, n_embd=8)),
        "lstm fused": build_lm("lstm", 10, n_embd=4, hidden_size=6),
        "gru scratch": build_lm("gru", 10, n_embd=4, hidden_size=6, impl="scratch"),
        "lstm proj": build_lm("lstm", 10, n_embd=4, hidden_size=6, cell_options={"proj_size": 3}),
    }


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("name", list(_lms()))
def test_language_model_token_ids(name):
    model = _lms()[name]
    assert model(torch.tensor([[1, 9]]))[0].shape == (1, 2, 10)
    for bad in ([[1, 99]], [[-1, 2]]):
        with pytest.raises(ValueError, match=r"idx holds token ids in \[-?\d+, \d+\], outside the"):
            model(torch.tensor(bad))
    with pytest.raises(ValueError, match=r"expected idx to hold integer token ids"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"expected idx of shape \(B, T\) token ids"):
        model(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="idx has sequence length 0"):
        model(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected targets of shape \(B, T\) = \(1, 2\)"):
        model(torch.tensor([[1, 2]]), torch.tensor([1, 2]))


def test_gpt_context_longer_than_block_size():
    model = _lms()["gpt"]
    with pytest.raises(ValueError, match="T=9 exceeds block_size=8"):
        model(torch.zeros(1, 9, dtype=torch.long))


@pytest.mark.parametrize("kind", ["rnn", "transformer"])
def test_seq2seq_token_ids(kind):
    torch.manual_seed(0)
    if kind == "rnn":
        model = RNNSeq2Seq(Seq2SeqConfig(5, 6, n_embd=4, hidden_size=6, attention="dot"))
    else:
        model = EncoderDecoder(5, 6, d_model=8, nhead=2, num_layers=1, block_size=6)
    src, tgt = torch.tensor([[1, 4, 2]]), torch.tensor([[0, 5]])
    model(src, tgt, tgt)
    with pytest.raises(ValueError, match=r"src holds token ids in \[1, 5\], outside .* 0..4"):
        model(torch.tensor([[1, 5]]), tgt)
    with pytest.raises(ValueError, match=r"tgt_in holds token ids in \[-1, 5\], outside .* 0..5"):
        model(src, torch.tensor([[-1, 5]]))
    with pytest.raises(ValueError, match="expected src to hold integer token ids"):
        model(src.float(), tgt)
    with pytest.raises(ValueError, match="tgt_in has sequence length 0"):
        model(src, tgt[:, :0])
    with pytest.raises(ValueError, match=r"expected tgt_out of shape \(B, T\) = \(1, 2\)"):
        model(src, tgt, tgt[:, :1])
    if kind == "transformer":
        with pytest.raises(ValueError, match=r"<= block_size=6, got T=7"):
            model(torch.ones(1, 7, dtype=torch.long), tgt)
