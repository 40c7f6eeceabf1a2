"""Transformer: positional encodings, blocks vs nn.TransformerEncoderLayer, GPT, errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.testing import assert_close

from seqlab.models.accounting import count_params
from seqlab.models.gpt import GPT, GPTConfig
from seqlab.models.transformer import (
    Decoder,
    Encoder,
    EncoderDecoder,
    TransformerBlock,
    sinusoidal_positional_encoding,
)

D = torch.float64
TOL = dict(atol=1e-5, rtol=1e-5)


def _tiny(**kw) -> GPTConfig:
    cfg = dict(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16)
    return GPTConfig(**{**cfg, **kw})


# ----------------------------------------------------------------------------- positions


@pytest.mark.parametrize("d", [8, 7, 1])
def test_sinusoidal_matches_closed_form(d):
    T = 12
    expected = np.zeros((T, d))
    for pos in range(T):
        for col in range(d):
            i = col // 2
            angle = pos / math.pow(10000.0, 2 * i / d)
            expected[pos, col] = math.sin(angle) if col % 2 == 0 else math.cos(angle)
    pe = sinusoidal_positional_encoding(T, d, dtype=D)
    np.testing.assert_allclose(pe.numpy(), expected, rtol=0, atol=1e-12)
    assert sinusoidal_positional_encoding(T, d).dtype == torch.float32


def test_sinusoidal_errors():
    with pytest.raises(ValueError, match="d_model must be a positive int, got 0"):
        sinusoidal_positional_encoding(4, 0)
    with pytest.raises(ValueError, match=r"sequence length T must be an int >= 0, got T=-1"):
        sinusoidal_positional_encoding(-1, 4)


# ----------------------------------------------------------------------------- block vs torch


def _copy_block_into_torch(block: TransformerBlock, ref: nn.TransformerEncoderLayer) -> None:
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(block.attn.qkv.weight)
        ref.self_attn.in_proj_bias.copy_(block.attn.qkv.bias)
        ref.self_attn.out_proj.weight.copy_(block.attn.proj.weight)
        ref.self_attn.out_proj.bias.copy_(block.attn.proj.bias)
        ref.linear1.load_state_dict(block.ffn.fc.state_dict())
        ref.linear2.load_state_dict(block.ffn.proj.state_dict())
        ref.norm1.load_state_dict(block.ln1.state_dict())
        ref.norm2.load_state_dict(block.ln2.state_dict())


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_block_equals_nn_transformer_encoder_layer(norm_first, activation):
    torch.manual_seed(0)
    block = TransformerBlock(
        16, 4, dim_feedforward=24, norm_first=norm_first, activation=activation
    ).to(D)
    ref = nn.TransformerEncoderLayer(
        16,
        4,
        dim_feedforward=24,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=norm_first,
        dtype=D,
    )
    with torch.no_grad():  # non-trivial LayerNorm parameters
        for ln in (block.ln1, block.ln2):
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.uniform_(-0.5, 0.5)
    _copy_block_into_torch(block, ref)
    x = torch.randn(3, 7, 16, dtype=D)
    pad = torch.ones(3, 7, dtype=torch.bool)
    pad[1, 5:] = False
    assert_close(block(x), ref(x), **TOL)
    out, expected = block(x, mask=pad), ref(x, src_key_padding_mask=~pad)
    assert_close(out[pad], expected[pad], **TOL)  # torch's fast path may zero padded rows
    tri = nn.Transformer.generate_square_subsequent_mask(7, dtype=D)
    assert_close(block(x, causal=True), ref(x, src_mask=tri, is_causal=True), **TOL)


def test_block_cross_attention_needs_memory():
    block = TransformerBlock(8, 2, cross=True)
    x, mem = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    x2, w_self, w_cross = block.forward_with_weights(x, mem, causal=True)
    assert x2.shape == (2, 3, 8) and w_self.shape == (2, 2, 3, 3) and w_cross.shape == (2, 2, 3, 5)
    with pytest.raises(ValueError, match="memory"):
        block(x)
    with pytest.raises(ValueError, match="norm_first must be True or False, got 'pre'"):
        TransformerBlock(8, 2, norm_first="pre")


def test_encoder_decoder_shapes_and_decoder_causality():
    torch.manual_seed(0)
    enc, dec = Encoder(16, 4, num_layers=2), Decoder(16, 4, num_layers=2)
    src, tgt = torch.randn(2, 6, 16), torch.randn(2, 5, 16)
    mem = enc(src, mask=torch.ones(2, 6, dtype=torch.bool))
    y = dec(tgt, mem)
    assert mem.shape == (2, 6, 16) and y.shape == (2, 5, 16)
    tgt2 = tgt.clone()
    tgt2[:, 3] += 1.0
    assert torch.equal(dec(tgt2, mem)[:, :3], y[:, :3])
    model = EncoderDecoder(
        src_vocab_size=9, tgt_vocab_size=7, d_model=16, nhead=2, num_layers=1, pad_id=0
    )
    logits, loss = model(
        torch.randint(1, 9, (2, 6)), torch.randint(0, 7, (2, 4)), torch.randint(0, 7, (2, 4))
    )
    assert logits.shape == (2, 4, 7) and loss.ndim == 0


# ----------------------------------------------------------------------------- GPT


@pytest.mark.parametrize(
    "pos,norm_first,bias", [("learned", True, True), ("sinusoidal", False, False)]
)
def test_gpt_shapes_and_loss_at_init(pos, norm_first, bias):
    torch.manual_seed(0)
    model = GPT(_tiny(pos=pos, norm_first=norm_first, bias=bias))
    idx = torch.randint(0, 11, (4, 16))
    targets = torch.randint(0, 11, (4, 16))
    logits, loss = model(idx, targets)
    assert logits.shape == (4, 16, 11)
    assert abs(loss.item() - math.log(11)) < 0.1  # near-uniform predictions at init
    assert model(idx[:, :5])[1] is None


def test_gpt_causal_never_leaks_future():
    torch.manual_seed(0)
    model = GPT(_tiny()).eval()
    idx = torch.randint(0, 11, (2, 12))
    logits, _ = model(idx)
    idx2 = idx.clone()
    idx2[:, 7] = (idx2[:, 7] + 1) % 11
    logits2, _ = model(idx2)
    assert torch.equal(logits[:, :7], logits2[:, :7])
    assert not torch.allclose(logits[:, 7:], logits2[:, 7:])


def test_gpt_attention_maps():
    torch.manual_seed(0)
    model = GPT(_tiny())
    idx = torch.randint(0, 11, (3, 9))
    maps = model.attention_maps(idx)
    assert len(maps) == 2 and all(m.shape == (3, 2, 9, 9) for m in maps)
    for m in maps:
        assert_close(m.sum(-1), torch.ones(3, 2, 9))
        assert (m.triu(diagonal=1) == 0).all()


def test_gpt_counts():
    cfg = _tiny()
    model = GPT(cfg)
    C, L, V, T = cfg.n_embd, cfg.n_layer, cfg.vocab_size, cfg.block_size
    per_layer = 4 * C * C + 4 * C + 8 * C * C + 4 * C + C + 4 * C  # attn, ffn (bias) + 2 LN
    body = L * per_layer + 2 * C  # blocks, ln_f
    assert count_params(model) == V * C + T * C + body  # tied wte/lm_head once, wpe
    assert count_params(model, non_embedding=True) == body  # Kaplan's N: no wte, no wpe
    n_mm = L * 12 * C * C + V * C  # qkv, proj, fc, proj; lm_head
    assert model.flops_per_token(training=False) == 2 * n_mm + 4 * L * T * C
    assert model.flops_per_token() == 3 * model.flops_per_token(training=False)
    assert model.flops_per_token(T=4) == 3 * (2 * n_mm + 4 * L * 4 * C)


def test_gpt_learns():
    torch.manual_seed(0)
    model = GPT(_tiny())
    idx = torch.randint(0, 11, (4, 17))
    x, y = idx[:, :-1], idx[:, 1:]
    first = model(x, y)[1].item()
    # a tiny model learns faster with the for-loop AdamW on a busy 2-core machine
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, foreach=False)
    for _ in range(12):
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        opt.step()
    assert loss.item() < first - 0.5
    assert not hasattr(model, "configure_optimizer")  # the optimiser belongs to seqlab.train


def test_gpt_errors():
    model = GPT(_tiny())
    with pytest.raises(ValueError, match=r"T=17 exceeds block_size=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected idx of shape \(B, T\) token ids"):
        model(torch.zeros(16, dtype=torch.long))
    with pytest.raises(ValueError, match="sequence length 0"):
        model(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="integer token ids"):
        model(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="targets of shape"):
        model(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"n_embd=10 must be a multiple of n_head=4"):
        GPTConfig(vocab_size=5, n_embd=10)
    with pytest.raises(ValueError, match="unknown pos 'rope'"):
        GPTConfig(vocab_size=5, pos="rope")
    with pytest.raises(ValueError, match="vocab_size must be a positive int, got 0"):
        GPTConfig(vocab_size=0)
