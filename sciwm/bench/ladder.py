"""The solver ladder: the test set's own PDE re-solved on coarser grids and with larger steps.

    problem = Problem.from_dataset(ds, "test.h5")       # the PDE, grid and steps, from the file's attrs
    rungs = ladder(problem, LadderConfig())              # n in {N, 3N/4, N/2, 3N/8, N/4} x dt factors
    entry = SolverEntry(problem, rungs[0], device="cpu")

Every rung starts from a test frame resampled to its grid (`sciwm.pdes.resample`) and its output is
resampled back to the test grid at the saved times, so rungs and surrogates are scored on one grid.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from sciwm.bench.config import LadderConfig
from sciwm.data.reading import field_names, param_names, space_of
from sciwm.errors import SciwmError
from sciwm.pdes import Grid, family, make_solver, resample

MAX_DEFAULT_FACTOR = 16  # default dt factors: the divisors of dt_save / dt up to this
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class Problem:
    """What the ladder needs to re-solve the test set: read from the trajectory file's attributes."""

    pde: str
    fields: tuple[str, ...]
    fixed: dict[str, float]  # the `params` attribute
    sampled: tuple[str, ...]  # per-sample parameter variables
    grid: Grid  # the test grid (n and lengths in physical order)
    dt: float  # dt_solver
    dt_save: float
    precision: str  # of the data's solver (float64 unless its card said otherwise)

    @property
    def steps_per_frame(self) -> int:
        return round(self.dt_save / self.dt)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, path: str) -> Problem:
        attrs = ds.attrs
        missing = [k for k in ("pde", "dt_solver", "dt_save") if k not in attrs]
        if missing:
            raise SciwmError(f"{path}: lacks attribute(s) {missing}; the solver ladder needs a file made by "
                             "`sciwm generate` (attrs pde, params, domain_length, dt_solver, dt_save)")
        pde = family(str(attrs["pde"]))
        if set(field_names(ds)) != set(pde.fields):
            raise SciwmError(f"{path}: fields {field_names(ds)} are not those of {pde.name} {list(pde.fields)}")
        dt, dt_save = _scalar(attrs["dt_solver"]), _scalar(attrs["dt_save"])
        s = round(dt_save / dt)
        if s < 1 or abs(s * dt - dt_save) > 1e-9 * dt_save:
            raise SciwmError(f"{path}: dt_save {dt_save:g} is not a whole number of solver steps dt {dt:g}")
        n = tuple(ds.sizes[d] for d in reversed(space_of(ds)))  # physical order (nx[, ny])
        lengths = tuple(float(v) for v in np.asarray(attrs.get("domain_length", _lengths(ds))).reshape(-1))
        fixed = json.loads(attrs.get("params", "{}") or "{}")
        sampled = tuple(p for p in param_names(ds) if p in pde.defaults)
        grid = Grid(n=n, length=lengths)
        return cls(pde.name, pde.fields, fixed, sampled, grid, dt, dt_save, str(attrs.get("precision", "float64")))


@dataclass(frozen=True)
class Rung:
    """One solver setting: grid points (physical order), step, steps per saved frame, precision."""

    n: tuple[int, ...]
    dt: float
    steps_per_frame: int
    precision: str = "float32"

    @property
    def name(self) -> str:
        tail = "" if self.precision == "float32" else " f64"
        return f"solver n={'x'.join(map(str, self.n))} dt={self.dt:.4g}{tail}"

    def settings(self) -> dict:
        return {"n": list(self.n), "dt": self.dt, "steps_per_frame": self.steps_per_frame,
                "precision": self.precision}


