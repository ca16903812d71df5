"""The 1D conservative convection term `-(a/2) (u^2)_x`, pseudo-spectral with 2/3 dealiasing.

`F[-(a/2) (u^2)_x] = -(a/2) i k F[u^2]`, the product taken on the grid and the result truncated by
Orszag's 2/3 rule, which removes the aliasing of the quadratic term exactly.
"""

from __future__ import annotations

import torch

from sciwm.pdes.base import SpectralPDE


class Convection1D(SpectralPDE):
    """A 1D family whose nonlinear term is `-(a/2) (u^2)_x` with a fixed coefficient `a`."""

    convection_coefficient: float = 1.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        (k,) = self.k
        g = -0.5j * self.convection_coefficient * k * self.mask
        self._g = g.to(self.cdtype)

    def nonlinear(self, v: torch.Tensor) -> torch.Tensor:
        u = torch.fft.irfft(v, n=self.grid.n[0])
        return torch.fft.rfft(u * u) * self._g
