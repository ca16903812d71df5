"""What the data looks like (`DataSpec`) and how a surrogate is built (`ModelConfig`).

`ModelConfig` is the `[model]` table of a training config: flat, frozen, every default visible here.
Load it with `ModelConfig.from_dict(tomllib.loads(text)["model"])`, which refuses unknown keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sciwm.errors import SciwmError

CONDITIONINGS = ("channels", "film")
JEPA_TARGETS = ("sigreg", "ema")


@dataclass(frozen=True)
class DataSpec:
    """What the data looks like; built by the trainer from a `Windows` dataset."""

    channels: int  # C, physical fields stacked as channels
    grid: tuple[int, ...]  # (nx,) or (ny, nx)
    history: int  # k frames of input
    n_params: int = 0  # P per-trajectory parameters (e.g. viscosity; those of `[data] params`), normalised
    n_action: int = 0  # per-step action values (flattened), 0 if none: s * A with `[data] time_stride` s
    #                    and A per saved frame (a step's s per-frame actions, concatenated)
    forcing: str = ""  # the data's `forcing` attribute (JSON, sciwm.forcing) when its actions are amplitudes of
    #                    modal forcing fields: grid models then take the fields as input; "" for plain values
    physics: str = ""  # JSON: the data's PDE, params, domain length, solver and frame steps, the training
    #                    time_stride and field normalisation, for models with a solver inside (closure); "" if unknown

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid", tuple(int(n) for n in self.grid))
        if len(self.grid) not in (1, 2):
            raise SciwmError(f"DataSpec: grid must be (nx,) or (ny, nx), got {self.grid}")
        for key in ("channels", "history"):
            if getattr(self, key) < 1:
                raise SciwmError(f"DataSpec: {key} must be >= 1, got {getattr(self, key)}")
        for key in ("n_params", "n_action"):
            if getattr(self, key) < 0:
                raise SciwmError(f"DataSpec: {key} must be >= 0, got {getattr(self, key)}")

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (1 or 2)."""
        return len(self.grid)


@dataclass(frozen=True)
class ModelConfig:
    """The `[model]` table. Field-space models: fno, tfno, unet; latent models: latent_fno, jepa."""

    name: str = "fno"  # "fno" | "tfno" | "unet" | "latent_fno" | "jepa" | "closure"
    width: int = 64  # hidden channels (FNO width; U-Net and autoencoder channels at full resolution)
    modes: int = 16  # Fourier modes per dim: wavenumbers |k| < modes are kept (clipped to grid//2)
    layers: int = 4  # FNO blocks; U-Net resolution levels
    residual: bool = True  # predict u_{t+1} = u_t + net(...) (latent models: z_{t+1} = z_t + net(...))
    conditioning: str = "channels"  # params as extra input channels | "film": per-layer scale/shift
    latent_channels: int = 16  # latent models: channels of the latent grid
    latent_downsample: int = 4  # latent models: spatial compression factor per dim (a power of 2)
    encoder_width: int = 0  # latent_fno: autoencoder channels at full resolution, doubling with each halving up
    #                         to `width` (U-Net style: each level costs about the same); 0: `width` at every level
    resolution: int = 0  # fno/tfno/jepa/closure: grid points per dim the network works on (0: the data's)
    solver_dt: float = 0.0  # closure: its coarse solver's step (0: the data's step x n_data / resolution, divided
    #                         evenly into the frame interval); closure.py
    positional: bool = False  # append periodic sin/cos(2 pi x / L) channels; off = translation-equivariant
    rank: float = 0.1  # tfno: Tucker rank as a fraction of the dense spectral weights
    latent_dim: int = 64  # jepa: D, size of the embedding vector of one frame
    predictor_hidden: int = 256  # jepa: hidden units of each of the predictor's `layers` MLP layers
    target: str = "sigreg"  # jepa: "sigreg" (targets keep their gradient, + SIGReg) | "ema" (EMA target encoder)
    sigreg_weight: float = 0.1  # jepa, target = "sigreg": lambda, the weight of SIGReg in the loss
    sigreg_directions: int = 256  # jepa: random projections per step
    ema_momentum: float = 0.996  # jepa, target = "ema": target <- m * target + (1 - m) * online, per step

    def __post_init__(self) -> None:
        if self.conditioning not in CONDITIONINGS:
            raise SciwmError(f"model.conditioning: unknown {self.conditioning!r}; use one of {list(CONDITIONINGS)}")
        if self.resolution < 0 or self.resolution % 2:
            raise SciwmError(f"model.resolution = {self.resolution}: need an even number of grid points, or 0")
        if self.target not in JEPA_TARGETS:
            raise SciwmError(f"model.target: unknown {self.target!r}; use one of {list(JEPA_TARGETS)}")
        for key in ("width", "modes", "layers", "latent_channels", "latent_downsample", "latent_dim",
                    "predictor_hidden", "sigreg_directions"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SciwmError(f"model.{key} must be a whole number >= 1, got {value!r}")
        if not isinstance(self.encoder_width, int) or isinstance(self.encoder_width, bool) or self.encoder_width < 0:
            raise SciwmError(f"model.encoder_width must be a whole number >= 0 (0: width), got {self.encoder_width!r}")
        d = self.latent_downsample
        if d & (d - 1):
            raise SciwmError(f"model.latent_downsample must be a power of 2 (1, 2, 4, 8, ...), got {d}")
        if not 0.0 < self.rank <= 1.0:
            raise SciwmError(f"model.rank must be in (0, 1], got {self.rank}")
        if not (self.solver_dt >= 0 and self.solver_dt < float("inf")):
            raise SciwmError(f"model.solver_dt must be >= 0 (0: automatic), got {self.solver_dt}")
        if self.sigreg_weight < 0 or not 0.0 <= self.ema_momentum <= 1.0:
            raise SciwmError(f"model: need sigreg_weight >= 0 and ema_momentum in [0, 1], got "
                             f"{self.sigreg_weight}, {self.ema_momentum}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """A config from a TOML table; unknown keys are an error (a typo must not silently fall back)."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise SciwmError(f"[model]: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return cls(**d)
