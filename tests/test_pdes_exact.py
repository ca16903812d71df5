"""Exact solutions: each solver reproduces a closed-form solution of its PDE.

Tolerances are set from measured errors (in comments) with a margin of ~10x for other platforms and
FFT libraries; linear problems are integrated exactly in time, so their error is rounding only.
"""

from __future__ import annotations

import math

import pytest
import torch
from pde_cases import F64, burgers_cole_hopf, kdv_soliton, rel_err

from sciwm.pdes import Grid, make_solver


def field(u: torch.Tensor) -> torch.Tensor:
    """One grid field `(*space)` as a batch of one scalar field `(1, 1, *space)`."""
    return u[None, None]


@pytest.mark.parametrize("length", [2 * math.pi, 5.0])
def test_heat_mode_decays_as_exp_minus_nu_k2_t(length):
    grid = Grid(n=32, length=length)
    (x,) = grid.mesh()
    nu, t, steps = 0.3, 2.0, 20
    k3, k5 = 2 * math.pi * 3 / length, 2 * math.pi * 5 / length
    u0 = 1.5 + torch.cos(k3 * x) + 0.5 * torch.sin(k5 * x)
    d3, d5 = math.exp(-nu * k3**2 * t), math.exp(-nu * k5**2 * t)
    exact = 1.5 + d3 * torch.cos(k3 * x) + 0.5 * d5 * torch.sin(k5 * x)
    u = make_solver("diffusion", grid, t / steps, params={"nu": nu}, dtype=F64).advance(field(u0), steps)
    # measured ~2e-16: exp(hL) is exact, only rounding remains
    assert rel_err(u[0, 0], exact) < 1e-13


@pytest.mark.parametrize("c", [0.7, -1.3])
def test_advected_mode_travels_at_speed_c(c):
    length = 3.0
    grid = Grid(n=32, length=length)
    (x,) = grid.mesh()
    k1, k4 = 2 * math.pi / length, 2 * math.pi * 4 / length
    profile = lambda s: torch.sin(k1 * s) + 0.3 * torch.cos(k4 * s + 0.2)  # noqa: E731
    dt, steps = 0.01, 1000
    u = make_solver("advection", grid, dt, params={"c": c}, dtype=F64).advance(field(profile(x)), steps)
    # u(x, t) = u0(x - c t); 1000 steps of exp(-i c k dt): measured 5e-14
    assert rel_err(u[0, 0], profile(x - c * dt * steps)) < 1e-12


def test_advection_diffusion_mode_travels_and_decays():
    length, c, nu, t = 2 * math.pi, 0.9, 0.05, 3.0
    grid = Grid(n=32, length=length)
    (x,) = grid.mesh()
    k = 3.0
    solver = make_solver("advdiff", grid, 0.1, params={"c": c, "nu": nu}, dtype=F64)
    u = solver.advance(field(torch.cos(k * x)), 30)
    exact = math.exp(-nu * k * k * t) * torch.cos(k * (x - c * t))
    assert rel_err(u[0, 0], exact) < 1e-12  # measured ~4e-15


def test_heat_with_constant_forcing_approaches_its_steady_state_exactly():
    # u_t = nu u_xx + f with f = f0 + cos(kx): u = e^{-nu k^2 t} u0_k + (1 - e^{-nu k^2 t}) f_k / (nu k^2),
    # and the mean grows as f0 t. ETDRK4 is exact for a constant N: v' = E v + h phi1(hL) f.
    grid = Grid(n=32, length=2 * math.pi)
    (x,) = grid.mesh()
    nu, k, f0, t = 0.2, 2.0, 0.3, 1.5
    forcing = field(f0 + torch.cos(k * x))
    u0 = field(torch.sin(x))
    u = make_solver("diffusion", grid, 0.1, params={"nu": nu}, dtype=F64).advance(u0, 15, forcing=forcing)
    decay = math.exp(-nu * k * k * t)
    exact = f0 * t + math.exp(-nu * t) * torch.sin(x) + (1 - decay) / (nu * k * k) * torch.cos(k * x)
    assert rel_err(u[0, 0], exact) < 1e-12  # measured ~1e-15


def test_viscous_burgers_matches_cole_hopf():
    # u0 = sin x, nu = 0.1: the front steepens to |u_x| ~ 3 by t = 1 (inviscid breaking time is 1).
    # n = 256 resolves it to ~1e-13; ETDRK4 at dt = 0.005 leaves 3.8e-10 relative (dt = 0.01: 5.4e-9).
    grid = Grid(n=256, length=2 * math.pi)
    (x,) = grid.mesh()
    nu, t, dt = 0.1, 1.0, 0.005
    u0 = burgers_cole_hopf(x, 0.0, nu)
    assert (u0 - torch.sin(x)).abs().max() < 1e-11  # the exact series reproduces the initial condition
    u = make_solver("burgers", grid, dt, params={"nu": nu}, dtype=F64).advance(field(u0), round(t / dt))
    assert rel_err(u[0, 0], burgers_cole_hopf(x, t, nu)) < 3e-9


