"""Viscous Burgers: `u_t + u u_x = nu u_xx` on `[0, L)`, periodic.

Conserves the mean of `u`; for `nu > 0` smooth data stays smooth and the Cole–Hopf transform
`u = -2 nu (log phi)_x`, `phi_t = nu phi_xx` gives exact solutions. Shocks of width ~`nu / |Δu|` must be
resolved by the grid (`dx` a few times smaller), or the spectral solution rings.
"""

from __future__ import annotations

import torch

from sciwm.pdes.convection import Convection1D


class Burgers(Convection1D):
    """Viscous Burgers `u_t + u u_x = nu u_xx`; `nu >= 0` may differ per trajectory."""

    name = "burgers"
    equation = "u_t + u u_x = nu u_xx"
    ndim = 1
    defaults = {"nu": 0.01}
    nonnegative = ("nu",)

    def linear(self) -> torch.Tensor:
        (k,) = self.k
        return -self.p("nu") * k * k
