"""The periodic Fourier grid: coordinates, wavenumbers, the 2/3 mask, spectral resampling."""

from __future__ import annotations

import math

import pytest
import torch
from pde_cases import F64, rel_err

from sciwm.errors import SciwmError
from sciwm.pdes import Grid, resample


def test_grid_points_are_j_L_over_n_without_the_endpoint():
    grid = Grid(n=8, length=2.0)
    (x,) = grid.coords()
    assert torch.equal(x, torch.arange(8, dtype=F64) * 0.25)
    assert grid.dx == (0.25,) and grid.shape == (8,) and grid.spectral_shape == (5,)


def test_2d_grid_is_stored_y_then_x_and_mesh_varies_x_along_the_last_axis():
    grid = Grid(n=(16, 12), length=(2.0, 3.0))  # n and length in physical order (x, y)
    assert grid.shape == (12, 16) and grid.spectral_shape == (12, 9)
    assert grid.dx == (2.0 / 16, 3.0 / 12)
    x, y = grid.mesh()
    assert x.shape == y.shape == (12, 16)
    assert torch.equal(x[5], torch.arange(16, dtype=F64) * (2.0 / 16))
    assert torch.equal(y[:, 7], torch.arange(12, dtype=F64) * (3.0 / 12))


def test_a_single_length_applies_to_both_axes():
    assert Grid(n=(16, 8), length=5.0).length == (5.0, 5.0)


def test_wavenumbers_are_2pi_m_over_L_in_rfft_and_fft_order():
    (k,) = Grid(n=8, length=4.0).wavenumbers()
    want_x = torch.tensor([0, 1, 2, 3, 4], dtype=F64) * (2 * math.pi / 4.0)
    assert torch.allclose(k, want_x, rtol=0, atol=1e-15)
    kx, ky = Grid(n=(8, 8), length=(4.0, 1.0)).wavenumbers()
    assert torch.allclose(kx[0], want_x, rtol=0, atol=1e-15)
    assert kx.shape == (1, 5) and ky.shape == (8, 1)
    want_y = torch.tensor([0, 1, 2, 3, -4, -3, -2, -1], dtype=F64) * 2 * math.pi
    assert torch.allclose(ky[:, 0], want_y, rtol=0, atol=1e-14)


def test_wavenumbers_differentiate_a_mode_exactly():
    grid = Grid(n=32, length=3.0)
    (x,) = grid.mesh()
    (k,) = grid.wavenumbers()
    q = 2 * math.pi * 5 / 3.0
    du = torch.fft.irfft(1j * k * torch.fft.rfft(torch.sin(q * x)), n=32)
    assert rel_err(du, q * torch.cos(q * x)) < 1e-13


@pytest.mark.parametrize(("n", "kept"), [(8, 3), (12, 4), (16, 6), (64, 22), (96, 32)])
def test_two_thirds_rule_keeps_modes_with_3m_below_n(n, kept):
    mask = Grid(n=n, length=1.0).dealias_mask()
    assert mask.shape == (n // 2 + 1,) and int(mask.sum()) == kept
    assert bool(mask[:kept].all()) and not bool(mask[kept:].any())


def test_two_thirds_mask_in_2d_is_the_product_of_the_axis_masks():
    mask = Grid(n=(16, 12), length=1.0).dealias_mask()
    assert mask.shape == (12, 9)
    # x keeps m = 0..5 (6 of 9 rfft modes), y keeps |m| <= 3 (7 of 12): 42 modes
    assert int(mask.sum()) == 6 * 7
    assert bool(mask[[0, 1, 2, 3, -3, -2, -1]][:, :6].all())


def band_limited_1d(x: torch.Tensor) -> torch.Tensor:
    return 0.3 + torch.cos(x) - 0.7 * torch.sin(3 * x + 0.4) + 0.2 * torch.cos(7 * x)


def test_resample_up_then_down_round_trips_a_band_limited_field():
    (x,) = Grid(n=16, length=2 * math.pi).mesh()
    u = band_limited_1d(x)[None, None]
    up = resample(u, (48,))
    assert up.shape == (1, 1, 48)
    assert rel_err(resample(up, 16), u) < 1e-14  # measured ~3e-16


def test_resample_of_known_modes_gives_their_values_on_the_new_grid():
    (x16,) = Grid(n=16, length=2 * math.pi).mesh()
    for n_new in (24, 64):
        (x_new,) = Grid(n=n_new, length=2 * math.pi).mesh()
        assert rel_err(resample(band_limited_1d(x16)[None], n_new)[0], band_limited_1d(x_new)) < 1e-14
    # down to 16 from 64: modes >= 8 are dropped, lower modes kept exactly
    (x64,) = Grid(n=64, length=2 * math.pi).mesh()
    coarse = resample((band_limited_1d(x64) + torch.sin(11 * x64))[None], 16)[0]
    assert rel_err(coarse, band_limited_1d(x16)) < 1e-14


def test_resample_zeroes_the_nyquist_mode_of_the_smaller_grid():
    (x8,) = Grid(n=8, length=2 * math.pi).mesh()
    up = resample((1 + torch.cos(4 * x8))[None], 32)[0]  # cos(4x) is (-1)^j on 8 points: ambiguous
    assert (up - 1).abs().max() < 1e-15


def test_resample_in_2d_gives_the_analytic_values_and_round_trips():
    def f(x, y):
        return torch.cos(2 * x) * torch.sin(3 * y) + 0.5 * torch.sin(x - 2 * y) + 0.1

    x, y = Grid(n=(16, 12), length=2 * math.pi).mesh()
    u = f(x, y)[None, None]
    X, Y = Grid(n=(32, 24), length=2 * math.pi).mesh()
    up = resample(u, (24, 32))  # tensor order (y, x)
    assert up.shape == (1, 1, 24, 32)
    assert rel_err(up[0, 0], f(X, Y)) < 1e-14  # measured ~4e-16
    assert rel_err(resample(up, (12, 16)), u) < 1e-14


def test_resample_to_the_same_shape_is_the_identity():
    u = torch.randn(2, 1, 16, dtype=F64)
    assert resample(u, 16) is u


@pytest.mark.parametrize("shape", [(33,), (0,), (16, 7)])
def test_resample_refuses_odd_or_empty_targets(shape):
    u = torch.zeros(1, *([16] * len(shape)))
    with pytest.raises(SciwmError, match="resample: target grid"):
        resample(u, shape)
