"""seqlab.device: profile parsing, device choice, seeding, provenance."""

import pytest
import torch

from seqlab import device as dev


@pytest.mark.parametrize("name", ["smoke", "standard", "full", " Smoke "])
def test_profile_names_are_read_from_the_environment(monkeypatch, name):
    monkeypatch.setenv("SEQLAB_PROFILE", name)
    assert dev.get_profile() == name.strip().lower()


def test_unset_profile_defaults_by_device(monkeypatch):
    monkeypatch.delenv("SEQLAB_PROFILE", raising=False)
    assert dev.get_profile() == ("full" if torch.cuda.is_available() else "standard")


def test_unknown_profile_is_a_clear_error_listing_the_valid_ones(monkeypatch):
    monkeypatch.setenv("SEQLAB_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"unknown SEQLAB_PROFILE='fast'.*smoke, standard, full"):
        dev.get_profile()


def test_get_device_prefers_what_exists_and_rejects_unknown_names():
    d = dev.get_device()
    assert d.type in {"cuda", "mps", "cpu"}
    assert dev.get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        dev.get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available here; available: .*cpu"):
            dev.get_device("cuda")


def test_seed_everything_makes_torch_random_numbers_repeat():
    g1 = dev.seed_everything(123)
    a = torch.randn(5), torch.rand(3, generator=g1)
    g2 = dev.seed_everything(123)
    b = torch.randn(5), torch.rand(3, generator=g2)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        dev.seed_everything(-1)


def test_provenance_has_every_field_and_a_one_line_form(monkeypatch):
    monkeypatch.setenv("SEQLAB_PROFILE", "smoke")
    p = dev.provenance(torch.device("cpu"))
    assert set(p) >= {"device", "torch", "python", "profile", "commit", "date"}
    assert p["torch"] == torch.__version__ and p["profile"] == "smoke"
    line = dev.provenance_line(torch.device("cpu"))
    assert "\n" not in line and torch.__version__ in line and "profile smoke" in line


def test_cpu_threads_rule(monkeypatch):
    monkeypatch.delenv(dev.THREADS_ENV, raising=False)
    monkeypatch.setattr(dev.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(dev.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert dev.cpu_threads_for("recurrent") == 1  # small sequential products: one thread
    assert dev.cpu_threads_for("parallel") == 8  # a quiet 8-core laptop: every core
    monkeypatch.setattr(dev.os, "getloadavg", lambda: (6.7, 6.0, 5.0))
    assert dev.cpu_threads_for("parallel") == 1  # 7 cores busy with other work: the free one
    monkeypatch.setattr(dev.os, "getloadavg", lambda: (20.0, 20.0, 20.0))
    assert dev.cpu_threads_for("parallel") == 1  # never 0
    monkeypatch.setenv(dev.THREADS_ENV, "3")
    assert dev.cpu_threads_for("recurrent") == dev.cpu_threads_for("parallel") == 3
    monkeypatch.setenv(dev.THREADS_ENV, "zero")
    with pytest.raises(ValueError, match="SEQLAB_CPU_THREADS must be a positive int, got 'zero'"):
        dev.cpu_threads_for("parallel")
    with pytest.raises(ValueError, match="unknown kind 'gpu'"):
        dev.cpu_threads_for("gpu")


def test_cpu_threads_block_sets_and_restores():
    cpu_threads = dev.cpu_threads
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), cpu_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with cpu_threads(1, device="cuda"):  # only a CPU run is changed (no GPU needed to check)
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="positive int"), cpu_threads(0):
        pass
    with cpu_threads("recurrent"):  # a kind of work: the rule decides (one thread)
        assert torch.get_num_threads() == 1
