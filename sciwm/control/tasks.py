"""Control tasks: drive a forced PDE from a start state to a goal state, scored in the true solver.

A task suite is a TOML file (examples in `benchmarks/tasks/`):

    name = "burgers1d-reach"
    card = "../../datasets/burgers1d-forced.toml"   # the forced system (relative to this file), or
    # data = "data/burgers1d-forced/test.h5"        # a forced trajectory file (its attributes)
    horizon = 10                 # control intervals (one action each)
    hold = 1                     # score = mean distance over the last `hold` intervals (1: the final one)
    tolerance = 0.1              # success: score below this
    effort_weight = 0.0          # the planners' objective: distance + effort_weight * mean(a^2)
    seeds = [0, 1, 2, 3]         # one case per seed: every planner is scored on the same cases
    [start]  kind = "ic"  settle = 0.0   # the card's random IC (seeded), run unforced `settle` time units
             # kind = "data"  frame = 0  # frame of sample `seed` of the data file
    [goal]   kind = "forced"             # the start driven by hidden random actions for `horizon` intervals
             # kind = "pattern"  mode = 2  amplitude = 1.0   # amplitude * cos(k_m . x + random phase)
             # kind = "data"             # the same sample `horizon` intervals later (the file's actions reach it)

The score of actions `(H, A)`: run them in the true solver from the start; `d_t = ||u_t - goal|| / ||goal||`
after interval t; `distance` = mean of `d_t` over the last `hold` intervals; `effort` = mean squared action;
`success` = `distance < tolerance`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciwm.control.system import ControlSystem, effort, relative_distance
from sciwm.data.card import Card
from sciwm.errors import SciwmError, read_toml
from sciwm.ics import initial_condition

_TOP = {"name", "description", "card", "data", "horizon", "hold", "tolerance", "effort_weight", "seeds",
        "start", "goal"}
_START = {"ic": {"kind", "settle"}, "data": {"kind", "frame"}}
_GOAL = {"forced": {"kind"}, "pattern": {"kind", "mode", "amplitude"}, "data": {"kind"}}


@dataclass(frozen=True)
class SuiteSpec:
    """A parsed task-suite file; `tasks()` builds the cases."""

    name: str
    source: Path
    card: Path | None
    data: Path | None
    horizon: int
    hold: int
    tolerance: float
    effort_weight: float
    seeds: tuple[int, ...]
    start: dict[str, Any]
    goal: dict[str, Any]
    description: str = ""

    @classmethod
    def load(cls, path: str | Path) -> SuiteSpec:
        path = Path(path)
        raw = read_toml(path, f"tasks {path}")
        try:
            return _parse(raw, path)
        except SciwmError as err:
            raise SciwmError(f"tasks {path}: {err}") from None

    def system(self, device: str = "cpu") -> ControlSystem:
        if self.card is not None:
            return ControlSystem.from_card(Card.load(self.card), device)
        return ControlSystem.from_attrs(_file_attrs(self.data), device)

    def tasks(self, device: str = "cpu") -> list[ControlTask]:
        """One task per seed, all sharing one system."""
        system = self.system(device)
        return [self._task(system, seed) for seed in self.seeds]

    def _task(self, system: ControlSystem, seed: int) -> ControlTask:
        start, start_frame = self._start(system, seed)
        hidden = None
        kind = self.goal["kind"]
        if kind == "forced":
            hidden = torch.from_numpy(system.hidden_actions(seed, self.horizon))
            goal = system.run(start[None], hidden[None])[0, -1]
        elif kind == "pattern":
            goal = pattern(system, int_or_vec(self.goal.get("mode", 1)), float(self.goal.get("amplitude", 1.0)),
                           np.random.default_rng([seed, 4]).uniform(0, 2 * math.pi))
        else:
            goal = _data_frame(self.data, seed, start_frame + self.horizon * system.frames_per_action, system)
        return ControlTask(f"{self.name}/{seed}", seed, system, start, goal.to(system.dtype), self.horizon, self.hold,
                           self.tolerance, self.effort_weight, hidden)

    def _start(self, system: ControlSystem, seed: int) -> tuple[torch.Tensor, int]:
        if self.start["kind"] == "data":
            frame = int(self.start.get("frame", 0))
            return _data_frame(self.data, seed, frame, system), frame
        card = Card.load(self.card)
        u = initial_condition(card.ic_kind, card.grid, [seed, seed], channels=len(system.fields), **card.ic_options)
        steps = card.burn_in_steps + round(float(self.start.get("settle", 0.0)) / card.dt)
        u = system.solver.advance(u.to(system.dtype), steps)  # a pair: the batch path of generation
        return u[0], 0


@dataclass
class Score:
    """How actions did in the true solver; `distances[t]` is `d_t` (t = 0 is the start)."""

    distance: float
    effort: float
    success: bool
    distances: list[float]
    reached: np.ndarray = field(repr=False)  # the final field (C, *grid)


@dataclass
class ControlTask:
    """One case: a system, `start` and `goal` fields `(C, *grid)`, a horizon and how it is scored."""

    name: str
    seed: int
    system: ControlSystem
    start: torch.Tensor
    goal: torch.Tensor
    horizon: int
    hold: int = 1
    tolerance: float = 0.1
    effort_weight: float = 0.0
    hidden_actions: torch.Tensor | None = None  # forced goals: actions that reach the goal exactly

    def score(self, actions: torch.Tensor | np.ndarray) -> Score:
        """Execute `actions (H, A)` in the true solver from `start`."""
        a = torch.as_tensor(actions, dtype=torch.float32).reshape(self.horizon, self.system.action_size)
        if (a.abs() > self.system.scale * (1 + 1e-6)).any():
            raise SciwmError(f"{self.name}: actions leave [-{self.system.scale}, {self.system.scale}]")
        frames = self.system.run(self.start[None], a[None])[0]
        return self.score_frames(frames, a)

    def score_frames(self, frames: torch.Tensor, actions: torch.Tensor) -> Score:
        """Score executed frames `(H + 1, C, *grid)` and the actions `(H, A)` that made them."""
        d = relative_distance(frames, self.goal[None].to(frames))
        dist = float(d[-self.hold:].mean())
        return Score(dist, float(effort(actions[None].double())[0]), dist < self.tolerance,
                     [float(x) for x in d], frames[-1].cpu().numpy())


def pattern(system: ControlSystem, mode: tuple[int, ...], amplitude: float, phase: float) -> torch.Tensor:
    """`amplitude * cos(k_m . x + phase)` on the system's grid, `(1, *grid)`."""
    grid = system.grid
    if len(mode) != grid.ndim:
        raise SciwmError(f"[goal] mode {list(mode)}: give {grid.ndim} integer(s) for a {grid.ndim}D grid")
    coords = grid.mesh(torch.float64)
    arg = sum(2 * math.pi * m / length * x for m, length, x in zip(mode, grid.length, coords, strict=True))
    return (amplitude * torch.cos(arg + phase))[None]


