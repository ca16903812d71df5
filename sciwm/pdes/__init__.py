"""Batched pseudo-spectral solvers (Fourier in space, 2/3 dealiasing, ETDRK4 in time), in torch.

    from sciwm.pdes import Grid, make_solver
    solver = make_solver("burgers", Grid(n=256, length=2 * math.pi), dt=1e-3, params={"nu": nus})

`FAMILIES` maps each PDE name to its class; the class docstring states the equation.
"""

from __future__ import annotations

import torch

from sciwm.errors import SciwmError
from sciwm.pdes.base import SpectralPDE
from sciwm.pdes.burgers import Burgers
from sciwm.pdes.gray_scott import GrayScott
from sciwm.pdes.grid import Grid, resample
from sciwm.pdes.kdv import KdV
from sciwm.pdes.ks import KuramotoSivashinsky
from sciwm.pdes.linear import Advection, AdvectionDiffusion, Diffusion
from sciwm.pdes.navier_stokes import NavierStokes2D
from sciwm.pdes.solver import Solver

FAMILIES: dict[str, type[SpectralPDE]] = {
    cls.name: cls
    for cls in (
        Advection,
        Diffusion,
        AdvectionDiffusion,
        Burgers,
        KdV,
        KuramotoSivashinsky,
        NavierStokes2D,
        GrayScott,
    )
}


def family(name: str) -> type[SpectralPDE]:
    """The PDE class called `name`; a clear error listing the known names otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise SciwmError(f"unknown PDE {name!r}; known: {', '.join(FAMILIES)}") from None


def make_solver(
    name: str,
    grid: Grid,
    dt: float,
    params: dict | None = None,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Solver:
    """Build the ETDRK4 solver of PDE `name` on `grid` with step `dt`.

    `params` maps parameter names to floats or `(batch,)` tensors (one value per trajectory).
    """
    pde = family(name)(grid, params, device=device, dtype=dtype)
    return Solver(pde, dt)


__all__ = ["FAMILIES", "Grid", "Solver", "SpectralPDE", "family", "make_solver", "resample"]
