"""`[data] params` (which per-trajectory parameters the model is given) and `[data] time_stride` (saved
frames per model step): windows, actions, training, checkpoints, rollout, eval and surprise."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from data_factories import ATTRS, make_sciwm, values
from tiny import burgers_data
from torch.utils.data import default_collate

from sciwm.checkpoint import load_run
from sciwm.data import Windows
from sciwm.data.format import TrajectoryWriter
from sciwm.data.reading import open as open_data
from sciwm.errors import SciwmError
from sciwm.evaluate import align, evaluate
from sciwm.rollout import rollout_file, rollout_model
from sciwm.runconfig import RunConfig, apply_override
from sciwm.surprise import RunPredictor, file_scores, surprise_file
from sciwm.train import train


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Burgers set: 32 points, 12 frames 0.05 apart, nu per trajectory."""
    out = tmp_path_factory.mktemp("tiny")
    burgers_data(out)
    return out


@pytest.fixture
def forced(tmp_path):
    """5 trajectories x 9 frames, 2D fields u, v, nu, and 2 actions per frame."""
    path = tmp_path / "forced.h5"
    return path, make_sciwm(path, n=5, nt=9, nx=8, ny=4, fields=("u", "v"), action=True)


def config(data: Path, data_keys: dict | None = None, **train: object) -> RunConfig:
    return RunConfig.from_dict({
        "data": {"train": str(data / "train.h5"), "val": str(data / "val.h5"), **(data_keys or {})},
        "model": {"name": "fno", "width": 8, "modes": 6, "layers": 2},
        "train": {"steps": 3, "batch_size": 8, "warmup": 1, "log_every": 1, "val_every": 3, "val_rollout": 4,
                  **train},
    })


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------- windows


def test_strided_windows_are_the_files_frames_every_s(forced):
    path, d = forced
    w = Windows(path, history=2, future=1, time_stride=3, normalize=False)
    # a window spans (2 + 1 - 1) * 3 + 1 = 7 saved frames: starts 0, 1, 2 of 9
    assert w.starts.tolist() == [0, 1, 2] and len(w) == 15 and w.n_steps == 3
    raw = np.stack([d["u"], d["v"]], axis=2)  # (sample, time, C, y, x)
    for i in range(len(w)):
        s, t0 = divmod(i, 3)
        item = w[i]
        assert (int(item.sample), int(item.start)) == (s, t0)
        frames = raw[s, t0:][::3][:3]  # t0, t0 + 3, t0 + 6
        np.testing.assert_array_equal(item.history.numpy(), frames[:2])
        np.testing.assert_array_equal(item.future.numpy(), frames[2:])


def test_strided_action_is_the_concatenation_of_the_intervals_per_frame_actions(forced):
    path, d = forced
    w = Windows(path, history=2, future=1, time_stride=3, normalize=False)
    assert w.action_size == 6  # s * A = 3 * 2
    a = d["action"][4]  # (9, 2)
    item = w[4 * 3 + 2]  # sample 4, window at frames 2, 5, 8
    assert item.action.shape == (3, 6)
    np.testing.assert_array_equal(item.action[0].numpy(), np.concatenate([a[2], a[3], a[4]]))
    np.testing.assert_array_equal(item.action[1].numpy(), np.concatenate([a[5], a[6], a[7]]))
    # the last frame's interval runs past the file's end (never used to predict): zeros there
    np.testing.assert_array_equal(item.action[2].numpy(), np.concatenate([a[8], [0, 0, 0, 0]]))


@pytest.mark.parametrize("normalize", [False, True])
def test_strided_batches_equal_items_bit_for_bit(forced, normalize):
    path, _ = forced
    w = Windows(path, history=2, future=1, time_stride=2, normalize=normalize)  # spans 5 frames: starts 0..4
    for idx in ([0, 1, 2, 3, 4, 5], [7, 2, 7, 3, 2], np.random.default_rng(0).permutation(len(w))[:9].tolist()):
        expected = default_collate([w[i] for i in idx])
        got = Windows.collate(w.__getitems__(idx))
        for name, x, y in zip(expected._fields, expected, got, strict=True):
            assert x.shape == y.shape and torch.equal(x, y), name


