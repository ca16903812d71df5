"""The field's metrics for surrogate rollouts: pure torch functions (any device, float32 or float64).

Unless stated, `pred` and `true` have shape (batch, time, channels, *space) with one or two space dims,
and metrics come back per (batch, time, channel); definitions and conventions are in docs/metrics.md.

    err = nrmse(pred, true)                      # (batch, time, channels)
    t_c, censored = correlation_time(correlation(pred, true).mean(2), dt=1.0, threshold=0.8)
    k, E = energy_spectrum(u, lengths=(100.0,))  # E summed over k equals the mean of u^2 / 2

Non-finite predictions give non-finite metrics here; `sciwm.evaluate` decides what a diverged frame scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from sciwm.errors import SciwmError

VRMSE_EPS = 1e-7  # The Well's epsilon, added to the variance of the true field


def _space(pred: Tensor, true: Tensor | None = None) -> tuple[int, ...]:
    """Space dims of a (batch, time, channels, *space) tensor; checks the pair has one shape."""
    if pred.ndim < 4:
        raise SciwmError(f"metrics expect (batch, time, channels, *space) tensors, got shape {tuple(pred.shape)}")
    if true is not None and pred.shape != true.shape:
        raise SciwmError(f"prediction shape {tuple(pred.shape)} differs from truth shape {tuple(true.shape)}")
    return tuple(range(3, pred.ndim))


def nrmse(pred: Tensor, true: Tensor) -> Tensor:
    """||pred - true||_2 / ||true||_2 over space -> (batch, time, channels). A zero true field gives inf."""
    dims = _space(pred, true)
    return torch.linalg.vector_norm(pred - true, dim=dims) / torch.linalg.vector_norm(true, dim=dims)


def vrmse(pred: Tensor, true: Tensor, eps: float = VRMSE_EPS) -> Tensor:
    """The Well's VRMSE: sqrt(mean (pred - true)^2 / (var(true) + eps)) over space -> (batch, time, channels).

    var is the (biased) spatial variance of the true field; eps = 1e-7 as in The Well, so a constant true
    field does not divide by zero. Predicting the spatial mean of the truth scores ~1.
    """
    dims = _space(pred, true)
    mse = (pred - true).square().mean(dims)
    var = (true - true.mean(dims, keepdim=True)).square().mean(dims)
    return torch.sqrt(mse / (var + eps))


def correlation(pred: Tensor, true: Tensor) -> Tensor:
    """Pearson correlation over space -> (batch, time, channels), in [-1, 1].

    Defined as 0 where either field is constant in space (no pattern to match): spatial std below
    1000 machine epsilons of its rms, where subtracting the mean leaves only rounding noise. NaN propagates.
    """
    dims = _space(pred, true)
    dp = pred - pred.mean(dims, keepdim=True)
    dt = true - true.mean(dims, keepdim=True)
    num = (dp * dt).sum(dims)
    vp, vt = dp.square().sum(dims), dt.square().sum(dims)
    rel = (1e3 * torch.finfo(pred.dtype).eps) ** 2
    flat = (vp <= rel * pred.square().sum(dims)) | (vt <= rel * true.square().sum(dims))
    return torch.where(flat, torch.zeros_like(num), num / torch.sqrt(vp * vt))


def correlation_time(corr: Tensor, dt: float, threshold: float = 0.8) -> tuple[Tensor, Tensor]:
    """First time the correlation falls below `threshold`: corr (batch, time, *rest) -> (batch, *rest) twice.

    Frame k is at time k * dt (frame 0 is the first compared frame). NaN counts as below the threshold.
    Returns (time, censored): where the curve never falls below, time is the horizon (T - 1) * dt and
    censored is True, meaning the true correlation time is at least that long.
    """
    if corr.ndim < 2:
        raise SciwmError(f"correlation_time expects (batch, time, ...) correlations, got shape {tuple(corr.shape)}")
    below = ~(corr >= threshold)
    censored = ~below.any(dim=1)
    first = torch.argmax(below.to(torch.uint8), dim=1)  # index of the first True (0 when none)
    last = corr.shape[1] - 1
    steps = torch.where(censored, torch.full_like(first, last), first)
    return steps.to(torch.float64) * dt, censored


def _shells(shape: Sequence[int], lengths: Sequence[float], device: torch.device) -> tuple[Tensor, float]:
    """Shell index round(|k| / dk) of every Fourier mode (flattened) and dk = 2 pi / max(lengths)."""
    lmax = max(lengths)
    axes = [torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64, device=device) * (lmax / L)
            for n, L in zip(shape, lengths, strict=True)]
    grids = torch.meshgrid(*axes, indexing="ij")
    kmag = torch.sqrt(sum(g.square() for g in grids))
    return torch.round(kmag).long().flatten(), 2 * math.pi / lmax


def _lengths(lengths: float | Sequence[float] | None, d: int) -> tuple[float, ...]:
    if lengths is None:
        return (2 * math.pi,) * d
    out = (float(lengths),) * d if isinstance(lengths, (int, float)) else tuple(float(v) for v in lengths)
    if len(out) != d:
        raise SciwmError(f"lengths {out} do not match {d} space dims")
    return out


def energy_spectrum(u: Tensor, lengths: float | Sequence[float]) -> tuple[Tensor, Tensor]:
    """Energy spectrum of periodic fields: u (..., *space) -> k (n_shells,), E (..., n_shells).

    lengths: the domain length per space dim, in the order of u's last dims (2D: (Ly, Lx)); a float means
    the same length for all, and the number of space dims is len(lengths) (1 for a float).
    E(k_n) sums |u_hat|^2 / 2 over modes with round(|k| / dk) = n, dk = 2 pi / max(lengths), with
    u_hat the discrete Fourier coefficients divided by the number of grid points, so that
    sum_n E(k_n) = mean over space of u^2 / 2 (Parseval). 1D: E at k_n sums the modes +n and -n.
    Returns k_n = n * dk for n = 0 .. the largest shell (the 2D corners beyond Nyquist included).
    """
    d = 1 if isinstance(lengths, (int, float)) else len(lengths)
    lengths = _lengths(lengths, d)
    shape = tuple(u.shape[-d:])
    n_points = math.prod(shape)
    uh = torch.fft.fftn(u, dim=tuple(range(-d, 0)))
    power = 0.5 * (uh.real.square() + uh.imag.square()) / n_points**2
    idx, dk = _shells(shape, lengths, u.device)
    flat = power.reshape(-1, n_points)
    n_shells = int(idx.max()) + 1
    energy = torch.zeros(flat.shape[0], n_shells, dtype=flat.dtype, device=u.device).index_add_(1, idx, flat)
    k = torch.arange(n_shells, dtype=flat.dtype, device=u.device) * dk
    return k, energy.reshape(*u.shape[:-d], n_shells)


def resolved_shells(shape: Sequence[int], lengths: float | Sequence[float] | None = None) -> int:
    """Largest shell n (in units of dk = 2 pi / max(lengths)) inside the Nyquist limit of every space dim."""
    lengths = _lengths(lengths, len(shape))
    lmax = max(lengths)
    return int(min(math.floor((n // 2) * lmax / L + 1e-9) for n, L in zip(shape, lengths, strict=True)))


def default_bands(shape: Sequence[int], lengths: float | Sequence[float] | None = None) -> list[tuple[int, int]]:
    """Low / mid / high bands: thirds of shells 1 .. resolved_shells, as half-open [lo, hi) shell ranges."""
    n_max = resolved_shells(shape, lengths)
    if n_max < 3:
        raise SciwmError(f"grid {tuple(shape)} resolves {n_max} shells; need at least 3 for three bands")
    edges = [round(1 + i * n_max / 3) for i in range(4)]
    return [(edges[i], edges[i + 1]) for i in range(3)]


def spectral_error(pred: Tensor, true: Tensor, bands: Sequence[tuple[int, int]] | None = None,
                   lengths: float | Sequence[float] | None = None) -> Tensor:
    """Relative energy-spectrum error per band -> (batch, time, channels, n_bands).

    For band B = [lo, hi) in shells (units of the fundamental wavenumber dk = 2 pi / max(lengths)):
    sum_{n in B} |E_pred(n) - E_true(n)| / sum_{n in B} E_true(n). bands default to thirds of the
    resolved range (`default_bands`); lengths (space-dim order) default to equal lengths.
    A band with no true energy gives 0 if the prediction has none either, else a huge number.
    """
    dims = _space(pred, true)
    lengths = _lengths(lengths, len(dims))
    bands = list(bands) if bands is not None else default_bands(pred.shape[3:], lengths)
    _, ep = energy_spectrum(pred, lengths)
    _, et = energy_spectrum(true, lengths)
    tiny = torch.finfo(et.dtype).tiny
    out = []
    for lo, hi in bands:
        diff = (ep[..., lo:hi] - et[..., lo:hi]).abs().sum(-1)
        out.append(diff / et[..., lo:hi].sum(-1).clamp_min(tiny))
    return torch.stack(out, dim=-1)


class Conserved(NamedTuple):
    """Mass (spatial mean) and energy (spatial mean of u^2 / 2) per (batch, time, channel), and their drift.

    mass_drift = (M_pred - M_true) / rms(true); energy_drift = (E_pred - E_true) / E_true. The mass is
    scaled by the true field's rms over space because many fields have zero mean (KS, vorticity).
    """

    mass_pred: Tensor
    mass_true: Tensor
    energy_pred: Tensor
    energy_true: Tensor
    mass_drift: Tensor
    energy_drift: Tensor


def conserved_drift(pred: Tensor, true: Tensor) -> Conserved:
    """Mass and energy of prediction and truth over time and their drift relative to truth (see Conserved)."""
    dims = _space(pred, true)
    mp, mt = pred.mean(dims), true.mean(dims)
    ep, et = 0.5 * pred.square().mean(dims), 0.5 * true.square().mean(dims)
    rms = torch.sqrt(2 * et)
    return Conserved(mp, mt, ep, et, (mp - mt) / rms, (ep - et) / et)
