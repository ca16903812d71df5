"""CUDA paths against the CPU: the same solver, data, training and rollout on both devices.

Skipped without a GPU (CI has none); run on a GPU machine with `pytest tests/test_cuda.py`.
Float64 solver runs agree to rounding (cuFFT and pocketfft round differently, so not bit for bit);
float32 model outputs agree to float32 rounding; training on CUDA uses bf16 autocast, so only its
learning is checked, not equality with the CPU.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import burgers_card, burgers_data

from sciwm.checkpoint import load_run
from sciwm.control.system import ControlSystem
from sciwm.data.card import Card
from sciwm.data.generate import generate, solve_batch
from sciwm.data.reading import open as open_data
from sciwm.ics import initial_condition
from sciwm.pdes import Grid, make_solver
from sciwm.rollout import rollout_file
from sciwm.runconfig import RunConfig
from sciwm.train import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def rel(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a, b = torch.as_tensor(a).double().cpu(), torch.as_tensor(b).double().cpu()
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize(
    "pde, grid, dt, params, steps",
    [
        ("ks", Grid(n=256, length=100.0), 0.1, {}, 100),
        ("burgers", Grid(n=128, length=2 * math.pi), 1e-3, {"nu": 0.01}, 200),
        ("ns2d", Grid(n=(64, 64), length=2 * math.pi), 1e-2, {"nu": 1e-3}, 50),
    ],
)
def test_solver_on_cuda_matches_cpu_to_rounding(pde, grid, dt, params, steps):
    u0 = initial_condition("grf" if grid.ndim == 2 else "fourier", grid, range(4)).double()
    cpu = make_solver(pde, grid, dt, params, dtype=torch.float64).advance(u0, steps)
    gpu = make_solver(pde, grid, dt, params, device="cuda", dtype=torch.float64).advance(u0.cuda(), steps)
    assert gpu.device.type == "cuda"
    assert rel(gpu, cpu) < 1e-10


def test_generation_on_cuda_matches_cpu():
    card = burgers_card()
    cpu = solve_batch(card, "train", range(3), "cpu")
    gpu = solve_batch(card, "train", range(3), "cuda")
    assert np.array_equal(cpu["seed"], gpu["seed"]) and np.array_equal(cpu["nu"], gpu["nu"])
    assert rel(gpu["u"], cpu["u"]) < 1e-6  # the card's float32 precision


def test_differentiable_solver_gradient_on_cuda_matches_cpu():
    card = Card.load(Path(__file__).resolve().parents[1] / "datasets" / "burgers1d-forced.toml")
    grads = []
    for device in ("cpu", "cuda"):
        system = ControlSystem.from_card(card, device=device)
        u0 = initial_condition("fourier", system.grid, [0]).to(device, system.dtype)
        actions = torch.full((1, 3, system.action_size), 0.2, device=device, dtype=system.dtype, requires_grad=True)
        frames = system.run(u0, actions, grad=True)
        frames[:, -1].square().mean().backward()
        grads.append(actions.grad)
    assert rel(grads[1], grads[0]) < 1e-4


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return burgers_data(tmp_path_factory.mktemp("tiny"))


def test_training_on_cuda_learns_and_its_checkpoint_rolls_out_on_cpu_and_cuda(data, tmp_path):
    raw = {
        "data": {"train": str(data / "train.h5"), "val": str(data / "val.h5")},
        "model": {"name": "fno", "width": 16, "modes": 8, "layers": 2},
        "train": {"steps": 200, "batch_size": 8, "lr": 3e-3, "warmup": 10, "log_every": 1, "val_every": 100,
                  "val_rollout": 5},
    }
    run = tmp_path / "run"
    train(RunConfig.from_dict(raw), run, device="cuda", progress=False)
    with open(run / "metrics.csv") as f:
        loss = [float(r["loss"]) for r in csv.DictReader(f)]
    assert loss[-1] < 0.1 * loss[0], (loss[0], loss[-1])
    assert load_run(run).model.core.output_layer.weight.device.type == "cpu"  # weights_only load, mapped
    rollout_file(run, data / "test.h5", 10, tmp_path / "cpu.h5")
    rollout_file(run, data / "test.h5", 10, tmp_path / "cuda.h5", device="cuda")
    cpu, gpu = open_data(tmp_path / "cpu.h5")["u"].values, open_data(tmp_path / "cuda.h5")["u"].values
    assert np.isfinite(gpu).all()
    assert rel(gpu, cpu) < 1e-4


@pytest.mark.parametrize("resolution", [0, 16])  # 16: encoder/decoder on a coarser grid, FFTs under bf16 autocast
def test_jepa_trains_on_cuda_without_collapse(data, tmp_path, resolution):
    raw = {
        "data": {"train": str(data / "train.h5")},
        "model": {"name": "jepa", "width": 8, "latent_downsample": 4, "latent_dim": 8, "layers": 2,
                  "predictor_hidden": 32, "sigreg_directions": 32, "resolution": resolution},
        "train": {"objective": "unrolled", "unroll": 2, "steps": 60, "batch_size": 8, "lr": 1e-3,
                  "warmup": 5, "log_every": 1},
    }
    run = tmp_path / "jepa"
    train(RunConfig.from_dict(raw), run, device="cuda", progress=False)
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


def test_a_closure_trains_on_cuda_through_its_solver_and_rolls_out_like_on_cpu(tmp_path):
    """The closure's coarse solver is built on the model's device and runs outside bf16 autocast."""
    card = Card.load(Path(__file__).resolve().parents[1] / "datasets" / "burgers1d-forced.toml")
    generate(card, tmp_path / "data", samples=16, progress=False)
    d = tmp_path / "data"
    raw = {
        "data": {"train": str(d / "train.h5")},
        "model": {"name": "closure", "resolution": 64, "width": 16, "layers": 3},
        "train": {"objective": "unrolled", "unroll": 2, "steps": 100, "batch_size": 8, "lr": 3e-3, "warmup": 5,
                  "log_every": 1},
    }
    run = tmp_path / "closure"
    train(RunConfig.from_dict(raw), run, device="cuda", progress=False)
    with open(run / "metrics.csv") as f:
        loss = [float(r["loss"]) for r in csv.DictReader(f)]
    assert all(math.isfinite(v) for v in loss) and loss[-1] < loss[0]
    rollout_file(run, d / "test.h5", 10, tmp_path / "cpu.h5")
    rollout_file(run, d / "test.h5", 10, tmp_path / "cuda.h5", device="cuda")
    cpu, gpu = open_data(tmp_path / "cpu.h5")["u"].values, open_data(tmp_path / "cuda.h5")["u"].values
    assert np.isfinite(gpu).all() and rel(gpu, cpu) < 1e-4