def test_params_are_selected_or_refused(forced):
    path, d = forced
    assert Windows(path, normalize=False).params == ["nu"]  # default: every parameter of the file
    w = Windows(path, params=[], normalize=False)
    assert w.params == [] and w.param_values.shape == (5, 0) and w[0].params.shape == (0,)
    np.testing.assert_allclose(Windows(path, params=["nu"], normalize=False)[8].params.numpy(), [d["nu"][1]],
                               rtol=1e-7)
    with pytest.raises(SciwmError) as err:
        Windows(path, params=["nu", "mu"], normalize=False)
    assert "no parameter(s) ['mu']" in one_line(err) and "the file has ['nu']" in str(err.value)


def test_a_stride_that_leaves_no_window_is_refused(forced):
    path, _ = forced
    assert len(Windows(path, history=2, future=2, time_stride=2, normalize=False).starts) == 3  # 7 of 9 frames
    with pytest.raises(SciwmError) as err:
        Windows(path, history=2, future=2, time_stride=3, normalize=False)  # 3 * (4 - 1) = 9 >= 9 frames
    assert "window of 4 frames 3 apart (10 saved frames) exceeds trajectories of 9" in one_line(err)
    with pytest.raises(SciwmError):
        Windows(path, time_stride=0, normalize=False)


# ---------------------------------------------------------------- config


def test_config_keys_and_list_overrides():
    raw: dict = {}
    for item in ("data.params=[]", "data.time_stride=3"):
        apply_override(raw, item)
    cfg = RunConfig.from_dict(raw)
    assert cfg.data.params == () and cfg.data.time_stride == 3
    for text, want in (("[nu]", ("nu",)), ('["nu", "mu"]', ("nu", "mu")), ("[nu, mu]", ("nu", "mu"))):
        raw = {}
        apply_override(raw, f"data.params={text}")
        assert RunConfig.from_dict(raw).data.params == want
    assert RunConfig.from_dict({}).data.params is None  # all of the file's
    assert "params" not in RunConfig.from_dict({}).to_toml()  # None is the default, written by leaving it out
    assert "params = []" in cfg.to_toml() and "time_stride = 3" in cfg.to_toml()
    for bad in ({"time_stride": 0}, {"time_stride": 1.5}, {"params": "nu"}, {"params": [1]}):
        with pytest.raises(SciwmError) as err:
            RunConfig.from_dict({"data": bad})
        one_line(err)


# ---------------------------------------------------------------- train, checkpoint, rollout


