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
"""

from __future__ import annotations

import sys

import torch


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
