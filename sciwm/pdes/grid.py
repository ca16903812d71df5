"""Periodic Fourier grids: coordinates, wavenumbers, the 2/3 dealiasing mask, spectral resampling.

Conventions used everywhere in sciwm:
- a field tensor is `(batch, channels, *space)` with `space = (x,)` in 1D and `(y, x)` in 2D;
- grid points are `x_j = j L / n`, `j = 0 .. n-1` (the endpoint `L` is the same point as 0);
- spectra are `torch.fft.rfftn` over the space dims, so the last (x) axis keeps `n_x // 2 + 1` modes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from sciwm.errors import SciwmError

MIN_POINTS = 8


@dataclass(frozen=True)
class Grid:
    """A periodic grid on `[0, L_x) (x [0, L_y))`.

    `n` and `length` are in physical order, `(n_x,)` or `(n_x, n_y)`; `shape` is the tensor order
    `(n_x,)` or `(n_y, n_x)`.
    """

    n: tuple[int, ...]
    length: tuple[float, ...]

    def __post_init__(self) -> None:
        raw_n = _as_tuple(self.n)
        if any(isinstance(v, bool) or int(v) != v for v in raw_n):
            raise SciwmError(f"grid: n={raw_n} must be whole numbers of points")
        n = tuple(int(v) for v in raw_n)
        length = tuple(float(v) for v in _as_tuple(self.length))
        if len(length) == 1 and len(n) > 1:
            length = length * len(n)
        if len(n) not in (1, 2) or len(length) != len(n):
            raise SciwmError(f"grid: need 1 or 2 dimensions with one length each, got n={n}, length={length}")
        for ni in n:
            if ni < MIN_POINTS or ni % 2:
                raise SciwmError(f"grid: n={ni} points; use an even number >= {MIN_POINTS}")
        for li in length:
            if not (li > 0 and math.isfinite(li)):
                raise SciwmError(f"grid: domain length {li} must be positive and finite")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "length", length)

    @property
    def ndim(self) -> int:
        return len(self.n)

    @property
    def shape(self) -> tuple[int, ...]:
        """Tensor shape of one field: `(n_x,)` or `(n_y, n_x)`."""
        return tuple(reversed(self.n))

    @property
    def spectral_shape(self) -> tuple[int, ...]:
        """Shape of `rfftn` of one field: `(n_x//2+1,)` or `(n_y, n_x//2+1)`."""
        return (*self.shape[:-1], self.shape[-1] // 2 + 1)

    @property
    def dx(self) -> tuple[float, ...]:
        return tuple(li / ni for li, ni in zip(self.length, self.n, strict=True))

    def coords(self, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
        """Grid-point positions per physical axis: `(x,)` or `(x, y)`, each 1D."""
        return tuple(
            torch.arange(ni, dtype=dtype) * (li / ni) for ni, li in zip(self.n, self.length, strict=True)
        )

    def mesh(self, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
        """Coordinates broadcast to `shape`: `(x,)` in 1D, `(x, y)` each `(n_y, n_x)` in 2D."""
        c = self.coords(dtype)
        if self.ndim == 1:
            return c
        y, x = torch.meshgrid(c[1], c[0], indexing="ij")
        return x, y

    def wavenumbers(self, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
        """Angular wavenumbers broadcastable to `spectral_shape`, in physical order `(k_x,)` / `(k_x, k_y)`."""
        nx, lx = self.n[0], self.length[0]
        kx = torch.fft.rfftfreq(nx, d=1.0 / nx, dtype=dtype) * (2 * math.pi / lx)
        if self.ndim == 1:
            return (kx,)
        ny, ly = self.n[1], self.length[1]
        ky = torch.fft.fftfreq(ny, d=1.0 / ny, dtype=dtype) * (2 * math.pi / ly)
        return kx[None, :], ky[:, None]

    def mode_indices(self) -> tuple[torch.Tensor, ...]:
        """Integer mode numbers, same layout as `wavenumbers`."""
        mx = torch.fft.rfftfreq(self.n[0], d=1.0 / self.n[0]).round().long()
        if self.ndim == 1:
            return (mx,)
        my = torch.fft.fftfreq(self.n[1], d=1.0 / self.n[1]).round().long()
        return mx[None, :], my[:, None]

    def dealias_mask(self) -> torch.Tensor:
        """Orszag's 2/3 rule: keep modes with `|m| < n/3` on every axis. Bool, `spectral_shape`."""
        keep = None
        for m, ni in zip(self.mode_indices(), self.n, strict=True):
            k = 3 * m.abs() < ni
            keep = k if keep is None else keep & k
        return keep.expand(self.spectral_shape)


