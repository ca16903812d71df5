"""How parameters, actions and position enter a model: as constant input channels, or by FiLM.

- channels: each per-trajectory parameter and each action value becomes one constant channel
  `(B, 1, *grid)`, stacked after the `k * C` history channels.
- film: a small MLP maps params `(B, P)` to a per-channel scale and shift for each hidden layer,
  `h <- h * (1 + scale) + shift`; its last layer starts at zero, so FiLM starts as the identity.
- positional: `sin(2 pi x / L)`, `cos(2 pi x / L)` per spatial dim (2 or 4 channels). Periodic, so no
  seam at the boundary; off by default because it breaks the translation equivariance that the
  periodic PDEs of sciwm have (turn it on where forcing depends on position, e.g. Kolmogorov flow).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def periodic_positions(grid: Sequence[int], like: Tensor) -> Tensor:
    """sin and cos of 2 pi x / L for each spatial dim on a uniform periodic grid -> (2 * ndim, *grid)."""
    axes = [torch.arange(n, device=like.device, dtype=like.dtype) * (2 * math.pi / n) for n in grid]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([f(x) for x in mesh for f in (torch.sin, torch.cos)])


def constant_channels(values: Tensor, grid: Sequence[int]) -> Tensor:
    """(B, n) values -> (B, n, *grid), each value broadcast as one constant channel."""
    return values.reshape(*values.shape, *([1] * len(grid))).expand(*values.shape, *grid)


def input_channels(
    frames: Tensor, channel_values: list[Tensor], positional: bool
) -> Tensor:
    """Stack history frames, constant channels and position into one input.

    frames: (B, k, C, *grid); channel_values: tensors (B, n_i), each value a constant channel.
    Returns (B, k * C + sum n_i + (2 * ndim if positional), *grid).
    """
    b, k, c, *grid = frames.shape
    parts = [frames.reshape(b, k * c, *grid)]
    parts += [constant_channels(v, grid) for v in channel_values if v.shape[1] > 0]
    if positional:
        parts.append(periodic_positions(grid, frames).expand(b, -1, *grid))
    return torch.cat(parts, dim=1)


def n_input_channels(k: int, c: int, n_values: int, ndim: int, positional: bool) -> int:
    """Channel count of `input_channels` for k frames of C fields and n_values constant channels."""
    return k * c + n_values + (2 * ndim if positional else 0)


class FiLM(nn.Module):
    """Per-channel scale and shift for several hidden layers, from per-trajectory parameters."""

    def __init__(self, n_params: int, features: Sequence[int], hidden: int) -> None:
        super().__init__()
        self.features = list(features)
        self.mlp = nn.Sequential(nn.Linear(n_params, hidden), nn.GELU(), nn.Linear(hidden, 2 * sum(self.features)))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, params: Tensor) -> list[tuple[Tensor, Tensor]]:
        """params (B, P) -> one (scale, shift) pair of shape (B, F_i) per layer i."""
        out = self.mlp(params).split([2 * f for f in self.features], dim=1)
        return [tuple(o.chunk(2, dim=1)) for o in out]


def modulate(h: Tensor, scale_shift: tuple[Tensor, Tensor] | None) -> Tensor:
    """h (B, F, *grid) -> h * (1 + scale) + shift, with scale, shift (B, F); identity if None."""
    if scale_shift is None:
        return h
    scale, shift = (t.reshape(*t.shape, *([1] * (h.ndim - 2))) for t in scale_shift)
    return h * (1 + scale) + shift
