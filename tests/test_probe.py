"""Linear probes: physical quantities of a frame, ridge on held-out trajectories, `sciwm probe`."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import burgers_data

from sciwm.analysis_cli import add_analysis_parsers
from sciwm.data.reading import open as open_data
from sciwm.errors import SciwmError
from sciwm.probe import frame_quantities, probe, ridge_probe
from sciwm.runconfig import RunConfig
from sciwm.train import train

JEPA = {"name": "jepa", "width": 8, "layers": 2, "latent_dim": 16, "predictor_hidden": 32}


def make_tiny_set(out: Path) -> Path:
    burgers_data(out, train=10, val=4)
    return out


def train_tiny(data: Path, out: Path, model: dict, steps: int) -> Path:
    """A tiny run on the tiny set (seconds): batch 8, unroll 2, lr 1e-2."""
    cfg = RunConfig.from_dict({
        "data": {"train": str(data / "train.h5"), "val": str(data / "val.h5")},
        "model": model,
        "train": {"objective": "unrolled", "unroll": 2, "steps": steps, "batch_size": 8, "lr": 1e-2, "warmup": 5,
                  "log_every": 50, "val_every": 10**6}})
    train(cfg, out, progress=False)
    return out


def cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    add_analysis_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    args.func(args)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_tiny_set(tmp_path_factory.mktemp("tiny"))


def test_quantities_of_a_sine_wave():
    # u = c + A sin(3 x) on [0, 2 pi): mean c, energy mean u^2/2 = (c^2 + A^2/2)/2, enstrophy mean u_x^2/2 = 9 A^2/4
    x = torch.arange(64, dtype=torch.float64) * 2 * math.pi / 64
    u = (0.5 + 2.0 * torch.sin(3 * x)).reshape(1, 1, 64)
    q = frame_quantities(u, (2 * math.pi,), ["u"])
    assert q["mean"].item() == pytest.approx(0.5)
    assert q["energy"].item() == pytest.approx((0.25 + 2.0) / 2)
    assert q["enstrophy"].item() == pytest.approx(9.0)
    assert q["k_dom"].item() == 3  # the mean is not a wavenumber


def test_vorticity_gives_kinetic_energy_and_enstrophy():
    # w = A cos(k y): stream function w / k^2, velocity u = -A sin(k y) / k, so energy = A^2 / (4 k^2)
    y = torch.arange(32, dtype=torch.float64) * 2 * math.pi / 32
    w = (3.0 * torch.cos(4 * y)).reshape(1, 1, 32, 1).expand(1, 1, 32, 32)
    q = frame_quantities(w, (2 * math.pi, 2 * math.pi), ["vorticity"])
    assert q["energy"].item() == pytest.approx(9.0 / (4 * 16))
    assert q["enstrophy"].item() == pytest.approx(9.0 / 4)
    assert q["k_dom"].item() == 4


def test_ridge_reads_a_linear_quantity_on_held_out_trajectories():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30 * 10, 20))
    y = x @ rng.standard_normal((20, 1)) + 0.01 * rng.standard_normal((300, 1))
    groups = np.repeat(np.arange(30), 10)
    pred, _ = ridge_probe(x[groups < 24], y[groups < 24], groups[groups < 24], x[groups >= 24])
    resid = ((pred - y[groups >= 24]) ** 2).sum() / ((y[groups >= 24] - y[groups >= 24].mean()) ** 2).sum()
    assert resid < 1e-3


def test_split_by_frame_would_leak_the_trajectory_and_split_by_trajectory_does_not():
    # Features say which trajectory a frame is from and nothing else; the target is a per-trajectory
    # label. Fitted on some frames of every trajectory, a probe "reads" the label (it recognises the
    # trajectory); on held-out trajectories it cannot: that is why probes split by trajectory.
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(40), 10)
    x = rng.standard_normal((40, 64))[ids] + 0.05 * rng.standard_normal((400, 64))
    y = rng.standard_normal((40, 1))[ids]
    by_frame = np.arange(400) % 10 < 8
    leaky, _ = ridge_probe(x[by_frame], y[by_frame], np.arange(320), x[~by_frame])
    honest, _ = ridge_probe(x[ids < 32], y[ids < 32], ids[ids < 32], x[ids >= 32])

    def r2(pred, truth):
        return 1 - ((pred - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum()

    assert r2(leaky, y[~by_frame]) > 0.9
    assert r2(honest, y[ids >= 32]) < 0.2


def test_probe_cli_on_a_jepa_run_against_a_random_encoder(data, tmp_path, capsys):
    run = train_tiny(data, tmp_path / "jepa", JEPA, steps=60)
    cli(["probe", str(run), "--data", str(data / "train.h5"), "--out", str(tmp_path / "probe")])
    out = capsys.readouterr().out
    assert "nu" in out and "energy" in out and "random" in out
    result = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert result["features"] == 16 and result["trajectories"] == 10 and result["frames"] == 12
    targets = result["targets"]
    assert set(targets) == {"nu", "nu (trajectory)", "mean", "energy", "enstrophy", "k_dom"}
    nu = np.asarray(open_data(data / "train.h5")["nu"].values)
    assert targets["nu"]["kind"] == "param"
    assert targets["nu"]["transform"] == ("log10" if nu.max() / nu.min() >= 4 else "none")  # LOG_RATIO
    assert targets["energy"]["kind"] == "frame"
    assert targets["mean"]["r2"] is None  # Burgers conserves the mean, and the fourier ICs have none
    for t in targets.values():
        assert t["r2"] is None or t["r2"] <= 1.0
    assert targets["energy"]["r2"] != targets["energy"]["r2_random"]  # another encoder: another floor
    # fitted on one file, scored on another; the random floor does not depend on the global seed
    torch.manual_seed(7)
    a = probe(run, data / "val.h5", fit=data / "train.h5")
    torch.manual_seed(8)
    b = probe(run, data / "val.h5", fit=data / "train.h5")
    assert a["targets"] == b["targets"]


def test_probe_of_a_latent_fno_run_flattens_its_grid_latent(data, tmp_path):
    model = {"name": "latent_fno", "width": 8, "modes": 4, "layers": 1, "latent_channels": 2}
    run = train_tiny(data, tmp_path / "lfno", model, steps=2)
    result = probe(run, data / "train.h5", every=3)
    assert result["features"] == 2 * 32 // 4 and result["frames"] == 4


def test_a_field_space_run_is_refused_in_one_line(data, tmp_path):
    run = train_tiny(data, tmp_path / "fno", {"name": "fno", "width": 8, "modes": 4, "layers": 1}, steps=2)
    with pytest.raises(SciwmError, match="field space") as err:
        probe(run, data / "train.h5")
    assert "\n" not in str(err.value)


def test_trajectory_probe_averages_frames_after_the_first_and_reads_a_linear_parameter():
    from sciwm.probe import Trajectories, _score_trajectories, _trajectory_features

    rng = np.random.default_rng(0)
    s, t, f = 40, 5, 6
    nu = rng.uniform(0.02, 0.2, s)
    # frame 0 carries nothing of nu (garbage); frames 1.. carry log10(nu) in feature 0 plus frame noise
    x = rng.normal(size=(s, t, f))
    x[:, 1:, 0] += 20 * np.log10(nu)[:, None]
    x[:, 0, 0] = 1e3 * rng.normal(size=s)
    tr = Trajectories(torch.zeros(s, t, 1, 8), torch.zeros(s, t, 1, 8), {"nu": nu}, (1.0,), ["u"], None)
    feats = _trajectory_features(x.reshape(s * t, f), tr)
    np.testing.assert_allclose(feats, x[:, 1:].mean(1))
    r2, _ = _score_trajectories(feats, np.log10(nu), None, None)  # K-fold over the 40 trajectories
    assert r2 > 0.95
    r2_fit, _ = _score_trajectories(feats[:8], np.log10(nu[:8]), feats[8:], np.log10(nu[8:]))
    assert r2_fit > 0.95
    noise = rng.normal(size=(s, f))
    r2_none, _ = _score_trajectories(noise, np.log10(nu), None, None)
    assert r2_none < 0.3
