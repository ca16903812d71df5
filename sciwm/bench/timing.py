"""Warm, synchronised, interleaved timing and peak memory of bench entries.

    calls = {"solver n=64 dt=0.2": lambda: entry.run(x), ...}
    t = time_calls(calls, repeats=5, device="cpu")   # name -> Timing(seconds, peak_bytes, memory_method)

Each call runs once untimed (warm-up: lazy initialisation, FFT plans, allocator growth), then
`repeats` rounds time every call once, in alternating order (forward, backward, ...) so that a slow
drift of a shared machine spreads over all entries alike.
"""

from __future__ import annotations

import ctypes
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

RSS_METHOD = "peak RSS growth during the call (Linux VmHWM after clear_refs, malloc_trim first; whole process)"
CUDA_METHOD = "torch.cuda.max_memory_allocated growth during the call"


@dataclass
class Timing:
    seconds: list[float]  # wall seconds of each timed repeat, in order
    peak_bytes: int | None  # peak memory growth of the first timed call; None when it cannot be measured
    memory_method: str

    @property
    def median(self) -> float:
        return float(np.median(self.seconds))


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work, so the clock measures the computation and not its launch."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(calls: dict[str, Callable[[], Any]], repeats: int, device: str,
               log: Callable[[str], None] | None = None) -> dict[str, Timing]:
    """Time each call `repeats` times after one untimed warm-up call; see the module docstring."""
    names = list(calls)
    for name in names:
        if log:
            log(f"warm-up: {name}")
        calls[name]()
        synchronize(device)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    memory: dict[str, tuple[int | None, str]] = {}
    for r in range(repeats):
        if log:
            log(f"timing round {r + 1} of {repeats}")
        for name in names if r % 2 == 0 else reversed(names):
            probe = PeakMemory(device) if r == 0 else None
            if probe:
                probe.start()
            synchronize(device)
            t0 = time.perf_counter()
            out = calls[name]()
            synchronize(device)
            seconds[name].append(time.perf_counter() - t0)
            if probe:
                memory[name] = (probe.stop(), probe.method)
            del out
    return {n: Timing(seconds[n], *memory[n]) for n in names}


class PeakMemory:
    """Peak memory added by one call: CUDA allocator statistics, or the process's peak RSS on Linux."""

    def __init__(self, device: str | torch.device) -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.method = CUDA_METHOD if self.cuda else (RSS_METHOD if _can_reset_hwm() else "unavailable")
        self.base = 0

    def start(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        elif self.method == RSS_METHOD:
            gc.collect()
            _malloc_trim()
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            self.base = _status_kb("VmRSS") * 1024

    def stop(self) -> int | None:
        if self.cuda:
            return int(torch.cuda.max_memory_allocated() - self.base)
        if self.method == RSS_METHOD:
            return max(0, _status_kb("VmHWM") * 1024 - self.base)
        return None


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {key}")


def _can_reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        _status_kb("VmHWM")
        return True
    except OSError:
        return False


def _malloc_trim() -> None:
    """Return freed heap pages to the OS, so a call reusing them still shows as RSS growth (glibc)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
