"""Bad input is refused with a `SciwmError` whose message names the PDE, the parameter or the step."""

from __future__ import annotations

import math

import pytest
import torch

from sciwm.errors import SciwmError
from sciwm.pdes import Grid, make_solver

GRID = Grid(n=64, length=2 * math.pi)


def sine(batch: int = 1, amplitude: float = 1.0) -> torch.Tensor:
    (x,) = GRID.mesh(torch.float32)
    return amplitude * torch.sin(x)[None, None].repeat(batch, 1, 1)


@pytest.mark.parametrize("n", [7, 9, 6, 4, 0, -2])
def test_odd_or_tiny_grids_are_refused(n):
    with pytest.raises(SciwmError, match=rf"grid: n={n} points; use an even number >= 8"):
        Grid(n=n, length=1.0)


@pytest.mark.parametrize("length", [0.0, -1.0, math.inf, math.nan])
def test_non_positive_or_non_finite_domain_lengths_are_refused(length):
    with pytest.raises(SciwmError, match="grid: domain length"):
        Grid(n=16, length=length)


def test_three_dimensional_grids_are_refused():
    with pytest.raises(SciwmError, match="grid: need 1 or 2 dimensions"):
        Grid(n=(16, 16, 16), length=1.0)


@pytest.mark.parametrize("dt", [0.0, -1e-3, math.nan, math.inf])
def test_time_step_must_be_positive_and_finite(dt):
    with pytest.raises(SciwmError, match=r"burgers: time step dt=.* must be a positive finite number"):
        make_solver("burgers", GRID, dt)


def test_negative_viscosity_is_refused():
    with pytest.raises(SciwmError, match=r"burgers: parameter nu must be >= 0, got -0.1"):
        make_solver("burgers", GRID, 0.01, params={"nu": -0.1})
    with pytest.raises(SciwmError, match=r"burgers: parameter nu must be >= 0"):
        make_solver("burgers", GRID, 0.01, params={"nu": torch.tensor([0.1, -0.2])})


def test_navier_stokes_needs_strictly_positive_viscosity():
    with pytest.raises(SciwmError, match=r"ns2d: parameter nu must be > 0, got 0"):
        make_solver("ns2d", Grid(n=(16, 16), length=1.0), 0.01, params={"nu": 0.0})


def test_non_finite_parameter_is_refused():
    with pytest.raises(SciwmError, match=r"diffusion: parameter nu must be finite"):
        make_solver("diffusion", GRID, 0.01, params={"nu": math.nan})


def test_unknown_pde_name_lists_the_known_ones():
    with pytest.raises(SciwmError, match=r"unknown PDE 'navier'; known: .*burgers.*ns2d"):
        make_solver("navier", GRID, 0.01)


def test_unknown_parameter_is_named_with_the_known_ones():
    with pytest.raises(SciwmError, match=r"burgers: unknown parameter\(s\) viscosity; known: nu"):
        make_solver("burgers", GRID, 0.01, params={"viscosity": 0.1})
    with pytest.raises(SciwmError, match=r"kdv: unknown parameter\(s\) c; known: none"):
        make_solver("kdv", GRID, 0.01, params={"c": 1.0})


def test_a_2d_pde_on_a_1d_grid_is_refused():
    with pytest.raises(SciwmError, match=r"ns2d: needs a 2D grid, got 1D"):
        make_solver("ns2d", GRID, 0.01)


def test_unsupported_dtype_is_refused():
    with pytest.raises(SciwmError, match=r"burgers: dtype must be float32 or float64"):
        make_solver("burgers", GRID, 0.01, dtype=torch.float16)


def test_nan_initial_condition_is_refused():
    u0 = sine()
    u0[0, 0, 5] = math.nan
    with pytest.raises(SciwmError, match=r"burgers: initial condition contains NaN or Inf"):
        make_solver("burgers", GRID, 0.01).advance(u0, 1)


