"""The base of every PDE family: a diagonal linear operator and a pointwise nonlinearity.

In Fourier space a family is `v_t = L v + G n(v) + f` on a periodic grid, where
- `linear()`: the symbol of `L` per mode (stiff, integrated exactly),
- `nonlinear(v)`: `n(v)`, the transform of a pointwise product taken on the grid (e.g. `F[u^2]`),
- `multiplier()`: the diagonal `G` applied to it (derivative, sign, 2/3 dealiasing mask),
- `forcing()`: a constant source `f` (e.g. Kolmogorov forcing), or None.
Splitting `G` from `n` lets the time stepper fold `G` into its coefficients once.
Subclasses also state the equation (docstring and `equation`) and their parameters with defaults;
parameters are floats or tensors of shape `(batch,)` (one value per trajectory).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F

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
        # Nonlinear 2D families keep only the x-modes that survive 2/3 dealiasing (3 m < n_x): the rest
        # are zero at every step anyway, and dropping them makes every stage a third cheaper. (In 1D
        # the step is bound by per-call overhead, and the padding costs more than it saves.)
        truncate = grid.ndim == 2 and not self.linear_only
        self.nkx = (grid.n[0] + 2) // 3 if truncate else grid.n[0] // 2 + 1
        self.k = tuple(k[..., : self.nkx].to(self.device) for k in grid.wavenumbers(torch.float64))
        self.mask = grid.dealias_mask()[..., : self.nkx].to(self.device)

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
                    raise SciwmError(
                        f"{self.name}: parameter {key} has {value.numel()} values, others {batch}"
                    )
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
        """`n(v)` for the spectral state `v: (batch, C, *spectral_shape)`, before `G`."""
        raise NotImplementedError

    def multiplier(self) -> torch.Tensor | None:
        """`G`, complex, broadcastable to the spectral state; None for the identity."""
        return None

    def forcing(self) -> torch.Tensor | None:
        """A constant source term `f` in Fourier space, or None."""
        return None

    # --- helpers for subclasses --------------------------------------------------------------
    def to_physical(self, v: torch.Tensor) -> torch.Tensor:
        """Fields `(batch, C, *grid.shape)` from the state `(batch, C, [n_y,] nkx)`."""
        nx = self.grid.n[0]
        if self.ndim == 1:
            return torch.fft.irfft(v, n=nx)  # zero-pads the dropped x-modes
        w = torch.fft.ifft(v, dim=-2)  # along y on the kept columns only: a third fewer transforms
        if self.nkx < nx // 2 + 1:  # F.pad is faster than irfft's own padding (and, backward, than a slice copy)
            w = F.pad(w, (0, nx // 2 + 1 - self.nkx))
        return torch.fft.irfft(w, n=nx, dim=-1)

    def to_spectral(self, u: torch.Tensor) -> torch.Tensor:
        """The state `(batch, C, [n_y,] nkx)`: `rfftn` of `u`, x-modes truncated to `nkx`."""
        if self.ndim == 1:  # the 1D step is bound by per-call overhead: the plainest call is fastest
            return torch.fft.rfft(u)
        return torch.fft.rfft2(u)[..., : self.nkx]

    def laplacian(self) -> torch.Tensor:
        """Symbol of the Laplacian, `-|k|^2`, float64, broadcastable to `spectral_shape`."""
        return -sum(k * k for k in self.k)

    def check_state(self, u: torch.Tensor, finite: bool = True) -> None:
        """Refuse initial conditions of the wrong shape or (where `finite`) with non-finite values."""
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
        if finite and not torch.isfinite(u).all():
            raise SciwmError(f"{self.name}: initial condition contains NaN or Inf")

    def __repr__(self) -> str:
        ps = ", ".join(
            f"{k}={v.item():g}" if v.numel() == 1 else f"{k}=[{v.numel()} values]"
            for k, v in self.params.items()
        )
        return f"{type(self).__name__}(n={self.grid.n}, L={self.grid.length}, {ps})"


def mode_wavenumber(grid_length: float, mode: int) -> float:
    """Angular wavenumber of integer mode `mode` on a domain of length `grid_length`."""
    return 2 * math.pi * mode / grid_length
