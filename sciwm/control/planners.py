"""Planners: action sequences `(H, A)` in `[-scale, scale]` that minimise a world's cost to the goal.

    actions = CEM().plan(world, history, goal, horizon=10, budget=512)

Every planner minimises `J(a) = world.costs(a) + effort_weight * mean(a^2)` (see `sciwm.control.worlds`)
and is batched over candidates. `budget` is the number of action sequences rolled out in the world (the
dominant cost): CEM, MPPI and random shooting spend it as `budget // population` rounds of `population`
candidates; the gradient planner as `budget // restarts` rounds on `restarts` sequences (each round one
forward and one backward pass and an Adam step, but the last, which only evaluates); at least one round
(`rollouts(budget)` is what is spent).
`init` warm-starts (receding-horizon MPC passes the shifted previous plan); `seed` makes the sampling
reproducible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from sciwm.control.system import effort
from sciwm.control.worlds import World
from sciwm.errors import SciwmError
from sciwm.pdes.grid import MIN_POINTS


class Planner:
    """`plan(world, history, goal, horizon, budget, ...) -> actions (horizon, A)`."""

    name: ClassVar[str]

    @property
    def batch(self) -> int:
        """Sequences evaluated together in one round (population, or restarts): the budget's unit."""
        return 1

    def rounds(self, budget: int) -> int:
        return max(1, budget // self.batch)

    def rollouts(self, budget: int) -> int:
        """Rollouts spent per plan for `budget`: a whole number of rounds, at least one (at most: the gradient
        planner stops early on a non-finite gradient)."""
        return self.rounds(budget) * self.batch

    def plan(self, world: World, history: Tensor, goal: Tensor, horizon: int, budget: int, *, hold: int = 1,
             effort_weight: float = 0.0, init: Tensor | None = None, seed: int = 0) -> Tensor:
        ctx = world.prepare(history, goal)

        def objective(a: Tensor) -> Tensor:
            return world.costs(ctx, a, hold).double().cpu() + effort_weight * effort(a).double().cpu()

        gen = torch.Generator().manual_seed(seed)
        shape = (horizon, world.action_size)
        init = None if init is None or init.numel() == 0 else _fit(init, shape).float()
        return self.search(objective, shape, world.scale, budget, init, gen).clamp(-world.scale, world.scale)

    def search(self, objective, shape: tuple[int, int], scale: float, budget: int,  # noqa: ANN001
               init: Tensor | None, gen: torch.Generator) -> Tensor:
        raise NotImplementedError


@dataclass
class Zero(Planner):
    """No forcing at all: the floor every planner must beat."""

    name: ClassVar[str] = "zero"

    def rollouts(self, budget: int) -> int:
        return 0

    def search(self, objective, shape, scale, budget, init, gen):  # noqa: ANN001, ANN201
        return torch.zeros(shape)


@dataclass
class RandomShooting(Planner):
    """The best of `budget` i.i.d. uniform sequences: the sampling floor."""

    population: int = 64
    name: ClassVar[str] = "random"

    @property
    def batch(self) -> int:
        return self.population

    @torch.no_grad()
    def search(self, objective, shape, scale, budget, init, gen):  # noqa: ANN001, ANN201
        best, best_cost = torch.zeros(shape), float("inf")
        for _ in range(self.rounds(budget)):
            a = (torch.rand((self.population, *shape), generator=gen) * 2 - 1) * scale
            best, best_cost = _keep_best(a, objective(a), best, best_cost)
        return best


@dataclass
class CEM(Planner):
    """Cross-entropy method: Gaussian per action entry, refit to the `elites` best each round (with
    `momentum` on mean and std); the current mean and the best so far are always among the candidates."""

    population: int = 64
    elites: int = 8
    init_std: float = 0.5  # fraction of scale
    min_std: float = 0.02  # fraction of scale
    momentum: float = 0.1
    name: ClassVar[str] = "cem"

    @property
    def batch(self) -> int:
        return self.population

    @torch.no_grad()
    def search(self, objective, shape, scale, budget, init, gen):  # noqa: ANN001, ANN201
        mean = torch.zeros(shape) if init is None else init.clone()
        std = torch.full(shape, self.init_std * scale)
        best, best_cost = mean.clone(), float("inf")
        for _ in range(self.rounds(budget)):
            noise = torch.randn((self.population - 2, *shape), generator=gen)
            a = torch.cat([mean[None], best[None], mean + std * noise]).clamp(-scale, scale)
            cost = objective(a)
            best, best_cost = _keep_best(a, cost, best, best_cost)
            elite = a[cost.argsort()[: self.elites]]
            mean = self.momentum * mean + (1 - self.momentum) * elite.mean(0)
            std = (self.momentum * std + (1 - self.momentum) * elite.std(0)).clamp_min(self.min_std * scale)
        return best


@dataclass
class MPPI(Planner):
    """Model-predictive path integral: Gaussian perturbations of the mean with fixed `std`, averaged with
    weights `exp(-(J - J_min) / lambda)`, `lambda = temperature * (median J - J_min)` (scale-free)."""

    population: int = 64
    std: float = 0.3  # fraction of scale
    temperature: float = 0.1
    name: ClassVar[str] = "mppi"

    @property
    def batch(self) -> int:
        return self.population

    @torch.no_grad()
    def search(self, objective, shape, scale, budget, init, gen):  # noqa: ANN001, ANN201
        mean = torch.zeros(shape) if init is None else init.clone()
        best, best_cost = mean.clone(), float("inf")
        for _ in range(self.rounds(budget)):
            noise = torch.randn((self.population - 1, *shape), generator=gen)
            a = torch.cat([mean[None], mean + self.std * scale * noise]).clamp(-scale, scale)
            cost = objective(a).double()
            best, best_cost = _keep_best(a, cost, best, best_cost)
            lam = self.temperature * (cost.median() - cost.min()).clamp_min(1e-12)
            w = torch.softmax(-(cost - cost.min()) / lam, 0).float()
            mean = (w.reshape(-1, 1, 1) * a).sum(0)
        return best


@dataclass
class Gradient(Planner):
    """Adam on the action sequence through a differentiable world (the solver's adjoint, or the model),
    projected onto the action box after each step; `restarts` sequences in one batch (the first from
    zero or `init`, the others uniform in half the box); returns the best sequence evaluated. The last round
    only evaluates (no backward pass): its gradient would feed an Adam step that is never evaluated."""

    restarts: int = 4
    lr: float = 0.1  # fraction of scale per Adam step
    name: ClassVar[str] = "grad"

    @property
    def batch(self) -> int:
        return self.restarts

    def search(self, objective, shape, scale, budget, init, gen):  # noqa: ANN001, ANN201
        start = torch.zeros(shape) if init is None else init
        others = (torch.rand((self.restarts - 1, *shape), generator=gen) - 0.5) * scale
        a = torch.cat([start[None], others]).double().requires_grad_()
        opt = torch.optim.Adam([a], lr=self.lr * scale)
        best, best_cost = start.clone(), float("inf")
        rounds = self.rounds(budget)
        for r in range(rounds):
            if r == rounds - 1:
                with torch.no_grad():
                    cost = objective(a.detach())
                return _keep_best(a.detach().float(), cost, best, best_cost)[0]
            with torch.enable_grad():
                cost = objective(a)
                (grad,) = torch.autograd.grad(cost.sum(), a)
            best, best_cost = _keep_best(a.detach().float(), cost.detach(), best, best_cost)
            if not torch.isfinite(grad).all():
                break
            a.grad = grad
            opt.step()
            with torch.no_grad():
                a.clamp_(-scale, scale)
        return best


PLANNERS: dict[str, type[Planner]] = {p.name: p for p in (Zero, RandomShooting, CEM, MPPI, Gradient)}


def parse_planner(spec: str) -> tuple[Planner, str]:
    """`"cem"` -> (CEM(), "latent"); `"cem-solver"` -> (CEM(), "solver"); `"cem-solver@32"` or
    `"cem-solver@32:0.02"` -> (CEM(), "solver@32:0.02"): the solver on 32 points per dim (step `dt`, default
    `ControlSystem.coarsened`'s) in the loop; `"cem-multiscale"` -> (MultiScale(CEM()), "multiscale");
    `"zero"` -> (Zero(), "solver") (zero never evaluates its world; the solver world only tells it the
    action size)."""
    head, at, rung = spec.strip().partition("@")
    name, _, where = head.partition("-")
    if name not in PLANNERS or where not in ("", "solver", "multiscale") or (name == "zero" and where):
        methods = [n for n in PLANNERS if n != "zero"]
        known = ", ".join([*methods, *(f"{n}-solver[@N[:dt]]" for n in methods),
                           *(f"{n}-multiscale" for n in methods), "zero"])
        raise SciwmError(f"planner {spec!r} unknown; known: {known}")
    if at:
        if where != "solver":
            raise SciwmError(f"planner {spec!r}: only solver planners take a grid (@N[:dt]), e.g. {name}-solver@32")
        return PLANNERS[name](), "solver@" + _rung(spec, rung)
    if where == "multiscale":
        from sciwm.control.multiscale import MultiScale

        return MultiScale(PLANNERS[name]()), where
    return PLANNERS[name](), "solver" if name == "zero" else (where or "latent")


def planner_budget(spec: str, default: int) -> tuple[str, int]:
    """`"grad/16"` -> ("grad", 16); `"cem-solver@32"` -> ("cem-solver@32", default): a planner's own budget
    (rollouts per plan) after `/` overrides the run's, so planners can be compared at their own operating
    points in one run (a gradient planner needs far fewer rollouts than CEM)."""
    name, slash, budget = spec.partition("/")
    name = name.strip()
    if not slash:
        return name, default
    if "@" in budget:
        raise SciwmError(f"planner {spec!r}: the budget /B comes last, e.g. cem-solver@32/128")
    if not re.fullmatch(r"[0-9]+", budget) or int(budget) < 1:
        raise SciwmError(f"planner {spec!r}: after / give the rollouts per plan, a positive integer, e.g. grad/16")
    if name == "zero":
        raise SciwmError(f"planner {spec!r}: zero plans nothing and takes no budget")
    return name, int(budget)


def coarse_solver(where: str) -> tuple[int, float | None]:
    """`"solver@32:0.02"` -> (32, 0.02); `"solver@32"` -> (32, None)."""
    n, _, dt = where.removeprefix("solver@").partition(":")
    return int(n), float(dt) if dt else None


def _rung(spec: str, rung: str) -> str:
    n, colon, dt = rung.partition(":")
    try:
        ok = int(n) >= MIN_POINTS and int(n) % 2 == 0 and (not colon or float(dt) > 0)
    except ValueError:
        ok = False
    if not ok:
        raise SciwmError(f"planner {spec!r}: after @ give an even number of grid points >= {MIN_POINTS} and "
                         "optionally :dt, e.g. @32 or @32:0.02")
    return f"{int(n)}:{float(dt)!r}" if colon else str(int(n))


def _keep_best(a: Tensor, cost: Tensor, best: Tensor, best_cost: float) -> tuple[Tensor, float]:
    cost = torch.nan_to_num(cost.detach().double(), nan=float("inf"))
    i = int(cost.argmin())
    if float(cost[i]) < best_cost:
        return a[i].detach().float().clone(), float(cost[i])
    return best, best_cost


def _fit(init: Tensor, shape: tuple[int, int]) -> Tensor:
    """A warm start cut or padded (with its last action) to `shape`."""
    init = init.reshape(-1, shape[1])[: shape[0]]
    if init.shape[0] < shape[0]:
        init = torch.cat([init, init[-1:].expand(shape[0] - init.shape[0], -1)])
    return init
