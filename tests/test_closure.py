"""The closure model (coarse solver + learned correction): untrained it *is* its solver, its gradients are
the solver's, training beats the coarse solver, and data it cannot model is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from sciwm.checkpoint import load_run
from sciwm.control import ControlSystem
from sciwm.data.card import Card
from sciwm.data.generate import generate
from sciwm.data.windows import Windows
from sciwm.errors import SciwmError
from sciwm.models import DataSpec, ModelConfig, build_model
from sciwm.models.closure import PeriodicCNN
from sciwm.pdes.grid import resample
from sciwm.runconfig import RunConfig
from sciwm.train import _physics, train

CARD = """
name = "closure-burgers-forced"
pde = "burgers"
[domain]
length = 6.283185307179586
n = 64
[params]
nu = 0.02
[ic]
kind = "fourier"
modes = 4
[time]
dt = 0.01
save_every = 0.1
frames = 11
precision = "float64"
[forcing]
modes = [1, 2, 3]
scale = 0.5
[splits]
train = 24
val = 8
seed = 5
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("closure")
    generate(Card.from_text(CARD), out, progress=False)
    return out


def spec_of(path: Path) -> tuple[DataSpec, Windows]:
    w = Windows(path, history=1, future=1)
    return DataSpec(channels=1, grid=tuple(w.grid), history=1, n_action=w.action_size, forcing=w.forcing,
                    physics=_physics(w, 1)), w


def frames_and_actions(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    with h5py.File(path) as f:
        return torch.from_numpy(f["u"][:]), torch.from_numpy(f["action"][:])  # (B, T, 64), (B, T, 6)


def closure(spec: DataSpec, **cfg: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(**{"name": "closure", "width": 8, "layers": 3, **cfg}), spec).eval()


def test_an_untrained_closure_on_the_data_grid_and_step_is_the_solver_that_made_the_data(data):
    spec, w = spec_of(data / "val.h5")
    model = closure(spec, solver_dt=0.01)
    assert model.steps_per_frame == 10
    u, a = frames_and_actions(data / "val.h5")
    x = w.stats.normalize(u[:, :-1].reshape(-1, 1, 64).float())
    act = a[:, :-1].reshape(-1, 6).float()
    target = w.stats.normalize(u[:, 1:].reshape(-1, 1, 64).float())
    with torch.no_grad():
        pred = model(x[:, None], None, act)
        wrong = model(x[:, None], None, -act)
    err = float((pred - target).norm() / (target - x).norm())
    assert err < 1e-4, err  # float32 against the float64 data, relative to the change over a frame
    assert float((wrong - target).norm() / (target - x).norm()) > 0.1  # the actions force it


def test_an_untrained_closure_on_a_coarse_grid_is_the_coarsened_solver(data):
    spec, w = spec_of(data / "val.h5")
    model = closure(spec, resolution=16)
    system = ControlSystem.from_attrs(dict(h5py.File(data / "val.h5").attrs)).coarsened(16)
    assert model.solver_dt == pytest.approx(system.solver.dt) and model.steps_per_frame == system.steps
    u, a = frames_and_actions(data / "val.h5")
    with torch.no_grad():
        pred = w.stats.denormalize(model(w.stats.normalize(u[:, :1, None].float()), None, a[:, 0].float()))
    expected = resample(system.run(resample(u[:, 0:1], (16,)), a[:, :1])[:, -1], (64,)).float()
    torch.testing.assert_close(pred, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))


def test_gradients_through_the_closure_are_the_solvers(data):
    """The coarse solver is differentiable (`Solver.advance_tracked`): the directional derivative in the
    actions matches central differences, and gradients reach the correction network."""
    spec, w = spec_of(data / "val.h5")
    model = closure(spec, resolution=32)
    torch.nn.init.normal_(model.output_layer.weight, std=0.1)
    u, a = frames_and_actions(data / "val.h5")
    x = w.stats.normalize(u[:4, :1, None].float())
    act = a[:4, 0].float().clone().requires_grad_()
    direction = torch.randn(act.shape, generator=torch.Generator().manual_seed(1))

    def f(actions: torch.Tensor) -> torch.Tensor:
        return model(x, None, actions).square().sum()

    (g,) = torch.autograd.grad(f(act), act)
    h = 1e-2
    with torch.no_grad():
        fd = (f(act + h * direction) - f(act - h * direction)) / (2 * h)
    assert float((g * direction).sum()) == pytest.approx(float(fd), rel=2e-2)
    f(act).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.net.parameters())


