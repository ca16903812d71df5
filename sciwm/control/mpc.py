"""Episodes: plan, execute in the true solver, score; open loop or receding-horizon MPC.

    ep = run_episode(task, CEM(), world, budget=512)                 # open loop: one plan, executed whole
    ep = run_episode(task, CEM(), world, budget=512, replan_every=1) # MPC: execute 1 action, observe, re-plan

MPC is shrinking-horizon: at interval t the planner sees the observed frames so far (a latent world
re-encodes the latest `k`) and plans the `H - t` intervals left, warm-started from the rest of its last
plan; the first `replan_every` actions are executed in the true solver. `plan_seconds` is the wall
time spent inside the planner over the whole episode (execution and scoring excluded).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from sciwm.control.planners import Planner
from sciwm.control.tasks import ControlTask, Score
from sciwm.control.worlds import World


@dataclass
class Episode:
    task: str
    seed: int
    planner: str
    actions: np.ndarray  # (H, A) executed
    score: Score
    plan_seconds: float
    plans: int  # planner calls (1 in open loop)
    frames: np.ndarray = field(repr=False)  # (H + 1, C, *grid): the executed run in the true solver (0 = start)


def run_episode(task: ControlTask, planner: Planner, world: World, budget: int, replan_every: int = 0,
                label: str | None = None) -> Episode:
    """Run `planner` on `task`, planning in `world`; every action is executed in the true solver."""
    system, horizon = task.system, task.horizon
    frames = [task.start.to(system.dtype)]
    executed: list[torch.Tensor] = []
    seconds, plans, warm = 0.0, 0, None
    while len(executed) < horizon:
        t = len(executed)
        left = horizon - t
        t0 = time.perf_counter()
        plan = planner.plan(world, torch.stack(frames), task.goal, left, budget, hold=min(task.hold, left),
                            effort_weight=task.effort_weight, init=warm, seed=task.seed * 1000 + t)
        seconds += time.perf_counter() - t0
        plans += 1
        r = left if replan_every <= 0 else min(replan_every, left)
        out = system.run(frames[-1][None], plan[None, :r])[0, 1:]
        frames.extend(out.unbind(0))
        executed.extend(plan[:r].unbind(0))
        warm = plan[r:]
    actions, run = torch.stack(executed), torch.stack(frames)
    score = task.score_frames(run, actions)
    return Episode(task.name, task.seed, label or planner.name, actions.numpy(), score, seconds, plans,
                   run.cpu().numpy())
