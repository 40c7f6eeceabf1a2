"""Independent training runs on several CPU cores at once, with the numbers of one at a time.

A grid of small runs (chapter 5's stability grid: 36 GPTs of a few layers) keeps one core
busy: each run uses one torch thread, because a second thread does not speed up products this
small (``seqlab.device.cpu_threads_for``). :func:`map_runs` gives the runs to ``processes``
worker processes instead, each with one thread. Each run seeds itself and runs on one
thread either way, so the results are the same numbers, in the same order, as a loop over
the runs in this process; only the wall time changes (about 1 / processes on an idle
machine, plus a few seconds to start the workers).

Workers are started with ``spawn`` (a fresh interpreter: no forked OpenMP state) and import
the function by name, so ``fn`` must be a module-level function and its arguments picklable.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

import torch
from tqdm.auto import tqdm

__all__ = ["PROCESSES_ENV", "imap_runs", "map_runs", "n_processes"]

#: environment variable that caps the worker processes (1: everything in this process)
PROCESSES_ENV = "SEQLAB_PROCESSES"


def n_processes(requested: int | None, n_tasks: int) -> int:
    """Worker processes for ``n_tasks`` runs: ``requested`` (None: the CPU count), capped by
    ``$SEQLAB_PROCESSES`` and by ``n_tasks``; at least 1. Raises ``ValueError`` for a
    ``requested`` < 1 or a bad ``$SEQLAB_PROCESSES``."""
    if requested is not None and (
        isinstance(requested, bool) or not isinstance(requested, int) or requested < 1
    ):
        raise ValueError(f"processes must be a positive int or None, got {requested!r}")
    n = requested or os.cpu_count() or 1
    env = os.environ.get(PROCESSES_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{PROCESSES_ENV} must be a positive int, got {env!r}")
        n = min(n, int(env))
    return max(1, min(n, n_tasks))


def _one_thread(fn: Callable[..., Any], args: tuple) -> Any:
    torch.set_num_threads(1)
    return fn(*args)


def map_runs(
    fn: Callable[..., Any],
    tasks: Sequence[tuple],
    processes: int | None = None,
    progress: bool = False,
    desc: str = "runs",
) -> list[Any]:
    """``[fn(*args) for args in tasks]``, computed by :func:`n_processes` workers.

    Inputs: ``fn`` a module-level function; ``tasks`` a sequence of argument tuples;
    ``processes`` as :func:`n_processes`; ``progress``: a bar over finished runs.
    Outputs: the results in the order of ``tasks``. With one process the runs are computed
    here, one after the other (no worker is started). An exception in a run is raised here.
    """
    tasks = list(tasks)
    n = n_processes(processes, len(tasks))
    bar = tqdm(total=len(tasks), desc=desc, disable=not progress)
    if n == 1:
        out = []
        for args in tasks:
            out.append(fn(*args))
            bar.update()
        bar.close()
        return out
    with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_one_thread, fn, args) for args in tasks]
        for f in futures:
            f.add_done_callback(lambda _: bar.update())
        out = [f.result() for f in futures]
    bar.close()
    return out


def _orphan_watch(parent: int) -> None:
    """A worker's start: one torch thread, and exit as soon as the parent is gone (a parent
    killed with SIGKILL cannot stop its workers, which would otherwise train on)."""
    torch.set_num_threads(1)
    os.environ["SEQLAB_CPU_THREADS"] = "1"

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def imap_runs(
    fn: Callable[..., Any], tasks: Sequence[tuple], processes: int | None = None
) -> Iterator[tuple[int, Any]]:
    """``(i, fn(*tasks[i]))`` for every task, yielded *as each run finishes*, so the caller can
    store a result at once (the scaling sweep writes each row of its table this way).

    Inputs as :func:`map_runs`. With one process the runs are computed here in order; with
    more, by :func:`n_processes` spawned workers of one thread each (``$SEQLAB_CPU_THREADS``
    is 1 in them), in the order they finish. Closing the generator early (an exception or
    Ctrl-C in the caller) terminates the workers; a worker also exits when its parent dies.
    An exception in a run is raised here.
    """
    tasks = list(tasks)
    n = n_processes(processes, len(tasks))
    if n == 1:
        for i, args in enumerate(tasks):
            yield i, fn(*args)
        return
    pool = ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"),
                               initializer=_orphan_watch, initargs=(os.getpid(),))  # fmt: skip
    futures = {pool.submit(fn, *args): i for i, args in enumerate(tasks)}
    finished = False
    try:
        for f in as_completed(futures):
            yield futures[f], f.result()
        finished = True
    finally:
        if not finished:  # stop the workers at once: a run in progress is not waited for
            for f in futures:
                f.cancel()
            for w in list((pool._processes or {}).values()):  # no public way before 3.14
                w.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
