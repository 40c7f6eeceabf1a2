"""seqlab.gradients: gradient flow through time, the theory line, effective context, decay fit."""

import time

import numpy as np
import pytest
import torch

from seqlab.gradients import effective_context, fit_exponential_decay, gradient_flow, theory_line


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_shape_last_step_is_one_and_deterministic(cell):
    g = gradient_flow(cell, rho=1.0, T=40, hidden=16, seed=3)
    assert g.shape == (40,) and g.dtype == np.float64 and np.isfinite(g).all()
    assert g[-1] == pytest.approx(1.0)  # dL/dh_T is the unit readout vector
    assert np.array_equal(g, gradient_flow(cell, rho=1.0, T=40, hidden=16, seed=3))
    assert not np.array_equal(g, gradient_flow(cell, rho=1.0, T=40, hidden=16, seed=4))


def test_linear_rnn_decays_below_one_and_grows_above():
    small = gradient_flow("rnn", rho=0.8, T=50, hidden=32, nonlinearity="linear")
    large = gradient_flow("rnn", rho=1.2, T=50, hidden=32, nonlinearity="linear")
    assert small[0] < 1e-3 and large[0] > 1e2
    assert small[0] < small[25] < small[-1] and large[0] > large[25] > large[-1]


@pytest.mark.parametrize("rho", [0.5, 0.95, 1.0, 1.3])
def test_linear_orthogonal_rnn_matches_theory_exactly(rho):
    g = gradient_flow("rnn", rho=rho, T=60, hidden=32, nonlinearity="linear", matrix="orthogonal")
    np.testing.assert_allclose(g, theory_line(rho, 60), rtol=1e-4)  # float32 round-off


def test_float64_matches_theory_to_round_off():
    g = gradient_flow(
        "rnn", 1.3, T=20, hidden=8, nonlinearity="linear", matrix="orthogonal", dtype=torch.float64
    )
    np.testing.assert_allclose(g, theory_line(1.3, 20), rtol=1e-12)


def test_theory_line():
    np.testing.assert_allclose(theory_line(0.5, 4), [0.125, 0.25, 0.5, 1.0])


def test_tanh_saturation_shrinks_gradients_and_forget_bias_keeps_them():
    assert (
        gradient_flow("rnn", 1.0, T=60, input_scale=2.0)[0]
        < gradient_flow("rnn", 1.0, T=60, input_scale=0.1)[0]
    )
    assert (
        gradient_flow("lstm", 1.0, T=60, forget_bias=3.0)[0]
        > 1e3 * gradient_flow("lstm", 1.0, T=60, forget_bias=0.0)[0]
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        gradient_flow("transformer")
    with pytest.raises(ValueError, match="rnn' only"):
        gradient_flow("lstm", nonlinearity="relu")
    with pytest.raises(ValueError, match="rho must be"):
        gradient_flow("rnn", rho=-1.0)
    with pytest.raises(ValueError, match="T must be a positive int"):
        gradient_flow("rnn", T=0)


def test_fast_enough_for_a_slider():
    gradient_flow("lstm")  # warm-up
    times = []
    for cell in ("rnn", "lstm", "gru"):
        start = time.perf_counter()
        gradient_flow(cell, rho=1.0, T=100, hidden=64)
        times.append(time.perf_counter() - start)
    assert min(times) < 0.1  # the bar is 100 ms per update; generous under CI load


class ShortMemory(torch.nn.Module):
    """logits_t = W (e_t + 0.5 e_{t-1}): depends on exactly two inputs."""

    def __init__(self, V=5, E=4):
        super().__init__()
        self.wte = torch.nn.Embedding(V, E)
        self.head = torch.nn.Linear(E, V)

    def forward(self, idx, targets=None):
        e = self.wte(idx)  # (B, T, E)
        mixed = e + 0.5 * torch.nn.functional.pad(e, (0, 0, 1, 0))[:, :-1]  # (B, T, E)
        return self.head(mixed), None


def test_effective_context_on_a_known_model():
    torch.manual_seed(0)
    model = ShortMemory().train()
    s = effective_context(model, torch.tensor([1, 2, 3, 4, 0, 1]), t=4)
    assert s.shape == (5,)
    assert s[1] == pytest.approx(0.5 * s[0]) and np.all(s[2:] == 0)
    assert model.training  # mode restored
    assert np.allclose(effective_context(model, torch.tensor([[1, 2, 3]]), t=-1, target=2)[2:], 0)
    with pytest.raises(ValueError, match="outside a sequence of length T=3"):
        effective_context(model, torch.tensor([1, 2, 3]), t=3)


def test_effective_context_on_a_recurrent_lm():
    lm = pytest.importorskip("seqlab.models.lm")
    torch.manual_seed(0)
    model = lm.RecurrentLM(lm.RecurrentLMConfig(vocab_size=7, cell="gru", n_embd=8, hidden_size=16))
    s = effective_context(model, torch.randint(0, 7, (2, 12)), t=10)
    assert s.shape == (11,) and (s > 0).all()


def test_effective_context_on_gpt_finds_wte():
    tr = pytest.importorskip("seqlab.models.gpt")
    torch.manual_seed(0)
    config = tr.GPTConfig(vocab_size=7, block_size=12, n_layer=1, n_head=2, n_embd=8)
    s = effective_context(tr.GPT(config), torch.randint(0, 7, (2, 12)), t=5)
    assert s.shape == (6,) and np.isfinite(s).all() and (s > 0).all()


def test_fit_exponential_decay_recovers_parameters():
    k = np.arange(30)
    amplitude, length = fit_exponential_decay(k, 2.0 * np.exp(-k / 7.0))
    assert amplitude == pytest.approx(2.0, rel=1e-6) and length == pytest.approx(7.0, rel=1e-6)
    with pytest.raises(ValueError, match="at least 3"):
        fit_exponential_decay([0, 1], [1.0, 0.5])