def test_a_run_without_params_round_trips_and_rolls_out_a_file_with_nu(data, tmp_path):
    train(config(data, {"params": []}), tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    assert run.spec.n_params == 0 and run.param_names == [] and run.config.data.params == ()
    assert RunConfig.load(tmp_path / "run" / "config.toml").data.params == ()
    summary = rollout_file(tmp_path / "run", data / "test.h5", steps=5, out=tmp_path / "pred.h5")
    assert summary["samples"] == 2
    pred, true = open_data(tmp_path / "pred.h5"), open_data(data / "test.h5")
    assert "nu" in true and "nu" not in pred
    hist = torch.from_numpy(true["u"].values[:, :1, None].astype(np.float32))
    by_hand = run.stats.denormalize(rollout_model(run.model, run.stats.normalize(hist), 5).frames)
    np.testing.assert_array_equal(pred["u"].values[:, 1:], by_hand[:, :, 0].numpy())


def test_an_unknown_param_is_refused_by_train(data, tmp_path):
    with pytest.raises(SciwmError) as err:
        train(config(data, {"params": ["mu"]}), tmp_path / "run", progress=False)
    assert "no parameter(s) ['mu'] (data.params); the file has ['nu']" in one_line(err)


@pytest.fixture(scope="module")
def strided_run(data, tmp_path_factory) -> Path:
    """A tiny FNO with history 2, one step = 2 saved frames (0.1 time units)."""
    out = tmp_path_factory.mktemp("strided") / "run"
    train(config(data, {"history": 2, "time_stride": 2}), out, progress=False)
    return out


def test_strided_run_knows_its_stride_and_rolls_out_s_frames_at_a_time(data, strided_run, tmp_path):
    run = load_run(strided_run)
    assert run.time_stride == 2 and run.config.data.time_stride == 2 and run.param_names == ["nu"]
    with open(strided_run / "metrics.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert 1 <= float(last["val_corr_time"]) <= 4  # validation rolled out 4 strided steps (frames 2 .. 10)
    rollout_file(strided_run, data / "test.h5", steps=4, out=tmp_path / "pred.h5")
    pred, true = open_data(tmp_path / "pred.h5"), open_data(data / "test.h5")
    np.testing.assert_allclose(np.diff(pred["time"].values), 0.1, rtol=1e-12)  # 2 x dt_save 0.05
    assert pred.attrs["time_stride"] == 2 and float(pred.attrs["dt_save"]) == pytest.approx(0.1)
    assert pred["u"].shape == (2, 6, 32)  # 2 given frames (truth frames 0, 2) + 4 steps
    np.testing.assert_array_equal(pred["u"].values[:, :2], true["u"].values[:, [0, 2]])
    hist = torch.from_numpy(true["u"].values[:, [0, 2], None].astype(np.float32))
    params = run.normalize_params(torch.from_numpy(true["nu"].values[:, None])).float()
    by_hand = run.stats.denormalize(rollout_model(run.model, run.stats.normalize(hist), 4, params).frames)
    np.testing.assert_array_equal(pred["u"].values[:, 2:], by_hand[:, :, 0].numpy())


def test_eval_scores_a_strided_rollout_against_every_second_truth_frame(data, strided_run, tmp_path):
    rollout_file(strided_run, data / "test.h5", steps=4, out=tmp_path / "pred.h5")
    pair = align(tmp_path / "pred.h5", data / "test.h5")
    assert pair.pred_frames.tolist() == [1, 2, 3, 4, 5] and pair.true_frames.tolist() == [2, 4, 6, 8, 10]
    r = evaluate(tmp_path / "pred.h5", data / "test.h5")
    p, t = open_data(tmp_path / "pred.h5")["u"].values, open_data(data / "test.h5")["u"].values
    err = np.linalg.norm(p[:, 2:] - t[:, 4:11:2], axis=-1) / np.linalg.norm(t[:, 4:11:2], axis=-1)
    assert r["times"] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert r["curves"]["nrmse"]["mean"][1:] == pytest.approx(err.mean(0), rel=1e-5)


def test_eval_of_a_strided_prediction_by_hand(tmp_path):
    """Truth: 9 frames 0.5 apart. Prediction: 5 frames 1.0 apart, frame j = truth frame 2j times (1 + j/10):
    nRMSE j/10 exactly at lead j, which only the frames 0, 2, .., 8 of the truth give."""
    u = values((3, 9, 16))
    truth = _write(tmp_path / "truth.h5", u, np.arange(9) * 0.5)
    scale = (1 + np.arange(5) / 10)[None, :, None]
    pred = _write(tmp_path / "pred.h5", u[:, ::2] * scale, np.arange(5) * 1.0)
    r = evaluate(pred, truth)
    assert r["times"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert r["curves"]["nrmse"]["mean"] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4], rel=1e-6, abs=1e-7)


def _write(path: Path, u: np.ndarray, time: np.ndarray) -> Path:
    w = TrajectoryWriter.create(path, fields=["u"], time=time, x=np.arange(u.shape[-1]) / u.shape[-1],
                                attrs=ATTRS, n_expected=len(u))
    w.append({"u": u.astype(np.float32)})
    w.finish()
    return path


# ---------------------------------------------------------------- actions end to end, surprise


def test_a_strided_run_with_actions(tmp_path):
    """Forced data, 2 actions per frame, stride 2: the model takes 4 action values per step, validation
    and rollout feed the file's actions, and surprise scores every second frame."""
    for split in ("train", "val"):
        make_sciwm(tmp_path / f"{split}.h5", n=4, nt=9, nx=16, action=True)
    train(config(tmp_path, {"time_stride": 2}, val_rollout=3), tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    assert run.spec.n_action == 4
    rollout_file(tmp_path / "run", tmp_path / "val.h5", steps=4, out=tmp_path / "pred.h5")
    ds = open_data(tmp_path / "val.h5")
    u, a, nu = ds["u"].values, ds["action"].values, ds["nu"].values
    p = run.normalize_params(torch.from_numpy(nu[:, None])).float()
    hist = run.stats.normalize(torch.from_numpy(u[:, :1, None]))
    acts = torch.from_numpy(a[:, :8].reshape(4, 4, 4))  # step j: actions of frames 2j, 2j + 1
    by_hand = run.stats.denormalize(rollout_model(run.model, hist, 4, p, acts).frames)
    np.testing.assert_array_equal(open_data(tmp_path / "pred.h5")["u"].values[:, 1:], by_hand[:, :, 0].numpy())
    with pytest.raises(SciwmError) as err:  # 5 steps need the actions of frames 0 .. 9; the file ends at 8
        rollout_file(tmp_path / "run", tmp_path / "val.h5", steps=5, out=tmp_path / "pred5.h5")
    assert "lower --steps" in one_line(err)

    scores, _ = file_scores(RunPredictor(run), tmp_path / "val.h5", run)
    assert scores.shape == (4, 4)  # frames 0, 2, 4, 6, 8: four steps scored
    norm2 = run.stats.normalize(torch.from_numpy(u[:, 2:3, None]))
    norm4 = run.stats.normalize(torch.from_numpy(u[:, 4:5, None]))
    with torch.no_grad():  # score 1: frame 4 predicted from frame 2 under the actions of frames 2, 3
        by_hand = (run.model(norm2, p, acts[:, 1]) - norm4[:, 0]).double().square().flatten(1).mean(1)
    np.testing.assert_allclose(scores[:, 1].numpy(), by_hand.numpy(), rtol=1e-5)
    flagged = surprise_file(tmp_path / "run", tmp_path / "val.h5", threshold=0.0)["trajectories"][0]["flagged"]
    assert flagged == [2, 4, 6, 8]  # reported as the file's frames


def test_a_run_with_actions_withheld_sees_a_forced_file_as_unforced(tmp_path):
    """`data.actions = false`: windows carry no actions, the model takes none (its spec says 0), and
    rollout and surprise of the forced file run without them, exactly as on the same frames unforced."""
    for split in ("train", "val"):
        make_sciwm(tmp_path / f"{split}.h5", n=4, nt=9, nx=16, action=True)
    w = Windows(tmp_path / "train.h5", history=1, future=2, actions=False)
    assert w.action_size == 0 and w[0].action.shape == (3, 0) and w.forcing == ""
    train(config(tmp_path, {"actions": False}, val_rollout=3), tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    assert run.spec.n_action == 0 and run.spec.forcing == "" and run.config.data.actions is False
    rollout_file(tmp_path / "run", tmp_path / "val.h5", steps=4, out=tmp_path / "pred.h5")
    ds = open_data(tmp_path / "val.h5")
    p = run.normalize_params(torch.from_numpy(ds["nu"].values[:, None])).float()
    hist = run.stats.normalize(torch.from_numpy(ds["u"].values[:, :1, None]))
    by_hand = run.stats.denormalize(rollout_model(run.model, hist, 4, p).frames)
    np.testing.assert_array_equal(open_data(tmp_path / "pred.h5")["u"].values[:, 1:], by_hand[:, :, 0].numpy())
    scores, _ = file_scores(RunPredictor(run), tmp_path / "val.h5", run)
    assert scores.shape == (4, 8) and torch.isfinite(scores).all()
