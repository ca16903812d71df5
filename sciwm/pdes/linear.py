"""Linear 1D families, solved exactly in time (ETDRK4 with `N = 0` is `exp(h L)`).

- advection:           `u_t + c u_x = 0`            (`c` the speed, any sign)
- diffusion:           `u_t = nu u_xx`              (`nu >= 0`)
- advection–diffusion: `u_t + c u_x = nu u_xx`

Fourier symbol: `L(k) = -i c k - nu k^2`. Each Fourier mode is an exact solution:
`exp(i k x)` becomes `exp(i k (x - c t)) exp(-nu k^2 t)`.
"""

from __future__ import annotations

import torch

from sciwm.pdes.base import SpectralPDE


class AdvectionDiffusion(SpectralPDE):
    """Advection–diffusion `u_t + c u_x = nu u_xx` on `[0, L)`, periodic."""

    name = "advdiff"
    equation = "u_t + c u_x = nu u_xx"
    ndim = 1
    defaults = {"c": 1.0, "nu": 0.01}
    nonnegative = ("nu",)
    linear_only = True

    def linear(self) -> torch.Tensor:
        (k,) = self.k
        c = self.p("c") if "c" in self.params else 0.0
        nu = self.p("nu") if "nu" in self.params else 0.0
        return -1j * c * k - nu * k * k


class Advection(AdvectionDiffusion):
    """Linear advection `u_t + c u_x = 0`: the profile travels at speed `c` unchanged."""

    name = "advection"
    equation = "u_t + c u_x = 0"
    defaults = {"c": 1.0}
    nonnegative = ()


class Diffusion(AdvectionDiffusion):
    """Diffusion (heat equation) `u_t = nu u_xx`: mode `k` decays as `exp(-nu k^2 t)`."""

    name = "diffusion"
    equation = "u_t = nu u_xx"
    defaults = {"nu": 0.01}
