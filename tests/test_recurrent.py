"""The from-scratch RNN, LSTM and GRU against their torch.nn twins, and their input checks.

Everything runs in float64 on tiny sizes, so "equal" means equal to 1e-5 (in practice ~1e-15).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.models import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNCell,
    make_recurrent,
)

C, H, T = 3, 4, 5  # input features, hidden size, sequence length
TOL = {"atol": 1e-5, "rtol": 1e-5}
CELL_CASES = [
    ("rnn", {"nonlinearity": "tanh"}),
    ("rnn", {"nonlinearity": "relu"}),
    ("lstm", {}),
    ("gru", {}),
]


def twins(cell, num_layers=1, **kw):
    """A torch.nn module and our scratch layer holding the same float64 weights."""
    fused = make_recurrent(cell, C, H, num_layers, impl="fused", **kw).double()
    scratch = make_recurrent(cell, C, H, num_layers, impl="scratch", **kw).double()
    scratch.load_state_dict(fused.state_dict())
    return fused, scratch


def random_state(cell, L_D, B, generator):
    shape = (L_D, B, H)
    h = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    if cell != "lstm":
        return h, [h]
    c = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    return (h, c), [h, c]


def loss_and_grads(module, x, state, leaves, generator_seed=1):
    """A random linear function of every output, and its gradients w.r.t. inputs and parameters."""
    out, final = module(x, state)
    finals = list(final) if isinstance(final, tuple) else [final]
    g = torch.Generator().manual_seed(generator_seed)
    loss = sum((t * torch.randn(t.shape, dtype=t.dtype, generator=g)).sum() for t in [out, *finals])
    names, params = zip(*module.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, [x, *leaves, *params])
    n = 1 + len(leaves)
    return out, finals, grads[:n], dict(zip(names, grads[n:], strict=True))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell,options", CELL_CASES, ids=["rnn-tanh", "rnn-relu", "lstm", "gru"])
def test_scratch_layer_equals_torch(cell, options, num_layers, bidirectional, with_state, batch):
    torch.manual_seed(0)
    fused, scratch = twins(cell, num_layers, bidirectional=bidirectional, **options)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, T, C, dtype=torch.float64, generator=g, requires_grad=True)
    L_D = num_layers * (2 if bidirectional else 1)
    state, leaves = random_state(cell, L_D, batch, g) if with_state else (None, [])

    out_f, finals_f, input_grads_f, param_grads_f = loss_and_grads(fused, x, state, leaves)
    out_s, finals_s, input_grads_s, param_grads_s = loss_and_grads(scratch, x, state, leaves)

    assert out_s.shape == (batch, T, (2 if bidirectional else 1) * H)
    torch.testing.assert_close(out_s, out_f, **TOL)
    for a, b in zip(finals_s, finals_f, strict=True):
        assert a.shape == (L_D, batch, H)
        torch.testing.assert_close(a, b, **TOL)
    for a, b in zip(input_grads_s, input_grads_f, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    assert param_grads_s.keys() == param_grads_f.keys()
    for name in param_grads_f:
        torch.testing.assert_close(param_grads_s[name], param_grads_f[name], **TOL, msg=name)


@pytest.mark.parametrize(
    "scratch_cls,torch_cls,kw",
    [
        (RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
        (LSTMCell, nn.LSTMCell, {}),
        (GRUCell, nn.GRUCell, {}),
    ],
)
def test_scratch_cell_equals_torch_cell(scratch_cls, torch_cls, kw):
    torch.manual_seed(0)
    ref = torch_cls(C, H, **kw).double()
    ours = scratch_cls(C, H, **kw).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, C, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, H, dtype=torch.float64)
    state = (h, torch.randn(2, H, dtype=torch.float64)) if torch_cls is nn.LSTMCell else h
    for a, b in zip(ours(x, state), ref(x, state), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    (gx_ours,) = torch.autograd.grad(ours(x)[0].sum(), x)
    (gx_ref,) = torch.autograd.grad(ref(x)[0].sum(), x)
    torch.testing.assert_close(gx_ours, gx_ref, **TOL)


def test_dropout_only_between_layers_and_only_in_training():
    torch.manual_seed(0)
    x = torch.randn(2, T, C)
    one = LSTM(C, H, num_layers=1, dropout=0.5).train()
    torch.testing.assert_close(one(x)[0], one.eval()(x)[0])  # a single layer: nothing between
    two = LSTM(C, H, num_layers=2, dropout=0.5).train()
    assert not torch.allclose(two(x)[0], two.eval()(x)[0])
    fused, scratch = twins("gru", 2, dropout=0.5)
    xd = x.double()
    torch.testing.assert_close(scratch.eval()(xd)[0], fused.eval()(xd)[0], **TOL)


def cho_gru_reference(x, h, layer):
    """Cho et al. (2014), written out: the reset gate scales h *before* the product with W_hn."""
    W_ir, W_iz, W_in = layer.weight_ih_l0.chunk(3)
    W_hr, W_hz, W_hn = layer.weight_hh_l0.chunk(3)
    b_ir, b_iz, b_in = layer.bias_ih_l0.chunk(3)
    b_hr, b_hz, b_hn = layer.bias_hh_l0.chunk(3)
    outs = []
    for t in range(x.shape[1]):
        x_t = x[:, t]
        r = torch.sigmoid(x_t @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
        z = torch.sigmoid(x_t @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
        n = torch.tanh(x_t @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs, dim=1)


def test_gru_reset_before_is_cho_and_differs_from_torch():
    torch.manual_seed(0)
    fused = nn.GRU(C, H, batch_first=True).double()
    cho = GRU(C, H, reset="before").double()
    cho.load_state_dict(fused.state_dict())
    x = torch.randn(3, T, C, dtype=torch.float64)
    h0 = torch.randn(1, 3, H, dtype=torch.float64)
    out, h_n = cho(x, h0)
    with torch.no_grad():
        torch.testing.assert_close(out, cho_gru_reference(x, h0[0], cho), **TOL)
    torch.testing.assert_close(h_n[0], out[:, -1])
    assert (out - fused(x, h0)[0]).abs().max() > 1e-3  # same weights, a different function


def test_peephole_lstm_with_zero_peepholes_equals_torch():
    torch.manual_seed(0)
    fused = nn.LSTM(C, H, num_layers=2, bidirectional=True, batch_first=True).double()
    peep = LSTM(C, H, num_layers=2, bidirectional=True, peephole=True).double()
    missing = peep.load_state_dict(fused.state_dict(), strict=False).missing_keys
    assert sorted(missing) == sorted(f"weight_ch_l{k}{s}" for k in (0, 1) for s in ("", "_reverse"))
    assert peep.weight_ch_l0.shape == (3, H)
    x = torch.randn(3, T, C, dtype=torch.float64)
    assert (peep(x)[0] - fused(x)[0]).abs().max() > 1e-4  # random peepholes change the output
    with torch.no_grad():
        for name in missing:
            getattr(peep, name).zero_()
    out, (h_n, c_n) = peep(x)
    ref_out, (ref_h, ref_c) = fused(x)
    for a, b in [(out, ref_out), (h_n, ref_h), (c_n, ref_c)]:
        torch.testing.assert_close(a, b, **TOL)


def test_peephole_cell_follows_gers_schmidhuber():
    """i and f look at c_{t-1}; o looks at the new c_t."""
    torch.manual_seed(0)
    cell = LSTMCell(C, H, peephole=True).double()
    x = torch.randn(2, C, dtype=torch.float64)
    h, c = torch.randn(2, H, dtype=torch.float64), torch.randn(2, H, dtype=torch.float64)
    gates = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    a_i, a_f, a_g, a_o = gates.chunk(4, dim=-1)
    w_ci, w_cf, w_co = cell.weight_ch
    i, f = torch.sigmoid(a_i + w_ci * c), torch.sigmoid(a_f + w_cf * c)
    c_new = f * c + i * torch.tanh(a_g)
    h_new = torch.sigmoid(a_o + w_co * c_new) * torch.tanh(c_new)
    got_h, got_c = cell(x, (h, c))
    torch.testing.assert_close(got_c, c_new.detach(), **TOL)
    torch.testing.assert_close(got_h, h_new.detach(), **TOL)


def test_lstm_gates_agree_with_forward():
    torch.manual_seed(0)
    lstm = LSTM(C, H).double()
    x = torch.randn(2, T, C, dtype=torch.float64)
    state = (torch.randn(1, 2, H, dtype=torch.float64), torch.randn(1, 2, H, dtype=torch.float64))
    rec = lstm.gates(x, state)
    assert set(rec) == {"i", "f", "g", "o", "c", "h"}
    assert all(v.shape == (2, T, H) and not v.requires_grad for v in rec.values())
    out, (h_n, c_n) = lstm(x, state)
    torch.testing.assert_close(rec["h"], out.detach())
    torch.testing.assert_close(rec["c"][:, -1], c_n[0].detach())
    c_prev = torch.cat([state[1][0][:, None], rec["c"][:, :-1]], dim=1)  # (B, T, H)
    torch.testing.assert_close(rec["c"], rec["f"] * c_prev + rec["i"] * rec["g"])
    torch.testing.assert_close(rec["h"], rec["o"] * torch.tanh(rec["c"]))
    assert 0 < rec["f"].min() and rec["f"].max() < 1


def test_gru_gates_agree_with_forward():
    torch.manual_seed(0)
    gru = GRU(C, H).double()
    x = torch.randn(2, T, C, dtype=torch.float64)
    rec = gru.gates(x)
    assert set(rec) == {"r", "z", "n", "h"}
    torch.testing.assert_close(rec["h"], gru(x)[0].detach())
    h_prev = torch.cat([torch.zeros(2, 1, H, dtype=torch.float64), rec["h"][:, :-1]], dim=1)
    torch.testing.assert_close(rec["h"], (1 - rec["z"]) * rec["n"] + rec["z"] * h_prev)


def test_make_recurrent_both_impls():
    for cell, scratch_cls, torch_cls in [
        ("rnn", RNN, nn.RNN),
        ("lstm", LSTM, nn.LSTM),
        ("gru", GRU, nn.GRU),
    ]:
        scratch = make_recurrent(cell, C, H, 2, impl="scratch", bidirectional=True)
        fused = make_recurrent(cell, C, H, 2, impl="fused", bidirectional=True)
        assert isinstance(scratch, scratch_cls) and isinstance(fused, torch_cls)
        assert fused.batch_first
        x = torch.randn(2, T, C)
        assert scratch(x)[0].shape == fused(x)[0].shape == (2, T, 2 * H)
    assert make_recurrent("lstm", C, H).peephole is False  # default impl is scratch
    assert make_recurrent("lstm", C, H, impl="fused", peephole=False).hidden_size == H
    assert make_recurrent("gru", C, H, impl="scratch", reset="before").reset == "before"


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: make_recurrent("transformer", C, H),
            r"unknown cell 'transformer'; valid: 'rnn', 'lstm', 'gru'",
        ),
        (
            lambda: make_recurrent("lstm", C, H, impl="cudnn"),
            r"unknown impl 'cudnn'; valid: 'scratch', 'fused'",
        ),
        (lambda: make_recurrent("lstm", C, H, impl="fused", peephole=True), r"no peephole"),
        (lambda: make_recurrent("gru", C, H, impl="fused", reset="before"), r"reset='before'"),
        (
            lambda: make_recurrent("gru", C, 0, impl="fused"),
            r"hidden_size must be a positive int, got 0",
        ),
        (lambda: LSTM(C, 0), r"hidden_size must be a positive int, got 0"),
        (lambda: GRU(-1, H), r"input_size must be a positive int, got -1"),
        (lambda: RNN(C, H, num_layers=0), r"num_layers must be a positive int, got 0"),
        (
            lambda: RNN(C, H, nonlinearity="sigmoid"),
            r"unknown nonlinearity 'sigmoid'; valid: 'tanh', 'relu'",
        ),
        (
            lambda: GRU(C, H, reset="sometimes"),
            r"unknown reset 'sometimes'; valid: 'after', 'before'",
        ),
        (lambda: LSTM(C, H, num_layers=2, dropout=1.5), r"dropout must be a number in \[0, 1\)"),
        (lambda: LSTMCell(C, 2.5), r"hidden_size must be a positive int, got 2.5"),
    ],
)
def test_construction_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_input_and_state_errors():
    lstm, gru = LSTM(C, H, num_layers=2), GRU(C, H, bidirectional=True)
    x = torch.randn(3, T, C)
    with pytest.raises(
        ValueError, match=r"expected x of shape \(B, T, C=3\) \(3 dims\), got shape \(5, 3\)"
    ):
        gru(torch.randn(T, C))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T, C=3\) with size 3 in dim 2"):
        gru(torch.randn(3, T, C + 1))
    with pytest.raises(ValueError, match=r"sequence length 0"):
        lstm(torch.randn(3, 0, C))
    with pytest.raises(
        ValueError,
        match=r"expected h of shape \(L\*D, B, H\) = \(2, 3, 4\) for input batch B=3, got \(1, 3, 4\)",
    ):
        gru(x, torch.zeros(1, 3, H))
    with pytest.raises(
        ValueError, match=r"expected h of shape .* for input batch B=3, got \(2, 2, 4\)"
    ):
        gru(x, torch.zeros(2, 2, H))  # batch mismatch
    with pytest.raises(ValueError, match=r"expected c of shape .* got \(2, 3, 5\)"):
        lstm(x, (torch.zeros(2, 3, H), torch.zeros(2, 3, H + 1)))
    with pytest.raises(ValueError, match=r"expected state to be a tuple \(h, c\)"):
        lstm(x, torch.zeros(2, 3, H))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, C=3\)"):
        GRUCell(C, H)(torch.randn(2, C + 1))
    with pytest.raises(ValueError, match=r"expected h of shape \(B, H\) = \(2, 4\), got \(3, 4\)"):
        RNNCell(C, H)(torch.randn(2, C), torch.zeros(3, H))
    with pytest.raises(ValueError, match=r"expected c of shape \(B, H\)"):
        LSTMCell(C, H)(torch.randn(2, C), (torch.zeros(2, H), torch.zeros(2, H + 1)))


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_scratch_lstm_with_projection_equals_torch(num_layers, bidirectional, with_state):
    """proj_size=P (LSTMP): h_t = W_hr (o_t * tanh(c_t)) has P features, c_t keeps H."""
    torch.manual_seed(0)
    P, B, D = 2, 3, 2 if bidirectional else 1
    fused, scratch = twins("lstm", num_layers, bidirectional=bidirectional, proj_size=P)
    assert scratch.weight_hr_l0.shape == (P, H) and scratch.weight_hh_l0.shape == (4 * H, P)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, T, C, dtype=torch.float64, generator=g, requires_grad=True)
    state, leaves = None, []
    if with_state:
        h = torch.randn(num_layers * D, B, P, dtype=torch.float64, generator=g, requires_grad=True)
        c = torch.randn(num_layers * D, B, H, dtype=torch.float64, generator=g, requires_grad=True)
        state, leaves = (h, c), [h, c]

    out_f, finals_f, input_grads_f, param_grads_f = loss_and_grads(fused, x, state, leaves)
    out_s, finals_s, input_grads_s, param_grads_s = loss_and_grads(scratch, x, state, leaves)

    assert out_s.shape == (B, T, D * P)
    assert finals_s[0].shape == (num_layers * D, B, P) and finals_s[1].shape[-1] == H
    ours, theirs = [out_s, *finals_s, *input_grads_s], [out_f, *finals_f, *input_grads_f]
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TOL)
    assert param_grads_s.keys() == param_grads_f.keys()
    for name in param_grads_f:
        torch.testing.assert_close(param_grads_s[name], param_grads_f[name], **TOL, msg=name)
    assert scratch.trace(x)["h"].shape == (B, T, P) and scratch.trace(x)["c"].shape == (B, T, H)
    with pytest.raises(ValueError, match=r"expected h of shape \(L\*D, B, P\)"):
        scratch(x, (torch.zeros(num_layers * D, B, H), torch.zeros(num_layers * D, B, H)))
