"""Runs side by side in worker processes give the results of a loop, in order."""

import math

import pytest

from seqlab.experiments.parallel import PROCESSES_ENV, map_runs, n_processes


def test_map_runs_in_processes_equals_the_loop_in_order():
    tasks = [(n,) for n in (5, 3, 8, 1)]
    expected = [math.factorial(n) for (n,) in tasks]
    assert map_runs(math.factorial, tasks, processes=1) == expected
    assert map_runs(math.factorial, tasks, processes=2) == expected  # two spawned workers


def test_n_processes_is_capped_by_tasks_and_environment(monkeypatch):
    monkeypatch.delenv(PROCESSES_ENV, raising=False)
    assert n_processes(4, 3) == 3 and n_processes(2, 10) == 2 and n_processes(None, 1) == 1
    monkeypatch.setenv(PROCESSES_ENV, "1")
    assert n_processes(None, 10) == 1
    monkeypatch.setenv(PROCESSES_ENV, "x")
    with pytest.raises(ValueError, match="SEQLAB_PROCESSES must be a positive int, got 'x'"):
        n_processes(2, 3)
    with pytest.raises(ValueError, match="processes must be a positive int or None, got 0"):
        n_processes(0, 3)
