"""The true forced PDE of a control task: a solver, the modal forcing basis and the control timing.

    system = ControlSystem.from_card(Card.load("datasets/burgers1d-forced.toml"))
    u1 = system.step(u0, a)                      # u0 (B, C, *grid), a (B, A): one control interval
    frames = system.run(u0, actions)             # actions (B, H, A) -> (B, H + 1, C, *grid)
    frames = system.run(u0, actions, grad=True)  # the same numbers, differentiable in `actions`

One control interval is `steps` solver steps with the forcing `F(a)` held constant, exactly as
`sciwm.data.generate.forced_rollout` makes the forced datasets (`control_every` of the card).
`Solver.advance` runs under `torch.no_grad()`; the differentiable path (`grad=True`) calls the same
pieces (`Solver._prepare`, `solver.stepper.step`, `pde.to_physical`) in the same order with autograd on,
so it reproduces `advance` bit for bit and its gradient is the exact adjoint of the discrete scheme.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from sciwm.data.card import Card
from sciwm.errors import SciwmError
from sciwm.forcing import ModalForcing
from sciwm.pdes import Solver, make_solver


@dataclass
class ControlSystem:
    """A solver driven by actions `a (B, A)` in `[-scale, scale]`, one per interval of `steps` solver steps.

    `frames_per_action`: saved frames (surrogate steps) per control interval; `calls` counts solver steps
    taken (any path), so a test can check that a planner never touched the solver.
    """

    name: str
    solver: Solver
    forcing: ModalForcing
    steps: int  # solver steps per control interval
    scale: float
    frames_per_action: int = 1
    params: dict[str, float] = field(default_factory=dict)
    calls: int = 0

    @property
    def action_size(self) -> int:
        return self.forcing.size

    @property
    def grid(self):  # noqa: ANN201 - sciwm.pdes.Grid
        return self.forcing.grid

    @property
    def dtype(self) -> torch.dtype:
        return self.solver.pde.dtype

    @property
    def fields(self) -> tuple[str, ...]:
        return self.solver.fields

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_card(cls, card: Card, device: str = "cpu") -> ControlSystem:
        """The system of a forced dataset card (`[forcing]` table required; sampled params refused)."""
        if card.forcing is None:
            raise SciwmError(f"card {card.name}: no [forcing] table, so nothing to control")
        if card.sampled_params:
            raise SciwmError(f"card {card.name}: parameters {card.sampled_params} vary per trajectory; "
                             "control tasks need fixed values")
        solver = make_solver(card.pde, card.grid, card.dt, card.fixed_params, device=device, dtype=card.dtype)
        k = card.frames_per_action
        return cls(card.name, solver, card.modal_forcing(), k * card.steps_per_frame, card.forcing.scale, k,
                   dict(card.fixed_params))

    @classmethod
    def from_attrs(cls, attrs: dict, device: str = "cpu") -> ControlSystem:
        """The system of a forced trajectory file, from its global attributes (`pde`, `params`,
        `dt_solver`, `dt_save`, `precision`, `forcing`)."""
        if "forcing" not in attrs:
            raise SciwmError("data file has no 'forcing' attribute: not a forced dataset (make one from a card "
                             "with a [forcing] table)")
        spec = json.loads(str(attrs["forcing"]))
        sampled = json.loads(str(attrs.get("sampled_params", "[]")))
        if sampled:
            raise SciwmError(f"data file: parameters {sampled} vary per trajectory; control tasks need fixed values")
        forcing = ModalForcing.from_json(spec)
        params = json.loads(str(attrs.get("params", "{}")))
        dt, dt_save = float(_scalar(attrs["dt_solver"])), float(_scalar(attrs["dt_save"]))
        dtype = torch.float32 if str(attrs.get("precision", "float64")) == "float32" else torch.float64
        solver = make_solver(str(attrs["pde"]), forcing.grid, dt, params, device=device, dtype=dtype)
        k = max(1, round(float(spec.get("control_every", dt_save)) / dt_save))
        return cls(str(attrs.get("name", attrs["pde"])), solver, forcing, k * round(dt_save / dt),
                   float(spec["scale"]), k, params)

    def coarsened(self, n: int, dt: float | None = None) -> ControlSystem:
        """The same forced PDE on `n` points per dim with solver step `dt`: a cheaper, less exact planning
        model (the ladder rung of `<method>-solver@n[:dt]`). Default `dt`: this system's step times
        `n_fine / n` (the CFL number kept), shortened to divide the control interval. Fields move between
        the grids with `sciwm.pdes.grid.resample`; the forcing modes must be resolved on the coarse grid."""
        from sciwm.pdes.grid import MIN_POINTS, Grid

        grid = self.grid
        if isinstance(n, bool) or not isinstance(n, int) or n < MIN_POINTS or n % 2:
            raise SciwmError(f"coarse solver: n={n} points; use an even whole number >= {MIN_POINTS}")
        if any(n > m for m in grid.n):
            raise SciwmError(f"coarse solver: n={n} is finer than the system's grid {grid.n}")
        interval = self.steps * self.solver.dt
        if dt is None:
            dt = self.solver.dt * min(grid.n) / n
            steps = math.ceil(interval / dt - 1e-9)
        else:
            if not (math.isfinite(dt) and dt > 0):
                raise SciwmError(f"coarse solver: dt={dt} must be a positive number")
            steps = round(interval / dt)
            if steps < 1 or abs(steps * dt - interval) > 1e-9 * interval:
                raise SciwmError(f"coarse solver: dt={dt} does not divide the control interval {interval:g}")
        coarse = Grid(n=(n,) * grid.ndim, length=grid.length)
        forcing = ModalForcing(coarse, self.forcing.modes)
        pde = self.solver.pde
        solver = make_solver(pde.name, coarse, interval / steps, self.params, device=pde.device, dtype=pde.dtype)
        return ControlSystem(f"{self.name}@{n}", solver, forcing, steps, self.scale, self.frames_per_action,
                             dict(self.params))

    # --- dynamics -----------------------------------------------------------------------------
    def step(self, u: torch.Tensor, a: torch.Tensor, grad: bool = False) -> torch.Tensor:
        """One control interval: `u (B, C, *grid)`, `a (B, A)` or `(1, A)` -> `(B, C, *grid)`."""
        self.calls += self.steps
        f = self.forcing(a)
        if not grad:
            return self.solver.advance(u, self.steps, forcing=f)
        return differentiable_advance(self.solver, u, self.steps, f)

    def run(self, u0: torch.Tensor, actions: torch.Tensor, grad: bool = False) -> torch.Tensor:
        """Frames `(B, H + 1, C, *grid)` from `u0 (B, C, *grid)` under `actions (B, H, A)`; frame 0 is `u0`."""
        actions = torch.as_tensor(actions)
        if actions.ndim != 3 or actions.shape[2] != self.action_size:
            raise SciwmError(f"{self.name}: actions have shape {tuple(actions.shape)}, "
                             f"expected (batch, horizon, {self.action_size})")
        u = u0.to(self.dtype)
        frames = [u]
        for t in range(actions.shape[1]):
            u = self.step(u, actions[:, t], grad)
            frames.append(u)
        return torch.stack(frames, 1)

    def hidden_actions(self, seed: int, horizon: int) -> np.ndarray:
        """A random reachable-goal action sequence `(horizon, A)`: i.i.d. uniform in [-scale, scale],
        drawn as the forced cards draw theirs (float64, rounded to float32)."""
        rng = np.random.default_rng([seed, 3])
        return rng.uniform(-self.scale, self.scale, (horizon, self.action_size)).astype(np.float32)


def differentiable_advance(solver: Solver, u: torch.Tensor, steps: int, forcing: torch.Tensor | None) -> torch.Tensor:
    """`Solver.advance(u, steps, forcing)` with autograd on (`Solver.advance_tracked`: the same calls in the
    same order, so the same bits); differentiable in `u` and `forcing`."""
    with torch.enable_grad():
        u = solver.advance_tracked(u, steps, forcing)
    if not torch.isfinite(u).all():
        raise SciwmError(f"{solver.pde.name}: differentiable solve became non-finite; reduce the action scale")
    return u


def _scalar(value: object) -> float:
    return float(np.asarray(value).reshape(-1)[0])


def relative_distance(u: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """`||u - goal||_2 / ||goal||_2` over all but the leading dim (absolute where `goal` is 0): `(B,)`."""
    diff = (u - goal).flatten(1).norm(dim=1)
    ref = goal.flatten(1).norm(dim=1).expand_as(diff)
    return diff / torch.where(ref > 0, ref, torch.ones_like(ref))


def effort(actions: torch.Tensor) -> torch.Tensor:
    """Control effort: mean squared action over intervals and components, `(B, H, A) -> (B,)`."""
    return actions.square().flatten(1).mean(1) if actions.numel() else actions.new_zeros(actions.shape[0])


def time_of(system: ControlSystem) -> float:
    """Physical time of one control interval."""
    return system.steps * system.solver.dt


__all__ = ["ControlSystem", "differentiable_advance", "effort", "relative_distance", "time_of"]