def test_a_trained_closure_beats_its_coarse_solver_and_round_trips(data, tmp_path):
    raw = {"data": {"train": str(data / "train.h5"), "val": str(data / "val.h5")},
           "model": {"name": "closure", "resolution": 16, "width": 16, "layers": 3},
           "train": {"steps": 300, "batch_size": 16, "lr": 3e-3, "warmup": 10, "log_every": 50, "val_every": 300,
                     "val_rollout": 5, "objective": "unrolled", "unroll": 2}}
    train(RunConfig.from_dict(raw), tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    assert json.loads(run.spec.physics)["pde"] == "burgers"
    u, a = frames_and_actions(data / "val.h5")
    x = run.stats.normalize(u[:, :-1].reshape(-1, 1, 64).float())[:, None]
    act = a[:, :-1].reshape(-1, 6).float()
    target = run.stats.normalize(u[:, 1:].reshape(-1, 1, 64).float())
    target = resample(resample(target, (16,)), (64,))  # what a 16-point model can hold: |k| < 8
    untrained = closure(run.spec, resolution=16, width=16, layers=3)
    with torch.no_grad():
        coarse = float((untrained(x, None, act) - target).square().mean())
        learned = float((run.model(x, None, act) - target).square().mean())
        again = load_run(tmp_path / "run").model(x, None, act)
        assert torch.equal(again, run.model(x, None, act))
    assert learned < 0.3 * coarse, (learned, coarse)  # measured: 0.17


def test_data_a_closure_cannot_model_is_refused_in_one_line(data):
    spec, _ = spec_of(data / "val.h5")
    physics = json.loads(spec.physics)
    bad = {
        "does not say which solver": DataSpec(channels=1, grid=(64,), history=1),
        "samples nu per trajectory": DataSpec(channels=1, grid=(64,), history=1, n_params=1,
                                              physics=json.dumps({**physics, "sampled_params": ["nu"]})),
        "not a sciwm solver": DataSpec(channels=1, grid=(64,), history=1,
                                       physics=json.dumps({**physics, "pde": "euler"})),
        "not described as modal forcing": DataSpec(channels=1, grid=(64,), history=1, n_action=6,
                                                   physics=spec.physics),
    }
    for message, s in bad.items():
        with pytest.raises(SciwmError, match=message) as err:
            build_model(ModelConfig(name="closure"), s)
        assert "\n" not in str(err.value)
    with pytest.raises(SciwmError, match="does not divide"):
        build_model(ModelConfig(name="closure", solver_dt=0.03), spec)
    assert np.isfinite(physics["dt_solver"]) and physics["time_stride"] == 1


def test_a_diverged_state_propagates_as_nan_instead_of_stopping_the_rollout(data):
    """Training validation and `sciwm rollout` detect divergence from the outputs; the solver inside the
    closure must not raise on a non-finite state (seen: a ks1d closure's validation rollout)."""
    spec, _ = spec_of(data / "val.h5")
    model = closure(spec, resolution=16)
    x = torch.zeros(2, 1, 1, 64)
    x[0, 0, 0, 3] = float("nan")
    with torch.no_grad():
        out = model(x, None, torch.zeros(2, 6))
    assert out[0].isnan().all() and torch.isfinite(out[1]).all()


def test_a_strided_closure_forces_each_frame_interval_with_its_own_action(data):
    """time_stride 2: one model step is two frames, each forced by its own action (concatenated)."""
    spec, w = spec_of(data / "val.h5")
    physics = {**json.loads(spec.physics), "time_stride": 2}
    strided = DataSpec(channels=1, grid=(64,), history=1, n_action=12, forcing=spec.forcing,
                       physics=json.dumps(physics))
    model = closure(strided, solver_dt=0.01)
    u, a = frames_and_actions(data / "val.h5")
    x = w.stats.normalize(u[:, :-2].reshape(-1, 1, 1, 64).float())
    act = torch.cat([a[:, :-2], a[:, 1:-1]], -1).reshape(-1, 12).float()
    target = w.stats.normalize(u[:, 2:].reshape(-1, 1, 64).float())
    swapped = torch.cat([act[:, 6:], act[:, :6]], 1)
    with torch.no_grad():
        err = float((model(x, None, act) - target).norm() / (target - x[:, 0]).norm())
        err_swapped = float((model(x, None, swapped) - target).norm() / (target - x[:, 0]).norm())
    assert err < 1e-4 and err_swapped > 0.02, (err, err_swapped)


NS_CARD = """
name = "closure-ns-forced"
pde = "ns2d"
[domain]
length = [6.283185307179586, 3.141592653589793]
n = [32, 16]
[params]
nu = 0.01
alpha = 0.1
[ic]
kind = "grf"
[time]
dt = 0.02
save_every = 0.1
frames = 4
precision = "float64"
[forcing]
modes = [[1, 0], [0, 1]]
scale = 1.0
[splits]
train = 3
seed = 2
"""


def test_a_closure_on_a_non_square_grid_is_the_solver_and_its_coarsening(tmp_path):
    generate(Card.from_text(NS_CARD), tmp_path, progress=False)
    spec, w = spec_of(tmp_path / "train.h5")
    assert spec.grid == (16, 32)  # tensor order (ny, nx)
    with h5py.File(tmp_path / "train.h5") as f:
        u, a = torch.from_numpy(f["vorticity"][:]), torch.from_numpy(f["action"][:]).float()
        system = ControlSystem.from_attrs(dict(f.attrs))
    x = w.stats.normalize(u[:, 0, None, None].float())
    exact = closure(spec, solver_dt=0.02)
    with torch.no_grad():
        pred = exact(x, None, a[:, 0])
    target = w.stats.normalize(u[:, 1, None].float())
    assert float((pred - target).norm() / (target - x[:, 0]).norm()) < 1e-4
    coarse = closure(spec, resolution=16)  # 16 x 16 on the 32 x 16 domain; step 0.02 x 16 / 16
    with torch.no_grad():
        pred = w.stats.denormalize(coarse(x, None, a[:, 0]))
    rung = system.coarsened(16)
    expected = resample(rung.run(resample(u[:, 0, None], (16, 16)), a[:, :1].double())[:, -1], (16, 32)).float()
    torch.testing.assert_close(pred, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))


