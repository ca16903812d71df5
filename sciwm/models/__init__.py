"""Learned one-step surrogates ("world models") of PDE solvers.

    from sciwm.models import DataSpec, ModelConfig, build_model, count_parameters
    model = build_model(ModelConfig(name="fno"), DataSpec(channels=1, grid=(256,), history=1))
    next_frame = model(history)          # (B, k, C, *grid) -> (B, C, *grid), normalised units

Models: fno, tfno, unet (field space); latent_fno and jepa (encode / step_latent / decode).
See docs/models.md and docs/jepa.md.
"""

from sciwm.models.base import Surrogate
from sciwm.models.build import MODELS, build_model, count_parameters
from sciwm.models.config import DataSpec, ModelConfig

__all__ = ["MODELS", "DataSpec", "ModelConfig", "Surrogate", "build_model", "count_parameters"]
