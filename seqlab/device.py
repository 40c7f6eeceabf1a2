"""Where code runs and how big it runs: device choice, execution profile, seeding, provenance.

The profile (``SEQLAB_PROFILE``) sizes every experiment in the book:

- ``smoke``: tiny models and few steps; each chapter in well under a minute (CI).
- ``standard``: the default on a CPU; each chapter in a few minutes on a 2-core laptop.
- ``full``: the default on a GPU; publication-quality runs.

Chapters never branch on "am I in CI": every size they run at stands in the size table of
:mod:`seqlab.experiments.profiles`, one row per experiment with a value per profile.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

PROFILES: tuple[str, ...] = ("smoke", "standard", "full")
PROFILE_ENV = "SEQLAB_PROFILE"
CACHE_ENV = "SEQLAB_CACHE_DIR"
BOOK_ENV = "SEQLAB_BOOK_BUILD"
THREADS_ENV = "SEQLAB_CPU_THREADS"
WORK_KINDS: tuple[str, ...] = ("recurrent", "parallel")


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then CPU.

    ``prefer`` ("cuda", "mps", "cpu") forces a choice; asking for one that is not
    available raises ``ValueError`` naming what is.
    """
    available = ["cpu"]
    if torch.backends.mps.is_available():
        available.insert(0, "mps")
    if torch.cuda.is_available():
        available.insert(0, "cuda")
    if prefer is None:
        return torch.device(available[0])
    kind = prefer.split(":")[0]
    if kind not in ("cuda", "mps", "cpu"):
        raise ValueError(f"unknown device {prefer!r}; valid: 'cuda', 'mps', 'cpu'")
    if kind not in available:
        raise ValueError(
            f"device {prefer!r} is not available here; available: {', '.join(available)}"
        )
    return torch.device(prefer)


def get_profile() -> str:
    """Return the execution profile from ``SEQLAB_PROFILE``.

    Unset or empty means ``full`` on a CUDA machine and ``standard`` otherwise.
    An unknown name raises ``ValueError`` listing the valid ones.
    """
    name = os.environ.get(PROFILE_ENV, "").strip().lower()
    if not name:
        return "full" if torch.cuda.is_available() else "standard"
    if name not in PROFILES:
        raise ValueError(
            f"unknown {PROFILE_ENV}={os.environ[PROFILE_ENV]!r}; valid profiles: {', '.join(PROFILES)}"
        )
    return name


def in_book_build() -> bool:
    """True while Jupyter Book executes the notebooks for the static HTML book
    (``SEQLAB_BOOK_BUILD=1``, set by ``make book`` / ``make test``)."""
    return os.environ.get(BOOK_ENV, "") not in ("", "0", "false", "False")


def show_progress() -> bool:
    """Whether training should draw a progress bar: yes, except while Jupyter Book executes the
    notebook for the static HTML book (there the bar would be saved at its first state, 0 %)
    and where ``TQDM_DISABLE`` is set (``make figures``)."""
    quiet = os.environ.get("TQDM_DISABLE", "") not in ("", "0", "false", "False")
    return not (in_book_build() or quiet)


def cache_dir(*parts: str) -> Path:
    """The folder where seqlab keeps what it computed once: the converted corpus, experiment
    results. Created on first use.

    ``$SEQLAB_CACHE_DIR`` if set; else ``<repo>/data`` in a writable source checkout (so the
    book build, ``make figures`` and the tests of one checkout share it); else
    ``$XDG_CACHE_HOME/seqlab`` (``~/.cache/seqlab``), e.g. in Colab. ``parts`` name a
    sub-folder: ``cache_dir("results")``.
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        root = Path(env).expanduser()
    else:
        repo = Path(__file__).resolve().parent.parent
        if (repo / "pyproject.toml").is_file() and os.access(repo, os.W_OK):
            root = repo / "data"
        else:
            root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqlab"
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cpu_threads_for(kind: str) -> int:
    """How many torch threads a CPU run of this ``kind`` of work should use.

    ``kind`` "recurrent": a loop over time steps of small matrix products (the RNN, LSTM and GRU
    of chapters 1-3, decoding one token at a time) -> 1 thread.
    ``kind`` "parallel": big matrix products over the whole sequence (Transformers) -> the cores
    that are idle now: ``cpu_count - 1-minute load average``, at least 1.
    ``$SEQLAB_CPU_THREADS`` (a positive int) overrides both.

    Why (``benchmarks/cpu_threads.py``, recorded in ``benchmarks/README.md``): on the 2-core
    build machine, quiet, a second thread saved 8-38 % of a recurrent training step and ~30 % of a
    Transformer step; with two other CPU-bound processes running, 2 threads were 2-16x *slower*
    for every model (threads that wait for a busy core stall each small product). One thread is
    never catastrophic and gives the same numbers whatever the load (a thread count can change
    the order of floating-point sums), so the recurrent chapters use it; set
    ``SEQLAB_CPU_THREADS`` on a quiet machine for the speed. The "parallel" rule reads the load
    average, which includes this process's own recent work: ask it before a run, not during one.
    """
    if kind not in WORK_KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(map(repr, WORK_KINDS))}")
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive int, got {env!r}")
        return int(env)
    if kind == "recurrent":
        return 1
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


@contextmanager
def cpu_threads(
    n: int | str | None = "recurrent", device: torch.device | str | None = None
) -> Iterator[None]:
    """Use ``n`` intra-op CPU threads inside the block: an int, a kind of work ("recurrent",
    "parallel": :func:`cpu_threads_for` decides), or ``None`` (leave torch's setting), e.g.
    ``with cpu_threads("recurrent", device): ...``.

    Does nothing when ``device`` is not a CPU. Restores the previous number on exit, so nothing
    outside the block changes. Raises ``ValueError`` for ``n`` < 1.
    """
    on_cpu = device is None or torch.device(device).type == "cpu"
    if n is None or not on_cpu:
        yield
        return
    if isinstance(n, str):
        n = cpu_threads_for(n)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded alike."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the global RNG is the point
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def device_name(device: torch.device | None = None) -> str:
    """A human name for ``device``: the GPU model, "Apple MPS", or the CPU's model."""
    device = device or get_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU ({cpu}, {torch.get_num_threads()} threads)"


def provenance(device: torch.device | None = None) -> dict[str, Any]:
    """Where a measurement came from: device, torch, Python, profile, git commit, UTC time."""
    device = device or get_device()
    return {
        "device": device_name(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "profile": get_profile(),
        "commit": _git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def provenance_line(device: torch.device | None = None) -> str:
    """:func:`provenance` as one short line for the top of a chapter or under a figure."""
    p = provenance(device)
    commit = f", seqlab@{p['commit']}" if p["commit"] else ""
    return (
        f"{p['device']} · torch {p['torch']} · Python {p['python']} · "
        f"profile {p['profile']}{commit} · {p['date']}"
    )
