"""`Solver`: a PDE family + ETDRK4 at a fixed step, advancing batches of periodic fields.

    solver = make_solver("ks", Grid(n=256, length=100.0), dt=0.1)
    u1 = solver.advance(u0, steps=10)                      # u0: (batch, 1, 256)
    traj = solver.rollout(u0, frames=101, save_every=10)   # (batch, 101, 1, 256), traj[:, 0] == u0

The state is kept in Fourier space between steps; fields go in and come out on the grid.
"""

from __future__ import annotations

import math
import numbers

import torch

from sciwm.errors import SciwmError
from sciwm.pdes.base import SpectralPDE
from sciwm.pdes.etdrk import ETDRK4


class Solver:
    """Fixed-step ETDRK4 for `pde`, batched over trajectories (and over parameter values)."""

    def __init__(self, pde: SpectralPDE, dt: float) -> None:
        if isinstance(dt, torch.Tensor) and dt.numel() == 1:
            dt = dt.item()
        if isinstance(dt, bool) or not (isinstance(dt, numbers.Real) and math.isfinite(dt) and dt > 0):
            raise SciwmError(f"{pde.name}: time step dt={dt} must be a positive finite number")
        # Decaying high modes pass through subnormal floats, which x86 CPUs compute ~100x slower;
        # they are far below any accuracy that matters here, so flush them to zero (process-wide).
        torch.set_flush_denormal(True)
        self.pde = pde
        self.dt = float(dt)
        L = pde.linear()
        L = L.reshape((1,) * (2 + pde.ndim - L.ndim) + tuple(L.shape))
        self._static_forcing = pde.forcing()
        n = None if pde.linear_only else pde.nonlinear
        self.stepper = ETDRK4(L, self.dt, n, pde.multiplier(), pde.cdtype, self._static_forcing)

    @property
    def fields(self) -> tuple[str, ...]:
        return self.pde.fields

    def step(self, v: torch.Tensor) -> torch.Tensor:
        """One ETDRK4 step of the spectral state `v: (batch, C, *spectral_shape)`."""
        return self.stepper.step(v)

    def _prepare(
        self, u: torch.Tensor, forcing: torch.Tensor | None, finite: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        pde = self.pde
        pde.check_state(u, finite)
        v = pde.to_spectral(u.to(device=pde.device, dtype=pde.dtype))
        if pde.nkx == pde.grid.n[0] // 2 + 1:
            # the x-Nyquist mode cannot carry a complex amplitude on a real grid: drop it, so that
            # advance and rollout agree whatever the operator does to it (see SpectralPDE.nkx)
            v[..., -1] = 0
        f_hat = None
        if forcing is not None:
            forcing = forcing.to(device=pde.device, dtype=pde.dtype)
            if forcing.shape[1:] != u.shape[1:] or forcing.shape[0] not in (1, u.shape[0]):
                raise SciwmError(
                    f"{pde.name}: forcing has shape {tuple(forcing.shape)}, expected ({_batch_choices(u.shape[0])}, "
                    f"{', '.join(str(s) for s in u.shape[1:])})"
                )
            if finite and not torch.isfinite(forcing).all():
                raise SciwmError(f"{pde.name}: forcing contains NaN or Inf")
            f_hat = pde.to_spectral(forcing.to(torch.float64)) * pde.mask
            if self._static_forcing is not None:
                f_hat = f_hat + self._static_forcing
        return v, f_hat

    def _advance_spectral(self, v: torch.Tensor, steps: int, f_hat: torch.Tensor | None) -> torch.Tensor:
        stepper = self.stepper
        forcing = stepper.static if f_hat is None else stepper.forcing_terms(f_hat)
        if self.pde.linear_only and forcing is None:  # exact jump
            return v * stepper.E**steps
        for _ in range(steps):
            v = stepper.step(v, forcing)
        return v

    def _check_finite(self, v: torch.Tensor, step_from: int, step_to: int) -> None:
        if not torch.isfinite(v).all():
            raise SciwmError(
                f"{self.pde.name}: solution became non-finite between step {step_from} and {step_to} "
                f"(t = {step_from * self.dt:g} to {step_to * self.dt:g}); reduce dt (now {self.dt:g}) "
                "or check the parameters and initial condition"
            )

    def advance_tracked(self, u: torch.Tensor, steps: int, forcing: torch.Tensor | None = None,
                        finite: bool = True) -> torch.Tensor:
        """`advance` without `torch.no_grad()` and without its check of the result: the same calls in the same
        order, so the same numbers, differentiable in `u` and `forcing` wherever autograd is on. `finite =
        False` also lets non-finite input through (it comes out non-finite): a learned model inside a rollout
        must not stop it, the rollout reports the divergence."""
        v, f_hat = self._prepare(u, forcing, finite)
        return self.pde.to_physical(self._advance_spectral(v, steps, f_hat))

    @torch.no_grad()
    def advance(self, u: torch.Tensor, steps: int, forcing: torch.Tensor | None = None) -> torch.Tensor:
        """Advance fields `u: (batch, C, *grid.shape)` by `steps` steps; `forcing` is held constant."""
        steps = _check_count("steps", steps, self.pde.name, minimum=0)
        v, f_hat = self._prepare(u, forcing)
        v = self._advance_spectral(v, steps, f_hat)
        self._check_finite(v, 0, steps)
        return self.pde.to_physical(v)

    @torch.no_grad()
    def rollout(
        self, u0: torch.Tensor, frames: int, save_every: int = 1, forcing: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Trajectory `(batch, frames, C, *grid.shape)` saved every `save_every` steps; frame 0 is `u0`."""
        frames = _check_count("frames", frames, self.pde.name, minimum=1)
        save_every = _check_count("save_every", save_every, self.pde.name, minimum=1)
        v, f_hat = self._prepare(u0, forcing)
        out = torch.empty((u0.shape[0], frames, *u0.shape[1:]), dtype=self.pde.dtype, device=self.pde.device)
        out[:, 0] = u0
        for i in range(1, frames):
            v = self._advance_spectral(v, save_every, f_hat)
            self._check_finite(v, (i - 1) * save_every, i * save_every)
            out[:, i] = self.pde.to_physical(v)
        return out


def _batch_choices(batch: int) -> str:
    return "1" if batch == 1 else f"1 or {batch}"


def _check_count(what: str, value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SciwmError(f"{name}: {what}={value!r} must be a whole number >= {minimum}")
    return value
