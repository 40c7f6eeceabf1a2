"""Recurrent language models, generate, count_params, flops_per_token and build_lm."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from seqlab.models import (
    GPT,
    RecurrentLM,
    RecurrentLMConfig,
    build_lm,
    count_params,
    flops_per_token,
    generate,
    init_forget_bias,
    make_recurrent,
)

V, E, H = 17, 8, 12  # vocabulary, embedding, hidden


def tiny_lm(cell="lstm", impl="fused", **kw):
    torch.manual_seed(0)
    return RecurrentLM(
        RecurrentLMConfig(vocab_size=V, cell=cell, n_embd=E, hidden_size=H, impl=impl, **kw)
    )


def tokens(B, T, seed=0):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


class NoStep(nn.Module):
    """Hides a model's ``step`` so generate must re-run it on the whole context."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, idx, targets=None):
        return self.model(idx, targets)


@pytest.mark.parametrize(
    "cell,impl", [("rnn", "fused"), ("lstm", "fused"), ("gru", "fused"), ("lstm", "scratch")]
)
def test_forward_shapes_and_loss_at_init_is_log_vocab(cell, impl):
    model = tiny_lm(cell, impl, n_layer=2)
    idx, targets = tokens(4, 16), tokens(4, 16, seed=1)
    logits, loss = model(idx, targets)
    assert logits.shape == (4, 16, V)
    assert abs(loss.item() - math.log(V)) < 0.3
    assert model(idx)[1] is None
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_targets_minus_one_are_ignored():
    model = tiny_lm("gru")
    idx, targets = tokens(2, 6), tokens(2, 6, seed=1)
    masked = targets.clone()
    masked[:, :3] = -1
    logits, loss = model(idx, masked)
    expected = torch.nn.functional.cross_entropy(
        logits[:, 3:].reshape(-1, V), targets[:, 3:].reshape(-1)
    )
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("impl", ["fused", "scratch"])
def test_step_streams_the_same_logits_as_one_pass(impl):
    model = tiny_lm("lstm", impl, n_layer=2).double().eval()
    idx = tokens(2, 9)
    whole, _ = model(idx)
    first, state = model.step(idx[:, :5])
    rest, _ = model.step(idx[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)
    # forward(state=...) starts from a given state
    torch.testing.assert_close(model(idx[:, 5:], state=state)[0], rest)


def test_generate_shape_determinism_and_streaming_equals_rerunning():
    model = tiny_lm("gru").double()
    prompt = tokens(3, 4)
    out = generate(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 14) and out.dtype == torch.long
    assert torch.equal(out[:, :4], prompt)
    again = generate(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    rerun = generate(NoStep(model), prompt, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, rerun)  # the O(1)-per-token path samples the same text
    greedy = generate(model, prompt, 6, temperature=0)
    assert torch.equal(greedy, generate(NoStep(model), prompt, 6, temperature=0))
    top1 = generate(model, prompt, 6, top_k=1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(top1, greedy)
    assert generate(model, prompt, 0).shape == (3, 4)


def test_generate_restores_training_mode_and_crops_to_block_size():
    model = tiny_lm("lstm", dropout=0.2).train()
    generate(model, tokens(1, 3), 2)
    assert model.training

    @dataclass
    class Cfg:
        block_size: int = 4

    class Windowed(nn.Module):  # a stand-in for GPT: refuses contexts longer than block_size
        def __init__(self):
            super().__init__()
            self.config, self.seen = Cfg(), []

        def forward(self, idx, targets=None):
            assert idx.shape[1] <= self.config.block_size
            self.seen.append(idx.shape[1])
            return torch.zeros(idx.shape[0], idx.shape[1], V), None

    windowed = Windowed()
    out = generate(windowed, tokens(2, 3), 5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 8) and windowed.seen == [3, 4, 4, 4, 4]


@pytest.mark.parametrize(
    "kw,match",
    [
        (
            {"temperature": -1.0},
            r"temperature must be a finite number >= 0 \(0 = greedy\), got -1.0",
        ),
        ({"max_new_tokens": -2}, r"max_new_tokens must be an int >= 0, got -2"),
        ({"top_k": 0}, r"top_k must be a positive int, got 0"),
        ({"idx": torch.tensor([1, 2])}, r"expected idx of shape \(B, T\)"),
        ({"idx": torch.zeros(2, 0, dtype=torch.long)}, r"idx has sequence length 0"),
    ],
)
def test_generate_errors(kw, match):
    args = {"idx": tokens(1, 3), "max_new_tokens": 2, **kw}
    with pytest.raises(ValueError, match=match):
        generate(tiny_lm("rnn"), **args)


def test_lm_input_errors():
    model = tiny_lm("rnn")
    with pytest.raises(ValueError, match=r"token ids \(torch.long\), got dtype torch.float32"):
        model(torch.zeros(2, 3))
    with pytest.raises(
        ValueError, match=r"idx holds token ids in \[0, 17\], outside the vocabulary 0..16"
    ):
        model(torch.tensor([[0, 17]]))
    with pytest.raises(
        ValueError, match=r"expected idx of shape \(B, T\) token ids \(2 dims\), got shape \(3,\)"
    ):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(
        ValueError,
        match=r"expected targets of shape \(B, T\) = \(2, 3\) like idx, got \(2, 4\)",
    ):
        model(tokens(2, 3), tokens(2, 4))


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"cell": "lstmx"}, r"unknown cell 'lstmx'; valid: 'rnn', 'lstm', 'gru'"),
        ({"impl": "cuda"}, r"unknown impl 'cuda'; valid: 'scratch', 'fused'"),
        ({"vocab_size": 0}, r"vocab_size must be a positive int, got 0"),
        ({"hidden_size": -3}, r"hidden_size must be a positive int, got -3"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\), got 1.0"),
        ({"cell_options": {"bidirectional": True}}, r"cannot be bidirectional"),
        ({"cell_options": {"peephole": True}}, r"impl='fused' \(torch.nn.LSTM\) has no peephole"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        RecurrentLM(RecurrentLMConfig(**{"vocab_size": V, **kw}))


def test_build_lm():
    for arch, cls in [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)]:
        model = build_lm(arch, V, n_embd=E, hidden_size=H)
        assert isinstance(model, RecurrentLM) and isinstance(model.rnn, cls)
    peep = build_lm("lstm", V, impl="scratch", cell_options={"peephole": True})
    assert peep.rnn.peephole
    with pytest.raises(
        ValueError, match=r"unknown arch 'mamba'; valid: 'rnn', 'lstm', 'gru', 'gpt'"
    ):
        build_lm("mamba", V)
    with pytest.raises(
        ValueError, match=r"unknown option\(s\) block_size, n_head for arch 'lstm'; valid: n_embd"
    ):
        build_lm("lstm", V, n_head=4, block_size=64)
    with pytest.raises(ValueError, match=r"arch 'gru' sets the cell; do not pass cell='lstm'"):
        build_lm("gru", V, cell="lstm")


def test_build_lm_gpt():
    gpt = build_lm("gpt", V, block_size=8, n_layer=1, n_head=2, n_embd=16)
    assert isinstance(gpt, GPT)
    assert generate(gpt, tokens(2, 3), 9, generator=torch.Generator().manual_seed(0)).shape == (
        2,
        12,
    )
    assert 0 < flops_per_token(gpt, training=False) < flops_per_token(gpt)


def lstm_layer_params(C, H):
    return 4 * (H * C + H * H + 2 * H)


@pytest.mark.parametrize("impl", ["fused", "scratch"])
def test_count_params_closed_forms(impl):
    C, Hh = 5, 7
    assert count_params(make_recurrent("rnn", C, Hh, impl=impl)) == Hh * C + Hh * Hh + 2 * Hh
    assert count_params(make_recurrent("gru", C, Hh, impl=impl)) == 3 * (Hh * C + Hh * Hh + 2 * Hh)
    two_layers = make_recurrent("lstm", C, Hh, 2, impl=impl)
    assert count_params(two_layers) == lstm_layer_params(C, Hh) + lstm_layer_params(Hh, Hh)
    bi = make_recurrent("lstm", C, Hh, 2, impl=impl, bidirectional=True)
    assert count_params(bi) == 2 * (lstm_layer_params(C, Hh) + lstm_layer_params(2 * Hh, Hh))
    model = tiny_lm("lstm", impl)
    n_body = lstm_layer_params(E, H) + H * V + V  # recurrent layer + head
    assert count_params(model) == V * E + n_body
    assert count_params(model, non_embedding=True) == n_body
    # forward FLOPs: 2 per weight of W_ih (4H x E), W_hh (4H x H) and the head (V x H)
    assert flops_per_token(model, training=False) == 2 * (4 * H * E + 4 * H * H + V * H)
    assert flops_per_token(model) == 3 * flops_per_token(model, training=False)  # default: training


def test_peephole_adds_3h_per_layer_and_direction():
    plain = make_recurrent("lstm", 5, 7, 2, bidirectional=True)
    peep = make_recurrent("lstm", 5, 7, 2, bidirectional=True, peephole=True)
    assert count_params(peep) - count_params(plain) == 2 * 2 * 3 * 7


def test_forget_bias_init():
    model = tiny_lm("lstm", "scratch", n_layer=2, forget_bias=1.0)
    for k in (0, 1):
        b_ih, b_hh = getattr(model.rnn, f"bias_ih_l{k}"), getattr(model.rnn, f"bias_hh_l{k}")
        assert torch.all(b_ih[H : 2 * H] == 1.0) and torch.all(b_hh[H : 2 * H] == 0.0)
    fused = init_forget_bias(nn.LSTM(3, 4), 2.0)  # the same names work on torch.nn.LSTM
    assert torch.all(fused.bias_ih_l0[4:8] + fused.bias_hh_l0[4:8] == 2.0)
    untouched = tiny_lm("lstm", forget_bias=None)
    assert not torch.all(untouched.rnn.bias_ih_l0[H : 2 * H] == 1.0)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("impl", ["fused", "scratch"])
def test_lstm_lm_with_projection(impl):
    model = tiny_lm("lstm", impl, n_layer=2, cell_options={"proj_size": 5})
    assert model.head.in_features == 5
    idx = tokens(2, 6)
    logits, loss = model(idx, idx)
    assert logits.shape == (2, 6, V) and torch.isfinite(loss)
    _, (h, c) = model.step(idx)
    assert h.shape == (2, 2, 5) and c.shape == (2, 2, H)
    # streaming piece by piece gives the logits of the whole text
    first, state = model.step(idx[:, :4])
    rest, _ = model.step(idx[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, rest], 1), logits, atol=1e-5, rtol=1e-5)
    out = generate(model, idx[:, :2], 5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 7)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_lstm_lm_projection_same_in_both_impls():
    torch.manual_seed(0)
    fused = tiny_lm("lstm", "fused", cell_options={"proj_size": 5}).double()
    scratch = tiny_lm("lstm", "scratch", cell_options={"proj_size": 5}).double()
    scratch.load_state_dict(fused.state_dict())
    idx = tokens(2, 7)
    torch.testing.assert_close(scratch(idx)[0], fused(idx)[0], atol=1e-5, rtol=1e-5)


