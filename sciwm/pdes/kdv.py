"""Korteweg–de Vries: `u_t + 6 u u_x + u_xxx = 0` on `[0, L)`, periodic.

Conserves the mean, `∫u^2` and the Hamiltonian. The soliton `u = (c/2) sech^2(sqrt(c)/2 (x - c t - x0))`
travels at speed `c` without changing shape. The dispersive term `-u_xxx` has the imaginary symbol
`L(k) = i k^3`, integrated exactly by ETDRK4, so the time step is limited by the nonlinear term only.
"""

from __future__ import annotations

import torch

from sciwm.pdes.convection import Convection1D


class KdV(Convection1D):
    """Korteweg–de Vries `u_t + 6 u u_x + u_xxx = 0`."""

    name = "kdv"
    equation = "u_t + 6 u u_x + u_xxx = 0"
    ndim = 1
    convection_coefficient = 6.0

    def linear(self) -> torch.Tensor:
        (k,) = self.k
        return (1j * k**3).reshape(1, 1, -1)
