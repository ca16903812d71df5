"""The verdict in numbers: the solver ladder's Pareto front, speedups at equal accuracy, dominance.

All functions take "lower is better" values (nRMSE; pass the negative correlation time) and positive
costs; interpolation is linear in log cost (and in log error where `log_value`), between neighbours
on the front. Outside the front's range an estimate is a bound, and says so.

    front = pareto_front(costs, errors)                     # indices, cheapest first
    eq = cost_at_value([costs[i] for i in front], [errors[i] for i in front], e_surrogate)
    speedup = eq.value / c_surrogate                        # with eq.bound: "", "at least", "at most"
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """A value read off the front; `bound` is "" (interpolated), "at least", "at most" or "n/a"."""

    value: float
    bound: str = ""

    def text(self, fmt: str = ".3g", suffix: str = "") -> str:
        if self.bound == "n/a" or not math.isfinite(self.value):
            return "n/a"
        return f"{self.bound + ' ' if self.bound else ''}{self.value:{fmt}}{suffix}"


def pareto_front(costs: Sequence[float], values: Sequence[float]) -> list[int]:
    """Indices of the points that no other point beats on both cost and value, cheapest first.

    Each point on the front is strictly better (lower value) than every cheaper point; ties in cost keep
    the better value; non-finite values are never on the front.
    """
    order = sorted(range(len(costs)), key=lambda i: (costs[i], values[i]))
    front, best = [], math.inf
    for i in order:
        if math.isfinite(values[i]) and math.isfinite(costs[i]) and values[i] < best:
            front.append(i)
            best = values[i]
    return front


def _interp(x0: float, x1: float, y0: float, y1: float, y: float) -> float:
    return x0 + (x1 - x0) * (y - y0) / (y1 - y0)


def _tr(v: float, log: bool) -> float:
    return math.log(v) if log else v


def cost_at_value(front_costs: Sequence[float], front_values: Sequence[float], value: float,
                  log_value: bool = True) -> Estimate:
    """Cost at which the front reaches `value` (front: costs rising, values falling).

    A value the cheapest rung already beats costs "at most" that rung's cost; a value no rung reaches
    costs "at least" the dearest rung's.
    """
    if not front_costs:
        return Estimate(math.nan, "n/a")
    log_value = log_value and all(v > 0 for v in front_values) and value > 0
    if not value < front_values[0]:
        return Estimate(front_costs[0], "" if value == front_values[0] else "at most")
    if value < front_values[-1]:
        return Estimate(front_costs[-1], "at least")
    for j in range(len(front_values) - 1):
        v0, v1 = front_values[j], front_values[j + 1]
        if v0 > value >= v1:
            lc = _interp(math.log(front_costs[j]), math.log(front_costs[j + 1]),
                         _tr(v0, log_value), _tr(v1, log_value), _tr(value, log_value))
            return Estimate(math.exp(lc))
    return Estimate(front_costs[-1])  # value == the last front value


def value_at_cost(front_costs: Sequence[float], front_values: Sequence[float], cost: float,
                  log_value: bool = True) -> Estimate:
    """The front's value at `cost`: "n/a" below the cheapest rung, "at most" the best above the dearest."""
    if not front_costs or cost < front_costs[0]:
        return Estimate(math.nan, "n/a")
    if cost >= front_costs[-1]:
        return Estimate(front_values[-1], "" if cost == front_costs[-1] else "at most")
    log_value = log_value and all(v > 0 for v in front_values)
    for j in range(len(front_costs) - 1):
        c0, c1 = front_costs[j], front_costs[j + 1]
        if c0 <= cost < c1:
            y = _interp(_tr(front_values[j], log_value), _tr(front_values[j + 1], log_value),
                        math.log(c0), math.log(c1), math.log(cost))
            return Estimate(math.exp(y) if log_value else y)
    return Estimate(front_values[-1])


def speedup(equal_cost: Estimate, cost: float) -> Estimate:
    """Solver cost at equal accuracy over the surrogate's cost, with the same bound."""
    return Estimate(equal_cost.value / cost, equal_cost.bound)


def dominating(costs: Sequence[float], values: Sequence[float], cost: float, value: float) -> list[int]:
    """Points at least as cheap and as accurate as (cost, value), and strictly better in one."""
    return [i for i, (c, v) in enumerate(zip(costs, values, strict=True))
            if c <= cost and v <= value and (c < cost or v < value)]


def ratio(r: float) -> str:
    """3.1x, 12x, 1,980x."""
    return f"{r:,.0f}x" if r >= 100 else f"{r:.2g}x"


def dominated_sentence(name: str, rung: str, cost_ratio: float, metric: str, rung_value: str,
                       own_value: str, noisy: bool = False, tie: bool = False) -> str:
    """"fno (run) is dominated: the solver at n=64 dt=0.2 is both 3.1x cheaper and more accurate (...)".

    `tie`: the rung is only as accurate (and cheaper); `noisy`: the cost ratio is within the timing spread.
    """
    cheaper = f"{ratio(cost_ratio)} cheaper" if cost_ratio > 1 else "as cheap"
    better = "as accurate" if tie else "more accurate"
    noise = " (the cost difference is within the timing spread)" if noisy else ""
    return (f"{name} is dominated: the {rung} is both {cheaper} and {better} "
            f"({metric} {rung_value} vs {own_value}){noise}.")


def break_even(overhead_s: float, solver_cost: float, surrogate_cost: float, span: float) -> float | None:
    """Rollouts of length `span` (time units, one trajectory each) after which the surrogate has repaid
    `overhead_s` (training, data generation) by being cheaper per rollout; None if it never does."""
    saving = (solver_cost - surrogate_cost) * span
    if not saving > 0:
        return None
    return math.ceil(overhead_s / saving)
