"""ETDRK4 (Cox & Matthews 2002) for stiff semilinear PDEs in Fourier space,

    v_t = L v + G n(v) + f,

with `L` and `G` diagonal (one complex number per mode, per channel, optionally per trajectory),
`n(v)` the transform of a pointwise nonlinearity evaluated on the grid (e.g. `F[u^2]`) and `f` a
forcing held constant over the step. The linear part is integrated exactly by `exp(h L)`; the rest is
explicit, fourth order in `h`. With `N(v) = G n(v) + f`, `Nv = N(v)`, `E = exp(hL)`, `E2 = exp(hL/2)`:

    a = E2 v + Q Nv,   b = E2 v + Q N(a),   c = E2 a + Q (2 N(b) - Nv)
    v' = E v + f1 Nv + f2 (N(a) + N(b)) + f3 N(c)

(Kassam & Trefethen 2005, eq. 2.5; our `f2` carries their factor 2). The phi-function coefficients
`Q, f1, f2, f3` are the Kassam–Trefethen contour integrals for `|h L| < 1/2`: the mean over `M` points
on a unit circle around each `h L`, which avoids the cancellation of the closed forms near `h L = 0`
(we use the full circle, so `L` may be complex: advection, dispersion); farther out, where a contour
could pass near the removable singularity at 0, the closed forms, which are accurate there. All in
float64 before casting to the working precision.

Speed: `G` (derivative, sign and 2/3 mask) is folded into the coefficients once, so a stage costs the
transforms plus one fused multiply-add; the forcing enters as precomputed constants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

CONTOUR_POINTS = 64


class ForcingTerms(NamedTuple):
    """A constant forcing `f` as it enters one ETDRK4 step: `Qf = Q f` (every stage) and `Ff = h phi1(hL) f`."""

    Qf: torch.Tensor
    Ff: torch.Tensor


@dataclass(frozen=True)
class PhiCoefficients:
    """`E, E2, Q, f1, f2, f3` in complex128, broadcastable to the spectral state."""

    E: torch.Tensor
    E2: torch.Tensor
    Q: torch.Tensor
    f1: torch.Tensor
    f2: torch.Tensor
    f3: torch.Tensor


def phi_coefficients(L: torch.Tensor, h: float, points: int = CONTOUR_POINTS) -> PhiCoefficients:
    """Kassam–Trefethen contour-integral coefficients for the diagonal operator `L` and step `h`."""
    hL = h * L.to(torch.complex128)
    z = torch.exp(2j * math.pi * (torch.arange(points, dtype=torch.float64) + 0.5) / points).to(hL.device)
    q, f1, f2, f3 = (torch.zeros_like(hL) for _ in range(4))
    for r in z:  # a loop over contour points keeps memory at the size of L
        lr = hL + r
        e = torch.exp(lr)
        lr3 = lr**3
        q += (torch.exp(lr / 2) - 1) / lr
        f1 += (-4 - lr + e * (4 - 3 * lr + lr * lr)) / lr3
        f2 += (2 + lr + e * (lr - 2)) / lr3
        f3 += (-4 - 3 * lr - lr * lr + e * (4 - lr)) / lr3
    s = h / points
    q, f1, f2, f3 = q * s, f1 * s, 2 * f2 * s, f3 * s
    # The contour may pass through (or near) the removable singularity at 0 when |hL| ~ 1; away from
    # 0 the closed forms have no cancellation, so use them there.
    far = hL.abs() >= 0.5
    e, z3 = torch.exp(hL), torch.where(far, hL, 1.0) ** 3
    hLf = torch.where(far, hL, 1.0)
    q = torch.where(far, h * (torch.exp(hLf / 2) - 1) / hLf, q)
    f1 = torch.where(far, h * (-4 - hLf + e * (4 - 3 * hLf + hLf * hLf)) / z3, f1)
    f2 = torch.where(far, 2 * h * (2 + hLf + e * (hLf - 2)) / z3, f2)
    f3 = torch.where(far, h * (-4 - 3 * hLf - hLf * hLf + e * (4 - hLf)) / z3, f3)
    return PhiCoefficients(e, torch.exp(hL / 2), q, f1, f2, f3)


class ETDRK4:
    """One ETDRK4 step for `v_t = L v + G n(v) + f` with `G` folded into the coefficients.

    `L`, `G`: complex, broadcastable to the state `(batch|1, C, *spectral)`; `n`: the raw nonlinear
    transform; `forcing`: `f` (same broadcasting) or None; `dtype`: the complex working dtype.
    """

    def __init__(
        self,
        L: torch.Tensor,
        h: float,
        n: Callable[[torch.Tensor], torch.Tensor] | None,
        G: torch.Tensor | None,
        dtype: torch.dtype,
        forcing: torch.Tensor | None = None,
    ) -> None:
        phi = phi_coefficients(L, h)
        self.phi = phi
        self.n = n
        self.dtype = dtype
        self.E = phi.E.to(dtype)
        self.E2 = phi.E2.to(dtype)
        g = torch.ones((), dtype=torch.complex128) if G is None else G.to(torch.complex128)
        self.QG, self.f1G, self.f2G, self.f3G = ((c * g).to(dtype) for c in (phi.Q, phi.f1, phi.f2, phi.f3))
        self.static = self.forcing_terms(forcing)

    def forcing_terms(self, forcing: torch.Tensor | None) -> ForcingTerms | None:
        """The constants `(Q f, h phi1(hL) f)` by which a forcing `f` held over a step enters it (None: none).
        They are passed to `step`, not stored: one stepper serves any number of threads and forcings."""
        if forcing is None:
            return None
        f = forcing.to(torch.complex128)
        return ForcingTerms((self.phi.Q * f).to(self.dtype),
                            ((self.phi.f1 + 2 * self.phi.f2 + self.phi.f3) * f).to(self.dtype))  # = h phi1(hL) f

    def step(self, v: torch.Tensor, forcing: ForcingTerms | None = None) -> torch.Tensor:
        """Advance the spectral state `v: (batch, C, *spectral)` by one step under `forcing` (`forcing_terms`;
        None: the stepper's static forcing, if any)."""
        if forcing is None:
            forcing = self.static
        Qf, Ff = (None, None) if forcing is None else forcing
        if self.n is None:  # linear: exact exponential (plus the forcing's exact response)
            out = self.E * v
            return out if Ff is None else out.add_(Ff)
        # locals, not attributes: in 1D a step is ~25 small calls and lookups are a measurable share
        n, QG, E2, addcmul = self.n, self.QG, self.E2, torch.addcmul
        n1 = n(v)
        E2v = E2 * v
        if Qf is not None:
            E2v.add_(Qf)  # every stage's Q N carries the same Q f
        a = addcmul(E2v, QG, n1)
        n2 = n(a)
        b = addcmul(E2v, QG, n2)
        n3 = n(b)
        c = E2 * a
        if Qf is not None:
            c.add_(Qf)
        c.addcmul_(QG, torch.add(n1, n3, alpha=-2), value=-1)  # + Q G (2 n3 - n1)
        n4 = n(c)
        out = self.E * v
        out.addcmul_(self.f1G, n1).addcmul_(self.f2G, n2.add_(n3)).addcmul_(self.f3G, n4)
        return out if Ff is None else out.add_(Ff)
