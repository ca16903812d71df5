"""Random initial conditions, reproducible per trajectory.

Trajectory `i` of a dataset draws from its own generator seeded with `seeds[i]`, on the CPU in float64,
so its initial condition does not depend on the batch it is solved in, the device, or the precision.
Every function returns `(batch, channels, *grid.shape)` float64 on the CPU.

- `fourier`: truncated Fourier series `sum_{0<|m|<=modes} a_m cos(k_m · x + phi_m)`, `a_m ~ U(-1, 1)`,
  `phi_m ~ U(0, 2π)`, scaled so `max |u| = amplitude` (zero mean; smooth, band-limited);
- `grf`: Gaussian random field with spectrum `(|k|^2 + tau^2)^(-alpha)` (covariance `(-Δ + tau^2)^(-alpha)`,
  as in the FNO Navier–Stokes data), zero mean, scaled to standard deviation `amplitude`;
- `spots`: Gray–Scott seeds, `(u, v) = (1, 0)` with `count` squares of `(1/2, 1/4)`, plus noise of
  std 0.01 (clamped at 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from sciwm.errors import SciwmError
from sciwm.pdes.grid import Grid


def _generators(seeds: Sequence[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def fourier(
    grid: Grid, seeds: Sequence[int], channels: int = 1, modes: int = 5, amplitude: float = 1.0
) -> torch.Tensor:
    """Random truncated Fourier series, `max |u| = amplitude` per trajectory and channel."""
    if modes < 1 or any(modes >= n // 3 for n in grid.n):
        raise SciwmError(f"ic fourier: modes={modes} must be >= 1 and below n/3 of the grid {grid.n}")
    # all wave vectors with 0 < |m|_inf <= modes, one of each +-pair
    axes = [torch.arange(-modes, modes + 1)] * grid.ndim
    m = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, grid.ndim)
    first = m[:, -1] * 0
    for d in reversed(range(grid.ndim)):  # keep the half with the first nonzero component positive
        first = torch.where(first == 0, m[:, d], first)
    m = m[first > 0].to(torch.float64)
    k = m * torch.tensor([2 * math.pi / length for length in grid.length], dtype=torch.float64)
    mesh = torch.stack(grid.mesh(torch.float64), 0).reshape(grid.ndim, -1)  # (ndim, points)
    phase_kx = k @ mesh  # (modes, points)
    out = []
    for g in _generators(seeds):
        a = torch.rand(channels, len(m), 1, generator=g, dtype=torch.float64) * 2 - 1
        phi = torch.rand(channels, len(m), 1, generator=g, dtype=torch.float64) * 2 * math.pi
        u = (a * torch.cos(phase_kx + phi)).sum(1)
        u = u / u.abs().amax(-1, keepdim=True) * amplitude
        out.append(u.reshape(channels, *grid.shape))
    return torch.stack(out)


def grf(
    grid: Grid,
    seeds: Sequence[int],
    channels: int = 1,
    alpha: float = 2.5,
    tau: float = 7.0,
    amplitude: float = 1.0,
) -> torch.Tensor:
    """Gaussian random field with spectrum `(|k|^2 + tau^2)^(-alpha)`, std `amplitude`, zero mean."""
    if alpha <= 0 or tau < 0:
        raise SciwmError(f"ic grf: need alpha > 0 and tau >= 0, got alpha={alpha}, tau={tau}")
    k2 = sum(k * k for k in grid.wavenumbers(torch.float64))
    sqrt_spectrum = (k2 + tau**2) ** (-alpha / 2)
    sqrt_spectrum = torch.where(k2 > 0, sqrt_spectrum, 0.0) * grid.dealias_mask()
    dims = tuple(range(-grid.ndim, 0))
    out = []
    for g in _generators(seeds):
        white = torch.randn(channels, *grid.shape, generator=g, dtype=torch.float64)
        u = torch.fft.irfftn(torch.fft.rfftn(white, dim=dims) * sqrt_spectrum, s=grid.shape, dim=dims)
        std = u.reshape(channels, -1).std(-1).reshape(channels, *[1] * grid.ndim)
        out.append(u / std * amplitude)
    return torch.stack(out)


def spots(
    grid: Grid, seeds: Sequence[int], channels: int = 2, count: int = 3, size: float = 0.1
) -> torch.Tensor:
    """Gray–Scott start: `(u, v) = (1, 0)` with `count` squares of side `size * L` at `(1/2, 1/4)`."""
    if channels != 2 or grid.ndim != 2:
        raise SciwmError("ic spots: made for the two-field 2D Gray–Scott system")
    if not (0 < size < 1) or count < 1:
        raise SciwmError(f"ic spots: need count >= 1 and 0 < size < 1, got count={count}, size={size}")
    x, y = grid.mesh(torch.float64)
    out = []
    for g in _generators(seeds):
        u = torch.ones(grid.shape, dtype=torch.float64)
        v = torch.zeros(grid.shape, dtype=torch.float64)
        for _ in range(count):
            cx, cy = (torch.rand(2, generator=g, dtype=torch.float64) * torch.tensor(grid.length)).tolist()
            half = [size * length / 2 for length in grid.length]
            dx = torch.remainder(x - cx + grid.length[0] / 2, grid.length[0]) - grid.length[0] / 2
            dy = torch.remainder(y - cy + grid.length[1] / 2, grid.length[1]) - grid.length[1] / 2
            inside = (dx.abs() < half[0]) & (dy.abs() < half[1])
            u = torch.where(inside, 0.5, u)
            v = torch.where(inside, 0.25, v)
        noise = 0.01 * torch.randn(2, *grid.shape, generator=g, dtype=torch.float64)
        out.append((torch.stack([u, v]) + noise).clamp(min=0.0))
    return torch.stack(out)


INITIAL_CONDITIONS: dict[str, Callable[..., torch.Tensor]] = {"fourier": fourier, "grf": grf, "spots": spots}


def initial_condition(
    kind: str, grid: Grid, seeds: Sequence[int], channels: int = 1, **options
) -> torch.Tensor:
    """Draw initial conditions of `kind` (`fourier`, `grf`, `spots`): `(len(seeds), channels, *grid.shape)`."""
    try:
        fn = INITIAL_CONDITIONS[kind]
    except KeyError:
        raise SciwmError(
            f"unknown initial condition kind {kind!r}; known: {', '.join(INITIAL_CONDITIONS)}"
        ) from None
    try:
        return fn(grid, seeds, channels=channels, **options)
    except TypeError as err:  # an unknown option in a card
        raise SciwmError(f"ic {kind}: {err}") from None
