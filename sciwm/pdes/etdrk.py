"""ETDRK4 (Cox & Matthews 2002) for stiff semilinear PDEs `v_t = L v + N(v)` in Fourier space.

`L` is diagonal (one complex number per mode, per channel, optionally per trajectory), so the linear
part is integrated exactly by `exp(h L)`; the nonlinear part is explicit, fourth order in `h`.
The phi-function coefficients are evaluated by the Kassam & Trefethen (2005) contour integral: the mean
over `M` points on a unit circle around each `h L`, which avoids the cancellation of the closed forms
near `h L = 0`. We use the full circle (not Kassam–Trefethen's upper half + real part), so `L` may be
complex (advection, dispersion), and compute in float64 before casting to the working precision.

One step, with `E = exp(hL)`, `E2 = exp(hL/2)` and `Nv = N(v)`:

    a = E2 v + Q Nv,   b = E2 v + Q N(a),   c = E2 a + Q (2 N(b) - Nv)
    v' = E v + f1 Nv + f2 (N(a) + N(b)) + f3 N(c)

with `Q = h phi1(hL/2)/2`-type coefficients as in Kassam & Trefethen eq. (2.5)
(our `f2` already carries their factor 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

CONTOUR_POINTS = 64


@dataclass(frozen=True)
class ETDRK4Coefficients:
    """Coefficients broadcastable to the spectral state `(batch|1, channels, *spectral_shape)`."""

    E: torch.Tensor
    E2: torch.Tensor
    Q: torch.Tensor
    f1: torch.Tensor
    f2: torch.Tensor
    f3: torch.Tensor


def etdrk4_coefficients(
    L: torch.Tensor, h: float, dtype: torch.dtype, points: int = CONTOUR_POINTS
) -> ETDRK4Coefficients:
    """Kassam–Trefethen contour-integral coefficients for diagonal `L` (any shape) and step `h`.

    `dtype` is the complex working dtype (complex64 or complex128).
    """
    L = L.to(torch.complex128)
    hL = h * L
    z = torch.exp(2j * math.pi * (torch.arange(points, dtype=torch.float64) + 0.5) / points)
    z = z.to(hL.device)
    q = torch.zeros_like(hL)
    f1 = torch.zeros_like(hL)
    f2 = torch.zeros_like(hL)
    f3 = torch.zeros_like(hL)
    for r in z:  # a loop over contour points keeps memory at the size of L
        lr = hL + r
        e = torch.exp(lr)
        q += (torch.exp(lr / 2) - 1) / lr
        f1 += (-4 - lr + e * (4 - 3 * lr + lr * lr)) / lr**3
        f2 += (2 + lr + e * (lr - 2)) / lr**3
        f3 += (-4 - 3 * lr - lr * lr + e * (4 - lr)) / lr**3
    s = h / points
    return ETDRK4Coefficients(
        E=torch.exp(hL).to(dtype),
        E2=torch.exp(hL / 2).to(dtype),
        Q=(q * s).to(dtype),
        f1=(f1 * s).to(dtype),
        f2=(2 * f2 * s).to(dtype),
        f3=(f3 * s).to(dtype),
    )


def etdrk4_step(
    v: torch.Tensor, N: Callable[[torch.Tensor], torch.Tensor], c: ETDRK4Coefficients
) -> torch.Tensor:
    """Advance the spectral state `v` by one step of ETDRK4 (see module docstring)."""
    Nv = N(v)
    E2v = c.E2 * v
    a = E2v + c.Q * Nv
    Na = N(a)
    b = E2v + c.Q * Na
    Nb = N(b)
    cc = c.E2 * a + c.Q * (2 * Nb - Nv)
    Nc = N(cc)
    return c.E * v + c.f1 * Nv + c.f2 * (Na + Nb) + c.f3 * Nc
