"""SIGReg: Sketched Isotropic Gaussian Regularisation (LeJEPA, Balestriero & LeCun 2025, arXiv 2511.08544).

A batch of embeddings `z (N, D)` should look like samples of N(0, I_D). By Cramér–Wold, it does iff every
1D projection `a·z` (unit `a`) looks like N(0, 1). SIGReg draws M random unit directions and, for each
projection `x_n = a·z_n`, measures the Epps–Pulley distance between its empirical characteristic
function and that of N(0, 1):

    EP(a) = N ∫ w(t) |φ_N(t) − exp(−t²/2)|² dt,   φ_N(t) = (1/N) Σ_n exp(i t x_n),   w(t) = exp(−t²/2)

The integrand is even in t, so the integral is twice the one over [0, t_max]; it is evaluated by the
trapezoid rule on `n_points` equally spaced nodes (t_max = 3, 17 nodes, as in the paper's code; w(3) = 0.011,
and cutting the tail at 3 lowers the null mean below by 0.7 %). SIGReg = mean of EP(a) over the M directions.

Scaled by N, the statistic of a true N(0, I) batch does not shrink with N: its mean is
`E[EP] = ∫ w(t) (1 − exp(−t²)) dt = sqrt(2 pi) − sqrt(2 pi / 3) = 1.059` (E|φ_N(t) − φ(t)|² =
`(1 − exp(−t²)) / N`); `null_mean()` gives it for the quadrature in use (1.052 for the defaults). A batch
collapsed to 0 scores `N ∫ w (1 − exp(−t²/2))² dt = 0.402 N`, so the pull is strong when it is needed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DIRECTIONS = 256
T_MAX = 3.0
N_POINTS = 17


def quadrature(t_max: float = T_MAX, n_points: int = N_POINTS, dtype: torch.dtype = torch.float64,
               device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Nodes t (n_points,) on [0, t_max] and weights q (n_points,) with Σ q f(t) ≈ ∫_{−t_max}^{t_max} w f dt
    for even f: the trapezoid rule on [0, t_max], doubled (symmetry), times w(t) = exp(−t²/2)."""
    if n_points < 2 or t_max <= 0:
        raise ValueError(f"sigreg: need n_points >= 2 and t_max > 0, got {n_points}, {t_max}")
    t = torch.linspace(0.0, t_max, n_points, dtype=dtype, device=device)
    dt = t_max / (n_points - 1)
    q = torch.full_like(t, 2 * dt)
    q[0] = q[-1] = dt
    return t, q * torch.exp(-0.5 * t**2)


def null_mean(t_max: float = T_MAX, n_points: int = N_POINTS) -> float:
    """Expected SIGReg of N(0, I) samples (any N, any D, any directions) under this quadrature."""
    t, q = quadrature(t_max, n_points)
    return float((q * (1 - torch.exp(-t**2))).sum())


def random_directions(dim: int, directions: int, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> Tensor:
    """M unit vectors in R^dim, as columns (dim, M), uniform on the sphere. Drawn on the CPU from
    `generator`, so every process with the same generator state draws the same ones on any device."""
    a = torch.randn(dim, directions, generator=generator, dtype=torch.float32)
    return (a / a.norm(dim=0, keepdim=True)).to(device)


def sigreg(z: Tensor, directions: int = DIRECTIONS, generator: torch.Generator | None = None,
           t_max: float = T_MAX, n_points: int = N_POINTS) -> Tensor:
    """SIGReg of embeddings z (N, D) -> scalar (module docstring). Differentiable in z.

    The M = `directions` projections are re-drawn at every call from `generator` (default: torch's global
    RNG). Computed in float32 outside autocast. The projected values are sorted before averaging, so the
    result is bitwise the same for any order of the batch.
    """
    if z.ndim != 2 or z.shape[0] < 1:
        raise ValueError(f"sigreg: z must be (N, D) with N >= 1, got {tuple(z.shape)}")
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = z.float()
        x = (z @ random_directions(z.shape[1], directions, generator, z.device)).sort(dim=0).values  # (N, M)
        t, q = quadrature(t_max, n_points, torch.float32, z.device)
        xt = x.unsqueeze(-1) * t  # (N, M, T)
        re = torch.cos(xt).mean(0) - torch.exp(-0.5 * t**2)  # (M, T)
        im = torch.sin(xt).mean(0)
        ep = (re**2 + im**2) @ q * z.shape[0]  # (M,)
        return ep.mean()


def embedding_std(z: Tensor) -> float:
    """Mean over dimensions of the batch standard deviation of z (N, D)."""
    return float(z.detach().float().std(0, unbiased=False).mean())


def effective_rank(z: Tensor, eps: float = 1e-7) -> float:
    """exp(entropy of the normalised singular values) of z (N, D) (RankMe, Garrido et al. 2023).

    Between 1 and min(N, D); not centred, so a batch collapsed onto one point (even with small noise around
    it) scores about 1. Returns 0 for an all-zero batch.
    """
    s = torch.linalg.svdvals(z.detach().double())
    if s.sum() <= 0:
        return 0.0
    p = s / s.sum() + eps
    return float(math.exp(-(p * p.log()).sum()))
