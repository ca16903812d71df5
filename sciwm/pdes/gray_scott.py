"""Gray–Scott reaction–diffusion (two fields) on `[0, Lx) x [0, Ly)`, periodic.

    u_t = Du Δu - u v^2 + F (1 - u)
    v_t = Dv Δv + u v^2 - (F + k) v

`u` is the substrate, `v` the autocatalyst, `F` the feed rate and `k` the kill rate. The defaults
(Pearson 1993's domain 2.5 x 2.5, Du = 2e-5, Dv = 1e-5, F = 0.04, k = 0.06) grow spots and stripes
from a perturbed square of `(u, v) = (1/2, 1/4)` in a sea of `(1, 0)`. The linear part
`L = [Du Δ - F, Dv Δ - (F + k)]` is exact; the reaction `[-u v^2 + F, u v^2]` is explicit.
"""

from __future__ import annotations

import torch

from sciwm.pdes.base import SpectralPDE


class GrayScott(SpectralPDE):
    """Gray–Scott `u_t = Du Δu - u v^2 + F(1-u)`, `v_t = Dv Δv + u v^2 - (F+k) v`."""

    name = "grayscott"
    equation = "u_t = Du Δu - u v^2 + F (1 - u);  v_t = Dv Δv + u v^2 - (F + k) v"
    ndim = 2
    fields = ("u", "v")
    defaults = {"Du": 2e-5, "Dv": 1e-5, "F": 0.04, "k": 0.06}
    nonnegative = ("Du", "Dv", "F", "k")

    def linear(self) -> torch.Tensor:
        lap = self.laplacian()
        F, k = self.p("F"), self.p("k")
        Lu = self.p("Du") * lap - F
        Lv = self.p("Dv") * lap - (F + k)
        return torch.cat(torch.broadcast_tensors(Lu, Lv), dim=1)

    def nonlinear(self, v: torch.Tensor) -> torch.Tensor:
        uv = self.to_physical(v)
        u, w = uv[:, 0:1], uv[:, 1:2]
        r = u * w * w
        feed = self.params["F"].to(self.dtype).reshape(-1, 1, 1, 1)
        reaction = torch.cat([feed - r, r], dim=1)
        return self.to_spectral(reaction)

    def multiplier(self) -> torch.Tensor:
        return self.mask.to(torch.float64)
