"""What a planner plans in: the true solver, or a trained world model's latent space.

Both expose the same two calls, so every planner runs on either:

    ctx = world.prepare(history, goal)         # history (h, C, *grid) observed frames (last = now), goal (C, *grid)
    d = world.costs(ctx, actions, hold)        # actions (N, H, A) -> (N,): mean distance to the goal over
                                               # the last `hold` intervals; differentiable under enable_grad

- `SolverWorld`: the true solver (`ControlSystem.run`), field-space relative L2 distance. Exact, the
  expensive oracle; with grad enabled it runs the differentiable path (`ControlSystem.run(grad=True)`).
  `SolverWorld(system.coarsened(n, dt))` is the classical cheap model: the same PDE on a coarser grid and
  step, the observed field and the goal truncated onto it.
- `LatentWorld`: a trained surrogate with `encode`/`step_latent` (latent_fno: a latent grid; jepa: a
  vector). It encodes the start and the goal once and rolls candidates forward in latent space only:
  no decoding and no solver inside the loop. The distance is `||z - z_goal|| / ||z_goal||`. A field-space
  surrogate (fno, tfno, unet) plans the same way with the normalised field as its "latent"
  (`FieldAsLatent`): then the distance is the field's relative L2 distance in normalised units. A run trained
  with `[data] time_stride = s` steps s saved frames at a time: its step action is the s per-frame actions
  of the interval, concatenated frame-major (`s * A` values), and `stride` = s / frames_per_action
  control intervals per step (a coarse world for `sciwm.control.multiscale`).
- `HeldWorld(world, every)`: the same world with each action held for `every` intervals (coarse plans).

Each world also has `stride` (control intervals per world step) and `predict(ctx, actions)`: the
physical field `(N, C, *grid)` it predicts after the actions (a latent world decodes its last latent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from sciwm.checkpoint import LoadedRun
from sciwm.control.system import ControlSystem, relative_distance
from sciwm.errors import SciwmError
from sciwm.pdes.grid import drop_nyquist, resample


class World(Protocol):
    name: str
    action_size: int
    scale: float
    stride: int  # control intervals per world step

    def prepare(self, history: Tensor, goal: Tensor) -> object: ...

    def costs(self, ctx: object, actions: Tensor, hold: int) -> Tensor: ...

    def predict(self, ctx: object, actions: Tensor) -> Tensor: ...


def _tail_mean(states: list[Tensor], goal: Tensor, hold: int) -> Tensor:
    return torch.stack([relative_distance(s, goal) for s in states[-hold:]]).mean(0)


@dataclass
class SolverWorld:
    """The true forced PDE as a planning model."""

    system: ControlSystem
    name: str = "solver"
    stride: int = 1

    @property
    def action_size(self) -> int:
        return self.system.action_size

    @property
    def scale(self) -> float:
        return self.system.scale

    def prepare(self, history: Tensor, goal: Tensor) -> tuple[Tensor, Tensor]:
        """The current field and the goal on the solver's grid (spectrally truncated where the solver is a
        coarse one, `ControlSystem.coarsened`)."""
        now = history[-1] if history.ndim == goal.ndim + 1 else history
        grid = tuple(self.system.grid.shape)
        if tuple(now.shape[1:]) != grid:
            now, goal = resample(now, grid), resample(goal, grid)
        return now.to(self.system.dtype), goal[None].to(self.system.dtype)

    def costs(self, ctx: tuple[Tensor, Tensor], actions: Tensor, hold: int) -> Tensor:
        u0, goal = ctx
        n = actions.shape[0]
        frames = self.system.run(u0[None].expand(n, *u0.shape).contiguous(), actions.to(u0.dtype),
                                 grad=torch.is_grad_enabled())
        return _tail_mean(list(frames[:, 1:].unbind(1)), goal, hold)

    @torch.no_grad()
    def predict(self, ctx: tuple[Tensor, Tensor], actions: Tensor) -> Tensor:
        """The solver's field after `actions (N, L, A)`: `(N, C, *grid)` on the solver's grid."""
        u0 = ctx[0]
        return self.system.run(u0[None].expand(actions.shape[0], *u0.shape), actions.to(u0.dtype))[:, -1]


class FieldAsLatent(torch.nn.Module):
    """A field-space surrogate seen as a latent one: `step_latent(z_hist (B, k, C, *grid), params, action)`
    is the model's next frame, and encode/decode are the identity, or, for a model that runs on a coarser
    grid (`model.resolution`, its `work_grid`), the spectral truncation onto that grid and the exact
    interpolation back: the model's own input and output maps. Rolled on its work grid, a step skips two
    resamples, and since the predicted fields are band-limited, the latent distance ranks candidates as the
    full-grid distance does (exactly for `hold = 1`)."""

    latent = True

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        work = getattr(model, "work_grid", None)
        self.grids = None if work is None or tuple(work) == tuple(model.spec.grid) else (tuple(work),
                                                                                           tuple(model.spec.grid))

    def encode(self, frames: Tensor) -> Tensor:
        return frames if self.grids is None else resample(frames, self.grids[0])

    def decode(self, z: Tensor) -> Tensor:
        return z if self.grids is None else resample(z, self.grids[1])

    def step_latent(self, z_hist: Tensor, params: Tensor | None = None, action: Tensor | None = None) -> Tensor:
        z = self.model(z_hist, params, action)
        return z if self.grids is None else drop_nyquist(z, len(self.grids[0]))  # as the full-grid output


@dataclass
class LatentWorld:
    """A trained world model, planning in its latent space (a field model's: the normalised field), without
    solver or decoder."""

    run: LoadedRun
    system: ControlSystem  # only for metadata (grid, actions, params); never stepped here
    name: str = "latent"

    def __post_init__(self) -> None:
        model, spec, system = self.run.model, self.run.spec, self.system
        self.model = model if getattr(model, "latent", False) else FieldAsLatent(model)
        if tuple(spec.grid) != tuple(system.grid.shape) or spec.channels != len(system.fields):
            raise SciwmError(f"model grid {tuple(spec.grid)} x {spec.channels} field(s) does not match the task's "
                             f"{tuple(system.grid.shape)} x {len(system.fields)}")
        s, f = self.run.time_stride, system.frames_per_action
        if s % f and f % s:
            raise SciwmError(f"model time_stride {s} and the task's {f} frames per action: one must divide the "
                             "other")
        if spec.n_action != s * system.action_size:
            per = f" per step of {s} frames" if s > 1 else ""
            raise SciwmError(f"model takes {spec.n_action} action values{per}, the task has {system.action_size} "
                             f"per frame{f' (x {s} = {s * system.action_size})' if s > 1 else ''}; "
                             "train it on the task's forced dataset")
        if spec.forcing:
            trained = [tuple(m) for m in json.loads(spec.forcing)["modes"]]
            if trained != list(system.forcing.modes):
                raise SciwmError(f"model was trained on forcing modes {trained}, the task forces modes "
                                 f"{list(system.forcing.modes)}; train it on the task's forced dataset")
        missing = [p for p in self.run.param_names if p not in system.params]
        if missing:
            raise SciwmError(f"model needs parameters {missing}, which the task's system does not fix")

    @property
    def action_size(self) -> int:
        return self.system.action_size

    @property
    def scale(self) -> float:
        return self.system.scale

    @property
    def stride(self) -> int:
        """Control intervals per model step: time_stride / frames_per_action (at least 1)."""
        return max(1, self.run.time_stride // self.system.frames_per_action)

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode(self, frames: Tensor) -> Tensor:
        """Physical frames `(B, C, *grid)` -> latents `(B, *latent_shape)`."""
        x = self.run.stats.normalize(frames.float().cpu()).to(self._device())
        return self.model.encode(x)

    def prepare(self, history: Tensor, goal: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        k = self.run.spec.history
        if history.ndim == goal.ndim:
            history = history[None]
        # the model's k frames are time_stride saved frames apart: every `stride`-th observed one, back from now
        frames = history.flip(0)[:: self.stride][:k].flip(0)
        if frames.shape[0] < k:  # too few observed frames: repeat the oldest (the start state)
            frames = torch.cat([frames[:1].expand(k - frames.shape[0], *frames.shape[1:]), frames])
        z_hist = self.encode(frames)[None]  # (1, k, *latent)
        z_goal = self.encode(goal[None])
        params = None
        if self.run.param_names:
            raw = torch.tensor([[float(self.system.params[p]) for p in self.run.param_names]], dtype=torch.float64)
            params = self.run.normalize_params(raw).float().to(z_hist.device)
        return z_hist, z_goal, params

    def rollout(self, ctx: tuple[Tensor, Tensor, Tensor | None], actions: Tensor) -> tuple[list[Tensor], list[int]]:
        """Latents after each model step under `actions (N, L, A)`, and the saved frame (from now) each ends
        at. Each action acts over `frames_per_action` frames; a step takes the `time_stride` per-frame actions
        of its interval concatenated (frame-major, `step_actions`); a horizon that is not a whole number of
        steps is padded with its last action (the last step ends after the horizon)."""
        z_hist, _, params = ctx
        n, s = actions.shape[0], self.run.time_stride
        per_frame = actions.to(device=z_hist.device, dtype=z_hist.dtype).repeat_interleave(
            self.system.frames_per_action, 1)
        steps = -(-per_frame.shape[1] // s)
        pad = steps * s - per_frame.shape[1]
        if pad:
            per_frame = torch.cat([per_frame, per_frame[:, -1:].expand(n, pad, per_frame.shape[2])], 1)
        a = per_frame.reshape(n, steps, s * actions.shape[2])
        z_hist = z_hist.expand(n, *z_hist.shape[1:])
        p = None if params is None else params.expand(n, -1)
        latents = []
        for j in range(steps):
            z = self.model.step_latent(z_hist, p, a[:, j])
            z_hist = torch.cat([z_hist[:, 1:], z[:, None]], 1)
            latents.append(z)
        return latents, [(j + 1) * s for j in range(steps)]

    def costs(self, ctx: tuple[Tensor, Tensor, Tensor | None], actions: Tensor, hold: int) -> Tensor:
        """Mean latent distance at the step ends that close a control interval within the last `hold`
        intervals (always including the last step)."""
        latents, ends = self.rollout(ctx, actions)
        f = self.system.frames_per_action
        first = (actions.shape[1] - hold) * f
        kept = [z for j, (z, e) in enumerate(zip(latents, ends, strict=True))
                if e > first and (e % f == 0 or j == len(ends) - 1)]
        return _tail_mean(kept, ctx[1], len(kept)).cpu()

    @torch.no_grad()
    def predict(self, ctx: tuple[Tensor, Tensor, Tensor | None], actions: Tensor) -> Tensor:
        """The decoded field after `actions (N, L, A)`, in physical units: `(N, C, *grid)`."""
        latents, _ = self.rollout(ctx, actions)
        return self.run.stats.denormalize(self.model.decode(latents[-1]).float().cpu())


@dataclass
class HeldWorld:
    """`world` with each action held for `every` control intervals: actions `(N, L, A)` act as
    `(N, L * every, A)`, and `hold` counts these long intervals. Coarse plans search in it."""

    world: World
    every: int
    name: str = "held"

    @property
    def action_size(self) -> int:
        return self.world.action_size

    @property
    def scale(self) -> float:
        return self.world.scale

    @property
    def stride(self) -> int:
        return 1

    def expand(self, actions: Tensor) -> Tensor:
        """`(N, L, A)` -> the per-interval actions `(N, L * every, A)`."""
        return actions.repeat_interleave(self.every, 1)

    def prepare(self, history: Tensor, goal: Tensor) -> object:
        return self.world.prepare(history, goal)

    def costs(self, ctx: object, actions: Tensor, hold: int) -> Tensor:
        return self.world.costs(ctx, self.expand(actions), hold * self.every)

    def predict(self, ctx: object, actions: Tensor) -> Tensor:
        return self.world.predict(ctx, self.expand(actions))
