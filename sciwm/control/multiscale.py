"""Multi-scale planning: a coarse model plans the long horizon, a fine model refines the first interval.

    world = MultiScaleWorld(fine=LatentWorld(load_run("runs/fine"), system),      # time_stride 1
                            coarse=LatentWorld(load_run("runs/coarse"), system))  # time_stride s
    actions = MultiScale(CEM()).plan(world, history, goal, horizon=32, budget=512)

With c = `coarse.stride` control intervals per coarse step and L intervals left (in the spirit of
hierarchical JEPA, LeCun 2022):

1. coarse: the method searches ceil(L / c) coarse actions, each held over its c intervals (a coarse step
   takes them as its s per-frame actions), for the coarse model to reach the goal (scored over the last
   ceil(hold / c) coarse steps; when c does not divide L the coarse plan runs up to c - 1 intervals past L);
2. subgoal: the coarse model's predicted field after the first coarse step of that plan (decoded: the
   two models need not share a latent space; the fine model encodes it);
3. fine: the method searches the first c actions, from the coarse plan's, for the fine model to reach the
   subgoal after c intervals.

The plan is the fine actions, then the coarse plan's held actions up to L. Under MPC (`replan_every`)
the first action(s) are executed and both levels re-plan; once L <= c the fine model plans straight to
the goal. Each level spends `budget` rollouts (the coarse ones are L / c steps long, the fine ones c).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor

from sciwm.control.planners import CEM, Planner
from sciwm.control.worlds import HeldWorld, World
from sciwm.errors import SciwmError


@dataclass
class MultiScaleWorld:
    """A fine world (stride 1) and a coarse world (stride c > 1) of the same system."""

    fine: World
    coarse: World
    name: str = "multiscale"

    def __post_init__(self) -> None:
        if self.fine.stride != 1 or self.coarse.stride < 2:
            raise SciwmError(f"multi-scale planning needs a fine model of stride 1 and a coarse one of stride > 1 "
                             f"(control intervals per step), got {self.fine.stride} and {self.coarse.stride}; "
                             "train the coarse model with [data] time_stride = s > 1")
        if self.fine.action_size != self.coarse.action_size:
            raise SciwmError("fine and coarse worlds have different action sizes")

    @property
    def action_size(self) -> int:
        return self.fine.action_size

    @property
    def scale(self) -> float:
        return self.fine.scale


@dataclass
class Levels:
    """One multi-scale plan: `coarse (ceil(L / c), A)` held for `every` = c intervals each, the `subgoal`
    `(C, *grid)` the coarse model predicts after its first step, and `fine (min(c, L), A)`."""

    coarse: Tensor
    subgoal: Tensor
    fine: Tensor
    every: int

    def actions(self, horizon: int) -> Tensor:
        """The plan `(horizon, A)`: the fine actions, then the coarse plan's held actions."""
        held = self.coarse.repeat_interleave(self.every, 0)
        return torch.cat([self.fine, held[len(self.fine) : horizon]])


@dataclass
class MultiScale(Planner):
    """`method` (CEM by default) at both levels of a `MultiScaleWorld`; see the module docstring."""

    method: Planner = field(default_factory=CEM)
    name: ClassVar[str] = "multiscale"

    @property
    def batch(self) -> int:
        return self.method.batch

    def rollouts(self, budget: int) -> int:
        """Rollouts spent per plan: the method's at each of the two levels (only the fine level runs, half of
        this, once the horizon left fits in one coarse step)."""
        return 2 * self.method.rollouts(budget)

    def plan(self, world: World, history: Tensor, goal: Tensor, horizon: int, budget: int, *, hold: int = 1,
             effort_weight: float = 0.0, init: Tensor | None = None, seed: int = 0) -> Tensor:
        return self.levels(world, history, goal, horizon, budget, hold=hold, effort_weight=effort_weight,
                           init=init, seed=seed).actions(horizon)

    def levels(self, world: World, history: Tensor, goal: Tensor, horizon: int, budget: int, *, hold: int = 1,
               effort_weight: float = 0.0, init: Tensor | None = None, seed: int = 0) -> Levels:
        """Plan both levels; `init` (the rest of the last plan, per interval) warm-starts the coarse one."""
        if not isinstance(world, MultiScaleWorld):
            raise SciwmError(f"{self.method.name}-multiscale plans in a fine and a coarse world (--coarse-model)")
        c, plan = world.coarse.stride, self.method.plan
        if horizon <= c:  # within one coarse step: the fine model alone, straight to the goal
            fine = plan(world.fine, history, goal, horizon, budget, hold=hold, effort_weight=effort_weight,
                        init=init, seed=seed)
            return Levels(fine, goal, fine, 1)
        held = HeldWorld(world.coarse, c)
        coarse = plan(held, history, goal, -(-horizon // c), budget, hold=-(-hold // c),
                      effort_weight=effort_weight, init=coarsen(init, c), seed=seed)
        subgoal = held.predict(held.prepare(history, goal), coarse[None, :1])[0]
        fine = plan(world.fine, history, subgoal, c, budget, effort_weight=effort_weight,
                    init=coarse[:1].expand(c, -1), seed=seed + 1)
        return Levels(coarse, subgoal, fine, c)


def coarsen(actions: Tensor | None, every: int) -> Tensor | None:
    """Per-interval actions `(L, A)` -> their means over consecutive groups of `every` `(ceil(L / every), A)`."""
    if actions is None or actions.numel() == 0:
        return None
    pad = -len(actions) % every
    padded = torch.cat([actions, actions[-1:].expand(pad, -1)])
    return padded.reshape(-1, every, actions.shape[1]).mean(1)