def default_sizes(n: int) -> list[int]:
    """N, 3N/4, N/2, 3N/8, N/4: those that are whole, even and at least 8 points."""
    out = []
    for num, den in ((1, 1), (3, 4), (1, 2), (3, 8), (1, 4)):
        if (n * num) % den == 0 and (m := n * num // den) % 2 == 0 and m >= 8 and m not in out:
            out.append(m)
    return out


def default_factors(steps_per_frame: int) -> list[int]:
    """Step multiples that land on every saved frame: the divisors of dt_save / dt, up to 16."""
    return [m for m in range(1, min(steps_per_frame, MAX_DEFAULT_FACTOR) + 1) if steps_per_frame % m == 0]


def ladder(problem: Problem, cfg: LadderConfig) -> list[Rung]:
    """The rungs, most expensive first: every grid size x every step factor."""
    nx = problem.grid.n[0]
    sizes = list(cfg.n) or default_sizes(nx)
    factors = list(cfg.dt_factor) or default_factors(problem.steps_per_frame)
    for m in factors:
        if problem.steps_per_frame % m:
            raise SciwmError(f"ladder.dt_factor {m}: dt = {m} x {problem.dt:g} does not divide dt_save "
                             f"{problem.dt_save:g}; use divisors of {problem.steps_per_frame}")
    rungs = []
    for size in sizes:
        if size % 2:
            raise SciwmError(f"ladder.n {size}: grid sizes must be even")
        n = (size,) + tuple(_even(m * size / nx) for m in problem.grid.n[1:])
        for m in factors:
            rungs.append(Rung(n, m * problem.dt, problem.steps_per_frame // m, cfg.precision))
    return rungs


def reference_rung(problem: Problem, refine: int) -> Rung:
    """The truth re-solved finer: grid x refine, dt / refine, float64."""
    return Rung(tuple(refine * m for m in problem.grid.n), problem.dt / refine,
                problem.steps_per_frame * refine, "float64")


@dataclass
class SolverInput:
    solver: object
    u0: Tensor
    frames: int
    setup_s: float


class SolverEntry:
    """A rung as a bench entry: `prepare` (untimed) -> `run` (timed) -> `to_test` (untimed)."""

    kind = "solver"

    def __init__(self, problem: Problem, rung: Rung, device: str) -> None:
        self.problem, self.rung, self.device = problem, rung, device
        self.name = rung.name
        self.grid = Grid(n=rung.n, length=problem.grid.length)

    def settings(self) -> dict:
        return self.rung.settings()

    def state_bytes(self, batch: int) -> int:
        """One batch of fields at this rung's grid and precision."""
        return batch * len(self.problem.fields) * math.prod(self.grid.shape) * DTYPES[self.rung.precision].itemsize

    def prepare(self, history: Tensor, params: dict[str, Tensor], frames: int) -> SolverInput:
        """history `(B, k, C, *test grid)` float64 -> the solver on this batch's parameters and the last
        frame (lead time 0) resampled to the rung's grid."""
        p: dict[str, float | Tensor] = dict(self.problem.fixed)
        p.update({k: params[k].to(torch.float64) for k in self.problem.sampled})
        t0 = time.perf_counter()
        solver = make_solver(self.problem.pde, self.grid, self.rung.dt, p, device=self.device,
                             dtype=DTYPES[self.rung.precision])
        setup = time.perf_counter() - t0
        u0 = resample(history[:, -1], self.grid.shape).to(self.device, DTYPES[self.rung.precision])
        return SolverInput(solver, u0, frames, setup)

    def run(self, x: SolverInput) -> Tensor:
        """The timed call: `(B, frames, C, *rung grid)` on the device."""
        return x.solver.rollout(x.u0, x.frames, self.rung.steps_per_frame)

    def to_test(self, x: SolverInput, out: Tensor) -> Tensor:
        """Back on the test grid, float64, CPU."""
        return resample(out.to("cpu", torch.float64), self.problem.grid.shape)


def _even(v: float) -> int:
    return max(8, 2 * round(v / 2))


def _scalar(v: object) -> float:
    return float(np.asarray(v, dtype=np.float64).reshape(-1)[0])


def _lengths(ds: xr.Dataset) -> list[float]:
    """Periodic domain lengths (physical order) from uniform coordinates: n * spacing."""
    out = []
    for dim in reversed(space_of(ds)):
        c = np.asarray(ds[dim].values, np.float64)
        out.append(float(c[1] - c[0]) * len(c))
    return out
