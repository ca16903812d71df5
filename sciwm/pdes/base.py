"""The base of every PDE family: a diagonal linear operator `L` and a nonlinear term `N`.

A family is `u_t = L u + N(u)` on a periodic grid. Subclasses give the equation (docstring and
`equation`), their parameters with defaults, `linear()` (the symbol of `L` per mode) and, if nonlinear,
`nonlinear(v)` (the dealiased Fourier transform of `N(u)` for the spectral state `v`).
Parameters are floats or tensors of shape `(batch,)` (one value per trajectory).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from sciwm.errors import SciwmError
from sciwm.pdes.grid import Grid

ParamValue = float | torch.Tensor


class SpectralPDE:
    """A semilinear PDE `u_t = L u + N(u)` on a periodic `Grid`, batched over trajectories."""

    name: ClassVar[str]
    equation: ClassVar[str]
    ndim: ClassVar[int]
    fields: ClassVar[tuple[str, ...]] = ("u",)
    defaults: ClassVar[dict[str, float]] = {}
    nonnegative: ClassVar[tuple[str, ...]] = ()
    positive: ClassVar[tuple[str, ...]] = ()
    linear_only: ClassVar[bool] = False

    def __init__(
        self,
        grid: Grid,
        params: dict[str, ParamValue] | None = None,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if grid.ndim != self.ndim:
            raise SciwmError(f"{self.name}: needs a {self.ndim}D grid, got {grid.ndim}D (n={grid.n})")
        if dtype not in (torch.float32, torch.float64):
            raise SciwmError(f"{self.name}: dtype must be float32 or float64, got {dtype}")
        self.grid = grid
        self.device = torch.device(device)
        self.dtype = dtype
        self.cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
        self.params, self.batch = self._check_params(params or {})
        self.k = tuple(k.to(self.device) for k in grid.wavenumbers(torch.float64))
        self.mask = grid.dealias_mask().to(self.device)
        self.space_dims = tuple(range(-grid.ndim, 0))

    # --- parameters ------------------------------------------------------------------------
    def _check_params(self, params: dict[str, ParamValue]) -> tuple[dict[str, torch.Tensor], int]:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise SciwmError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}; known: {known}")
        out: dict[str, torch.Tensor] = {}
        batch = 1
        for key, default in self.defaults.items():
            value = torch.as_tensor(params.get(key, default), dtype=torch.float64).reshape(-1)
            if value.numel() == 0 or not torch.isfinite(value).all():
                raise SciwmError(f"{self.name}: parameter {key} must be finite, got {value.tolist()}")
            if key in self.nonnegative and (value < 0).any():
                raise SciwmError(f"{self.name}: parameter {key} must be >= 0, got {value.min().item():g}")
            if key in self.positive and (value <= 0).any():
                raise SciwmError(f"{self.name}: parameter {key} must be > 0, got {value.min().item():g}")
            if value.numel() > 1:
                if batch not in (1, value.numel()):
                    raise SciwmError(f"{self.name}: parameter {key} has {value.numel()} values, others {batch}")
                batch = value.numel()
            out[key] = value.to(self.device)
        return out, batch

    def p(self, key: str) -> torch.Tensor:
        """Parameter `key` as float64 broadcastable to `(batch, channels, *spectral)`."""
        return self.params[key].reshape(-1, *([1] * (1 + self.ndim)))

    # --- the operator ----------------------------------------------------------------------
    def linear(self) -> torch.Tensor:
        """Symbol of `L`, complex or real float64, broadcastable to `(batch|1, C, *spectral_shape)`."""
        raise NotImplementedError

    def nonlinear(self, v: torch.Tensor) -> torch.Tensor:
        """Dealiased `F[N(u)]` for the spectral state `v: (batch, C, *spectral_shape)`."""
        raise NotImplementedError

    # --- helpers for subclasses --------------------------------------------------------------
    def to_physical(self, v: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfftn(v, s=self.grid.shape, dim=self.space_dims)

    def to_spectral(self, u: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfftn(u, dim=self.space_dims)

    def laplacian(self) -> torch.Tensor:
        """Symbol of the Laplacian, `-|k|^2`, float64, broadcastable to `spectral_shape`."""
        return -sum(k * k for k in self.k)

    def check_state(self, u: torch.Tensor) -> None:
        """Refuse initial conditions of the wrong shape or with non-finite values."""
        want = (len(self.fields), *self.grid.shape)
        if u.ndim != 2 + self.ndim or tuple(u.shape[1:]) != want:
            raise SciwmError(
                f"{self.name}: initial condition has shape {tuple(u.shape)}; "
                f"expected (batch, {', '.join(str(s) for s in want)}) for fields {self.fields}"
            )
        if self.batch > 1 and u.shape[0] != self.batch:
            raise SciwmError(
                f"{self.name}: {u.shape[0]} initial conditions but {self.batch} per-trajectory parameter values"
            )
        if not torch.isfinite(u).all():
            raise SciwmError(f"{self.name}: initial condition contains NaN or Inf")

    def __repr__(self) -> str:
        ps = ", ".join(
            f"{k}={v.item():g}" if v.numel() == 1 else f"{k}=[{v.numel()} values]" for k, v in self.params.items()
        )
        return f"{type(self).__name__}(n={self.grid.n}, L={self.grid.length}, {ps})"


def mode_wavenumber(grid_length: float, mode: int) -> float:
    """Angular wavenumber of integer mode `mode` on a domain of length `grid_length`."""
    return 2 * math.pi * mode / grid_length
