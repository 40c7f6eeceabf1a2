"""``python -m seqlab.bench seqlen|lm|decode [flags]``: print a table, then one JSON line.

Flags use the glossary's names (``--n_layer``, ``--batch_size``, ...; ``--n-layer`` works too).
A bad argument exits with status 2 and one line on stderr naming the problem, no traceback:
argparse types check each value, and the configs' own ``ValueError`` is turned into the same
one-line error at this boundary. The side-by-side run against nanoGPT's recipe lives outside
the package: ``python benchmarks/compare_nanogpt.py`` (it reuses :func:`add_lm_arguments`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import pandas as pd

from seqlab.bench.decode import bench_decode
from seqlab.bench.lm import _loadavg, bench_lm
from seqlab.bench.lm_config import LM_ARCHS, LM_DTYPES, PRESETS, LMBenchConfig, check_device
from seqlab.bench.seqlen import IMPLS, SEQLEN_MODELS, bench_seqlen, check_seqlen_args
from seqlab.device import get_device, provenance


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with errors as one line (``prog: error: message``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def device_name(text: str) -> str:
    """argparse type: a device that exists here (:func:`seqlab.bench.lm.check_device`)."""
    try:
        check_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _flag(parser: argparse.ArgumentParser, name: str, **kw: Any) -> None:
    """``--name`` and, where it has an underscore, ``--name-with-dashes``."""
    flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    parser.add_argument(*flags, dest=kw.pop("dest", name), **kw)


def add_lm_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``lm`` flags: one per :class:`LMBenchConfig` field, same names; default None means
    "the preset's value, else the config's default"."""
    _flag(parser, "preset", choices=sorted(PRESETS),
          help="fast: the time-to-quality config (flags given explicitly win)")  # fmt: skip
    _flag(parser, "arch", choices=LM_ARCHS)
    _flag(parser, "impl", choices=IMPLS, help="recurrent archs: fused (torch.nn) or scratch")
    for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "max_iters",
                 "eval_interval", "eval_iters", "eval_batch_size", "final_eval_iters"):  # fmt: skip
        _flag(parser, name, type=positive_int)
    for name in ("warmup_iters", "seed"):
        _flag(parser, name, type=non_negative_int)
    for name in ("learning_rate", "target_loss", "time_budget_s"):
        _flag(parser, name, type=positive_float)
    _flag(parser, "dropout", type=float, help="gpt: dropout probability in [0, 1)")
    _flag(parser, "dtype", choices=LM_DTYPES,
          help="best: bfloat16 where the hardware has it, else float32")  # fmt: skip
    _flag(parser, "no_bias", dest="bias", action="store_false", default=None,
          help="gpt without biases (as nanoGPT's CPU recipe)")  # fmt: skip
    _flag(parser, "compile", action="store_true", default=None)
    _flag(parser, "no_peak", dest="measure_peak", action="store_false", default=None,
          help="skip the matmul peak measurement (no MFU)")  # fmt: skip
    _flag(parser, "device", type=device_name, help="cpu, cuda, cuda:N or mps (default: best)")


