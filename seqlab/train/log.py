"""An experiment log kept offline: the history of a run as CSV, with where it came from.

:func:`seqlab.train.train` returns its history as a DataFrame (one row per step).
:func:`write_log` writes it as a plain CSV file whose first lines are comments, ``# key: value``,
holding the run's provenance (:func:`seqlab.device.provenance`: device, torch, Python, profile,
git commit, UTC date), its config and anything else you pass. Spreadsheet programs, ``pandas``
and ``git diff`` read it; nothing needs a server or an account. :func:`read_log` gives back the
table and the header; :func:`read_logs` stacks many runs into one table with a ``run`` column
and the header's fields as columns, ready for ``groupby``::

    history = train(model, get_batch, config)
    write_log(history, "runs/gpt-seed0.csv", config=config, seed=0)
    runs = read_logs(sorted(Path("runs").glob("*.csv")))
    runs.groupby("seed").loss.last()

Header values are JSON, so numbers, strings, lists and ``None`` come back as they went in.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from seqlab.device import provenance

__all__ = ["LOG_MAGIC", "read_log", "read_logs", "write_log"]
LOG_MAGIC = "# seqlab-log 1"


def _plain(value: Any) -> Any:
    """A config dataclass as a dict; tensors and NumPy scalars as Python numbers."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def write_log(
    history: pd.DataFrame,
    path: str | Path,
    config: Any = None,
    device: torch.device | str | None = None,
    **fields: Any,
) -> Path:
    """Write ``history`` to ``path`` as CSV under a header of provenance and fields.

    Inputs:
        history: a DataFrame, e.g. what :func:`seqlab.train.train` returns.
        path: the file to write (its folder is created); an existing file is replaced.
        config: the run's config (a dataclass such as ``TrainConfig``, or a dict); stored
            under ``config``.
        device: the device the run used, for the provenance (default: the book's device).
        fields: anything else worth keeping (``seed=0, note="..."``): JSON-serialisable
            values; a name may not repeat one of the provenance keys.
    Outputs: the path written.
    Raises ``TypeError`` if ``history`` is not a DataFrame or a field is not JSON-serialisable,
    ``ValueError`` if a field is named like a provenance key or ``config``.
    """
    if not isinstance(history, pd.DataFrame):
        raise TypeError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    header: dict[str, Any] = provenance(torch.device(device) if device is not None else None)
    if config is not None:
        header["config"] = _plain(config)
    for name, value in fields.items():
        if name in header or name == "config":
            raise ValueError(f"field {name!r} is already in the header; choose another name")
        header[name] = _plain(value)
    lines = [LOG_MAGIC]
    for name, value in header.items():
        try:
            text = json.dumps(value, ensure_ascii=False)
        except TypeError as err:
            raise TypeError(f"field {name!r} is not JSON-serialisable: {value!r}") from err
        lines.append(f"# {name}: {text}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + "\n")
        history.to_csv(f, index=False, lineterminator="\n")
    return path


def read_log(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a file written by :func:`write_log`; return ``(history, header)``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that does not
    start with :data:`LOG_MAGIC` (not a seqlab log).
    """
    path = Path(path)
    header: dict[str, Any] = {}
    skip = 0
    with path.open(encoding="utf-8") as f:
        first = f.readline().rstrip("\n")
        if first != LOG_MAGIC:
            raise ValueError(f"{path} is not a seqlab log (first line {first!r})")
        skip = 1
        for line in f:
            if not line.startswith("# "):
                break
            name, _, text = line[2:].rstrip("\n").partition(": ")
            header[name] = json.loads(text)
            skip += 1
    return pd.read_csv(path, skiprows=skip), header


def read_logs(paths: Iterable[str | Path], columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Stack many logs into one table: a ``run`` column (the file's stem), then the history,
    then the header fields named in ``columns`` (default: every field whose value is a
    number, a string, a bool or None; a field missing from a file is NaN there).
    Raises ``ValueError`` if ``paths`` is empty."""
    frames = []
    for path in paths:
        history, header = read_log(path)
        keep = columns if columns is not None else [
            k for k, v in header.items() if v is None or isinstance(v, (int, float, str, bool))
        ]  # fmt: skip
        extra: Mapping[str, Any] = {k: header.get(k) for k in keep}
        frames.append(history.assign(run=Path(path).stem, **extra))
    if not frames:
        raise ValueError("paths is empty: no logs to read")
    table = pd.concat(frames, ignore_index=True)
    return table[["run", *[c for c in table.columns if c != "run"]]]
