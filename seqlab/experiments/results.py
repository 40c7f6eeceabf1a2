"""What an experiment returns, and the disk cache that lets the book, ``make figures`` and the
tests share one run.

An experiment is one function in ``seqlab/experiments/<topic>.py``. It is written as
``compute(config, device, progress) -> dict`` and decorated with its default row of the size
table (:mod:`seqlab.experiments.profiles`)::

    @experiment("lstm.char_lm")
    def char_lm(config: CharLMConfig, device: torch.device, progress: bool) -> dict:
        ...                                   # train and measure
        return {"summary": df, "models": {"lstm": SavedModel.of(model)}}

The decorated function is called with a row of the size table or with a config::

    char_lm()                        # its default row ("rnn.char_lm") at the current profile
    lm_compare("gru.lm_compare")     # another chapter's row of another experiment
    char_lm(CharLMConfig(...))       # any config
    char_lm.config("rnn.char_lm")    # the config that row gives, without running anything

and returns a :class:`Result`: the numbers (``result.summary`` or ``result["summary"]``), the
config, and the provenance of the run.

The cache (``joblib.Memory`` under ``seqlab.device.cache_dir("results")``; ``SEQLAB_CACHE_DIR``
moves it) is keyed by the config (as a dict), ``seqlab.__version__``, a hash of seqlab's source
files, the torch version and the device. ``joblib.Memory`` alone would hash only the decorated
function's own code; the source hash covers everything it calls. So a result is computed once
per machine, code and config, and never served stale: change any of the five and it is
computed again. ``cache=False`` computes without reading or writing the cache. Results of
older code stay behind unread; beyond :data:`CACHE_LIMIT` the least recently used are deleted.

The source hash covers every module an experiment can run: all of seqlab except the layers
above ``experiments`` (``viz/``, ``figures.py``, ``notebook.py``), which the import-graph test
(``tests/test_layers.py``) keeps out of it, and the size table (``profiles.py``), which
reaches a result only through its config. Redrawing a figure does not retrain its model, and
editing one row of the size table recomputes only that row's experiments.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import re
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import torch

from seqlab import __version__
from seqlab.device import cache_dir, device_name, get_device, provenance, show_progress
from seqlab.experiments.profiles import config_for

Compute = Callable[[Any, torch.device, bool], dict[str, Any]]
CACHE_LIMIT = "2G"  # the least recently used results beyond this are deleted


@dataclass
class SavedModel:
    """A trained model as the cache keeps it: its class, its config and its weights (CPU).

    ``SavedModel.of(model)`` takes a model whose constructor is ``cls(config)`` and that keeps
    its config as ``model.config`` (every language model in :mod:`seqlab.models`).
    """

    cls: type
    config: Any
    state_dict: dict[str, torch.Tensor]

    @classmethod
    def of(cls, model: torch.nn.Module) -> SavedModel:
        weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return cls(type(model), copy.deepcopy(model.config), weights)

    def load(self, device: torch.device | str | None = None) -> torch.nn.Module:
        """A fresh model with the saved weights, on ``device`` (default: the CPU), in eval mode."""
        model = self.cls(self.config)
        model.load_state_dict(self.state_dict)
        return model.to(device or "cpu").eval()


@dataclass
class Result:
    """What an experiment measured (``values``), with what (``config``) and where (``provenance``).

    ``result.name`` and ``result["name"]`` both read ``values["name"]`` (a value named like one
    of the fields below, or ``model``, only the second way). ``cached`` says whether this call
    loaded the result from the disk cache instead of computing it.
    """

    experiment: str
    config: Any
    values: dict[str, Any]
    provenance: dict[str, Any]
    cached: bool = False

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values")
        if name.startswith("__") or values is None or name not in values:
            raise AttributeError(
                f"{type(self).__name__} of {self.__dict__.get('experiment')!r} has no {name!r}; "
                f"values: {sorted(values or ())}"
            )
        return values[name]

    def model(self, name: str, device: torch.device | str | None = None) -> torch.nn.Module:
        """The trained model ``values["models"][name]`` rebuilt on ``device``."""
        return self.values["models"][name].load(device)

    def provenance_line(self) -> str:
        """Where and when the numbers were measured, in one line for a caption."""
        p = self.provenance
        commit = f", seqlab@{p['commit']}" if p.get("commit") else ""
        source = "loaded from the results cache" if self.cached else "computed in this session"
        return (
            f"Measured {p['date']} on {p['device']} · torch {p['torch']} · profile {p['profile']}"
            f"{commit} · took {p['seconds']:.1f} s · {source}"
        )


#: what cannot change a result but through the config: the layers above experiments (they
#: draw and present) and the size table
_NOT_HASHED = ("viz/", "figures.py", "notebook.py", "sweep.py", "experiments/profiles.py")


def _source_files() -> list[Path]:
    root = Path(__file__).resolve().parent.parent  # the seqlab package
    files = (p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(p for p in files if not p.relative_to(root).as_posix().startswith(_NOT_HASHED))


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 of the ``.py`` files an experiment can run (path and content), hex, 16 digits:
    every module of seqlab but ``viz/``, ``figures.py``, ``notebook.py`` and the size table."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for path in _source_files():
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def device_key(device: torch.device) -> str:
    """The device as the cache sees it: its type and model (a CPU without its thread count)."""
    name = re.sub(r", \d+ threads\)$", ")", device_name(device))
    return f"{device.type}: {name}"


def cache_key(device: torch.device) -> dict[str, str]:
    """Everything besides the config that decides a result: seqlab, its source, torch, device."""
    return {
        "seqlab": __version__,
        "source": source_hash(),
        "torch": torch.__version__,
        "device": device_key(device),
    }


def config_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a plain dict (nested configs too), with its class name."""
    return {"class": type(config).__qualname__, **dataclasses.asdict(config)}


