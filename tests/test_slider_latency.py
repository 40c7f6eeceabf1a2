"""Chapter 1's interactives answer at once: the median slider update stays under 100 ms.

The timing used to be a cell of chapter 1; it is a test now. Each update is timed with
``torch.utils.benchmark`` (median of repeats, which ignores the odd slow run), at the sizes the
chapter uses, against the 100 ms this book allows an interactive (DESIGN.md §4). On a shared
machine a timing can triple, so the test fails only above 3x the target and warns above it;
the medians are printed (``pytest -s``). Quiet-machine medians (2026-11-29): 10-23 ms per
gradient-flow update, 48 ms per temperature update.
"""

from __future__ import annotations

import warnings

import pytest
from torch.utils import benchmark

from seqlab.data.corpus import CharTokenizer
from seqlab.experiments.gradient_flow import gradient_flow_state
from seqlab.models import RecurrentLM, RecurrentLMConfig
from seqlab.viz.sampling import temperature_interactive

LIMIT_MS = 100.0  # the book's target per update, on a quiet machine
MARGIN = 3.0  # the test machine is shared (2 cores, other jobs): fail only far above the target


def _check(name: str, ms: float) -> None:
    print(f"{name}: {ms:.1f} ms (target {LIMIT_MS:.0f} ms)")
    if ms > LIMIT_MS:
        warnings.warn(f"{name}: {ms:.0f} ms per update, above the {LIMIT_MS:.0f} ms target "
                      "(a loaded machine?)", stacklevel=2)  # fmt: skip
    assert ms < MARGIN * LIMIT_MS, f"{name}: {ms:.0f} ms per update"


def _median_ms(stmt: str, env: dict) -> float:
    timer = benchmark.Timer(stmt, globals=env, num_threads=1)
    return timer.blocked_autorange(min_run_time=0.2).median * 1e3


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "linear"])
@pytest.mark.parametrize("T", [100, 200])
def test_gradient_flow_update_is_fast(T, nonlinearity):
    env = {"state": gradient_flow_state, "T": T, "f": nonlinearity}
    gradient_flow_state("RNN", 1.1, T, nonlinearity)  # warm the matrix cache
    ms = _median_ms('state("RNN", 1.1, T, f)', env)
    _check(f"gradient flow, T={T}, {nonlinearity}", ms)
    ms = _median_ms('state("RNN", 1.1, T, f, input_scale=3.0)', env)  # the input-scale control
    _check(f"gradient flow, T={T}, {nonlinearity}, inputs x3", ms)


def test_temperature_update_is_fast():
    text = "ROMEO:\nI will not be thy slave. " * 20
    tokenizer = CharTokenizer(sorted(set(text)))
    config = RecurrentLMConfig(
        vocab_size=tokenizer.vocab_size, cell="rnn", n_embd=32, hidden_size=256
    )  # the chapter's standard size
    slider = temperature_interactive(RecurrentLM(config), tokenizer, "ROMEO:\nI will not")
    ms = _median_ms("slider.compute(0.7)", {"slider": slider})
    _check("temperature", ms)
