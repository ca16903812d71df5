"""sciwm.metrics on fields whose metric values can be computed by hand."""

import math

import pytest
import torch

from sciwm.errors import SciwmError
from sciwm.metrics import (
    conserved_drift,
    correlation,
    correlation_time,
    default_bands,
    energy_spectrum,
    nrmse,
    spectral_error,
    vrmse,
)

N, L = 32, 2.0
X = torch.arange(N, dtype=torch.float64) * L / N


def sine(m: int = 1, amp: float = 1.0) -> torch.Tensor:
    """amp sin(2 pi m x / L) as (batch=1, time=1, channels=1, x): its ||.||^2 is N amp^2 / 2."""
    return (amp * torch.sin(2 * math.pi * m * X / L)).reshape(1, 1, 1, N)


def random_fields(shape=(3, 4, 2, N), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype)


def test_identical_prediction_scores_perfectly():
    u = random_fields()
    assert torch.equal(nrmse(u, u), torch.zeros(3, 4, 2, dtype=u.dtype))
    assert torch.equal(vrmse(u, u), torch.zeros(3, 4, 2, dtype=u.dtype))
    assert torch.allclose(correlation(u, u), torch.ones(3, 4, 2, dtype=u.dtype))
    assert torch.equal(spectral_error(u, u), torch.zeros(3, 4, 2, 3, dtype=u.dtype))
    drift = conserved_drift(u, u)
    assert torch.equal(drift.mass_drift, torch.zeros_like(drift.mass_drift))
    assert torch.equal(drift.energy_drift, torch.zeros_like(drift.energy_drift))


def test_negated_prediction_is_anticorrelated():
    u = random_fields()
    assert torch.allclose(correlation(-u, u), -torch.ones(3, 4, 2, dtype=u.dtype))
    assert torch.allclose(nrmse(-u, u), torch.full((3, 4, 2), 2.0, dtype=u.dtype))


def test_doubled_prediction():
    u = random_fields()
    assert torch.allclose(nrmse(2 * u, u), torch.ones(3, 4, 2, dtype=u.dtype))
    assert torch.allclose(correlation(2 * u, u), torch.ones(3, 4, 2, dtype=u.dtype))
    # energy 4x in every band: |4 E - E| / E = 3
    assert torch.allclose(spectral_error(2 * u, u), torch.full((3, 4, 2, 3), 3.0, dtype=u.dtype))
    assert torch.allclose(conserved_drift(2 * u, u).energy_drift, torch.full((3, 4, 2), 3.0, dtype=u.dtype))


def test_constant_offset():
    c, u = 0.1, sine()
    # ||c||_2 = c sqrt(N), ||sin||_2 = sqrt(N / 2) -> c sqrt(2); rms error c over std 1/sqrt(2) -> c sqrt(2)
    assert nrmse(u + c, u).item() == pytest.approx(c * math.sqrt(2), rel=1e-12)
    assert vrmse(u + c, u).item() == pytest.approx(c * math.sqrt(2), rel=1e-6)  # eps = 1e-7 in the variance
    assert correlation(u + c, u).item() == pytest.approx(1.0, abs=1e-12)  # Pearson ignores offsets
    drift = conserved_drift(u + c, u)
    assert drift.mass_drift.item() == pytest.approx(c / math.sqrt(0.5), rel=1e-12)  # c / rms(sin)
    assert drift.energy_drift.item() == pytest.approx((c**2 / 2) / 0.25, rel=1e-9)  # E_sin = 1/4


def test_vrmse_of_the_spatial_mean_is_one():
    u = random_fields()
    mean = u.mean(-1, keepdim=True).expand_as(u)
    assert torch.allclose(vrmse(mean, u), torch.ones(3, 4, 2, dtype=u.dtype), atol=1e-6)
    assert torch.equal(correlation(mean, u), torch.zeros(3, 4, 2, dtype=u.dtype))  # constant: defined as 0


