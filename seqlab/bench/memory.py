"""Peak memory of a timed call: :class:`MemoryProbe`.

What ``peak_mem_bytes`` measures (``MemoryProbe.kind`` says which):

- ``"cuda-allocator"``: ``torch.cuda.max_memory_allocated`` during the timed calls minus what
  was allocated before them: the activations, gradients and workspaces the call needs.
- ``"rss"`` (Linux CPU): the process's peak resident memory (``VmHWM``, reset through
  ``/proc/self/clear_refs``) during the timed calls minus the resident memory before them.
  Before them glibc's ``malloc_trim`` hands freed heap pages back to the system, so the calls
  must fault their memory in again and it shows; page-granular, and other threads of the
  process count too: good for comparing configurations, not for budgeting to the byte.
- ``"maxrss"`` (other CPUs): the rise of ``getrusage``'s lifetime peak; 0 when the call stays
  below an earlier peak.
- ``"none"`` (MPS): not measured.

:func:`allocated_peak` measures one call the other way on a CPU: the peak of the bytes that torch
tensors hold (``"cpu-allocator"``), summed from the allocation and free events that
``torch.profiler`` records with ``profile_memory=True``. It is exact to the byte and blind to
what the C library keeps around, but the profiler slows the call: measure memory in a call
that is not timed (a warm-up). The first profile of a process takes a few seconds to start.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class MemoryProbe:
    """Peak memory above the starting level between :meth:`start` and :meth:`stop` (bytes;
    ``stop`` returns None where not measured). ``kind``: see the module docstring."""

    def __init__(self, device: torch.device):
        self.device = device
        if device.type == "cuda":
            self.kind = "cuda-allocator"
        elif device.type == "mps":
            self.kind = "none"
        elif self._can_reset_rss():
            self.kind = "rss"
        else:
            self.kind = "maxrss" if sys.platform != "win32" else "none"
        self.base = 0

    @staticmethod
    def _can_reset_rss() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # "5" resets the peak resident set size (Linux >= 4.0)
            _status_kib("VmHWM")
            return True
        except (OSError, KeyError):
            return False

    @staticmethod
    def _trim_heap() -> None:
        """Return freed heap memory to the system (glibc only; elsewhere a no-op)."""
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass

    @staticmethod
    def _maxrss_bytes() -> int:
        import resource  # Unix only; Windows gets mem_kind "none"

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024  # macOS bytes, Linux KiB

    def start(self) -> None:
        if self.kind == "cuda-allocator":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        elif self.kind == "rss":
            self._trim_heap()
            self._can_reset_rss()
            self.base = _status_kib("VmRSS") * 1024
        elif self.kind == "maxrss":
            self.base = self._maxrss_bytes()

    def stop(self) -> int | None:
        if self.kind == "cuda-allocator":
            return torch.cuda.max_memory_allocated(self.device) - self.base
        if self.kind == "rss":
            return max(0, _status_kib("VmHWM") * 1024 - self.base)
        if self.kind == "maxrss":
            return max(0, self._maxrss_bytes() - self.base)
        return None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null inside the block: the profiler's C++ library logs a
    few lines per profile there, which a notebook would show."""
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (some embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def allocated_peak(fn: Callable[[], Any], device: torch.device | str) -> tuple[int | None, str]:
    """Call ``fn()`` once; return (peak bytes held by torch tensors above the level before the
    call, kind). CUDA: ``torch.cuda.max_memory_allocated`` ("cuda-allocator"); CPU: the running
    sum of the allocation events ``torch.profiler`` records ("cpu-allocator"); MPS: (None,
    "none"), after calling ``fn``. Errors of ``fn`` (out-of-memory among them) propagate."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base, "cuda-allocator"
    if device.type != "cpu":
        fn()
        return None, "none"
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    cpu = torch.autograd.DeviceType.CPU
    events = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == cpu
    )
    held = peak = 0
    for _, nbytes in events:  # frees are negative
        held += nbytes
        peak = max(peak, held)
    return peak, "cpu-allocator"
