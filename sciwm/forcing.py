"""Actions as forcing: a few Fourier modes whose amplitudes are the action, and random action sequences.

The basis. For wave vectors `m_1 .. m_M` (integers; `(m,)` in 1D, `(m_x, m_y)` in 2D) with
`k_i = 2π (m_x / L_x, m_y / L_y)`, the action `a = (a_0, ..., a_{2M-1})` gives the field

    f(x) = sum_i  a_{2i} cos(k_i · x) + a_{2i+1} sin(k_i · x),

so `phi_{2i} = cos(k_i · x)`, `phi_{2i+1} = sin(k_i · x)`: unnormalised, `max |phi_j| = 1` and
`mean phi_j^2 = 1/2` on the grid. The field enters the PDE as an additive source,
`u_t = ... + f` (`Solver.advance(u, steps, forcing=f)`), held constant while an action lasts.

    forcing = ModalForcing(Grid(n=64, length=22.0), modes=[1, 2, 3])   # A = 6 actions
    f = forcing(a)                                  # a: (B, 6) -> f: (B, 1, 64), float64
    a = random_actions(seed, n=51, size=6, scale=0.5)                   # (51, 6) in [-0.5, 0.5]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from sciwm.errors import SciwmError
from sciwm.pdes.grid import Grid

BASIS = (
    "f(x) = sum_i a[2i] cos(k_i . x) + a[2i+1] sin(k_i . x), k_i = 2 pi (m_x / L_x, m_y / L_y) "
    "for the listed integer wave vectors m_i (1D: m_i = (m,))"
)
ACTION_KINDS = ("uniform", "ar1")


def modal_basis(modes: Sequence[tuple[int, ...]], n: tuple[int, ...]) -> torch.Tensor:
    """The basis `(2M, *shape)` float64 of wave vectors `modes` (physical order, `(m_x[, m_y])`) on a periodic
    grid of `n` points per dim (physical order; `shape` is the tensor order, `(n_y, n_x)` in 2D):
    `phi_{2i} = cos(k_i · x)`, `phi_{2i+1} = sin(k_i · x)`, whatever the domain lengths."""
    # k·x_j = 2π sum_d m_d j_d / n_d, reduced in integers first: exact periodicity, rounding ~1e-16
    idx = [torch.arange(k) for k in n]
    j = idx if len(n) == 1 else list(reversed(torch.meshgrid(idx[1], idx[0], indexing="ij")))  # (y, x)
    period = math.prod(n)
    turns = [sum(mi * (period // k) * ji for mi, k, ji in zip(m, n, j, strict=True)) % period for m in modes]
    phase = 2 * math.pi * torch.stack(turns).to(torch.float64) / period  # (M, *shape)
    return torch.stack([torch.cos(phase), torch.sin(phase)], 1).reshape(-1, *reversed(n))


class ModalForcing:
    """Maps actions `a: (B, 2M)` to forcing fields `(B, 1, *grid.shape)` on the modes `modes`.

    `modes`: `[m, ...]` or `[(m,), ...]` in 1D, `[(m_x, m_y), ...]` in 2D; each wave vector nonzero,
    listed once (not also as its negative), and kept by the 2/3 dealiasing (`3 |m| < n` per axis).
    """

    def __init__(self, grid: Grid, modes: Sequence[int | Sequence[int]]) -> None:
        self.grid = grid
        self.modes = _check_modes(grid, modes)
        self.basis = modal_basis(self.modes, grid.n)

    @property
    def size(self) -> int:
        """A, the number of action components: two (cos, sin) per mode."""
        return 2 * len(self.modes)

    @property
    def names(self) -> list[str]:
        """One name per action component, e.g. `cos(1)`, `sin(1)`, `cos(1,0)`."""
        return [f"{fn}({','.join(map(str, m))})" for m in self.modes for fn in ("cos", "sin")]

    def __call__(self, a: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Forcing fields `(B, 1, *grid.shape)` float64 for actions `a: (B, A)` (any float dtype)."""
        a = torch.as_tensor(a, dtype=torch.float64).cpu()
        if a.ndim != 2 or a.shape[1] != self.size:
            raise SciwmError(f"forcing: actions have shape {tuple(a.shape)}, expected (batch, {self.size})")
        # a sum in a fixed order, element by element: each trajectory's field is the same bits whatever the batch
        f = torch.zeros((a.shape[0], *self.grid.shape), dtype=torch.float64)
        for j in range(self.size):
            f += a[:, j].reshape(-1, *[1] * self.grid.ndim) * self.basis[j]
        return f.unsqueeze(1)

    def to_dict(self) -> dict[str, Any]:
        """What rebuilds this forcing: basis text, modes, grid size and length (JSON-ready)."""
        return {"basis": BASIS, "modes": [list(m) for m in self.modes], "n": list(self.grid.n),
                "length": list(self.grid.length), "actions": self.names}

    @classmethod
    def from_json(cls, spec: str | Mapping[str, Any]) -> ModalForcing:
        """Rebuild from `to_dict()` or a file's `forcing` attribute (JSON text):
        `ModalForcing.from_json(sciwm.data.open(path).attrs["forcing"])`."""
        if isinstance(spec, (str, bytes)):
            spec = json.loads(spec)
        try:
            return cls(Grid(n=tuple(spec["n"]), length=tuple(spec["length"])), spec["modes"])
        except KeyError as err:
            raise SciwmError(f"forcing: description lacks {err}; expected keys modes, n, length") from None


