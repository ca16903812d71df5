"""Surrogate models: shapes, residual identity, latent compression, symmetry, learning, configs."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest
import torch

from sciwm.errors import SciwmError
from sciwm.models import MODELS, DataSpec, ModelConfig, build_model, count_parameters
from sciwm.models.conditioning import FiLM
from sciwm.models.fno import neuralop_modes

# every model that any data can train; the closure needs data from a sciwm solver (tests/test_closure.py)
ANY_DATA = [name for name in MODELS if name != "closure"]
TINY = dict(width=8, modes=4, layers=2, latent_channels=4, latent_downsample=4)
GRIDS = [(16,), (8, 8)]


def tiny(name: str, grid: tuple[int, ...], k: int = 1, n_params: int = 0, n_action: int = 0, **kw):
    """A tiny model of `name` and its spec (seeded, so tests are repeatable)."""
    torch.manual_seed(0)
    spec = DataSpec(channels=2, grid=grid, history=k, n_params=n_params, n_action=n_action)
    return build_model(ModelConfig(name=name, **{**TINY, **kw}), spec), spec


def inputs(spec: DataSpec, batch: int = 3):
    """Random history (B, k, C, *grid), params (B, P) or None, action (B, A) or None."""
    history = torch.randn(batch, spec.history, spec.channels, *spec.grid)
    params = torch.randn(batch, spec.n_params) if spec.n_params else None
    action = torch.randn(batch, spec.n_action) if spec.n_action else None
    return history, params, action


@pytest.mark.parametrize("conditioning", ["channels", "film"])
@pytest.mark.parametrize("n_params, n_action", [(0, 0), (2, 3)])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("name", ANY_DATA)
def test_next_frame_has_the_shape_of_one_frame(name, grid, k, n_params, n_action, conditioning):
    model, spec = tiny(name, grid, k, n_params, n_action, conditioning=conditioning)
    history, params, action = inputs(spec)
    out = model(history, params, action)
    assert out.shape == (3, spec.channels, *grid)
    assert torch.isfinite(out).all()
    if model.latent:
        z = model.encode(history[:, -1])
        z_hist = torch.stack([z] * k, dim=1)
        assert model.step_latent(z_hist, params, action).shape == z.shape
        assert model.decode(z).shape == (3, spec.channels, *grid)


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("name", ANY_DATA)
def test_zeroed_last_layer_gives_persistence(name, grid):
    """Residual: with net(...) = 0 the next frame is the last history frame (latent: last latent frame)."""
    model, spec = tiny(name, grid, k=2, n_params=1, n_action=1)
    history, params, action = inputs(spec)
    with torch.no_grad():
        model.output_layer.weight.zero_()
        model.output_layer.bias.zero_()
        if model.latent:
            z_hist = torch.stack([model.encode(history[:, i]) for i in range(2)], dim=1)
            assert torch.equal(model.step_latent(z_hist, params, action), z_hist[:, -1])
        else:
            assert torch.equal(model(history, params, action), history[:, -1])


@pytest.mark.parametrize("downsample", [2, 4, 8])
@pytest.mark.parametrize("grid", [(64,), (16, 16)])
def test_encode_compresses_by_the_configured_factor(grid, downsample):
    model, spec = tiny("latent_fno", grid, latent_downsample=downsample, latent_channels=3)
    frames = torch.randn(2, spec.channels, *grid)
    z = model.encode(frames)
    assert z.shape == (2, 3, *(n // downsample for n in grid))
    assert model.decode(z).shape == frames.shape


@pytest.mark.parametrize("encoder_width, widths", [(0, [8, 8, 8]), (2, [2, 4, 8]), (3, [3, 6, 8])])
def test_encoder_width_doubles_with_each_halving_up_to_width(encoder_width, widths):
    model, spec = tiny("latent_fno", (8, 8), latent_downsample=4, latent_channels=3, encoder_width=encoder_width)
    enc = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    dec = [m for m in model.decoder if isinstance(m, torch.nn.Conv2d)]
    # encoder: a 3-conv into level 0, then per halving a stride-2 conv and a conv, then a 1-conv to Cz
    assert [m.out_channels for m in enc] == [widths[0], widths[1], widths[1], widths[2], widths[2], 3]
    assert [m.stride[0] for m in enc] == [1, 2, 1, 2, 1, 1]
    assert [m.out_channels for m in dec] == [widths[2], widths[1], widths[1], widths[0], widths[0], 2]
    w0, w1, w2 = widths
    by_hand = (2 * w0 * 9 + w0) + (w0 * w1 * 9 + w1) + (w1 * w1 * 9 + w1) + (w1 * w2 * 9 + w2) \
        + (w2 * w2 * 9 + w2) + (w2 * 3 + 3)
    assert count_parameters(model.encoder) == by_hand
    z = model.encode(torch.randn(2, 2, 8, 8))
    assert z.shape == (2, 3, 2, 2) and model.decode(z).shape == (2, 2, 8, 8)


def test_encoder_width_must_be_a_whole_number():
    with pytest.raises(SciwmError, match="encoder_width"):
        ModelConfig(name="latent_fno", encoder_width=-1)


def test_latent_grid_must_divide_by_the_downsample_factor():
    with pytest.raises(SciwmError, match="latent_downsample"):
        tiny("latent_fno", (20,), latent_downsample=8)


@pytest.mark.parametrize("name, shift", [("fno", 3), ("tfno", 3), ("unet", 2)])
@pytest.mark.parametrize("grid", GRIDS)
def test_translation_equivariant_on_a_periodic_grid(name, shift, grid):
    """Shift the input by a few cells and the prediction shifts the same way (positional channels off).

    FNOs: any shift (spectral convs and pointwise maps commute with shifts). U-Net: shifts by
    multiples of 2**(layers-1), because of its pooling.
    """
    model, spec = tiny(name, grid, k=2, n_params=1)
    history, params, _ = inputs(spec)
    dims = tuple(range(-len(grid), 0))
    shifts = (shift,) * len(grid)
    with torch.no_grad():
        shifted = model(torch.roll(history, shifts, dims), params)
        expected = torch.roll(model(history, params), shifts, dims)
    torch.testing.assert_close(shifted, expected, atol=1e-5, rtol=0)


def test_positional_channels_break_translation_equivariance():
    model, spec = tiny("fno", (16,), positional=True)
    history, _, _ = inputs(spec)
    with torch.no_grad():
        gap = model(torch.roll(history, 3, -1)) - torch.roll(model(history), 3, -1)
    assert gap.abs().max() > 1e-3


@pytest.mark.parametrize("name", ANY_DATA)
def test_film_makes_the_output_depend_on_params(name):
    model, spec = tiny(name, (16,), n_params=2, conditioning="film")
    history, params, _ = inputs(spec, batch=1)
    film = next(m for m in model.modules() if isinstance(m, FiLM))
    with torch.no_grad():
        assert torch.equal(model(history, params), model(history, -params))  # FiLM starts as identity
        film.mlp[-1].weight.normal_()
        assert not torch.allclose(model(history, params), model(history, -params))


@pytest.mark.parametrize("name", ANY_DATA)
def test_tiny_model_overfits_one_pair(name):
    """Gradients reach every part: a tiny model learns one (history -> next) pair."""
    model, spec = tiny(name, (32,), k=2, n_params=1, width=16, modes=8)
    history, params, _ = inputs(spec, batch=1)
    target = torch.randn(1, spec.channels, 32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(250):
        opt.zero_grad()
        loss = torch.mean((model(history, params) - target) ** 2)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("name", ANY_DATA)
def test_parameter_count_is_the_sum_of_tensor_sizes(name, grid):
    model, _ = tiny(name, grid)
    n = count_parameters(model)
    assert n > 0 and n == sum(p.numel() for p in model.parameters())


def test_tfno_is_smaller_than_fno():
    spec = DataSpec(channels=1, grid=(64,), history=1)
    fno, tfno = (count_parameters(build_model(ModelConfig(name=n), spec)) for n in ("fno", "tfno"))
    assert tfno < fno / 2


def test_modes_count_wavenumbers_below_the_cutoff_and_are_clipped():
    assert neuralop_modes(16, (256, 64, 8)) == (31, 31, 7)  # |k| < 16 is 31 modes; n=8 keeps |k| < 4


def test_config_from_a_toml_table():
    text = '[model]\nname = "latent_fno"\nwidth = 8\nmodes = 4\nlayers = 2\nlatent_downsample = 8\n'
    cfg = ModelConfig(**tomllib.loads(text)["model"])
    assert cfg == ModelConfig.from_dict(tomllib.loads(text)["model"])
    model = build_model(cfg, DataSpec(channels=1, grid=(64,), history=1))
    assert model.latent and model.encode(torch.randn(1, 1, 64)).shape == (1, 16, 8)


def test_unknown_model_name_lists_the_known_names():
    with pytest.raises(SciwmError, match="fno, tfno, unet, latent_fno"):
        build_model(ModelConfig(name="transformer"), DataSpec(channels=1, grid=(16,), history=1))


def test_unknown_config_key_is_an_error():
    with pytest.raises(SciwmError, match="widht"):
        ModelConfig.from_dict({"name": "fno", "widht": 32})
    with pytest.raises(SciwmError, match="conditioning"):
        ModelConfig.from_dict({"conditioning": "concat"})


def test_inputs_that_do_not_match_the_spec_are_refused():
    model, spec = tiny("fno", (16,), k=2, n_params=1)
    history, params, _ = inputs(spec)
    with pytest.raises(SciwmError, match="k=2"):
        model(history[:, :1], params)
    with pytest.raises(SciwmError, match="params"):
        model(history)
    with pytest.raises(SciwmError, match="action"):
        model(history, params, torch.zeros(3, 2))
    assert model(history, params, torch.zeros(3, 0)).shape == (3, 2, 16)  # the trainer's empty action


@pytest.mark.parametrize("name", ANY_DATA)
def test_state_dict_round_trips_through_a_weights_only_checkpoint(name, tmp_path):
    """The checkpoint contract: tensors only (no neuralop metadata), loadable with weights_only=True."""
    model, spec = tiny(name, (16,), n_params=1, n_action=1)
    cfg = model.cfg
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "cfg": dataclasses.asdict(cfg), "spec": dataclasses.asdict(spec)}, path)
    ckpt = torch.load(path, weights_only=True)
    again = build_model(ModelConfig.from_dict(ckpt["cfg"]), DataSpec(**ckpt["spec"]))
    again.load_state_dict(ckpt["model"])
    history, params, action = inputs(spec)
    with torch.no_grad():
        assert torch.equal(again(history, params, action), model(history, params, action))


@pytest.mark.parametrize("name, grid", [("fno", (64,)), ("tfno", (16, 16)), ("latent_fno", (64,))])
def test_bf16_autocast_gives_the_fourier_layers_float32_input(name, grid):
    # CUDA has no bfloat16 FFT ("Unsupported dtype BFloat16", seen on an H200 under sciwm.train's autocast):
    # the spectral convolutions must get float32 input while the 1x1 convs around them run in bf16.
    # CPU autocast runs FFTs in float32 itself, so the check is on what the spectral layers receive.
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, width=16, modes=6, layers=2, latent_downsample=2),
                        DataSpec(channels=1, grid=grid, history=1))
    received = []
    core = model.predictor if name == "latent_fno" else model.core
    for conv in core.fno.fno_blocks.convs:
        conv.register_forward_pre_hook(lambda module, args: received.append(args[0].dtype))
    x = torch.randn(4, 1, 1, *grid)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x)
    assert received == [torch.float32] * 2
    with torch.no_grad():
        full = model(x)
    err = float((low.float() - full).norm() / (full - x[:, -1]).norm())  # relative to the predicted change
    assert 1e-4 < err < 5e-2, err  # bf16 did run somewhere (not 0), to ~2-3 digits


@pytest.mark.parametrize("name, grid, r", [("fno", (64,), 32), ("tfno", (32, 32), 16)])
def test_resolution_runs_the_network_on_the_resolved_modes(name, grid, r):
    torch.manual_seed(0)
    spec = DataSpec(channels=1, grid=grid, history=1)
    model = build_model(ModelConfig(name=name, width=8, modes=6, layers=2, resolution=r), spec)
    x = torch.randn(3, 1, 1, *grid)
    y = model(x)
    assert y.shape == (3, 1, *grid)
    spectrum = torch.fft.rfftn(y, dim=tuple(range(-len(grid), 0))).abs()
    k = torch.fft.rfftfreq(grid[-1], 1 / grid[-1])
    assert spectrum[..., k >= r // 2].max() < 1e-5 * spectrum.max()  # band-limited to |k| < r/2
    if len(grid) == 2:
        ky = torch.fft.fftfreq(grid[0], 1 / grid[0]).abs()
        assert spectrum[..., ky >= r // 2, :].max() < 1e-5 * spectrum.max()
    # a zero network keeps the band-limited part of the last frame exactly (a spectral projection)
    torch.nn.init.zeros_(model.output_layer.weight)
    torch.nn.init.zeros_(model.output_layer.bias)
    smooth = torch.fft.irfft(torch.fft.rfft(x, dim=-1) * (k < r // 2), n=grid[-1], dim=-1)
    if len(grid) == 1:
        torch.testing.assert_close(model(smooth), smooth[:, -1], atol=1e-6, rtol=0)


def test_resolution_must_be_even():
    with pytest.raises(SciwmError, match="model.resolution = 33"):
        ModelConfig(resolution=33)


@pytest.mark.parametrize("name", ["unet", "latent_fno"])
def test_a_resolution_is_refused_by_models_that_run_on_the_data_grid(name):
    with pytest.raises(SciwmError, match=f"model.resolution: {name} runs on the data's grid"):
        tiny(name, (32,), resolution=16)


@pytest.mark.parametrize("k, n", [(1, 1), (2, 3)])
def test_latent_objective_unrolls_as_rollouts_do(k, n):
    """latent_loss's field error is the MSE of `rollout_model`'s frames: the same latent steps, no re-encoding."""
    from sciwm.data.windows import WindowBatch
    from sciwm.objectives import latent_loss
    from sciwm.rollout import rollout_model
    from sciwm.runconfig import TrainConfig

    model, spec = tiny("latent_fno", (8, 8), k=k, n_params=1)
    g = torch.Generator().manual_seed(1)
    frames = torch.randn(4, k + n, spec.channels, *spec.grid, generator=g)
    params = torch.randn(4, 1, generator=g)
    batch = WindowBatch(frames[:, :k], frames[:, k:], params, torch.zeros(4, k + n, 0), torch.zeros(4), torch.zeros(4))
    cfg = TrainConfig(objective="unrolled" if n > 1 else "onestep", unroll=n)
    _, logs = latent_loss(model, batch, cfg, step=0, gen=None)
    pred = rollout_model(model, frames[:, :k], n, params).frames
    want = torch.stack([torch.mean((pred[:, j] - frames[:, k + j]) ** 2) for j in range(n)]).mean()
    assert logs["mse"] == pytest.approx(want.item(), rel=1e-5)
    z = model.encode(frames.flatten(0, 1))
    assert logs["recon"] == pytest.approx(torch.mean((model.decode(z) - frames.flatten(0, 1)) ** 2).item(), rel=1e-5)
