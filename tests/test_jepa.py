"""The JEPA world model: shapes, what trains what, collapse without SIGReg, sciwm train/rollout/eval."""

from __future__ import annotations

import csv
import dataclasses
import warnings
from pathlib import Path

import pytest
import torch
from tiny import burgers_data

from sciwm.checkpoint import load_run
from sciwm.cli import main
from sciwm.data.reading import open as open_data
from sciwm.data.windows import Windows
from sciwm.errors import SciwmError
from sciwm.models import DataSpec, ModelConfig, build_model
from sciwm.objectives import jepa_loss, objective_for
from sciwm.rollout import rollout_model
from sciwm.runconfig import RunConfig

CONFIG = """
[data]
train = "{data}/train.h5"
val = "{data}/val.h5"
history = 1

[model]
name = "jepa"
width = 8
layers = 2
latent_dim = 16
predictor_hidden = 32
sigreg_weight = {weight}

[train]
objective = "unrolled"
unroll = 2
steps = 150
batch_size = 8
lr = 1e-2
warmup = 5
log_every = 1
val_every = 1000
val_rollout = 5
"""

TINY = dict(name="jepa", width=8, layers=2, latent_dim=16, predictor_hidden=32)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    burgers_data(out)
    return out


def train_cli(data: Path, out: Path, weight: float) -> tuple[list[dict[str, float]], list[str]]:
    """`sciwm train` on the tiny set; returns the metrics rows and the warnings raised."""
    cfg = out.with_suffix(".toml")
    cfg.write_text(CONFIG.format(data=data, weight=weight))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    with open(out / "metrics.csv") as f:
        rows = [{k: float(v) for k, v in r.items() if v} for r in csv.DictReader(f)]
    return rows, [str(w.message) for w in caught if "collapsed" in str(w.message)]


def early_late(rows: list[dict[str, float]], key: str) -> tuple[float, float]:
    """Mean of `key` over the first and the last 20 steps (single steps are noisy at batch 8)."""
    values = [r[key] for r in rows]
    return sum(values[:20]) / 20, sum(values[-20:]) / 20


@pytest.fixture(scope="module")
def sigreg_run(data, tmp_path_factory) -> tuple[Path, list[dict[str, float]], list[str]]:
    out = tmp_path_factory.mktemp("runs") / "sigreg"
    return (out, *train_cli(data, out, weight=0.1))


def tiny_model(target: str = "sigreg", **kw) -> tuple[torch.nn.Module, DataSpec]:
    torch.manual_seed(0)
    spec = DataSpec(channels=1, grid=(32,), history=2, n_params=1)
    return build_model(ModelConfig(**{**TINY, "target": target, **kw}), spec), spec


def tiny_batch(spec: DataSpec, m: int = 2):
    from sciwm.data.windows import WindowBatch

    g = torch.Generator().manual_seed(1)
    frames = torch.randn(6, spec.history + m, spec.channels, *spec.grid, generator=g)
    return WindowBatch(frames[:, : spec.history], frames[:, spec.history :], torch.randn(6, 1, generator=g),
                       torch.zeros(6, spec.history + m, 0), torch.zeros(6), torch.zeros(6))


def train_cfg(**kw):
    return RunConfig.from_dict({"train": {"objective": "unrolled", "unroll": 2, **kw}}).train


def test_a_frame_is_one_vector_and_rollouts_give_fields():
    model, spec = tiny_model()
    batch = tiny_batch(spec)
    z = model.encode(batch.history[:, 0])
    assert z.shape == (6, 16)
    assert model.step_latent(torch.stack([z, z], 1), batch.params).shape == (6, 16)
    assert model.decode(z).shape == (6, 1, 32)
    assert model(batch.history, batch.params).shape == (6, 1, 32)
    out = rollout_model(model, batch.history, steps=5, params=batch.params)
    assert out.frames.shape == (6, 5, 1, 32) and torch.isfinite(out.frames).all()


