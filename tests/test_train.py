"""Training, resume, DDP, checkpoints and rollout, on a tiny Burgers dataset with a sampled viscosity."""

from __future__ import annotations

import csv
import datetime
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import burgers_data

from sciwm.checkpoint import load_run
from sciwm.data.reading import open as open_data
from sciwm.errors import SciwmError
from sciwm.rollout import rollout_file, rollout_model
from sciwm.runconfig import RunConfig
from sciwm.train import clip_gradients, learning_rate, train


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    burgers_data(out)
    return out


def config(data: Path, model: dict | None = None, **train: object) -> RunConfig:
    raw = {
        "data": {"train": str(data / "train.h5"), "val": str(data / "val.h5")},
        "model": model or {"name": "fno", "width": 8, "modes": 6, "layers": 2},
        "train": {"steps": 20, "batch_size": 8, "warmup": 2, "log_every": 1, "val_every": 10, "val_rollout": 5,
                  **train},
    }
    return RunConfig.from_dict(raw)


def losses(run: Path) -> list[float]:
    with open(run / "metrics.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_learning_rate_warms_up_then_decays_to_zero():
    tc = config(Path("."), lr=1e-3, warmup=10, steps=110).train
    assert learning_rate(tc, 0) == pytest.approx(1e-4)
    assert learning_rate(tc, 9) == pytest.approx(1e-3)
    assert learning_rate(tc, 60) == pytest.approx(0.5e-3)  # half-way through the cosine
    assert learning_rate(tc, 110) == pytest.approx(0.0, abs=1e-12)


def test_a_time_budget_anneals_the_learning_rate_by_wall_time():
    tc = config(Path("."), lr=1e-3, warmup=10, steps=10**6, max_minutes=2.0).train
    assert learning_rate(tc, 5, elapsed_s=90.0) == pytest.approx(0.6e-3)  # warm-up is counted in steps
    assert learning_rate(tc, 50, elapsed_s=60.0) == pytest.approx(0.5e-3)  # half the budget: half the lr
    assert learning_rate(tc, 50, elapsed_s=120.0) == pytest.approx(0.0, abs=1e-12)
    short = config(Path("."), lr=1e-3, warmup=10, steps=110, max_minutes=60.0).train
    assert learning_rate(short, 60, elapsed_s=1.0) == pytest.approx(0.5e-3)  # the step count ends first


def test_a_budgeted_run_stops_at_its_budget_with_the_lr_annealed(data, tmp_path):
    cfg = config(data, steps=10**6, max_minutes=0.05, val_every=10**6)  # 3 s
    train(cfg, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    lrs = [float(r["lr"]) for r in rows]
    assert 2.5 <= float(rows[-1]["time_s"]) < 4.0
    assert lrs[-1] < 0.1 * max(lrs)  # the cosine reached ~0 at the end of the budget
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["elapsed_s"] >= 3.0


def test_tiny_model_overfits_a_tiny_set(data, tmp_path):
    # 88 windows, 300 steps of a 1.4k-parameter FNO. The residual model starts at the "nothing changes"
    # error (3.4e-3, normalised units); it must learn the dynamics: measured 9.4e-5 (36x lower).
    cfg = config(data, steps=300, lr=3e-3, warmup=10, val_every=1000)
    train(cfg, tmp_path / "run", progress=False)
    curve = losses(tmp_path / "run")
    assert curve[-1] < 0.1 * curve[0], (curve[0], curve[-1])
    assert curve[-1] < 3e-4


@pytest.fixture
def sigint_raises():
    """SIGINT as in a foreground process (a job started with `&` by a script ignores it, and so would train)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("where", ["step", "validation"])
def test_resume_after_a_signal_reproduces_an_uninterrupted_run_exactly(data, tmp_path, monkeypatch, where,
                                                                       sigint_raises):
    """SIGINT lands in the middle of step 13 (after its input noise was drawn) or of step 10's validation:
    the run finishes that step, logs it, checkpoints and stops; --resume then gives the uninterrupted run's
    every row, bit for bit, and its weights."""
    cfg = config(data, objective="unrolled", unroll=2, curriculum=6, noise=0.01, batch_size=4)
    train(cfg, tmp_path / "straight", progress=False)

    import sciwm.train as trainer

    real_objective, real_validate = trainer.objective_for, trainer.validate
    calls = {"step": 0}

    def interrupting(model):
        objective = real_objective(model)

        def wrapped(*args):
            calls["step"] += 1
            out = objective(*args)
            if where == "step" and calls["step"] == 13:
                os.kill(os.getpid(), signal.SIGINT)
            return out

        return wrapped

    def validating(*args):
        out = real_validate(*args)
        if where == "validation" and calls["step"] == 10:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(trainer, "objective_for", interrupting)
    monkeypatch.setattr(trainer, "validate", validating)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "resumed", progress=False)
    monkeypatch.setattr(trainer, "objective_for", real_objective)
    monkeypatch.setattr(trainer, "validate", real_validate)
    stopped = 13 if where == "step" else 10
    assert load_run(tmp_path / "resumed").step == stopped
    assert len(losses(tmp_path / "resumed")) == stopped  # the step in flight was logged
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back
    train(cfg, tmp_path / "resumed", resume=True, progress=False)
    with open(tmp_path / "straight" / "metrics.csv") as f, open(tmp_path / "resumed" / "metrics.csv") as g:
        straight, resumed = list(csv.DictReader(f)), list(csv.DictReader(g))
    drop = ("time_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed] == \
        [{k: v for k, v in r.items() if k not in drop} for r in straight]  # every row, validation included
    a = load_run(tmp_path / "straight").model.state_dict()
    b = load_run(tmp_path / "resumed").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_existing_run_is_not_overwritten(data, tmp_path):
    cfg = config(data, steps=2)
    train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(SciwmError, match="--resume"):
        train(cfg, tmp_path / "run", progress=False)


def test_unsafe_checkpoint_is_refused(tmp_path):
    # any non-tensor, non-primitive object needs unpickling, i.e. could run code: refused
    torch.save({"format": "sciwm-checkpoint", "payload": datetime.date(2020, 1, 1)}, tmp_path / "checkpoint.pt")
    with pytest.raises(SciwmError, match="refused"):
        load_run(tmp_path)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "checkpoint.pt")
    with pytest.raises(SciwmError, match="not a sciwm checkpoint"):
        load_run(tmp_path)


LATENT = {"name": "latent_fno", "width": 8, "modes": 4, "layers": 2, "latent_channels": 4, "latent_downsample": 4,
          "encoder_width": 4}


@pytest.mark.parametrize("model, unroll, pushforward", [(None, 1, False), (LATENT, 2, False), (LATENT, 2, True)])
def test_ddp_with_two_processes_matches_single_process(data, tmp_path, model, unroll, pushforward):
    cfg_path = tmp_path / "cfg.toml"
    # a 30-minute budget that never binds: under DDP, rank 0's clock sets every rank's lr and stop
    # (a time fraction of ~1e-3 moves the lr by < 1e-5); the latent model unrolls 2 steps in latent space
    cfg = config(data, model, steps=6, batch_size=8, val_every=1000, max_minutes=30.0,
                 objective="unrolled" if unroll > 1 else "onestep", unroll=unroll, curriculum=0,
                 pushforward=pushforward)
    cfg_path.write_text(cfg.to_toml())
    train(cfg, tmp_path / "single", progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    "-m", "sciwm", "train", str(cfg_path), "--out", str(tmp_path / "ddp"), "--quiet"],
                   check=True, env=env, capture_output=True, timeout=300)
    single, ddp = losses(tmp_path / "single"), losses(tmp_path / "ddp")
    assert len(single) == len(ddp) == 6
    np.testing.assert_allclose(ddp, single, rtol=1e-5)  # the same global batch, averaged gradients


def test_rollout_of_a_zero_residual_model_repeats_the_last_frame(data, tmp_path):
    train(config(data, steps=2), tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    for p in run.model.parameters():  # residual model with a zero network: u_{t+1} = u_t exactly
        p.data.zero_()
    hist = torch.randn(3, 1, 1, 32)
    out = rollout_model(run.model, hist, steps=4, params=torch.zeros(3, 1))
    assert out.frames.shape == (3, 4, 1, 32)
    assert torch.equal(out.frames, hist.expand(3, 4, 1, 32))
    assert out.diverged.tolist() == [0, 0, 0]


def test_rollout_reports_divergence_and_keeps_what_was_computed():
    class Doubling(torch.nn.Module):
        latent = False

        def forward(self, history, params=None, action=None):
            return 10 * history[:, -1]

    hist = torch.ones(2, 1, 1, 8)
    hist[1] *= 1e-3  # diverges three steps later than sample 0
    out = rollout_model(Doubling(), hist, steps=8, limit=1e2)
    assert out.diverged.tolist() == [2, 5]  # 10, 100 (>= limit) / 0.01, 0.1, 1, 10, 100
    assert torch.equal(out.frames[0, 0], torch.full((1, 8), 10.0))
    assert torch.isnan(out.frames[0, 1:]).all() and torch.isfinite(out.frames[1, :3]).all()


def test_rollout_file_is_a_trajectory_file_aligned_with_the_truth(data, tmp_path):
    train(config(data, steps=5), tmp_path / "run", progress=False)
    summary = rollout_file(tmp_path / "run", data / "test.h5", steps=15, out=tmp_path / "pred.h5")
    assert summary["samples"] == 2 and not (tmp_path / "pred.h5.partial").exists()
    pred, true = open_data(tmp_path / "pred.h5"), open_data(data / "test.h5")
    assert pred["u"].shape == (2, 16, 32)  # 1 history frame + 15 predicted: beyond the data's 12 frames
    np.testing.assert_array_equal(pred["u"][:, 0].values, true["u"][:, 0].values)
    np.testing.assert_allclose(pred["time"].values[:12], true["time"].values, rtol=1e-12)
    np.testing.assert_array_equal(pred["nu"].values, true["nu"].values)


def _copy_with(src: Path, dst: Path, attrs: dict | None = None, nan_at: tuple | None = None) -> Path:
    import shutil

    import h5py

    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        if nan_at is not None:
            f["u"][nan_at] = np.nan
    return dst


def test_rollout_refuses_data_unlike_the_training_files_in_one_line(data, tmp_path):
    """Frames spaced otherwise, another domain length, NaN where the rollout starts, a directory as --out,
    no batch: each refused before anything is written; NaN later in a trajectory is the truth's business."""
    train(config(data, steps=2), tmp_path / "run", progress=False)
    test = data / "test.h5"
    dt = float(np.asarray(open_data(test).attrs["dt_save"]).reshape(-1)[0])
    cases = [
        (_copy_with(test, tmp_path / "dt.h5", {"dt_save": dt / 2}), {}, f"frames are {dt / 2:g} apart, the run was "
         f"trained on frames that are {dt:g} apart"),
        (_copy_with(test, tmp_path / "L.h5", {"domain_length": np.array([3.0])}), {}, "domain lengths are 3,"),
        (_copy_with(test, tmp_path / "nan.h5", nan_at=(1, 0, 5)), {}, "sample 1 has NaN or Inf in the frames a "
         "rollout starts from"),
        (test, {"out": tmp_path}, "is a directory"),
        (test, {"batch": 0}, "--batch 0: need at least 1"),
    ]
    for path, kwargs, message in cases:
        out = kwargs.pop("out", tmp_path / "pred.h5")
        with pytest.raises(SciwmError, match=re.escape(message)):
            rollout_file(tmp_path / "run", path, steps=3, out=out, **kwargs)
        assert not list(tmp_path.glob("*.partial")) and not (tmp_path / "pred.h5").exists()
    later = _copy_with(test, tmp_path / "later.h5", nan_at=(1, 4, 5))
    assert rollout_file(tmp_path / "run", later, steps=3, out=tmp_path / "pred.h5")["samples"] == 2


@pytest.mark.parametrize("train_values, message", [
    ({"lr": float("nan")}, "train.lr must be a finite number > 0, got nan"),
    ({"lr": float("inf")}, "train.lr must be a finite number > 0, got inf"),
    ({"weight_decay": -1.0}, "train.weight_decay must be a finite number >= 0, got -1.0"),
    ({"noise": float("nan")}, "train.noise must be a finite number >= 0, got nan"),
    ({"max_minutes": -1.0}, "train.max_minutes must be a finite number >= 0, got -1.0"),
    ({"num_workers": -1}, "train.num_workers must be >= 0, got -1"),
    ({"steps": 3.5}, "[train] steps = 3.5: expected a whole number"),
    ({"batch_size": 2.5}, "[train] batch_size = 2.5: expected a whole number"),
])
def test_bad_training_values_are_refused_in_one_line(train_values, message):
    with pytest.raises(SciwmError, match=re.escape(message)):
        config(Path("."), **train_values)
    with pytest.raises(SciwmError, match=re.escape("config: data = 5; [data] must be a table")):
        RunConfig.from_dict({"data": 5})


def test_a_checkpoint_that_lacks_parts_or_does_not_fit_its_config_is_refused(data, tmp_path):
    torch.save({"format": "sciwm-checkpoint"}, tmp_path / "checkpoint.pt")
    with pytest.raises(SciwmError, match="an incomplete sciwm checkpoint \\(no config, data_spec"):
        load_run(tmp_path)
    train(config(data, steps=2), tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    state["config"]["model"]["width"] = 16
    torch.save(state, tmp_path / "run" / "checkpoint.pt")
    with pytest.raises(SciwmError, match="weights do not fit its own config"):
        load_run(tmp_path / "run")


def test_an_output_path_under_a_file_is_one_line_exit_2(data, tmp_path, capsys):
    from sciwm.cli import main

    cfg = tmp_path / "cfg.toml"
    cfg.write_text(config(data, steps=2).to_toml())
    assert main(["train", str(cfg), "--out", str(cfg / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Not a directory" in err[0] and err[0].startswith("sciwm train: error:")


@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipped, and left alone
def test_clipping_through_real_views_is_torchs_clipping(max_norm):
    """The FNO's spectral weights are complex: the norm is taken over their (re, im) pairs, the same
    number and the same clipped gradients as torch.nn.utils.clip_grad_norm_."""
    from sciwm.models import DataSpec, ModelConfig, build_model

    spec = DataSpec(channels=1, grid=(64,), history=1)
    models = [build_model(ModelConfig(name="fno", width=16, modes=8, layers=2), spec) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    x = torch.randn(8, 1, 1, 64, generator=torch.Generator().manual_seed(0))
    for m in models:
        (100 * m(x).square().mean()).backward()
    assert any(p.grad.is_complex() for p in models[0].parameters())
    expected = torch.nn.utils.clip_grad_norm_(list(models[0].parameters()), max_norm).item()
    assert clip_gradients(list(models[1].parameters()), max_norm) == pytest.approx(expected, rel=1e-6)
    assert expected > 1.0
    for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-6, atol=1e-9)


def test_resume_with_a_changed_config_is_refused_not_ignored(data, tmp_path, capsys):
    from sciwm.cli import main

    cfg = tmp_path / "cfg.toml"
    cfg.write_text(config(data, steps=2).to_toml())
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--resume", "--set", "train.steps=4"]) == 2
    assert "--set train.steps=4 with --resume: a resumed run continues with its own config" in capsys.readouterr().err
    assert load_run(tmp_path / "run").step == 2


def test_an_interrupt_during_start_up_does_not_promise_a_resume(data, tmp_path, monkeypatch, capsys):
    """Ctrl-C before the first step has kept nothing: the hint says to rerun, not to --resume; once a step is
    checkpointed, it says --resume."""
    from sciwm import train as trainer
    from sciwm.cli import main

    cfg_path = tmp_path / "cfg.toml"
    cfg_path.write_text(config(data, steps=2).to_toml())

    def interrupted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(trainer, "start_session", interrupted)
        assert main(["train", str(cfg_path), "--out", str(tmp_path / "run"), "--quiet"]) == 130
    assert "rerun the command" in capsys.readouterr().err
    assert main(["train", str(cfg_path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    with monkeypatch.context() as m:
        m.setattr(trainer, "start_session", interrupted)
        assert main(["train", str(cfg_path), "--out", str(tmp_path / "run"), "--quiet", "--resume"]) == 130
    assert "rerun with --resume" in capsys.readouterr().err