def int_or_vec(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, list) else (int(value),)


def _file_attrs(path: Path) -> dict:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except OSError as err:
        raise SciwmError(f"data {path}: cannot open ({err})") from None


def _data_frame(path: Path, sample: int, frame: int, system: ControlSystem) -> torch.Tensor:
    import h5py

    with h5py.File(path, "r") as f:
        name = system.fields[0]
        n, t = f[name].shape[:2]
        if not (0 <= sample < n and 0 <= frame < t):
            raise SciwmError(f"data {path}: needs sample {sample} (of {n}) and frame {frame} (of {t}); "
                             "use smaller seeds, frame or horizon")
        return torch.from_numpy(np.asarray(f[name][sample, frame], np.float64))[None].to(system.dtype)


def _parse(raw: dict[str, Any], path: Path) -> SuiteSpec:
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise SciwmError(f"unknown key(s) {unknown}; known: {sorted(_TOP)}")
    if ("card" in raw) == ("data" in raw):
        raise SciwmError("give exactly one of card = '...' (a forced dataset card) or data = '...' (a forced file)")
    where = path.parent
    card = where / raw["card"] if "card" in raw else None
    data = where / raw["data"] if "data" in raw else None
    horizon, hold = _int(raw, "horizon", None, 1), _int(raw, "hold", 1, 1)
    if hold > horizon:
        raise SciwmError(f"hold = {hold} must not exceed horizon = {horizon}")
    seeds = raw.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise SciwmError(f"seeds must be a non-empty list of whole numbers >= 0, got {seeds!r}")
    start = _table(raw, "start", "ic", _START)
    goal = _table(raw, "goal", "forced", _GOAL)
    if data is None and "data" in (start["kind"], goal["kind"]):
        raise SciwmError("[start] or [goal] kind = 'data' needs data = '...' (a forced trajectory file)")
    if card is None and start["kind"] == "ic":
        raise SciwmError("[start] kind = 'ic' needs card = '...'; with data = '...' use kind = 'data'")
    tol = _float(raw, "tolerance", 0.1)
    weight = _float(raw, "effort_weight", 0.0, allow_zero=True)
    return SuiteSpec(str(raw.get("name", path.stem)), path, card, data, horizon, hold, tol, weight,
                     tuple(seeds), start, goal, str(raw.get("description", "")))


def _table(raw: dict, key: str, default_kind: str, kinds: dict[str, set[str]]) -> dict:
    table = raw.get(key, {"kind": default_kind})
    if not isinstance(table, dict):
        raise SciwmError(f"[{key}] must be a table")
    table = {"kind": default_kind, **table}
    if table["kind"] not in kinds:
        raise SciwmError(f"[{key}] kind {table['kind']!r} unknown; known: {', '.join(kinds)}")
    extra = sorted(set(table) - kinds[table["kind"]])
    if extra:
        raise SciwmError(f"[{key}] kind = {table['kind']!r}: unknown key(s) {extra}")
    return table


def _int(raw: dict, key: str, default: int | None, minimum: int) -> int:
    if key not in raw and default is not None:
        return default
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SciwmError(f"{key} must be a whole number >= {minimum}, got {value!r}")
    return value


def _float(raw: dict, key: str, default: float, allow_zero: bool = False) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise SciwmError(f"{key} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return float(value)