def test_resolution_encodes_the_large_scales_and_decodes_band_limited_fields():
    """resolution = r: the encoder (and the EMA target encoder) sees wavenumbers |k| < r/2 only, per axis of
    a non-square grid (adding higher modes leaves the embedding unchanged, a mode just inside changes it),
    and decoded frames come back on the data grid with nothing at |k| >= r/2."""
    spec = DataSpec(channels=1, grid=(8, 32), history=1)  # resolution 16 -> work grid (8, 16): |ky| < 4, |kx| < 8
    torch.manual_seed(0)
    cfg = ModelConfig(name="jepa", width=8, latent_downsample=2, latent_dim=16, layers=2, predictor_hidden=32,
                      resolution=16, target="ema")
    model = build_model(cfg, spec).eval()
    u = torch.randn(3, 1, 8, 32)
    y, x = torch.meshgrid(torch.arange(8) / 8, torch.arange(32) / 32, indexing="ij")
    high = (torch.cos(2 * torch.pi * 8 * x) + torch.cos(2 * torch.pi * (2 * y + 9 * x))
            + torch.sin(2 * torch.pi * (3 * y + 12 * x)))
    with torch.no_grad():
        z = model.encode(u)
        assert torch.allclose(model.encode(u + high), z, atol=1e-5)
        assert torch.allclose(model.encode_target(u + high), model.encode_target(u), atol=1e-5)
        for ky, kx in ((3, 0), (0, 7), (3, 7)):  # just inside the cut on each axis
            low = torch.cos(2 * torch.pi * (ky * y + kx * x))
            assert (model.encode(u + low) - z).norm() > 1e-2 * z.norm(), (ky, kx)
        frame = model.decode(z)
    assert frame.shape == (3, 1, 8, 32)
    spectrum = torch.fft.fft2(frame[:, 0]).abs()
    ky = torch.fft.fftfreq(8, 1 / 8).abs()[:, None]
    kx = torch.fft.fftfreq(32, 1 / 32).abs()[None, :]
    outside = (ky >= 4) | (kx >= 8)
    assert spectrum[:, outside].max() < 1e-4 * spectrum.max()


def test_decoder_never_shapes_the_encoder_or_predictor():
    """Perturbing the decoder changes its losses but not one bit of the encoder's or predictor's gradient."""
    model, spec = tiny_model()
    batch, tc = tiny_batch(spec), train_cfg()
    assert objective_for(model) is jepa_loss

    def grads(m):
        m.zero_grad()
        loss, logs = jepa_loss(m, batch, tc, step=10, gen=torch.Generator().manual_seed(2))
        loss.backward()
        return logs, {n: p.grad.clone() for n, p in m.named_parameters() if not n.startswith("decoder")}

    logs, before = grads(model)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(1.5)
    logs2, after = grads(model)
    assert logs2["recon"] != logs["recon"] and logs2["field"] != logs["field"]
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert any(before[n].abs().sum() > 0 for n in before if n.startswith("encoder"))


def test_loss_is_prediction_plus_lambda_sigreg_plus_decoder_terms():
    model, spec = tiny_model(sigreg_weight=0.3)
    loss, logs = jepa_loss(model, tiny_batch(spec), train_cfg(), step=10, gen=torch.Generator().manual_seed(3))
    expected = logs["latent"] + 0.3 * logs["sigreg"] + logs["recon"] + logs["field"]
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert logs["unroll"] == 2 and logs["emb_rank"] > 1 and logs["emb_std"] > 0


def test_ema_target_starts_as_a_copy_and_follows_the_encoder():
    model, spec = tiny_model("ema", ema_momentum=0.9)
    online, target = model.encoder.linear.weight, model.target_encoder.linear.weight
    assert torch.equal(online, target) and not target.requires_grad
    loss, logs = jepa_loss(model, tiny_batch(spec), train_cfg(), step=10, gen=torch.Generator().manual_seed(3))
    assert loss.item() == pytest.approx(logs["latent"] + logs["recon"] + logs["field"], rel=1e-6)  # no SIGReg
    loss.backward()
    assert model.target_encoder.linear.weight.grad is None  # stop-gradient
    before = target.detach().clone()
    with torch.no_grad():
        online.add_(1.0)
    model.update_target()
    torch.testing.assert_close(target, before + 0.1 * (online.detach() - before))


