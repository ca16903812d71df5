"""Kuramoto–Sivashinsky: `u_t + u u_x + u_xx + u_xxxx = 0` on `[0, L)`, periodic.

Modes with `|k| < 1` grow (`L(k) = k^2 - k^4 > 0`), the fourth-order term damps the rest, and the
convection carries energy between them: spatio-temporal chaos once `L` exceeds about 60 (L = 100 has a
few dozen unstable modes and a Lyapunov time of about 10-20 time units). The mean of `u` is conserved.
"""

from __future__ import annotations

import torch

from sciwm.pdes.convection import Convection1D


class KuramotoSivashinsky(Convection1D):
    """Kuramoto–Sivashinsky `u_t + u u_x + u_xx + u_xxxx = 0`."""

    name = "ks"
    equation = "u_t + u u_x + u_xx + u_xxxx = 0"
    ndim = 1

    def linear(self) -> torch.Tensor:
        (k,) = self.k
        return (k**2 - k**4).reshape(1, 1, -1)