def _as_tuple(v: object) -> tuple:
    if isinstance(v, (list, tuple)):
        return tuple(v)
    return (v,)


def resample(u: torch.Tensor, shape: tuple[int, ...] | int) -> torch.Tensor:
    """Spectral (trigonometric) interpolation of periodic fields to a new grid size.

    `u: (..., *space)` with `len(shape)` trailing space dims. Band-limited fields are reproduced
    exactly; modes above the smaller grid's Nyquist are dropped and the Nyquist mode itself is zeroed
    (it is ambiguous between an odd and an even count of points).
    """
    shape = _as_tuple(shape)
    d = len(shape)
    old = tuple(u.shape[-d:])
    if old == tuple(shape):
        return u
    if any(s < 2 or s % 2 for s in shape):
        raise SciwmError(f"resample: target grid {shape} must have even sizes")
    dims = tuple(range(-d, 0))
    uh = torch.fft.rfftn(u, dim=dims)
    out = uh.new_zeros((*u.shape[:-d], *shape[:-1], shape[-1] // 2 + 1))
    # keep |m| < min(n_old, n_new)/2 on every axis (strictly below both Nyquists)
    idx = []
    src = []
    for ax, (n_old, n_new) in enumerate(zip(old, shape, strict=True)):
        keep = min(n_old, n_new) // 2
        if ax == d - 1:  # rfft axis: modes 0..keep-1
            idx.append([slice(0, keep)])
            src.append([slice(0, keep)])
        else:  # full fft axis: 0..keep-1 and -(keep-1)..-1
            idx.append([slice(0, keep), slice(n_new - keep + 1, n_new)])
            src.append([slice(0, keep), slice(n_old - keep + 1, n_old)])
    _copy_blocks(out, uh, idx, src, d)
    scale = math.prod(shape) / math.prod(old)
    return torch.fft.irfftn(out * scale, s=shape, dim=dims)


def drop_nyquist(u: torch.Tensor, d: int) -> torch.Tensor:
    """`u: (..., *space)` with its Nyquist modes (wavenumber n/2 along any of the `d` trailing axes, all even)
    zeroed: what `resample` keeps of a field when it goes to a finer grid, so a field kept on a coarse grid
    stays equal to its interpolation on the fine one."""
    dims = tuple(range(-d, 0))
    shape = tuple(u.shape[-d:])
    uh = torch.fft.rfftn(u, dim=dims)
    for ax, n in zip(dims, shape, strict=True):
        index = [slice(None)] * uh.ndim
        index[ax] = n // 2 if ax != -1 else uh.shape[-1] - 1
        uh[tuple(index)] = 0
    return torch.fft.irfftn(uh, s=shape, dim=dims)


def _copy_blocks(out: torch.Tensor, src_t: torch.Tensor, idx: list, src: list, d: int) -> None:
    """Copy every combination of per-axis slice pairs from `src_t` into `out`."""
    for combo in itertools.product(*[range(len(i)) for i in idx]):
        o = (...,) + tuple(idx[a][c] for a, c in enumerate(combo))
        s = (...,) + tuple(src[a][c] for a, c in enumerate(combo))
        out[o] = src_t[s]
