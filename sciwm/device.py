"""`--device` for every command: a clear error for a bad name or a missing GPU."""

from __future__ import annotations

import torch

from sciwm.errors import SciwmError


def resolve_device(name: str) -> str:
    """Check a device name (`cpu`, `cuda`, `cuda:1`) against this machine; returns it unchanged."""
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise SciwmError(f"--device {name!r}: not a device name (cpu, cuda, cuda:0, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SciwmError(f"--device {name}: CUDA is not available on this machine")
    return name
