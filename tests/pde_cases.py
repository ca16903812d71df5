"""Shared helpers for the PDE validation tests: exact solutions, errors and observed orders.
(Every test runs on one torch thread: see conftest.py.)"""

from __future__ import annotations

import itertools
import math

import torch
from scipy.special import ive

F64 = torch.float64


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Max-norm error of `a` relative to the max norm of the reference `b`."""
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max()).item()


def burgers_cole_hopf(x: torch.Tensor, t: float, nu: float, amplitude: float = 1.0, modes: int = 80):
    """Exact viscous Burgers solution with `u(x, 0) = amplitude sin(x)` on `[0, 2π)`.

    Cole–Hopf: `u = -2 nu phi_x / phi` with `phi_t = nu phi_xx` and `phi(x, 0) = exp(R cos x)`,
    `R = amplitude / (2 nu)`, whose Fourier series is `I_0(R) + 2 Σ_m I_m(R) cos(m x)`; so
    `phi(x, t) = I_0(R) + 2 Σ_m I_m(R) exp(-nu m^2 t) cos(m x)`. Scaled Bessel functions `ive` cancel
    in the ratio. Accurate to ~1e-12 while `exp(-2R)` stays above ~1e-5 (phi's minimum is a cancellation).
    """
    r = amplitude / (2 * nu)
    m = torch.arange(1, modes + 1, dtype=F64)
    c = torch.as_tensor(ive(m.numpy(), r), dtype=F64) * torch.exp(-nu * m * m * t)
    phase = m[:, None] * x[None, :]
    phi = ive(0, r) + 2 * (c[:, None] * torch.cos(phase)).sum(0)
    phi_x = -2 * (m[:, None] * c[:, None] * torch.sin(phase)).sum(0)
    return -2 * nu * phi_x / phi


def kdv_soliton(x: torch.Tensor, t: float, c: float, x0: float, length: float) -> torch.Tensor:
    """`u = (c/2) sech^2(sqrt(c)/2 (x - c t - x0))`, the distance taken periodically on `[0, length)`."""
    xi = torch.remainder(x - c * t - x0 + length / 2, length) - length / 2
    return (c / 2) / torch.cosh(math.sqrt(c) / 2 * xi) ** 2


def observed_orders(errors: list[float]) -> list[float]:
    """`log2(e(dt) / e(dt/2))` for successive halvings."""
    return [math.log2(a / b) for a, b in itertools.pairwise(errors)]
