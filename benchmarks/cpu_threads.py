"""How many CPU threads should the book's training use?  ``python benchmarks/cpu_threads.py``.

Times one training step (forward + backward + AdamW) of each model the chapters train on a CPU,
at 1, 2, ... torch threads, **interleaved**: every round times each thread count once, in turn,
so a change in the machine's load hits all settings alike; the median over rounds is reported.
``--busy N`` starts N extra CPU-bound processes for the duration (a machine shared with other
work, as the book's 2-core build machine often is); ``--busy 0`` is the quiet case.

The result decided :func:`seqlab.device.cpu_threads_for` (see its docstring and
``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time

import torch
from torch import nn


def _spin(stop: mp.Event) -> None:  # an unrelated CPU-bound process
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def recurrent_lm_step(cell: str, H: int, E: int = 32, B: int = 32, T: int = 64, V: int = 76):
    emb, head = nn.Embedding(V, E), nn.Linear(H, V)
    rnn = getattr(nn, cell)(E, H, batch_first=True)
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    x, y = torch.randint(V, (B, T)), torch.randint(V, (B, T))

    def step() -> None:
        out, _ = rnn(emb(x))  # (B, T, H)
        loss = nn.functional.cross_entropy(head(out).reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def transformer_lm_step(B: int = 12, T: int = 64, C: int = 128, L: int = 4, V: int = 76):
    layer = nn.TransformerEncoderLayer(C, 4, 4 * C, dropout=0.0, batch_first=True, norm_first=True)
    body = nn.TransformerEncoder(layer, L, enable_nested_tensor=False)
    emb, head = nn.Embedding(V, C), nn.Linear(C, V)
    params = [*emb.parameters(), *body.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    x, y = torch.randint(V, (B, T)), torch.randint(V, (B, T))
    mask = nn.Transformer.generate_square_subsequent_mask(T)

    def step() -> None:
        out = body(emb(x), mask=mask, is_causal=True)  # (B, T, C)
        loss = nn.functional.cross_entropy(head(out).reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


CASES = {
    # name: (kind, factory)  -- the shapes the chapters train in the standard profile
    "copy task LSTM (H=32, B=64, T=60)": (
        "recurrent",
        lambda: recurrent_lm_step("LSTM", 32, E=16, B=64, T=60, V=12),
    ),
    "ch1 char RNN (H=256, B=32, T=100)": (
        "recurrent",
        lambda: recurrent_lm_step("RNN", 256, T=100),
    ),
    "ch2 char LSTM (H=128, B=32, T=64)": ("recurrent", lambda: recurrent_lm_step("LSTM", 128)),
    "ch3 char GRU (H=148, B=32, T=64)": ("recurrent", lambda: recurrent_lm_step("GRU", 148)),
    "GPT 4x128 (B=12, T=64)": ("transformer", transformer_lm_step),
    "GPT 4x128 (B=32, T=128)": ("transformer", lambda: transformer_lm_step(B=32, T=128)),
}


def measure(threads: list[int], rounds: int, steps: int) -> list[dict]:
    rows = []
    for name, (kind, factory) in CASES.items():
        torch.manual_seed(0)
        step = factory()
        for n in threads:  # warm-up at every setting
            torch.set_num_threads(n)
            step()
        times: dict[int, list[float]] = {n: [] for n in threads}
        for _ in range(rounds):
            for n in threads:
                torch.set_num_threads(n)
                start = time.perf_counter()
                for _ in range(steps):
                    step()
                times[n].append((time.perf_counter() - start) / steps * 1e3)
        med = {n: statistics.median(v) for n, v in times.items()}
        rows.append({"case": name, "kind": kind, "ms_per_step": med})
        cells = "  ".join(f"{n} thr {med[n]:8.1f} ms" for n in threads)
        print(f"{name:36s} {cells}   2/1 = {med[threads[-1]] / med[threads[0]]:.2f}", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--busy", type=int, default=0, help="extra CPU-bound processes (0 = quiet)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=3, help="steps per timing")
    p.add_argument("--out", help="write the result as JSON here")
    args = p.parse_args()
    cores = os.cpu_count() or 1
    threads = sorted({1, 2, cores} & set(range(1, cores + 1)))
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.busy)]
    for s in spinners:
        s.start()
    try:
        time.sleep(1.0 if spinners else 0.0)
        load_before = os.getloadavg()
        print(f"{cores} cores, {args.busy} busy processes, load {load_before[0]:.2f}, "
              f"torch {torch.__version__}")  # fmt: skip
        rows = measure(threads, args.rounds, args.steps)
    finally:
        stop.set()
        for s in spinners:
            s.join()
    result = {"cores": cores, "busy": args.busy, "load_before": load_before, "torch":
              torch.__version__, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
              "rows": rows}  # fmt: skip
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
