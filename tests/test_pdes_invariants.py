"""Conservation laws, fixed points and qualitative-but-numeric behaviour of the nonlinear families."""

from __future__ import annotations

import math

import pytest
import torch
from pde_cases import F64, rel_err

from sciwm.pdes import Grid, make_solver


def bumpy_1d(length: float, mean: float) -> torch.Tensor:
    """A smooth `(1, 1, 64)` field with a nonzero mean on `[0, length)`."""
    (x,) = Grid(n=64, length=length).mesh()
    k = 2 * math.pi / length
    return (mean + torch.sin(k * x) + 0.5 * torch.cos(2 * k * x + 0.3))[None, None]


@pytest.mark.parametrize(
    ("name", "params", "length", "dt", "steps"),
    [
        ("burgers", {"nu": 0.02}, 2 * math.pi, 0.01, 200),
        ("ks", {}, 22.0, 0.05, 200),
        ("kdv", {}, 2 * math.pi, 1e-3, 1000),
    ],
)
def test_mean_is_conserved_by_conservative_1d_families(name, params, length, dt, steps):
    # N(u) = -(a/2)(u^2)_x has no k = 0 component, and L(0) = 0: the mean is untouched up to rounding.
    u0 = bumpy_1d(length, mean=0.8)
    u = make_solver(name, Grid(n=64, length=length), dt, params=params, dtype=F64).advance(u0, steps)
    assert (u - u0).abs().max() > 0.1, "the field must actually evolve"
    assert abs(u.mean().item() / u0.mean().item() - 1) < 1e-12  # measured 0 (to the last bit)


def test_mean_vorticity_is_conserved_by_navier_stokes():
    grid = Grid(n=(32, 32), length=2 * math.pi)
    x, y = grid.mesh()
    w0 = 0.7 + 2 * torch.cos(x) * torch.cos(y) + 0.3 * torch.sin(2 * x + y) + 0.2 * torch.cos(3 * y - x)
    w0 = w0[None, None]
    w = make_solver("ns2d", grid, 0.05, params={"nu": 0.01}, dtype=F64).advance(w0, 40)
    assert (w - w0).abs().max() > 0.1, "the nonlinear term must act"
    # discrete Parseval: sum(u w_x + v w_y) = -sum((u_x + v_y) w) = 0 for a spectrally divergence-free u
    assert abs(w.mean().item() / w0.mean().item() - 1) < 1e-12  # measured 0


def test_kdv_conserves_l2_norm_to_the_accuracy_of_the_scheme():
    # The 2/3-dealiased semi-discretisation conserves ∫u^2 exactly for a band-limited start, so any drift is
    # the (non-symplectic) ETDRK4 time error: measured 8.6e-9 at dt = 2e-3 and 2.5e-10 at dt = 1e-3 (t = 2).
    u0 = bumpy_1d(2 * math.pi, mean=0.2) * 0.6
    grid = Grid(n=64, length=2 * math.pi)
    drift = []
    for dt in (2e-3, 1e-3):
        u = make_solver("kdv", grid, dt, dtype=F64).advance(u0, round(2.0 / dt))
        drift.append(abs((u**2).sum().item() / (u0**2).sum().item() - 1))
    assert drift[0] < 1e-7 and drift[1] < 3e-9, drift
    assert drift[1] < drift[0] / 8, f"drift must fall at least like dt^3 when dt halves: {drift}"


def test_laminar_kolmogorov_flow_is_a_fixed_point():
    # w_s = A k_f cos(k_f y) / (nu k_f^2 + alpha) balances forcing, drag and viscosity exactly.
    grid = Grid(n=(32, 32), length=(2 * math.pi, 4 * math.pi))
    _, y = grid.mesh()
    amp, mode, nu, alpha = 1.0, 3, 0.05, 0.1
    kf = 2 * math.pi * mode / (4 * math.pi)
    ws = (amp * kf * torch.cos(kf * y) / (nu * kf**2 + alpha))[None, None]
    params = {"nu": nu, "alpha": alpha, "forcing_amplitude": amp, "forcing_mode": mode}
    w = make_solver("ns2d", grid, 0.1, params=params, dtype=F64).advance(ws, 50)
    assert rel_err(w, ws) < 1e-12  # measured ~1e-15


def test_gray_scott_uniform_state_1_0_is_a_fixed_point():
    # (u, v) = (1, 0): reaction F(1 - u) - u v^2 = 0 and u v^2 - (F + k) v = 0, for every F and k.
    grid = Grid(n=(16, 16), length=2.5)
    state = torch.zeros(3, 2, 16, 16, dtype=F64)
    state[:, 0] = 1.0
    params = {"F": torch.tensor([0.02, 0.04, 0.06]), "k": torch.tensor([0.05, 0.06, 0.065])}
    out = make_solver("grayscott", grid, 1.0, params=params, dtype=F64).advance(state, 200)
    assert (out - state).abs().max() < 1e-12  # measured ~1.4e-15 (h phi1(hL) from the contour integral)


def test_gray_scott_grows_a_pattern_from_a_perturbed_square_and_stays_bounded():
    # Pearson's setup, scaled: a 0.1 x 0.1 square of (1/2, 1/4) + 1% noise in a 0.64 x 0.64 sea of (1, 0)
    # (n = 64 resolves the pattern length sqrt(Du/F) ~ 0.02). Measured over t = 1200: the area with
    # v > 0.1 grows 2% -> 50%, std(v) 0.035 -> 0.130, v stays in [-0.0005, 0.40], u in [0.27, 1.000003].
    length, n = 0.64, 64
    grid = Grid(n=(n, n), length=length)
    x, y = grid.mesh(torch.float32)
    square = ((x - length / 2).abs() < 0.05) & ((y - length / 2).abs() < 0.05)
    state = torch.stack([torch.ones_like(x), torch.zeros_like(x)])[None]
    state[0, 0][square] = 0.5
    state[0, 1][square] = 0.25
    gen = torch.Generator().manual_seed(0)
    state = state + 0.01 * torch.randn(state.shape, generator=gen) * square
    traj = make_solver("grayscott", grid, 1.0).rollout(state, frames=4, save_every=400)
    u, v = traj[0, :, 0], traj[0, :, 1]
    assert v.min() > -0.02 and v.max() < 1.0 and u.min() > 0.0 and u.max() < 1.02, "bounded"
    area = (v > 0.1).float().mean(dim=(1, 2))
    assert area[-1] > 5 * area[0], f"spots must spread: area fractions {area.tolist()}"
    assert v[-1].std() > 2 * v[0].std()