def test_single_mode_spectrum_is_one_spike_of_known_energy():
    amp, m = 1.5, 3
    k, e = energy_spectrum(amp * torch.cos(2 * math.pi * m * X / L), lengths=L)
    assert k[m].item() == pytest.approx(2 * math.pi * m / L)
    expected = torch.zeros(N // 2 + 1, dtype=torch.float64)
    expected[m] = amp**2 / 4  # mean of u^2 / 2
    assert torch.allclose(e, expected, atol=1e-14)


def test_2d_mode_lands_in_its_shell():
    n = 16
    y, x = torch.meshgrid(torch.arange(n) * L / n, torch.arange(n) * L / n, indexing="ij")
    u = 2.0 * torch.cos(2 * math.pi * (3 * x + 4 * y) / L).double()  # |k| = 5 fundamentals
    k, e = energy_spectrum(u, lengths=(L, L))
    assert e.argmax().item() == 5 and e[5].item() == pytest.approx(1.0)
    assert e.sum().item() == pytest.approx(1.0)


def test_anisotropic_domain_uses_the_longer_fundamental():
    ny, nx, ly, lx = 8, 16, 1.0, 2.0
    y, x = torch.meshgrid(torch.arange(ny) * ly / ny, torch.arange(nx) * lx / nx, indexing="ij")
    u = torch.cos(2 * math.pi * y / ly).double()  # k = 2 pi / ly = 2 fundamentals of 2 pi / lx
    k, e = energy_spectrum(u, lengths=(ly, lx))
    assert e.argmax().item() == 2 and k[2].item() == pytest.approx(2 * math.pi / ly)


def test_parseval_for_random_fields():
    u = random_fields((2, 3, 1, 12, 16))
    _, e = energy_spectrum(u, lengths=(1.0, 1.0))
    assert torch.allclose(e.sum(-1), 0.5 * u.square().mean((-2, -1)))


def test_default_bands_are_thirds_of_the_resolved_range():
    assert default_bands((256,)) == [(1, 44), (44, 86), (86, 129)]
    assert default_bands((64, 64)) == [(1, 12), (12, 22), (22, 33)]


def test_spectral_error_isolates_the_band_that_is_wrong():
    true = sine(1) + sine(8) + sine(14)  # shells 1, 8, 14: one in each band of [1, 17)
    pred = sine(1) + 2 * sine(8) + 0.5 * sine(14)  # mid band energy 4x, high band 1/4 of the truth's
    err = spectral_error(pred, true, bands=[(1, 6), (6, 11), (11, 17)])
    assert err[0, 0, 0].tolist() == pytest.approx([0.0, 3.0, 0.75], abs=1e-12)


def test_correlation_time_on_a_hand_built_curve():
    corr = torch.tensor([
        [1.0, 0.95, 0.9, 0.85, 0.79, 0.5],  # first below 0.8 at frame 4
        [1.0, 0.99, 0.98, 0.97, 0.96, 0.95],  # never below 0.8: censored at the horizon
        [1.0, 0.9, float("nan"), 0.9, 0.9, 0.9],  # NaN (diverged) counts as below
    ])
    t, censored = correlation_time(corr, dt=0.5, threshold=0.8)
    assert t.tolist() == [2.0, 2.5, 1.0] and censored.tolist() == [False, True, False]
    t95, censored95 = correlation_time(corr, dt=0.5, threshold=0.95)
    assert t95.tolist() == [1.0, 2.5, 0.5] and censored95.tolist() == [False, True, False]


def test_correlation_time_of_exponential_decay():
    tau, dt = 10.0, 0.25
    corr = torch.exp(-torch.arange(200) * dt / tau).reshape(1, 200, 1)
    t, censored = correlation_time(corr, dt=dt, threshold=0.8)
    # exp(-t / tau) < 0.8 first at t > tau ln 1.25 = 2.231: frame 9 (t = 2.25)
    assert t.shape == (1, 1) and t.item() == 2.25 and not censored.item()


@pytest.mark.parametrize("metric", [nrmse, vrmse, correlation, spectral_error,
                                    lambda p, t: conserved_drift(p, t).energy_drift])
def test_batch_and_time_entries_are_independent(metric):
    true, pred = random_fields(seed=1), random_fields(seed=2)
    whole = metric(pred, true)
    for b in range(3):
        for t in range(4):
            part = metric(pred[b:b + 1, t:t + 1], true[b:b + 1, t:t + 1])
            assert torch.allclose(whole[b:b + 1, t:t + 1], part, rtol=1e-12)


def test_float32_agrees_with_float64():
    true, pred = random_fields(seed=1), random_fields(seed=2)
    for metric in (nrmse, vrmse, correlation, spectral_error):
        lo, hi = metric(pred.float(), true.float()), metric(pred, true)
        assert lo.dtype == torch.float32 and torch.allclose(lo.double(), hi, rtol=1e-4, atol=1e-5)


def test_nan_prediction_propagates():
    u = random_fields()
    pred = u.clone()
    pred[0, 1, 0, 3] = float("nan")
    assert nrmse(pred, u)[0, 1, 0].isnan() and correlation(pred, u)[0, 1, 0].isnan()
    assert torch.isfinite(nrmse(pred, u)[1]).all()


def test_shape_errors_say_what_is_wrong():
    with pytest.raises(SciwmError, match="differs from truth"):
        nrmse(torch.zeros(1, 2, 1, 8), torch.zeros(1, 3, 1, 8))
    with pytest.raises(SciwmError, match="batch, time, channels"):
        correlation(torch.zeros(2, 8), torch.zeros(2, 8))
