"""Latent planning and control of forced PDEs (docs/control.md).

    from sciwm.control import SuiteSpec, SolverWorld, CEM, run_episode
    task = SuiteSpec.load("benchmarks/tasks/burgers1d-reach.toml").tasks()[0]
    ep = run_episode(task, CEM(), SolverWorld(task.system), budget=512)   # scored in the true solver
    print(ep.score.distance, ep.score.effort, ep.score.success)

- `system`: the true forced PDE (`ControlSystem`), with a differentiable path through the ETDRK4 stepper;
- `tasks`: task suites (TOML), cases, the score;
- `worlds`: what planners plan in (the solver, or a world model's latent space);
- `planners`: zero, random shooting, CEM, MPPI, gradient (Adam); `multiscale`: coarse plan, fine refinement;
- `mpc`: open-loop and receding-horizon episodes; `report`: `run_suite`, results.json, plan.md, figures.
"""

from sciwm.control.mpc import Episode, run_episode
from sciwm.control.multiscale import Levels, MultiScale, MultiScaleWorld
from sciwm.control.planners import CEM, MPPI, PLANNERS, Gradient, Planner, RandomShooting, Zero, parse_planner
from sciwm.control.system import ControlSystem, differentiable_advance, effort, relative_distance
from sciwm.control.tasks import ControlTask, Score, SuiteSpec
from sciwm.control.worlds import HeldWorld, LatentWorld, SolverWorld

__all__ = ["CEM", "MPPI", "PLANNERS", "ControlSystem", "ControlTask", "Episode", "Gradient", "HeldWorld",
           "LatentWorld", "Levels", "MultiScale", "MultiScaleWorld", "Planner", "RandomShooting", "Score",
           "SolverWorld", "SuiteSpec", "Zero", "differentiable_advance", "effort", "parse_planner",
           "relative_distance", "run_episode"]
