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

    def multiplier(self) -> torch.Tensor:
        (k,) = self.k
        return -0.5j * self.convection_coefficient * k * self.mask

    def nonlinear(self, v: torch.Tensor) -> torch.Tensor:
        return self.to_spectral(self.to_physical(v).square_())
