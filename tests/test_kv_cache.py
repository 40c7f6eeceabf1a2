"""Decoding with a key/value cache (seqlab.models.kv_cache, GPT.step) equals decoding without
it; the decode benchmark and the chapter's decoding experiment."""

import pytest
import torch

from seqlab.bench.cli import main
from seqlab.bench.decode import bench_decode, decode_models, per_token_latency
from seqlab.device import cpu_threads
from seqlab.experiments.decoding import DecodingConfig, decoding
from seqlab.models import GPT, GPTConfig, generate
from seqlab.models.kv_cache import KVCache


@pytest.fixture(autouse=True)
def _one_thread():
    """Small products: one thread (a second one only waits, and stalls on a busy machine)."""
    with cpu_threads(1):
        yield


KINDS = [("full", None), ("sliding", 3), ("linear", None)]


def _gpt(attention="full", window=None, norm_first=True, pos="learned", block_size=16):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=11, block_size=block_size, n_layer=2, n_head=2, n_embd=16,
                    attention=attention, window=window, norm_first=norm_first, pos=pos)  # fmt: skip
    return GPT(cfg).eval()


@pytest.mark.parametrize(("attention", "window"), KINDS)
@pytest.mark.parametrize(("norm_first", "pos"), [(True, "learned"), (False, "sinusoidal")])
def test_cached_logits_equal_full_forward(attention, window, norm_first, pos):
    model = _gpt(attention, window, norm_first, pos)
    idx = torch.randint(0, 11, (3, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full, _ = model(idx)
        cache = KVCache(2, 16)
        steps = [model.forward_cached(idx[:, :5], cache)]  # a prompt, then one token at a time
        steps += [model.forward_cached(idx[:, t : t + 1], cache) for t in range(5, 16)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=0)
    assert cache.length == 16


@pytest.mark.parametrize(("attention", "window"), KINDS)
def test_generate_with_cache_gives_the_same_tokens(attention, window):
    model = _gpt(attention, window, block_size=12)
    prompt = torch.randint(0, 11, (2, 3), generator=torch.Generator().manual_seed(2))
    # 30 new tokens run past block_size = 12: the cache is rebuilt from the cropped context
    a = generate(model, prompt, 30, temperature=0)
    b = generate(model, prompt, 30, temperature=0, use_cache=False)
    assert torch.equal(a, b)


def test_step_logits_equal_without_cache_past_block_size():
    model = _gpt(block_size=8)
    idx = torch.randint(0, 11, (1, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits, state = model.step(idx[:, :4])
        for t in range(4, 20):
            logits, state = model.step(idx[:, t : t + 1], state)
            ref, _ = model(idx[:, max(0, t + 1 - 8) : t + 1])
            torch.testing.assert_close(logits[:, -1], ref[:, -1], atol=1e-5, rtol=0)
            assert state.length == min(t + 1, 8)


def test_cache_errors():
    model = _gpt(block_size=8)
    cache = KVCache(2, 8)
    with torch.no_grad():
        model.forward_cached(torch.zeros(1, 6, dtype=torch.long), cache)
        with pytest.raises(ValueError, match="6 positions and max_len=8"):
            model.forward_cached(torch.zeros(1, 3, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="n_layer=2"):
        model.forward_cached(torch.zeros(1, 1, dtype=torch.long), KVCache(3, 8))
    with pytest.raises(ValueError, match="length"):
        cache.truncate(7)
    cache.truncate(2)
    assert cache.length == 2
    assert cache.nbytes() == 2 * 2 * (1 * 2 * 8 * 8) * 4  # layers x (k, v) x B nh T hs x 4
    with pytest.raises(ValueError, match="use_cache"):
        generate(model, torch.zeros(1, 1, dtype=torch.long), 2, use_cache="yes")
    with pytest.raises(ValueError, match="max_len"):
        KVCache(2, 0)


def test_per_token_latency_and_bench_decode():
    models = decode_models(n_layer=1, n_embd=16, n_head=2, block_size=32, hidden_size=16)
    df = per_token_latency(models, [1, 8, 32], warmup=1, repeats=1)
    assert len(df) == 12 and (df["median_s"] > 0).all()
    with pytest.raises(ValueError, match="block_size"):
        per_token_latency(models, [64], repeats=1)
    b = bench_decode(new_tokens=8, repeats=1, n_layer=1, n_embd=16, n_head=2, hidden_size=16)
    assert list(b["use_cache"]) == [False, True, True, True]
    assert b["speedup"].iloc[0] == 1.0 and (b["tokens_per_s"] > 0).all()


def test_decode_cli(capsys):
    assert main(["decode", "--new_tokens", "4", "--n_layer", "1", "--n_embd", "16",
                 "--repeats", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert '"benchmark": "decode"' in out and "tokens_per_s" in out
    with pytest.raises(SystemExit):
        main(["decode", "--n_embd", "30", "--n_head", "4"])


def test_decoding_experiment_smoke():
    cfg = DecodingConfig(positions=(1, 4, 16), block_size=16, n_layer=1, n_embd=16,
                         hidden_size=16, rounds=3, repeats=1)  # fmt: skip
    r = decoding(cfg, cache=False, progress=False)
    assert set(r.summary["mode"]) == {"recompute", "cache", "state"}
    assert len(r.slopes) == 4
    assert r.comparison.table["n"].min() == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cache_on_cuda():
    model = _gpt().cuda()
    prompt = torch.randint(0, 11, (2, 3), device="cuda")
    a = generate(model, prompt, 20, temperature=0)
    b = generate(model, prompt, 20, temperature=0, use_cache=False)
    assert torch.equal(a, b)
