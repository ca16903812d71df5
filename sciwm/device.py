"""`--device` for every command: a clear error for a bad name or a missing GPU."""

from __future__ import annotations

import torch

from sciwm.errors import SciwmError


def resolve_device(name: str, what: str = "--device") -> str:
    """Check a device name (`cpu`, `cuda`, `cuda:1`) against this machine; returns it unchanged. `what`
    names the option or key in the error."""
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise SciwmError(f"{what} {name!r}: not a device name (cpu, cuda, cuda:0, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SciwmError(f"{what} {name}: CUDA is not available on this machine")
    return name
