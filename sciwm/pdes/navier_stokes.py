"""2D incompressible Navier–Stokes in vorticity form on `[0, Lx) x [0, Ly)`, periodic.

    w_t + (u·∇) w = nu Δw - alpha w + f,     w = ∂v/∂x - ∂u/∂y,
    Δψ = -w,   u = ∂ψ/∂y,   v = -∂ψ/∂x,

with Kolmogorov forcing `f(y) = A k_f cos(k_f y)`, `k_f = 2π m / Ly` — the curl of the body force
`(-A sin(k_f y), 0)`. `A = 0` gives decaying turbulence, `alpha > 0` a linear (Ekman) drag that lets a
forced flow reach a statistically steady state. The mean of `w` is conserved (zero for a periodic
velocity). The convection is evaluated as `u w_x + v w_y` on the grid, 2/3-dealiased: four inverse
transforms in one batched call and one forward transform per stage.

Taylor–Green: `w = 2 κ cos(κ x) cos(κ y)` (equal `κ` on both axes) has `(u·∇)w = 0` and decays as
`exp(-(2 nu κ^2 + alpha) t)`.
"""

from __future__ import annotations

import torch

from sciwm.errors import SciwmError
from sciwm.pdes.base import SpectralPDE


class NavierStokes2D(SpectralPDE):
    """Vorticity-form 2D Navier–Stokes with optional Kolmogorov forcing and linear drag."""

    name = "ns2d"
    equation = "w_t + (u·∇)w = nu Δw - alpha w + A k_f cos(k_f y),  k_f = 2π m / Ly"
    ndim = 2
    fields = ("vorticity",)
    defaults = {"nu": 1e-3, "alpha": 0.0, "forcing_amplitude": 0.0, "forcing_mode": 4.0}
    positive = ("nu",)
    nonnegative = ("alpha", "forcing_mode")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        kx, ky = self.k
        k2 = kx * kx + ky * ky
        inv_k2 = torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, 1.0), 0.0)
        # spectral multipliers giving (u, v, w_x, w_y) from w_hat, stacked as channels
        ops = torch.stack(
            torch.broadcast_tensors(1j * ky * inv_k2, -1j * kx * inv_k2, 1j * kx + 0 * ky, 1j * ky + 0 * kx)
        )
        self._ops = ops.to(self.cdtype)

    def linear(self) -> torch.Tensor:
        return self.p("nu") * self.laplacian() - self.p("alpha")

    def multiplier(self) -> torch.Tensor:
        return -self.mask.to(torch.float64)

    def forcing(self) -> torch.Tensor | None:
        amp = self.params["forcing_amplitude"]
        if not (amp != 0).any():
            return None
        m = self.params["forcing_mode"]
        if (m != m.round()).any() or (m < 1).any():
            raise SciwmError(f"{self.name}: forcing_mode must be a whole number >= 1, got {m.tolist()}")
        (_, y) = self.grid.mesh(torch.float64)
        y = y.to(self.device)
        kf = (2 * torch.pi * m / self.grid.length[1]).reshape(-1, 1, 1, 1)
        f = amp.reshape(-1, 1, 1, 1) * kf * torch.cos(kf * y)
        return self.to_spectral(f) * self.mask

    def nonlinear(self, v: torch.Tensor) -> torch.Tensor:
        phys = self.to_physical(v * self._ops)  # (batch, 4, ny, nx): u, v, w_x, w_y
        adv = torch.addcmul(phys[:, 0:1] * phys[:, 2:3], phys[:, 1:2], phys[:, 3:4])  # u w_x + v w_y
        return self.to_spectral(adv)
