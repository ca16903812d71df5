"""Model names -> classes, `build_model` and `count_parameters`."""

from __future__ import annotations

from torch import nn

from sciwm.errors import SciwmError
from sciwm.models.base import Surrogate
from sciwm.models.closure import ClosureSurrogate
from sciwm.models.config import DataSpec, ModelConfig
from sciwm.models.fno import FNOSurrogate, TFNOSurrogate
from sciwm.models.jepa import JEPASurrogate
from sciwm.models.latent import LatentFNOSurrogate
from sciwm.models.unet import UNetSurrogate

MODELS: dict[str, type[Surrogate]] = {
    "fno": FNOSurrogate,
    "tfno": TFNOSurrogate,
    "unet": UNetSurrogate,
    "latent_fno": LatentFNOSurrogate,
    "jepa": JEPASurrogate,
    "closure": ClosureSurrogate,
}


def build_model(cfg: ModelConfig, spec: DataSpec) -> Surrogate:
    """The surrogate named by `cfg.name`, sized for data described by `spec`. Prints nothing."""
    if cfg.name not in MODELS:
        raise SciwmError(f"model.name: unknown model {cfg.name!r}; known: {', '.join(MODELS)}")
    return MODELS[cfg.name](cfg, spec)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters (all of them, trainable or not)."""
    return sum(p.numel() for p in model.parameters())
