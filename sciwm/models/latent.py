"""`latent_fno`: a periodic conv autoencoder and an FNO that steps on its latent grid.

encode: (B, C, *grid) -> z (B, Cz, *grid / d), with Cz = latent_channels and d = latent_downsample
(log2 d stride-2 circular convs; channels per level `pyramid(width, encoder_width, log2 d)`). decode: the
mirror (nearest upsampling + circular convs). step_latent: k latent frames (+ params, actions, position as
channels, or FiLM) -> next latent frame, residual by default. forward = decode(step_latent(encode each
history frame)); `latent_loss` (sciwm/objectives.py) trains the three parts unrolled in latent space.
Compression: a 1x256 field with d=32, Cz=32 -> 32x8 (256 numbers, 1x); 1x64x64 with d=8, Cz=16 ->
16x8x8 (1024 numbers, 4x); the defaults (d=4, Cz=16) keep 16x16x16 = 4096 numbers for 1x64x64 (1x).
"""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from sciwm.errors import SciwmError
from sciwm.models.base import Surrogate
from sciwm.models.conditioning import input_channels, n_input_channels
from sciwm.models.config import DataSpec, ModelConfig
from sciwm.models.fno import FNOCore
from sciwm.models.unet import periodic_conv


def pyramid(width: int, full: int, levels: int) -> list[int]:
    """Channels per resolution level, full resolution first: `full` doubling with each halving, capped at
    `width` (`full` = 0: `width` at every level). (levels + 1 numbers.)"""
    return [min(width, (full or width) * 2**i) for i in range(levels + 1)]


class Encoder(nn.Sequential):
    """(B, C, *grid) -> (B, Cz, *grid / 2**n_down): circular convs, each halving stride-2; `widths` as `pyramid`."""

    def __init__(self, ndim: int, c: int, widths: list[int], c_latent: int) -> None:
        layers: list[nn.Module] = [periodic_conv(ndim, c, widths[0]), nn.GELU()]
        for w_in, w_out in pairwise(widths):
            layers += [periodic_conv(ndim, w_in, w_out, stride=2), nn.GELU(),
                       periodic_conv(ndim, w_out, w_out), nn.GELU()]
        super().__init__(*layers, periodic_conv(ndim, widths[-1], c_latent, kernel=1))


class Decoder(nn.Sequential):
    """(B, Cz, *lg) -> (B, C, *lg * 2**n_up): nearest upsampling + circular convs (no checkerboard)."""

    def __init__(self, ndim: int, c_latent: int, widths: list[int], c: int) -> None:
        layers: list[nn.Module] = [periodic_conv(ndim, c_latent, widths[-1]), nn.GELU()]
        for w_in, w_out in pairwise(widths[::-1]):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), periodic_conv(ndim, w_in, w_out), nn.GELU(),
                       periodic_conv(ndim, w_out, w_out), nn.GELU()]
        super().__init__(*layers, periodic_conv(ndim, widths[0], c, kernel=1))


class LatentFNOSurrogate(Surrogate):
    """Encoder + latent FNO predictor + decoder; see the module docstring for shapes."""

    latent = True

    def __init__(self, cfg: ModelConfig, spec: DataSpec) -> None:
        super().__init__(cfg, spec)
        d, nd, cz = cfg.latent_downsample, spec.ndim, cfg.latent_channels
        self.check_grid(spec.grid)
        self.latent_grid = tuple(n // d for n in spec.grid)
        n_down = d.bit_length() - 1
        widths = pyramid(cfg.width, cfg.encoder_width, n_down)
        self.encoder = Encoder(nd, spec.channels, widths, cz)
        self.decoder = Decoder(nd, cz, widths, spec.channels)
        self.take_forcing_fields(self.latent_grid)
        n_in = n_input_channels(spec.history, cz, self.n_values(), nd, cfg.positional)
        self.predictor = FNOCore(n_in, cz, self.latent_grid, cfg, n_film=spec.n_params if self.film else 0)

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """Each grid size must divide by latent_downsample."""
        d = self.cfg.latent_downsample
        if any(n % d for n in grid):
            raise SciwmError(f"latent_fno: grid {grid} must divide by model.latent_downsample = {d}")

    @property
    def output_layer(self) -> nn.Module:
        """The predictor's last layer; zeroed (with residual) step_latent returns the last latent frame."""
        return self.predictor.output_layer

    def encode(self, frames: Tensor) -> Tensor:
        """frames (B, C, *grid) -> z (B, Cz, *grid / latent_downsample)."""
        self.check_grid(tuple(frames.shape[2:]))
        return self.encoder(frames)

    def decode(self, z: Tensor) -> Tensor:
        """z (B, Cz, *latent_grid) -> frames (B, C, *latent_grid * latent_downsample)."""
        return self.decoder(z)

    def step_latent(self, z_hist: Tensor, params: Tensor | None = None, action: Tensor | None = None) -> Tensor:
        """z_hist (B, k, Cz, *latent_grid), params (B, P), action (B, A) -> next latent (B, Cz, *latent_grid)."""
        k, cz = self.spec.history, self.cfg.latent_channels
        if z_hist.ndim != 3 + self.spec.ndim or z_hist.shape[1:3] != (k, cz):
            raise SciwmError(f"latent_fno: z_hist must be (B, k={k}, Cz={cz}, *latent_grid), got {tuple(z_hist.shape)}")
        params, action = self.check_conditions(z_hist, params, action)
        values = self.condition_inputs(params, action, tuple(z_hist.shape[3:]))
        dz = self.predictor(input_channels(z_hist, values, self.cfg.positional), params if self.film else None)
        return z_hist[:, -1] + dz if self.cfg.residual else dz

    def forward(self, history: Tensor, params: Tensor | None = None, action: Tensor | None = None,
                latent: bool = False) -> Tensor:
        """history (B, k, C, *grid) -> next frame (B, C, *grid) = decode(step_latent(encode(history))).

        latent=True: `history` is a latent history (B, k, Cz, *latent_grid) and the result `step_latent`'s,
        so that an objective unrolling in latent space runs through a DistributedDataParallel wrapper."""
        if latent:
            return self.step_latent(history, params, action)
        self.check_history(history)
        b, k = history.shape[:2]
        z = self.encode(history.flatten(0, 1))
        z = z.reshape(b, k, *z.shape[1:])
        return self.decode(self.step_latent(z, params, action))
