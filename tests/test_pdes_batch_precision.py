"""Batching, per-trajectory parameters, precision and the rollout/advance contract.

A batch is a set of independent trajectories: member i of a batched solve must equal the solve of
member i alone, also when each member has its own parameter values. Measured: 1D families are bitwise
equal (the batched 1D FFT treats each row alone); 2D Navier–Stokes differs by rounding only (2.4e-7
relative in float32, ~3e-16 in float64: the batched 2D FFT path is not bitwise).
"""

from __future__ import annotations

import math

import pytest
import torch
from pde_cases import F64, rel_err

from sciwm.pdes import Grid, make_solver

GRID_1D = Grid(n=64, length=2 * math.pi)
GRID_2D = Grid(n=(32, 32), length=2 * math.pi)


def three_1d_fields() -> torch.Tensor:
    (x,) = GRID_1D.mesh()
    return torch.stack([torch.sin(x) + 0.3 * torch.cos(2 * x + i) for i in range(3)])[:, None]


def three_vorticities() -> torch.Tensor:
    x, y = GRID_2D.mesh()
    fields = [2 * torch.cos(x) * torch.cos(y) + 0.5 * torch.sin(x + i * y) for i in range(3)]
    return torch.stack(fields)[:, None]


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_batch_of_three_viscosities_equals_three_single_burgers_solves_bitwise(dtype):
    nus = torch.tensor([0.02, 0.05, 0.1])
    u0 = three_1d_fields().to(dtype)
    batched = make_solver("burgers", GRID_1D, 0.01, params={"nu": nus}, dtype=dtype).advance(u0, 100)
    for i in range(3):
        alone = make_solver("burgers", GRID_1D, 0.01, params={"nu": nus[i].item()}, dtype=dtype)
        assert torch.equal(batched[i], alone.advance(u0[i : i + 1], 100)[0]), f"member {i}, nu={nus[i]:g}"


def test_batch_equals_members_for_kuramoto_sivashinsky_bitwise():
    grid = Grid(n=64, length=22.0)
    u0 = three_1d_fields()
    solver = make_solver("ks", grid, 0.05)
    batched = solver.advance(u0, 100)
    for i in range(3):
        assert torch.equal(batched[i], solver.advance(u0[i : i + 1], 100)[0]), f"member {i}"


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 2e-6), (F64, 1e-14)])
def test_batch_of_three_viscosities_equals_three_single_navier_stokes_solves(dtype, tol):
    nus = torch.tensor([0.01, 0.02, 0.05])
    w0 = three_vorticities().to(dtype)
    batched = make_solver("ns2d", GRID_2D, 0.02, params={"nu": nus}, dtype=dtype).advance(w0, 50)
    for i in range(3):
        alone = make_solver("ns2d", GRID_2D, 0.02, params={"nu": nus[i].item()}, dtype=dtype)
        # measured 2.4e-7 (float32), 3.6e-16 (float64): rounding of a differently batched FFT
        assert rel_err(batched[i], alone.advance(w0[i : i + 1], 50)[0]) < tol, f"member {i}"


def test_gray_scott_batch_of_feed_and_kill_rates_equals_single_solves():
    grid = Grid(n=(16, 16), length=0.32)
    x, y = grid.mesh()
    bump = torch.exp(-((x - 0.16) ** 2 + (y - 0.16) ** 2) / 0.003)  # a smooth (1/2, 1/4) seed
    state = torch.stack([1 - 0.5 * bump, 0.25 * bump])[None].expand(3, -1, -1, -1)
    F, k = torch.tensor([0.03, 0.04, 0.05]), torch.tensor([0.055, 0.06, 0.062])
    batched = make_solver("grayscott", grid, 1.0, params={"F": F, "k": k}, dtype=F64).advance(state, 50)
    for i in range(3):
        p = {"F": F[i].item(), "k": k[i].item()}
        alone = make_solver("grayscott", grid, 1.0, params=p, dtype=F64).advance(state[i : i + 1], 50)
        assert rel_err(batched[i], alone[0]) < 1e-14, f"member {i}"  # measured 0 (bitwise at 16 x 16)