def lm_config_from_args(
    args: argparse.Namespace, ignore: Sequence[str] = ("command", "preset")
) -> LMBenchConfig:
    """Defaults <- preset <- flags given on the command line. Raises ``ValueError`` (one line)
    for a combination no single flag can check (e.g. ``--n_head 3 --n_embd 128``)."""
    values = dict(PRESETS[args.preset]) if args.preset else {}
    values.update({k: v for k, v in vars(args).items() if k not in ignore and v is not None})
    return LMBenchConfig(**values)


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m seqlab.bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("seqlen", help="forward+backward time vs sequence length")
    _flag(p, "lengths", type=positive_int, nargs="+", default=[16, 64, 256])
    _flag(p, "batch_size", type=positive_int, default=8)
    _flag(p, "hidden_size", type=positive_int, default=64)
    _flag(p, "num_layers", type=positive_int, default=1)
    _flag(p, "nhead", type=positive_int, default=4)
    _flag(p, "cells", nargs="+", default=["rnn", "lstm", "gru"], choices=SEQLEN_MODELS[:3])
    _flag(p, "impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    _flag(p, "no_transformer", action="store_true")
    _flag(p, "warmup", type=non_negative_int, default=2)
    _flag(p, "repeats", type=positive_int, default=5)
    _flag(p, "timeout_s", type=positive_float, default=30.0, help="seconds per setting")
    _flag(p, "device", type=device_name)
    _flag(p, "csv", help="also write the table to this CSV file")
    q = sub.add_parser("lm", help="train a char-level LM on Shakespeare and time it")
    add_lm_arguments(q)
    d = sub.add_parser(
        "decode", help="tokens/s of generate: GPT with and without its KV cache, LSTM"
    )
    for name, default in (("new_tokens", 256), ("prompt_len", 1), ("batch_size", 1),
                          ("n_layer", 2), ("n_head", 4), ("n_embd", 64), ("hidden_size", 128),
                          ("repeats", 3)):  # fmt: skip
        _flag(d, name, type=positive_int, default=default)
    _flag(d, "device", type=device_name)
    parser.commands = {"seqlen": p, "lm": q, "decode": d}  # for errors found after parsing
    return parser


def jsonable(x: Any) -> Any:
    """NaN/inf -> None (strict JSON), recursively; tuples -> lists; numpy/torch scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item") and getattr(x, "ndim", 1) == 0:  # numpy / torch scalars
        return jsonable(x.item())
    return x


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def lm_table(result: dict[str, Any]) -> str:
    """The human-readable summary of :func:`~seqlab.bench.lm.bench_lm`'s result."""
    rows = {}
    for name in ("ours", "reference"):
        s = result[name]
        if s is None:
            continue
        hit = s["reached"] or {}
        rows["seqlab" if name == "ours" else "nanoGPT ref"] = {
            "params": f"{s['params']:,}", "steps": s["steps"],
            "tok/s": f"{s['tokens_per_s']:,.0f}", "ms/step": f"{s['ms_per_step']:.1f}",
            "train s": f"{s['train_s']:.1f}", "eval s": f"{s['eval_s']:.1f}",
            "train loss": f"{s['train_loss']:.4f}", "val loss": _fmt(s["val_loss"], ".4f"),
            "val loss (final set)": f"{s['val_loss_final']:.4f}",
            "GFLOP/s (6N)": f"{s['model_flops_per_s'] / 1e9:.1f}", "MFU": _fmt(s["mfu"], ".1%"),
            "target step": _fmt(hit.get("step"), "d"),
            "target train s": _fmt(hit.get("train_s"), ".1f"),
            "target train+eval s": _fmt(hit.get("with_eval_s"), ".1f"),
        }  # fmt: skip
    lines = [pd.DataFrame(rows).T.to_string()]
    if result["matmul_peak_flops"]:
        peak = result["matmul_peak_flops"] / 1e9
        lines.append(
            f"matmul peak ({result['peak_dtype']}, measured in this run): {peak:.1f} GFLOP/s"
        )
    if result["speed_ratio"] is not None:
        lines.append(
            f"speed ratio seqlab / nanoGPT (median tokens/s over the first {result['paired_steps']} "
            f"steps, which ran alternating): {result['speed_ratio']:.2f}x"
        )
    if result["config"]["target_loss"] is not None and result["reference"] is not None:
        key = "time_to_target_ratio"
        ratio, robust = result[key], result[key + "_robust"]
        verdict = "n/a (not reached by seqlab)"
        if ratio is not None:
            verdict = f"{ratio:.2f}x measured, {robust:.2f}x at median step times"
        elif result[key + "_upper_bound"] is not None:
            verdict = (
                f"< {result[key + '_upper_bound']:.2f}x measured, "
                f"< {result[key + '_robust_upper_bound']:.2f}x at median step times "
                "(nanoGPT did not reach it in its steps: its whole run stands in)"
            )
        target = result["config"]["target_loss"]
        lines.append(f"training time to val loss {target}: seqlab / nanoGPT = {verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m seqlab.bench seqlen|lm|decode [flags]``: print a table, then one JSON line.

    Returns 0; a bad argument exits with status 2 and one line on stderr.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "seqlen":
        sizes = dict(batch_size=args.batch_size, hidden_size=args.hidden_size,
                     num_layers=args.num_layers, nhead=args.nhead)  # fmt: skip
        try:
            check_seqlen_args(
                args.lengths, args.cells, args.impls, not args.no_transformer, **sizes
            )
        except ValueError as exc:
            parser.error(str(exc))
        device = get_device(args.device)
        df = bench_seqlen(args.lengths, cells=args.cells, impls=args.impls,
                          include_transformer=not args.no_transformer, device=device,
                          warmup=args.warmup, repeats=args.repeats, timeout_s=args.timeout_s,
                          **sizes)  # fmt: skip
        print(df.drop(columns=["error", "device"]).to_string(index=False, float_format="%.3g"))
        if args.csv:
            df.to_csv(args.csv, index=False)
        result = dict(benchmark="seqlen", results=df.to_dict(orient="records"))
        result["provenance"] = provenance(device)
    elif args.command == "decode":
        device = get_device(args.device)
        kw = {k: v for k, v in vars(args).items() if k not in ("command", "device")}
        if kw["n_embd"] % kw["n_head"]:
            parser.commands["decode"].error(
                f"n_embd={kw['n_embd']} must be a multiple of n_head={kw['n_head']}"
            )
        load_start = _loadavg()
        df = bench_decode(device=device, **kw)
        print(df.to_string(index=False, float_format="%.4g"))
        result = dict(benchmark="decode", config=kw, results=df.to_dict(orient="records"))
        result["loadavg_start"], result["loadavg_end"] = load_start, _loadavg()
        result["provenance"] = provenance(device)
    else:
        try:
            cfg = lm_config_from_args(args)
        except ValueError as exc:
            parser.commands["lm"].error(str(exc))
        result = bench_lm(cfg, out=lambda line: print(line, flush=True))
        print(lm_table(result))
    print(json.dumps(jsonable(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