def test_training_lowers_the_loss_and_sigreg_and_the_decoder_learns(sigreg_run):
    # measured, mean of the first vs the last 20 of 150 steps (batch 8 x 3 frames): loss 2.4 -> 0.42,
    # SIGReg 6.5 -> 3.6 (9.3 at step 1; the null mean is 1.05 at any N, and 80 windows of 8 trajectories
    # hold too few distinct states to fill 16 dims), reconstruction 0.86 -> 0.025, embedding std 0.6 -> 0.7
    _, rows, caught = sigreg_run
    assert len(rows) == 150 and not caught
    for key, factor in (("loss", 0.5), ("sigreg", 0.8), ("recon", 0.2)):
        early, late = early_late(rows, key)
        assert late < factor * early, (key, early, late)
    assert early_late(rows, "emb_rank")[1] > 3 and early_late(rows, "emb_std")[1] > 0.3


def test_without_sigreg_or_ema_the_latent_collapses_and_a_warning_says_so(data, tmp_path, sigreg_run):
    # The prediction loss alone is minimised by a constant embedding. measured (first vs last 20 steps):
    # std 0.098 -> 0.011, effective rank 4.1 -> 1.9 of 16 (the warning fired at step 35), and the decoder,
    # which only reads the latent, cannot reconstruct (0.99 -> 0.91, against 0.025 with SIGReg).
    rows, caught = train_cli(data, tmp_path / "run", weight=0.0)
    assert len(caught) == 1 and "collapsed" in caught[0] and "sigreg_weight" in caught[0]
    std0, std1 = early_late(rows, "emb_std")
    assert std1 < 0.2 * std0
    assert early_late(rows, "emb_rank")[1] < 2.5
    assert early_late(rows, "recon")[1] > 0.5
    assert early_late(rows, "recon")[1] > 5 * early_late(sigreg_run[1], "recon")[1]


def test_rollout_and_eval_of_a_jepa_run(data, sigreg_run, tmp_path, capsys):
    run = sigreg_run[0]
    assert main(["rollout", str(run), "--data", str(data / "test.h5"), "--steps", "8",
                 "--out", str(tmp_path / "pred.h5")]) == 0
    pred, truth = open_data(tmp_path / "pred.h5"), open_data(data / "test.h5")
    assert pred["u"].shape == (2, 9, 32) and bool((pred["u"][:, :1] == truth["u"][:, :1]).all())
    assert bool(pred["u"].notnull().all())
    assert main(["eval", str(tmp_path / "pred.h5"), str(data / "test.h5")]) == 0
    assert "nRMSE" in capsys.readouterr().out
    # on its own training windows the decoded one-step prediction beats the trivial zero field (error 1)
    loaded = load_run(run)
    windows = Windows(data / "train.h5", history=1, future=1, stats=loaded.stats)
    batch = torch.utils.data.default_collate([windows[i] for i in range(0, len(windows), 4)])
    params = loaded.normalize_params(batch.params.double()).float()
    with torch.no_grad():
        err = torch.mean((loaded.model(batch.history, params) - batch.future[:, 0]) ** 2).item()
    assert err < 0.2, err


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    model, spec = tiny_model("ema")
    torch.save({"model": model.state_dict(), "cfg": dataclasses.asdict(model.cfg),
                "spec": dataclasses.asdict(spec)}, tmp_path / "checkpoint.pt")
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert any(k.startswith("target_encoder.") for k in ckpt["model"])
    again = build_model(ModelConfig.from_dict(ckpt["cfg"]), DataSpec(**ckpt["spec"]))
    again.load_state_dict(ckpt["model"])
    batch = tiny_batch(spec)
    with torch.no_grad():
        assert torch.equal(again(batch.history, batch.params), model(batch.history, batch.params))
        assert torch.equal(again.encode_target(batch.history[:, 0]), model.encode_target(batch.history[:, 0]))


def test_config_keys_are_checked():
    with pytest.raises(SciwmError, match="target"):
        ModelConfig(name="jepa", target="byol")
    with pytest.raises(SciwmError, match="ema_momentum"):
        ModelConfig(name="jepa", ema_momentum=1.5)
    with pytest.raises(SciwmError, match="latent_downsample"):
        build_model(ModelConfig(name="jepa", latent_downsample=8), DataSpec(channels=1, grid=(20,), history=1))