class Fp16Logits(nn.Module):
    """A model whose logits come out in float16, as under fp16 autocast or .half()."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits  # (V,)
        self.config = type("Cfg", (), {"vocab_size": logits.shape[0], "block_size": 4})()

    def forward(self, idx, targets=None):
        assert idx.shape[1] <= 4  # generate crops to block_size
        return self.logits.expand(idx.shape[0], idx.shape[1], -1).half(), None


@pytest.mark.parametrize("temperature", [1e-3, 1e-8, 0.0])
def test_generate_samples_in_float32(temperature):
    logits = torch.tensor([30.0, 40.0, 39.0, -60000.0])  # fp16: 40 / 1e-3 overflows to inf
    out = generate(Fp16Logits(logits), torch.zeros(2, 6, dtype=torch.long), 8, temperature)
    assert out.shape == (2, 14) and (out[:, 6:] == 1).all()  # tiny temperature -> argmax


def test_generate_under_bfloat16_autocast():
    model = tiny_lm("gru")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = generate(model, tokens(2, 3), 6, temperature=1e-4)
    greedy = generate(model, tokens(2, 3), 6, temperature=0)
    assert out.shape == (2, 9) and out.dtype == torch.long
    assert (out[:, :4] == greedy[:, :4]).all()  # bf16 may flip a near-tie later on


def test_generate_checks_prompt_ids_even_beyond_the_context():
    gpt = build_lm("gpt", V, block_size=4, n_layer=1, n_head=2, n_embd=8)
    prompt = tokens(1, 10)
    prompt[0, 0] = V  # outside the vocabulary, and cropped away before the first forward
    with pytest.raises(ValueError, match=r"idx holds token ids in \[\d+, 17\], outside"):
        generate(gpt, prompt, 2)
    with pytest.raises(ValueError, match="expected idx to hold integer token ids"):
        generate(gpt, prompt.float(), 2)


def test_next_token_probs_crops_a_long_prompt():
    from seqlab.experiments.sampling import next_token_probs

    gpt = build_lm("gpt", V, block_size=4, n_layer=1, n_head=2, n_embd=8)
    long = tokens(1, 30)[0]
    p = next_token_probs(gpt, long, temperature=0.5)
    assert p.shape == (V,) and torch.isclose(p.sum(), torch.tensor(1.0, dtype=p.dtype))
    torch.testing.assert_close(p, next_token_probs(gpt, long[-4:], temperature=0.5))