def _check_modes(grid: Grid, modes: Sequence[int | Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    if isinstance(modes, (str, bytes)) or not isinstance(modes, Sequence) or len(modes) == 0:
        raise SciwmError(f"forcing modes: give a non-empty list of wave vectors, got {modes!r}")
    out: list[tuple[int, ...]] = []
    for m in modes:
        vec = (m,) if grid.ndim == 1 and not isinstance(m, Sequence) else m
        if (
            isinstance(vec, (str, bytes))
            or not isinstance(vec, Sequence)
            or len(vec) != grid.ndim
            or any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) for c in vec)
        ):
            want = "whole numbers" if grid.ndim == 1 else "pairs [m_x, m_y] of whole numbers"
            raise SciwmError(f"forcing modes: {m!r} is not a wave vector; on a {grid.ndim}D grid give {want}")
        vec = tuple(int(c) for c in vec)
        if not any(vec):
            raise SciwmError("forcing modes: the zero mode is not allowed (a uniform source shifts the mean)")
        for c, n in zip(vec, grid.n, strict=True):
            if 3 * abs(c) >= n:
                raise SciwmError(
                    f"forcing mode {list(vec)}: beyond n/3 of the grid (n={list(grid.n)}), where the 2/3 "
                    f"dealiasing removes it; use |m| < {n / 3:.4g}"
                )
        if vec in out or tuple(-c for c in vec) in out:
            raise SciwmError(f"forcing mode {list(vec)}: listed twice (m and -m span the same cos/sin pair)")
        out.append(vec)
    return tuple(out)


def random_actions(
    seed: int | Sequence[int], n: int, size: int, scale: float, kind: str = "uniform", correlation: float = 0.0
) -> np.ndarray:
    """A random action sequence `(n, size)` float64 in `[-scale, scale]`, from `seed` alone
    (an int or a sequence of ints, as `numpy.random.default_rng` takes).

    - `uniform`: i.i.d. uniform in `[-scale, scale]`, every interval and component;
    - `ar1`: the same uniform marginal, correlated in time: `z_{t+1} = rho z_t + sqrt(1 - rho^2) e_t`
      (a stationary standard normal AR(1) per component, `rho = correlation`), mapped through
      `a = scale * erf(z / sqrt(2))` (the normal CDF, so each `a_t` is exactly uniform).
    Draws are made interval by interval, so the first `n` actions of a longer sequence are the same.
    """
    if kind not in ACTION_KINDS:
        raise SciwmError(f"forcing kind {kind!r} unknown; known: {', '.join(ACTION_KINDS)}")
    if not (scale > 0 and math.isfinite(scale)):
        raise SciwmError(f"forcing scale must be a positive number, got {scale!r}")
    if not 0 <= correlation < 1:
        raise SciwmError(f"forcing correlation must be in [0, 1), got {correlation!r}")
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.uniform(-scale, scale, size=(n, size))
    z = np.empty((n, size))
    noise = rng.standard_normal((n, size))
    z[0] = noise[0]
    for t in range(1, n):
        z[t] = correlation * z[t - 1] + math.sqrt(1 - correlation**2) * noise[t]
    return scale * np.vectorize(math.erf)(z / math.sqrt(2))
