"""Actions of forced datasets enter grid models as forcing fields (sciwm.models.conditioning)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from tiny import FORCED_BURGERS as CARD

from sciwm.checkpoint import load_run
from sciwm.data.card import Card
from sciwm.data.generate import generate
from sciwm.errors import SciwmError
from sciwm.forcing import ModalForcing
from sciwm.models import DataSpec, ModelConfig, build_model
from sciwm.models.conditioning import forcing_basis
from sciwm.pdes.grid import Grid
from sciwm.runconfig import RunConfig
from sciwm.train import train


def _forcing(n: tuple[int, ...], length: tuple[float, ...], modes: list) -> ModalForcing:
    return ModalForcing(Grid(n=n, length=length), modes)


@pytest.mark.parametrize("n, length, modes", [
    ((64,), (6.283185307179586,), [1, 2, 3]),
    ((48, 32), (1.0, 3.0), [[1, 0], [0, 1], [1, 1], [1, -1]]),  # non-square: (x, y) order matters
])
def test_the_basis_is_the_forcing_of_the_data_at_any_resolution(n, length, modes):
    forcing = _forcing(n, length, modes)
    text = json.dumps(forcing.to_dict())
    assert torch.allclose(forcing_basis(text, forcing.grid.shape), forcing.basis.float(), atol=1e-6)
    coarse = tuple(s // 4 for s in forcing.grid.shape)  # every 4th point: the same wave vectors
    sub = forcing.basis[(slice(None), *[slice(None, None, 4)] * len(coarse))]
    assert torch.allclose(forcing_basis(text, coarse), sub.float(), atol=1e-6)


def test_a_mode_the_grid_cannot_hold_is_refused():
    text = json.dumps(_forcing((64,), (1.0,), [1, 5]).to_dict())
    with pytest.raises(SciwmError, match=r"mode \[5\] is not resolved on a grid of \(8,\)"):
        forcing_basis(text, (8,))


def test_each_sub_step_of_a_strided_model_gets_its_own_forcing_field():
    forcing = _forcing((32,), (2 * math.pi,), [1, 2])  # A = 4
    spec = DataSpec(channels=1, grid=(32,), history=1, n_action=2 * 4, forcing=json.dumps(forcing.to_dict()))
    model = build_model(ModelConfig(name="fno", width=8, modes=8, layers=1), spec)
    a = torch.randn(3, 8)
    params, action = model.check_conditions(torch.zeros(3, 1, 1, 32), None, a)
    _, fields = model.condition_inputs(params, action, (32,))
    assert fields.shape == (3, 2, 32)
    for j in range(2):
        assert torch.allclose(fields[:, j], forcing(a[:, 4 * j : 4 * j + 4])[:, 0].float(), atol=1e-6)
    assert model.n_values() == 2  # two field channels, not eight constant ones


def _fit(spec: DataSpec, forcing: ModalForcing, steps: int = 120) -> float:
    """Train a 1-layer FNO (no position channels) on u_next = u + f(a); relative MSE on fresh samples."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="fno", width=16, modes=8, layers=1), spec)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def sample(b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        u = torch.randn(b, 1, 1, 32)
        a = torch.rand(b, 4) - 0.5
        return u, a, u[:, 0] + forcing(a).float()

    for _ in range(steps):
        u, a, target = sample(32)
        loss = torch.nn.functional.mse_loss(model(u, None, a), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    u, a, target = sample(256)
    with torch.no_grad():
        err = (model(u, None, a) - target).square().mean()
    return float(err / (target - u[:, 0]).square().mean())


def test_a_translation_equivariant_fno_learns_a_forced_step_only_from_forcing_fields():
    """An FNO without position channels cannot place a spatial pattern from constant action channels
    (its output commutes with shifts, the constants do not move): it learns the forced step u + f(a)
    only when given f as a field."""
    forcing = _forcing((32,), (2 * math.pi,), [1, 2])
    text = json.dumps(forcing.to_dict())
    with_fields = _fit(DataSpec(channels=1, grid=(32,), history=1, n_action=4, forcing=text), forcing)
    constants = _fit(DataSpec(channels=1, grid=(32,), history=1, n_action=4), forcing)
    assert with_fields < 1e-3
    assert constants > 0.5  # no better than predicting no forcing at all, at best




def test_a_run_on_a_forced_file_keeps_the_forcing_through_its_checkpoint(tmp_path):
    generate(Card.from_text(CARD), tmp_path / "data", progress=False)
    cfg = RunConfig.from_dict({
        "data": {"train": str(tmp_path / "data" / "train.h5")},
        "model": {"name": "latent_fno", "width": 8, "modes": 4, "layers": 1, "latent_channels": 4},
        "train": {"steps": 2, "batch_size": 4, "warmup": 1, "log_every": 1}})
    train(cfg, tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    assert json.loads(run.spec.forcing)["modes"] == [[1], [2]]
    assert run.model.forcing_basis.shape == (4, 8)  # on the 8-cell latent grid (32 / latent_downsample 4)
    assert "forcing_basis" not in torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"]
    z = torch.randn(2, 1, 4, 8)
    a = torch.randn(2, 4)
    fields = run.model.condition_inputs(torch.zeros(2, 0), a, (8,))[1]
    truth = Card.from_text(CARD).modal_forcing()(a)[:, :, ::4].float()  # the card's forcing, every 4th point
    assert torch.allclose(fields, truth, atol=1e-5)
    assert run.model.step_latent(z, None, a).shape == (2, 4, 8)


def test_a_forced_fno_runs_on_another_grid_with_the_forcing_resampled():
    """An FNO (no `resolution`) runs at any grid: the forcing fields follow the input's grid."""
    forcing = _forcing((32,), (2 * math.pi,), [1, 2])
    spec = DataSpec(channels=1, grid=(32,), history=1, n_action=4, forcing=json.dumps(forcing.to_dict()))
    model = build_model(ModelConfig(name="fno", width=8, modes=8, layers=1), spec)
    a = torch.rand(3, 4) - 0.5
    fine = _forcing((64,), (2 * math.pi,), [1, 2])
    fields = model.condition_inputs(torch.zeros(3, 0), a, (64,))[1]
    assert torch.allclose(fields[:, 0], fine(a)[:, 0].float(), atol=1e-6)
    assert model(torch.randn(3, 1, 1, 64), None, a).shape == (3, 1, 64)


def test_a_2d_latent_model_takes_the_forcing_on_its_latent_grid():
    """ns2d-forced: 4 wave vectors (x, y) on 64 x 48; latent_fno with d = 4 sees them on 16 x 12."""
    forcing = _forcing((64, 48), (2 * math.pi, 3.0), [[1, 0], [0, 1], [1, 1], [1, -1]])
    spec = DataSpec(channels=1, grid=forcing.grid.shape, history=1, n_action=8, forcing=json.dumps(forcing.to_dict()))
    model = build_model(ModelConfig(name="latent_fno", width=8, modes=4, layers=1, latent_channels=4,
                                    latent_downsample=4), spec)
    assert model.forcing_basis.shape == (8, 12, 16)  # (A, ny / 4, nx / 4)
    assert torch.allclose(model.forcing_basis, forcing.basis[:, ::4, ::4].float(), atol=1e-6)
    a = torch.rand(2, 8) - 0.5
    out = model(torch.randn(2, 1, 1, 48, 64), None, a)
    assert out.shape == (2, 1, 48, 64) and torch.isfinite(out).all()


def test_resuming_a_run_made_before_forcing_fields_keeps_its_constant_channels(tmp_path, monkeypatch):
    """A checkpoint without `forcing` in its spec (runs made before actions became fields) resumes as it
    was trained: constant action channels, not the fields the file would now give."""
    import sciwm.data.windows as windows

    generate(Card.from_text(CARD), tmp_path / "data", progress=False)
    raw = {"data": {"train": str(tmp_path / "data" / "train.h5")},
           "model": {"name": "fno", "width": 8, "modes": 4, "layers": 1},
           "train": {"steps": 2, "batch_size": 4, "warmup": 1, "log_every": 1}}
    read_meta = windows.Windows._read_meta

    def without_forcing(self, *args, **kwargs):  # noqa: ANN001, ANN202
        read_meta(self, *args, **kwargs)
        self.forcing = ""

    monkeypatch.setattr(windows.Windows, "_read_meta", without_forcing)
    train(RunConfig.from_dict(raw), tmp_path / "run", progress=False)
    monkeypatch.undo()
    train(RunConfig.from_dict(raw), tmp_path / "run", resume=True, progress=False)  # loads the state dict
    run = load_run(tmp_path / "run")
    assert run.spec.forcing == "" and run.model.forcing_basis is None and run.model.n_values() == 4