@pytest.mark.parametrize("kappa", [1, 2])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_taylor_green_vortex_decays_as_exp_minus_2_nu_kappa2_plus_alpha(kappa, alpha):
    # w = 2κ cos(κx) cos(κy) has (u·∇)w = 0: it decays as exp(-(2 nu κ^2 + alpha) t), nonlinear term on.
    grid = Grid(n=(32, 32), length=2 * math.pi)
    x, y = grid.mesh()
    nu, t, steps = 0.05, 1.0, 20
    w0 = 2 * kappa * torch.cos(kappa * x) * torch.cos(kappa * y)
    solver = make_solver("ns2d", grid, t / steps, params={"nu": nu, "alpha": alpha}, dtype=F64)
    w = solver.advance(field(w0), steps)
    exact = w0 * math.exp(-(2 * nu * kappa**2 + alpha) * t)
    assert rel_err(w[0, 0], exact) < 1e-12  # measured ~1.5e-15


def test_kolmogorov_flow_from_rest_follows_the_laminar_solution():
    # From w = 0 the forced shear w(y, t) = A k_f cos(k_f y) (1 - e^{-λt}) / λ, λ = nu k_f^2 + alpha,
    # is exact: a flow u(y) has (u·∇)w = u w_x = 0. Energy is injected: ∫w^2 grows from 0.
    grid = Grid(n=(32, 32), length=2 * math.pi)
    _, y = grid.mesh()
    amp, mode, nu, alpha, dt, every = 0.5, 4, 0.02, 0.1, 0.05, 4
    params = {"nu": nu, "alpha": alpha, "forcing_amplitude": amp, "forcing_mode": mode}
    traj = make_solver("ns2d", grid, dt, params=params, dtype=F64).rollout(
        torch.zeros(1, 1, 32, 32, dtype=F64), frames=11, save_every=every
    )
    lam = nu * mode**2 + alpha
    for i in (1, 5, 10):
        exact = amp * mode * torch.cos(mode * y) * (1 - math.exp(-lam * i * every * dt)) / lam
        assert rel_err(traj[0, i, 0], exact) < 1e-12, f"frame {i}"  # measured ~1.3e-15
    enstrophy = (traj**2).mean(dim=(2, 3, 4))[0]
    assert enstrophy[0] == 0 and bool((enstrophy.diff() > 0).all()), "forcing must inject energy"


def test_kdv_soliton_keeps_its_speed_and_shape():
    # c = 2 on L = 40: tails e^{-sqrt(c) L/2} ~ 5e-13; sech^2 spectrum at the 2/3 cut ~1e-13 (n = 256).
    # Measured max error / amplitude after t = 5 (the soliton moves 10 units, a quarter of the box):
    # dt = 4e-3: 3.3e-8, 2e-3: 1.9e-9, 1e-3: 1.2e-10.
    length, n, c, x0, t, dt = 40.0, 256, 2.0, 10.0, 5.0, 2e-3
    grid = Grid(n=n, length=length)
    (x,) = grid.mesh()
    u0 = kdv_soliton(x, 0.0, c, x0, length)
    u = make_solver("kdv", grid, dt, dtype=F64).advance(field(u0), round(t / dt))
    assert rel_err(u[0, 0], kdv_soliton(x, t, c, x0, length)) < 2e-8
    # and its L2 norm is the exact ∫ (c/2)^2 sech^4 = 2 c^{3/2} / 3 (spectral quadrature)
    l2 = (u**2).sum().item() * grid.dx[0]
    assert abs(l2 / (2 * c**1.5 / 3) - 1) < 1e-9  # measured 9e-11


@pytest.mark.parametrize("gap", [1e-5, 1e-7])
def test_forced_advection_diffusion_response_is_exact_for_every_step(gap):
    # u_t + c u_x = nu u_xx + cos x from rest: u_hat_1(h) = (e^{hL} - 1) / L f_hat_1, L = -i c - nu.
    # Choose (c, nu, h) so that h L = -(1 - gap) exp(i θ_3), θ_j = (j + 1/2) 2π / 64: next to a node.
    grid = Grid(n=16, length=2 * math.pi)
    (x,) = grid.mesh()
    theta = 3.5 * 2 * math.pi / 64
    nu, c, h = math.cos(theta), math.sin(theta), 1 - gap
    forcing = field(torch.cos(x))
    solver = make_solver("advdiff", grid, h, params={"c": c, "nu": nu}, dtype=F64)
    u = solver.advance(torch.zeros_like(forcing), 1, forcing=forcing)
    L = complex(-nu, -c)
    response = (complex(math.e ** (h * L.real)) * complex(math.cos(h * L.imag), math.sin(h * L.imag)) - 1) / L
    exact = response.real * torch.cos(x) - response.imag * torch.sin(x)
    assert rel_err(u[0, 0], exact) < 1e-12  # measured 6e-11 at gap 1e-2, 3e-2 at 1e-5, 2e4 at 1e-7