@pytest.mark.parametrize("shape", [(64,), (1, 64), (1, 1, 32), (1, 2, 64), (1, 1, 64, 1)])
def test_wrongly_shaped_initial_condition_is_refused(shape):
    with pytest.raises(SciwmError, match=r"burgers: initial condition has shape .*expected \(batch, 1, 64\)"):
        make_solver("burgers", GRID, 0.01).advance(torch.zeros(shape), 1)


def test_gray_scott_needs_two_fields():
    with pytest.raises(SciwmError, match=r"grayscott: initial condition has shape .*fields \('u', 'v'\)"):
        make_solver("grayscott", Grid(n=(16, 16), length=1.0), 1.0).advance(torch.zeros(1, 1, 16, 16), 1)


@pytest.mark.parametrize("batch", [1, 3])
def test_parameter_batch_must_match_the_initial_condition_batch(batch):
    solver = make_solver("burgers", GRID, 0.01, params={"nu": torch.tensor([0.1, 0.2])})
    with pytest.raises(SciwmError, match=rf"burgers: {batch} initial conditions but 2 per-trajectory"):
        solver.advance(sine(batch), 1)


def test_parameters_with_different_batch_sizes_are_refused():
    params = {"nu": torch.tensor([0.1, 0.2]), "alpha": torch.tensor([0.0, 0.1, 0.2])}
    with pytest.raises(SciwmError, match=r"ns2d: parameter alpha has 3 values, others 2"):
        make_solver("ns2d", Grid(n=(16, 16), length=1.0), 0.01, params=params)


def test_kolmogorov_forcing_mode_must_be_a_whole_number():
    params = {"forcing_amplitude": 1.0, "forcing_mode": 1.5}
    with pytest.raises(SciwmError, match=r"ns2d: forcing_mode must be a whole number >= 1"):
        make_solver("ns2d", Grid(n=(16, 16), length=1.0), 0.01, params=params)


@pytest.mark.parametrize(
    ("what", "call"),
    [
        ("steps=-1", lambda s, u: s.advance(u, -1)),
        ("steps=1.5", lambda s, u: s.advance(u, 1.5)),
        ("frames=0", lambda s, u: s.rollout(u, frames=0)),
        ("save_every=0", lambda s, u: s.rollout(u, frames=2, save_every=0)),
    ],
)
def test_step_and_frame_counts_must_be_whole_numbers(what, call):
    with pytest.raises(SciwmError, match=rf"burgers: {what} must be a whole number"):
        call(make_solver("burgers", GRID, 0.01), sine())


def test_forcing_of_the_wrong_shape_or_with_nan_is_refused():
    solver = make_solver("diffusion", GRID, 0.01)
    with pytest.raises(SciwmError, match=r"diffusion: forcing has shape \(1, 1, 32\)"):
        solver.advance(sine(), 1, forcing=torch.zeros(1, 1, 32))
    with pytest.raises(SciwmError, match=r"diffusion: forcing contains NaN or Inf"):
        solver.advance(sine(), 1, forcing=torch.full((1, 1, 64), math.nan))


def test_inviscid_burgers_with_a_huge_step_blowing_up_names_the_steps():
    # nu = 0, u0 = 3 sin x, dt = 0.5: the explicit nonlinear stages overflow in the third step
    solver = make_solver("burgers", GRID, 0.5, params={"nu": 0.0})
    with pytest.raises(SciwmError, match=r"burgers: solution became non-finite between step 2 and 3 .*dt"):
        solver.rollout(sine(amplitude=3.0), frames=50)
    with pytest.raises(SciwmError, match=r"burgers: solution became non-finite between step 0 and 50"):
        solver.advance(sine(amplitude=3.0), 50)


def test_kuramoto_sivashinsky_with_a_huge_step_blowing_up_is_reported():
    solver = make_solver("ks", Grid(n=64, length=22.0), 50.0)
    with pytest.raises(SciwmError, match=r"ks: solution became non-finite .*reduce dt \(now 50\)"):
        solver.advance(sine(), 50)