def test_each_trajectory_of_a_diffusion_batch_decays_with_its_own_viscosity():
    (x,) = GRID_1D.mesh()
    nus = torch.tensor([0.01, 0.1, 0.5])
    u0 = torch.cos(3 * x)[None, None].expand(3, 1, -1).double()
    u = make_solver("diffusion", GRID_1D, 0.1, params={"nu": nus}, dtype=F64).advance(u0, 10)
    for i, nu in enumerate(nus.tolist()):
        exact = math.exp(-nu * 9 * 1.0) * torch.cos(3 * x)  # k = 3, t = 1
        assert rel_err(u[i, 0], exact) < 1e-13, f"nu={nu}"  # measured 2e-15 .. 1.6e-14 (nu = 0.5)


@pytest.mark.parametrize(
    ("name", "params", "grid", "dt", "steps"),
    [
        ("burgers", {"nu": 0.05}, GRID_1D, 0.01, 100),
        ("ks", {}, Grid(n=64, length=22.0), 0.05, 40),
        ("kdv", {}, GRID_1D, 1e-3, 200),
        ("ns2d", {"nu": 0.02}, GRID_2D, 0.02, 50),
    ],
)
def test_float32_and_float64_agree_to_float32_precision(name, params, grid, dt, steps):
    u0 = three_vorticities() if grid.ndim == 2 else three_1d_fields()
    lo = make_solver(name, grid, dt, params=params, dtype=torch.float32).advance(u0.float(), steps)
    hi = make_solver(name, grid, dt, params=params, dtype=F64).advance(u0.double(), steps)
    assert lo.dtype == torch.float32 and hi.dtype == F64
    # measured 1.1e-6 (ks, ns2d) to 3.8e-6 (burgers): float32 rounding accumulated over the steps
    assert rel_err(lo, hi) < 1e-5


@pytest.mark.parametrize(("name", "params", "dt"), [("burgers", {"nu": 0.05}, 0.01), ("kdv", {}, 1e-3)])
def test_rollout_frames_equal_repeated_advance(name, params, dt):
    u0 = three_1d_fields().double()
    solver = make_solver(name, GRID_1D, dt, params=params, dtype=F64)
    traj = solver.rollout(u0, frames=5, save_every=7)
    assert traj.shape == (3, 5, 1, 64)
    assert torch.equal(traj[:, 0], u0), "frame 0 is the initial condition itself"
    u = u0
    for i in range(1, 5):
        u = solver.advance(u, 7)
        # not bitwise: advance goes back to the grid between calls; measured <= 9e-16
        assert rel_err(traj[:, i], u) < 1e-13, f"frame {i}"
        # one advance of 7 i steps follows the same spectral path as the rollout: bitwise
        assert torch.equal(traj[:, i], solver.advance(u0, 7 * i)), f"frame {i} vs one advance"


def test_rollout_of_navier_stokes_equals_repeated_advance():
    w0 = three_vorticities()
    solver = make_solver("ns2d", GRID_2D, 0.02, params={"nu": 0.02}, dtype=F64)
    traj = solver.rollout(w0, frames=3, save_every=10)
    assert rel_err(traj[:, 2], solver.advance(solver.advance(w0, 10), 10)) < 1e-13  # measured 5e-16


def test_zero_steps_return_the_initial_condition():
    u0 = three_1d_fields().double()
    u = make_solver("burgers", GRID_1D, 0.01, params={"nu": 0.05}, dtype=F64).advance(u0, 0)
    assert rel_err(u, u0) < 1e-15  # one rfft/irfft round trip


def test_one_solver_advances_different_forcings_on_threads_as_one_at_a_time():
    """A step takes its forcing as an argument, so a solver shared by threads mixes no forcings: each thread's
    result is bitwise the one it gets alone (interleaving forced and unforced solves, 1D Burgers)."""
    from concurrent.futures import ThreadPoolExecutor

    solver = make_solver("burgers", GRID_1D, 0.01, params={"nu": 0.05}, dtype=F64)
    u0 = three_1d_fields().to(F64)
    (x,) = GRID_1D.mesh(F64)
    forcings = [None, *(a * torch.cos(x).expand(3, 1, -1) for a in (0.5, -2.0, 3.0))]
    alone = [solver.advance(u0, 300, forcing=f) for f in forcings]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            shared = list(pool.map(lambda f: solver.advance(u0, 300, forcing=f), forcings))
            assert all(torch.equal(s, a) for s, a in zip(shared, alone, strict=True))
    assert min(rel_err(alone[i], alone[j]) for i in range(4) for j in range(i)) > 1e-2  # the forcings differ
