"""Surprise: a glitched frame and a sudden change of viscosity are flagged at the step they happen."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_probe import JEPA, cli, make_tiny_set, train_tiny

from sciwm.checkpoint import load_run
from sciwm.data.reading import open as open_data
from sciwm.ics import fourier
from sciwm.pdes import Grid, make_solver
from sciwm.surprise import SolverPredictor, calibrate, flagged_frames, onsets, surprise

GRID = Grid(n=32, length=2 * math.pi)
DT, STEPS = 0.01, 5  # the tiny set's solver step and frames every 0.05


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_tiny_set(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def jepa_run(data, tmp_path_factory) -> Path:
    return train_tiny(data, tmp_path_factory.mktemp("runs") / "jepa", JEPA, steps=100)


def burgers(u0: torch.Tensor, nus: list[float], frames: int) -> torch.Tensor:
    """u0 (1, 1, n) -> frames (T, 1, n) in float32 (as files store them); frame t+1 solved from frame t
    with nu = nus[t]."""
    solvers = {nu: make_solver("burgers", GRID, DT, {"nu": nu}, dtype=torch.float64) for nu in set(nus)}
    out, u = [u0], u0.double()
    for t in range(frames - 1):
        u = solvers[nus[t]].advance(u, STEPS)
        out.append(u.float())
    return torch.cat(out)


def initial(seed: int) -> torch.Tensor:
    return fourier(GRID, [seed], modes=3).float()  # (1, 1, 32)


def oracle(nu: float) -> SolverPredictor:
    return SolverPredictor(make_solver("burgers", GRID, DT, {"nu": nu}, dtype=torch.float64), STEPS)


def oracle_threshold(nu: float) -> float:
    """Calibrated on the oracle's scores on 4 normal trajectories (float32 rounding is all it sees)."""
    normal = torch.stack([burgers(initial(s), [nu] * 20, 20) for s in range(4)])
    return calibrate(surprise(oracle(nu), normal)).value


def test_calibration_is_robust_to_a_few_anomalies():
    rng = np.random.default_rng(0)
    scores = 10 ** rng.normal(-3, 0.2, 1000)
    thr = calibrate(scores)  # log10 scores ~ N(-3, 0.2): MAD * 1.4826 estimates sigma; threshold 4 sigma up
    assert math.log10(thr.value) == pytest.approx(-3 + 4 * 0.2, abs=0.1)  # MAD of 1000 draws: ~2% off
    with_outliers = calibrate(np.concatenate([scores, [1e3] * 10]))
    assert math.log10(with_outliers.value) == pytest.approx(math.log10(thr.value), abs=0.02)
    assert (scores > thr.value).mean() < 2e-3


def test_flags_and_onsets():
    scores = torch.tensor([0.1, math.nan, 5.0, 6.0, 0.2, 9.0])
    assert flagged_frames(scores, 1.0) == [3, 4, 6]
    assert onsets([3, 4, 6, 7, 8]) == [3, 6]


def test_oracle_flags_exactly_the_glitched_frame():
    # frame 8 replaced by a shifted copy of itself (same energy, same spectrum: only the dynamics say it is wrong)
    u = burgers(initial(10), [0.1] * 20, 20)
    u[8] = torch.roll(u[8], 8, dims=-1)
    scores = surprise(oracle(0.1), u)
    assert scores.shape == (19,)
    flags = flagged_frames(scores, oracle_threshold(0.1))
    assert onsets(flags) == [8] and set(flags) <= {8, 9}  # 9 is predicted from the glitch


def test_oracle_flags_the_step_where_the_viscosity_changes():
    # frames 0..10 with nu = 0.05, then nu = 0.2: the step 10 -> 11 is the first that the model (which
    # believes nu = 0.05) gets wrong, and every later step stays wrong: one event, starting at frame 11
    u = burgers(initial(11), [0.05] * 10 + [0.2] * 9, 20)
    flags = flagged_frames(surprise(oracle(0.05), u), oracle_threshold(0.05))
    assert onsets(flags) == [11] and flags == list(range(11, 20))


def frames_of(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    ds = open_data(path)
    return torch.from_numpy(ds["u"].values[:, :, None].astype(np.float32)), torch.tensor(ds["nu"].values)[:, None]


def test_a_tiny_jepa_flags_a_noise_frame(data, jepa_run):
    # 100 steps on 10 trajectories (seconds). Calibrated on val (held-out normal trajectories), measured:
    # threshold 0.010 (6x the median), clean test steps <= 0.007, the noise frame 0.5-0.6 and the step after it
    # the same (predicted from noise). A change of viscosity within the training range moves this tiny
    # model's surprise by less than its normal spread (nu 0.05 -> 0.2: 0.1-0.5 of the threshold); only
    # 20x jumps (0.05 -> 1.0) are flagged, in 3 of 5 trajectories: the change-point test uses the oracle.
    run = load_run(jepa_run)
    thr = calibrate(surprise(run, *frames_of(data / "val.h5"))).value
    frames, nu = frames_of(data / "test.h5")
    frames[:, 6] = torch.randn(frames[:, 6].shape, generator=torch.Generator().manual_seed(0)) * frames.std()
    scores = surprise(run, frames, nu)
    assert scores.shape == (2, 11)
    for s in scores:
        assert flagged_frames(s, thr)[0] == 6  # nothing flagged before the glitch
        assert int(s.argmax()) + 1 in (6, 7)


def test_surprise_cli_writes_scores_and_flags(data, jepa_run, tmp_path, capsys):
    cli(["surprise", str(jepa_run), "--data", str(data / "test.h5"), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "threshold" in out and "val.h5" in out  # calibrated on the run's validation file
    result = json.loads((tmp_path / "surprise.json").read_text())
    assert result["space"] == "latent" and len(result["trajectories"]) == 2
    assert len(result["trajectories"][0]["scores"]) == 11
    cli(["surprise", str(jepa_run), "--data", str(data / "test.h5"), "--threshold", "0"])
    assert "2 of 2 trajectories have flagged frames" in capsys.readouterr().out


def test_surprise_refuses_a_corrupt_frame_and_data_of_another_spacing(data, jepa_run, tmp_path):
    """A NaN frame is the file's fault, not a surprise of the dynamics; frames twice as far apart are not
    what the run learned to predict. Both are refused in one line naming the file."""
    import shutil

    import h5py

    from sciwm.errors import SciwmError
    from sciwm.surprise import surprise_file

    for name, change, message in [
        ("nan.h5", lambda f: f["u"].__setitem__((1, 5, 3), np.nan), "sample 1, frame 5 has NaN or Inf"),
        ("dt.h5", lambda f: f.attrs.__setitem__("dt_save", 2 * float(np.asarray(f.attrs["dt_save"]).reshape(-1)[0])),
         "its frames are 0.1 apart, the run was trained on frames that are 0.05 apart"),
    ]:
        path = tmp_path / name
        shutil.copy(data / "test.h5", path)
        with h5py.File(path, "r+") as f:
            change(f)
        with pytest.raises(SciwmError, match=message):
            surprise_file(jepa_run, path)
