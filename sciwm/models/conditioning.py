"""How parameters, actions and position enter a model: as input channels, or by FiLM.

- channels: each per-trajectory parameter and each action value becomes one constant channel
  `(B, 1, *grid)`, stacked after the `k * C` history channels (actions of forced data: fields, below).
- film: a small MLP maps params `(B, P)` to a per-channel scale and shift for each hidden layer,
  `h <- h * (1 + scale) + shift`; its last layer starts at zero, so FiLM starts as the identity.
- actions of a forced dataset (its file describes the modal forcing, `DataSpec.forcing`): grid models
  take the forcing field `f(x) = sum_i a_i phi_i(x)` of each action as one input channel, on the
  network's own grid. A constant channel per amplitude cannot express a spatial pattern in a
  translation-equivariant network (an FNO without position), so such a model could not learn what the
  action does; the field is also the form the PDE takes it in (`u_t = ... + f`).
- positional: `sin(2 pi x / L)`, `cos(2 pi x / L)` per spatial dim (2 or 4 channels). Periodic, so no
  seam at the boundary; off by default because it breaks the translation equivariance that the
  periodic PDEs of sciwm have (turn it on where forcing depends on position, e.g. Kolmogorov flow).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sciwm.errors import SciwmError
from sciwm.forcing import modal_basis


def periodic_positions(grid: Sequence[int], like: Tensor) -> Tensor:
    """sin and cos of 2 pi x / L for each spatial dim on a uniform periodic grid -> (2 * ndim, *grid)."""
    axes = [torch.arange(n, device=like.device, dtype=like.dtype) * (2 * math.pi / n) for n in grid]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([f(x) for x in mesh for f in (torch.sin, torch.cos)])


def constant_channels(values: Tensor, grid: Sequence[int]) -> Tensor:
    """(B, n) values -> (B, n, *grid), each value broadcast as one constant channel."""
    return values.reshape(*values.shape, *([1] * len(grid))).expand(*values.shape, *grid)


def forcing_basis(forcing: str, grid: Sequence[int]) -> Tensor:
    """The modal forcing basis of a file's `forcing` attribute, sampled on a periodic grid of tensor shape
    `grid` (any resolution that resolves the modes): (A, *grid) float32, `sciwm.forcing.modal_basis`."""
    try:
        modes = [tuple(m) if isinstance(m, list) else (m,) for m in json.loads(forcing)["modes"]]
    except (ValueError, KeyError, TypeError):
        raise SciwmError(f"forcing: the data's forcing description lacks its modes: {forcing[:80]!r}") from None
    n = tuple(reversed(grid))  # physical order (x, y), as the modes
    for m in modes:
        if len(m) != len(n) or any(2 * abs(mi) >= k for mi, k in zip(m, n, strict=True)):
            raise SciwmError(f"forcing mode {list(m)} is not resolved on a grid of {tuple(grid)} points")
    return modal_basis(modes, n).float()


def forcing_fields(action: Tensor, basis: Tensor) -> Tensor:
    """action (B, s * A) -> (B, s, *grid): one forcing field sum_i a_i phi_i per sub-step (basis (A, *grid))."""
    a = action.reshape(action.shape[0], -1, basis.shape[0]).to(basis.dtype)
    return torch.einsum("bsa,a...->bs...", a, basis)


def input_channels(
    frames: Tensor, channel_values: list[Tensor], positional: bool
) -> Tensor:
    """Stack history frames, constant channels, fields and position into one input.

    frames: (B, k, C, *grid); channel_values: tensors (B, n_i), each value a constant channel, or fields
    (B, n_i, *grid) taken as they are. Returns (B, k * C + sum n_i + (2 * ndim if positional), *grid).
    """
    b, k, c, *grid = frames.shape
    parts = [frames.reshape(b, k * c, *grid)]
    parts += [constant_channels(v, grid) if v.ndim == 2 else v for v in channel_values if v.shape[1] > 0]
    if positional:
        parts.append(periodic_positions(grid, frames).expand(b, -1, *grid))
    return torch.cat(parts, dim=1)


def n_input_channels(k: int, c: int, n_values: int, ndim: int, positional: bool) -> int:
    """Channel count of `input_channels` for k frames of C fields and n_values condition channels."""
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