def test_a_closure_whose_grid_drops_a_forced_mode_is_refused(data):
    spec, _ = spec_of(data / "val.h5")  # modes 1, 2, 3: the 2/3 rule keeps |m| < 8 / 3 on 8 points
    with pytest.raises(SciwmError, match="closure at resolution 8"):
        closure(spec, resolution=8)


@pytest.mark.parametrize("grid", [(24,), (12, 20)])
def test_the_halo_cnn_is_the_cnn_of_circularly_padded_convolutions(grid):
    """One circular wrap of the input by a point per layer, then unpadded convolutions: the same numbers as
    padding every layer circularly (an independent composition from torch's own ops), to float rounding."""
    torch.manual_seed(3)
    net = PeriodicCNN(3, 2, 8, 4, len(grid))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)  # the last layer starts at zero: give it weights too
    x = torch.randn(5, 3, *grid)
    conv = torch.nn.functional.conv1d if len(grid) == 1 else torch.nn.functional.conv2d
    ref = x
    layers = [m for m in net if isinstance(m, torch.nn.Conv1d | torch.nn.Conv2d)]
    for i, layer in enumerate(layers):
        ref = conv(torch.nn.functional.pad(ref, (1,) * (2 * len(grid)), mode="circular"), layer.weight, layer.bias)
        ref = torch.nn.functional.gelu(ref) if i < len(layers) - 1 else ref
    out, scale = net(x), float(ref.detach().abs().max())
    assert out.shape == (5, 2, *grid) and scale > 1
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5 * scale)
    shifted = net(torch.roll(x, shifts=(3,) * len(grid), dims=tuple(range(2, 2 + len(grid)))))  # periodic:
    torch.testing.assert_close(shifted, torch.roll(out, shifts=(3,) * len(grid), dims=tuple(range(2, 2 + len(grid)))),
                               rtol=0, atol=1e-5 * scale)  # commutes with translation


def test_more_layers_than_the_work_grid_has_points_is_refused(data):
    spec, _ = spec_of(data / "val.h5")
    with pytest.raises(SciwmError, match="model.layers = 17 is 17 convolutions, which need at least 17 points") as err:
        closure(spec, resolution=16, layers=17)
    assert "\n" not in str(err.value)


KS_CARD = """
name = "closure-ks"
pde = "ks"
[domain]
length = 100.0
n = 256
[ic]
kind = "fourier"
modes = 8
[time]
dt = 0.1
save_every = 1.0
burn_in = 100.0
frames = 11
[splits]
train = 32
val = 8
seed = 3
"""


def test_a_closure_with_a_long_step_on_the_data_grid_learns_the_steps_error(tmp_path):
    """The ks1d default's kind of closure: the data's grid (L = 100, 256 points), a step 2.5x the data's
    (4 per frame); the CNN learns what the long ETDRK4 step gets wrong."""
    generate(Card.from_text(KS_CARD), tmp_path / "ks", progress=False)
    raw = {"data": {"train": str(tmp_path / "ks/train.h5")},
           "model": {"name": "closure", "solver_dt": 0.25, "width": 32, "layers": 4},
           "train": {"steps": 600, "batch_size": 16, "lr": 1e-3, "warmup": 10, "log_every": 50}}
    train(RunConfig.from_dict(raw), tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    with h5py.File(tmp_path / "ks/val.h5") as f:
        u = torch.from_numpy(f["u"][:]).float()  # (8, 11, 256)
    x = run.stats.normalize(u[:, :-1].reshape(-1, 1, 256))[:, None]
    target = run.stats.normalize(u[:, 1:].reshape(-1, 1, 256))
    untrained = closure(run.spec, solver_dt=0.25, width=32, layers=4)
    with torch.no_grad():
        long_step = float((untrained(x, None, None) - target).square().mean())
        learned = float((run.model(x, None, None) - target).square().mean())
    assert long_step > 1e-9, long_step  # measured 5.1e-9: float32 frames hold ~1e-14
    assert learned < 0.5 * long_step, (learned, long_step)  # measured 0.37