def _config_class(compute: Compute) -> type:
    hints = typing.get_type_hints(compute)
    cls = hints.get("config")
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{compute.__qualname__}'s first argument must be `config: <dataclass>`")
    return cls


def experiment(default: str | None = None) -> Callable[[Compute], Callable[..., Result]]:
    """Decorator: make ``compute(config, device, progress) -> dict`` a cached experiment whose
    config defaults to the size-table row ``default`` (``"chapter.row"``; None: a config must
    be given, e.g. for a single run that studies call with their own configs).

    The experiment is called as ``fn(config=None, *, device=None, cache=True, progress=None)``:
    ``config`` a row key or a config; ``device`` default :func:`seqlab.device.get_device` (the
    device the chapters use); ``progress`` default: bars except in a book build.
    """

    def decorate(compute: Compute) -> Callable[..., Result]:
        name = compute.__name__
        config_cls = _config_class(compute)

        def run_and_record(config_dict, key, config, device, progress) -> Result:
            start = time.perf_counter()
            values = compute(config, device, progress)
            seconds = time.perf_counter() - start
            record = {**key, **provenance(device), "seconds": seconds}  # device: its full name
            return Result(name, config, values, record)

        # joblib files a cached function under its module and name: one folder per experiment
        run_and_record.__module__ = compute.__module__
        run_and_record.__name__ = run_and_record.__qualname__ = name

        def resolve(config: Any = None) -> Any:
            """The config a call with ``config`` (a row key, a config or None) runs with."""
            if config is None and default is None:
                raise TypeError(f"{name} needs a config: a {config_cls.__name__}")
            if config is None or isinstance(config, str):
                return config_for(config_cls, config or default)
            if not isinstance(config, config_cls):
                raise TypeError(f"{name} takes a {config_cls.__name__} or a row key like "
                                f"{default!r}, got {type(config).__name__}")  # fmt: skip
            return config

        def run(
            config: Any = None,
            *,
            device: torch.device | str | None = None,
            cache: bool = True,
            progress: bool | None = None,
        ) -> Result:
            config = resolve(config)
            device = torch.device(device) if device is not None else get_device()
            progress = show_progress() if progress is None else progress
            args = (config_dict(config), cache_key(device), config, device, progress)
            if not cache:
                return run_and_record(*args)
            memory = joblib.Memory(cache_dir("results"), verbose=0)
            cached = memory.cache(run_and_record, ignore=["config", "device", "progress"])
            hit = cached.check_call_in_cache(*args)
            result = cached(*args)
            result.cached = hit
            if not hit:  # results of old code are never read again: keep the newest
                memory.reduce_size(bytes_limit=CACHE_LIMIT)
            return result

        run.__module__, run.__name__, run.__qualname__ = compute.__module__, name, name
        run.__doc__ = compute.__doc__
        run.config = resolve
        run.compute = compute
        run.default = default
        run.config_class = config_cls
        return run

    return decorate


def clear_cache() -> None:
    """Delete every cached result (the next call of each experiment computes it again)."""
    joblib.Memory(cache_dir("results"), verbose=0).clear(warn=False)


__all__ = [
    "Result",
    "SavedModel",
    "cache_key",
    "clear_cache",
    "config_dict",
    "device_key",
    "experiment",
    "source_hash",
]
