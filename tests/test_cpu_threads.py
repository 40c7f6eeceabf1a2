"""The scoped CPU-thread setting used by the small recurrent experiments."""

from __future__ import annotations

import pytest
import torch

from seqlab.device import cpu_threads


def test_sets_and_restores():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_restores_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), cpu_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_none_and_other_devices_leave_it_alone():
    before = torch.get_num_threads()
    with cpu_threads(None):
        assert torch.get_num_threads() == before
    with cpu_threads(1, device="cuda"):  # only a CPU run is changed (no GPU needed to check)
        assert torch.get_num_threads() == before


def test_bad_count():
    with pytest.raises(ValueError, match="positive int"), cpu_threads(0):
        pass
