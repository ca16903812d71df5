"""`unet`: a small periodic U-Net baseline, 1D or 2D.

`layers` resolution levels (the grid is halved layers-1 times, so each grid size must divide by
2**(layers-1)); `width` channels at full resolution, doubled per level up to 4 * width.
Each level is two circular 3-conv -> GroupNorm -> GELU; down by average pooling, up by nearest
upsampling + conv, skips concatenated. Inputs and conditioning as for the FNO (see conditioning.py);
with FiLM every block output is modulated.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciwm.errors import SciwmError
from sciwm.models.base import Surrogate
from sciwm.models.conditioning import FiLM, input_channels, modulate, n_input_channels
from sciwm.models.config import DataSpec, ModelConfig


def periodic_conv(ndim: int, c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    """A 1D or 2D convolution with circular padding: on a periodic grid the edges are neighbours."""
    conv = (nn.Conv1d, nn.Conv2d)[ndim - 1]
    return conv(c_in, c_out, kernel, stride=stride, padding=kernel // 2, padding_mode="circular")


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups that divide the channel count."""
    return nn.GroupNorm(math.gcd(8, channels), channels)


class ConvBlock(nn.Sequential):
    """(B, c_in, *grid) -> (B, c_out, *grid): two periodic 3-convs, each with GroupNorm and GELU."""

    def __init__(self, ndim: int, c_in: int, c_out: int) -> None:
        super().__init__(
            periodic_conv(ndim, c_in, c_out), group_norm(c_out), nn.GELU(),
            periodic_conv(ndim, c_out, c_out), group_norm(c_out), nn.GELU(),
        )


def downsample(h: Tensor) -> Tensor:
    """(B, F, *grid) -> (B, F, *grid/2) by 2-point average pooling per dim."""
    return (F.avg_pool1d, F.avg_pool2d)[h.ndim - 3](h, 2)


class UNetSurrogate(Surrogate):
    """history (B, k, C, *grid) -> next frame (B, C, *grid), residual by default."""

    def __init__(self, cfg: ModelConfig, spec: DataSpec) -> None:
        super().__init__(cfg, spec)
        nd, levels = spec.ndim, cfg.layers
        self.check_grid(spec.grid)
        self.take_forcing_fields(spec.grid)
        ch = [cfg.width * 2 ** min(i, 2) for i in range(levels)]
        n_in = n_input_channels(spec.history, spec.channels, self.n_values(), nd, cfg.positional)
        self.down = nn.ModuleList([ConvBlock(nd, c_in, c) for c_in, c in zip([n_in] + ch[:-1], ch, strict=True)])
        self.up_convs = nn.ModuleList([periodic_conv(nd, ch[i + 1], ch[i]) for i in range(levels - 1)])
        self.up = nn.ModuleList([ConvBlock(nd, 2 * ch[i], ch[i]) for i in range(levels - 1)])
        self.head = periodic_conv(nd, ch[0], spec.channels, kernel=1)
        features = ch + ch[:-1][::-1]  # encoder blocks, then decoder blocks from the bottom up
        self.film_net = FiLM(spec.n_params, features, hidden=cfg.width) if self.film else None

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """Each grid size must survive layers-1 halvings."""
        f = 2 ** (self.cfg.layers - 1)
        if any(n % f for n in grid):
            raise SciwmError(f"unet: grid {grid} must divide by 2**(layers-1) = {f}; lower model.layers")

    @property
    def output_layer(self) -> nn.Module:
        return self.head

    def forward(self, history: Tensor, params: Tensor | None = None, action: Tensor | None = None) -> Tensor:
        """history (B, k, C, *grid), params (B, P), action (B, A) -> next frame (B, C, *grid)."""
        self.check_history(history)
        self.check_grid(tuple(history.shape[3:]))
        params, action = self.check_conditions(history, params, action)
        h = input_channels(history, self.condition_inputs(params, action, tuple(history.shape[3:])),
                           self.cfg.positional)
        mods = self.film_net(params) if self.film_net is not None else [None] * (2 * self.cfg.layers - 1)
        skips = []
        for i, block in enumerate(self.down):
            h = modulate(block(downsample(h) if i else h), mods[i])
            skips.append(h)
        skips.pop()
        for j, i in enumerate(reversed(range(self.cfg.layers - 1))):
            h = self.up_convs[i](F.interpolate(h, scale_factor=2, mode="nearest"))
            h = modulate(self.up[i](torch.cat([skips.pop(), h], dim=1)), mods[self.cfg.layers + j])
        y = self.head(h)
        return history[:, -1] + y if self.cfg.residual else y
