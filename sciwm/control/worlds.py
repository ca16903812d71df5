"""What a planner plans in: the true solver, or a trained world model's latent space.

Both expose the same two calls, so every planner runs on either:

    ctx = world.prepare(history, goal)         # history (h, C, *grid) observed frames (last = now), goal (C, *grid)
    d = world.costs(ctx, actions, hold)        # actions (N, H, A) -> (N,): mean distance to the goal over
                                               # the last `hold` intervals; differentiable under enable_grad

- `SolverWorld`: the true solver (`ControlSystem.run`), field-space relative L2 distance. Exact, the
  expensive oracle; with grad enabled it runs the differentiable path (`ControlSystem.run(grad=True)`).
- `LatentWorld`: a trained surrogate with `encode`/`step_latent` (latent_fno: a latent grid; jepa: a
  vector). It encodes the start and the goal once and rolls candidates forward in latent space only:
  no decoding and no solver inside the loop. The distance is `||z - z_goal|| / ||z_goal||`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from sciwm.checkpoint import LoadedRun
from sciwm.control.system import ControlSystem, relative_distance
from sciwm.errors import SciwmError


class World(Protocol):
    name: str
    action_size: int
    scale: float

    def prepare(self, history: Tensor, goal: Tensor) -> object: ...

    def costs(self, ctx: object, actions: Tensor, hold: int) -> Tensor: ...


def _tail_mean(states: list[Tensor], goal: Tensor, hold: int) -> Tensor:
    return torch.stack([relative_distance(s, goal) for s in states[-hold:]]).mean(0)


@dataclass
class SolverWorld:
    """The true forced PDE as a planning model."""

    system: ControlSystem
    name: str = "solver"

    @property
    def action_size(self) -> int:
        return self.system.action_size

    @property
    def scale(self) -> float:
        return self.system.scale

    def prepare(self, history: Tensor, goal: Tensor) -> tuple[Tensor, Tensor]:
        now = history[-1] if history.ndim == goal.ndim + 1 else history
        return now.to(self.system.dtype), goal[None].to(self.system.dtype)

    def costs(self, ctx: tuple[Tensor, Tensor], actions: Tensor, hold: int) -> Tensor:
        u0, goal = ctx
        n = actions.shape[0]
        frames = self.system.run(u0[None].expand(n, *u0.shape).contiguous(), actions.to(u0.dtype),
                                 grad=torch.is_grad_enabled())
        return _tail_mean(list(frames[:, 1:].unbind(1)), goal, hold)


@dataclass
class LatentWorld:
    """A trained latent world model (`run.model.latent`), planning without solver or decoder."""

    run: LoadedRun
    system: ControlSystem  # only for metadata (grid, actions, params); never stepped here
    name: str = "latent"

    def __post_init__(self) -> None:
        model, spec, system = self.run.model, self.run.spec, self.system
        if not getattr(model, "latent", False):
            raise SciwmError(f"model {model.cfg.name}: not a latent model (no encode/step_latent); latent planners "
                             "need latent_fno or jepa; use the -solver planners otherwise")
        if tuple(spec.grid) != tuple(system.grid.shape) or spec.channels != len(system.fields):
            raise SciwmError(f"model grid {tuple(spec.grid)} x {spec.channels} field(s) does not match the task's "
                             f"{tuple(system.grid.shape)} x {len(system.fields)}")
        if spec.n_action != system.action_size:
            raise SciwmError(f"model takes {spec.n_action} action values, the task has {system.action_size}; "
                             "train it on the task's forced dataset")
        missing = [p for p in self.run.param_names if p not in system.params]
        if missing:
            raise SciwmError(f"model needs parameters {missing}, which the task's system does not fix")

    @property
    def action_size(self) -> int:
        return self.system.action_size

    @property
    def scale(self) -> float:
        return self.system.scale

    def _device(self) -> torch.device:
        return next(self.run.model.parameters()).device

    @torch.no_grad()
    def encode(self, frames: Tensor) -> Tensor:
        """Physical frames `(B, C, *grid)` -> latents `(B, *latent_shape)`."""
        x = self.run.stats.normalize(frames.float().cpu()).to(self._device())
        return self.run.model.encode(x)

    def prepare(self, history: Tensor, goal: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        k = self.run.spec.history
        if history.ndim == goal.ndim:
            history = history[None]
        frames = history[-k:]
        if frames.shape[0] < k:  # too few observed frames: repeat the oldest (the start state)
            frames = torch.cat([frames[:1].expand(k - frames.shape[0], *frames.shape[1:]), frames])
        z_hist = self.encode(frames)[None]  # (1, k, *latent)
        z_goal = self.encode(goal[None])
        params = None
        if self.run.param_names:
            raw = torch.tensor([[float(self.system.params[p]) for p in self.run.param_names]], dtype=torch.float64)
            params = self.run.normalize_params(raw).float().to(z_hist.device)
        return z_hist, z_goal, params

    def costs(self, ctx: tuple[Tensor, Tensor, Tensor | None], actions: Tensor, hold: int) -> Tensor:
        z_hist, z_goal, params = ctx
        n = actions.shape[0]
        z_hist = z_hist.expand(n, *z_hist.shape[1:])
        p = None if params is None else params.expand(n, -1)
        a = actions.to(device=z_hist.device, dtype=z_hist.dtype)
        ends = []
        for t in range(a.shape[1]):
            for _ in range(self.system.frames_per_action):
                z = self.run.model.step_latent(z_hist, p, a[:, t])
                z_hist = torch.cat([z_hist[:, 1:], z[:, None]], 1)
            ends.append(z)
        return _tail_mean(ends, z_goal, hold).cpu()
