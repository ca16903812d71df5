"""`generate`: trajectory i is a pure function of (card, split, i), whatever the batch or an interruption,
and the files say what they hold (dims, coords, attributes, parameters) so that a reader can recompute them."""

import json

import h5py
import numpy as np
import pytest
import torch
import xarray as xr

import sciwm.data
import sciwm.data.generate as gen
from sciwm.cli import main
from sciwm.data.card import Card
from sciwm.data.generate import generate, split_counts
from sciwm.errors import SciwmError
from sciwm.ics import initial_condition
from sciwm.pdes import family, make_solver

KS = """
name = "tiny-ks"
pde = "ks"
[domain]
length = 22.0
n = 32
[ic]
kind = "fourier"
modes = 3
[time]
dt = 0.05
save_every = 0.25
burn_in = 1.0
frames = 5
[splits]
train = 5
val = 2
test = 1
seed = 3
"""

BURGERS = """
name = "tiny-burgers"
pde = "burgers"
[domain]
length = 6.283185307179586
n = 32
[params]
nu = { min = 0.02, max = 0.2, log = true }
[ic]
kind = "fourier"
modes = 3
[time]
dt = 0.01
save_every = 0.05
frames = 5
[splits]
train = 5
val = 2
test = 1
seed = 11
"""

NS = """
name = "tiny-ns"
pde = "ns2d"
[domain]
length = [6.283185307179586, 6.283185307179586]
n = [16, 16]
[params]
nu = 0.01
[ic]
kind = "grf"
alpha = 2.5
tau = 3.0
[time]
dt = 0.02
save_every = 0.1
burn_in = 0.2
frames = 5
precision = "float32"
[splits]
train = 5
val = 2
test = 1
seed = 5
"""

CARDS = {"ks": KS, "burgers": BURGERS, "ns": NS}


def read(path) -> dict[str, np.ndarray]:
    """Every variable of a trajectory file, with plain h5py."""
    with h5py.File(path, "r") as f:
        return {k: v[()] for k, v in f.items() if isinstance(v, h5py.Dataset) and k in ("u", "vorticity", "nu", "seed")}


def assert_same_files(a, b, splits=("train", "val", "test")):
    for split in splits:
        x, y = read(a / f"{split}.h5"), read(b / f"{split}.h5")
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"{split} {k}")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """An uninterrupted run of each card, all trajectories of a split in one batch."""
    runs = {}
    for key, text in CARDS.items():
        out = tmp_path_factory.mktemp(f"clean-{key}")
        generate(Card.from_text(text), out, batch=64, progress=False)
        runs[key] = out
    return runs


@pytest.mark.parametrize("key", sorted(CARDS))
@pytest.mark.parametrize("batch", [1, 3])
def test_trajectories_do_not_depend_on_the_batch_size(key, batch, clean, tmp_path):
    generate(Card.from_text(CARDS[key]), tmp_path, batch=batch, progress=False)
    assert_same_files(tmp_path, clean[key])
    u = read(tmp_path / "train.h5")
    field = "vorticity" if key == "ns" else "u"
    assert len({u[field][i].tobytes() for i in range(5)}) == 5  # five distinct trajectories, not one repeated
    if key == "burgers":
        assert len(set(u["nu"])) == 5


def test_file_opens_as_netcdf_with_the_documented_layout(clean):
    card = Card.from_text(BURGERS)
    ds = xr.open_dataset(clean["burgers"] / "train.h5", engine="h5netcdf")
    assert ds["u"].dims == ("sample", "time", "x") and ds["u"].shape == (5, 5, 32)
    np.testing.assert_array_equal(ds["time"].values, np.arange(5) * 0.05)
    np.testing.assert_allclose(ds["x"].values, np.arange(32) * 2 * np.pi / 32, rtol=0, atol=1e-15)
    a = ds.attrs
    for key in ("pde", "equation", "params", "domain_length", "boundary", "solver", "dt_solver", "dt_save", "seed",
                "card", "sciwm_version", "format_version"):
        assert key in a, key
    assert (a["pde"], a["boundary"], a["card"], int(a["seed"])) == ("burgers", "periodic", BURGERS, 11)
    assert a["equation"] == family("burgers").equation
    assert (float(a["dt_solver"]), float(a["dt_save"])) == (0.01, 0.05)
    assert np.allclose(a["domain_length"], 2 * np.pi)
    assert json.loads(a["params"]) == {}  # nu is sampled: stored per trajectory, not as a fixed parameter
    assert int(a["complete"]) == 1 and int(a["n_written"]) == int(a["n_expected"]) == 5
    assert ds["nu"].dims == ("sample",)
    nu = ds["nu"].values
    assert ((0.02 <= nu) & (nu <= 0.2)).all()
    seeds = ds["seed"].values
    assert seeds.tolist() == [card.trajectory_seed("train", i) for i in range(5)]
    assert nu.tolist() == [card.draw_params(int(s))["nu"] for s in seeds]
    # independent recomputation from what the file stores: its seeds, its nu, its attributes
    solver = make_solver("burgers", card.grid, float(a["dt_solver"]), {"nu": torch.tensor(nu)}, dtype=torch.float64)
    u0 = initial_condition("fourier", card.grid, seeds.tolist(), modes=3)
    traj = solver.rollout(u0, 5, round(float(a["dt_save"]) / float(a["dt_solver"])))
    np.testing.assert_array_equal(ds["u"].values, traj[:, :, 0].numpy().astype(np.float32))
    ds.close()


def test_2d_file_layout_and_recomputation(clean):
    card = Card.from_text(NS)
    ds = xr.open_dataset(clean["ns"] / "val.h5", engine="h5netcdf")
    assert ds["vorticity"].dims == ("sample", "time", "y", "x") and ds["vorticity"].shape == (2, 5, 16, 16)
    np.testing.assert_allclose(ds["time"].values, np.arange(5) * 0.1, rtol=0, atol=1e-15)  # first frame after burn-in
    for c in ("x", "y"):
        np.testing.assert_allclose(ds[c].values, np.arange(16) * 2 * np.pi / 16, rtol=0, atol=1e-15)
    assert json.loads(ds.attrs["params"]) == {"nu": 0.01} and ds.attrs["pde"] == "ns2d"
    seeds = ds["seed"].values
    assert seeds.tolist() == [card.trajectory_seed("val", i) for i in range(2)]
    solver = make_solver("ns2d", card.grid, 0.02, {"nu": 0.01}, dtype=torch.float32)
    u0 = initial_condition("grf", card.grid, seeds.tolist(), alpha=2.5, tau=3.0)
    traj = solver.rollout(solver.advance(u0, 10), 5, 5)
    np.testing.assert_array_equal(ds["vorticity"].values, traj[:, :, 0].numpy())
    assert np.abs(ds["vorticity"].values).max() > 0.1  # a real flow, not zeros
    ds.close()


def test_interrupted_run_resumes_bit_identically(clean, tmp_path, monkeypatch, capsys):
    card_path = tmp_path / "ks.toml"
    card_path.write_text(KS)
    out = tmp_path / "out"
    real = gen.solve_batch
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 2:
            raise KeyboardInterrupt  # as Ctrl-C (or SIGTERM, mapped to it) during the second solve
        return real(*args, **kwargs)

    monkeypatch.setattr(gen, "solve_batch", interrupted)
    argv = ["generate", str(card_path), "--out", str(out), "--batch", "2", "--quiet"]
    assert main(argv) == 130
    assert "--resume" in capsys.readouterr().err
    assert not (out / "train.h5").exists() and not (out / "val.h5").exists()
    with h5py.File(out / "train.h5.partial", "r") as f:
        assert int(f.attrs["n_written"][0]) == 2 and int(f.attrs["complete"][0]) == 0 and f["u"].shape[0] == 2
    with pytest.raises(SciwmError, match="incomplete"):
        sciwm.data.open(out / "train.h5.partial")
    np.testing.assert_array_equal(sciwm.data.open(out / "train.h5.partial", allow_incomplete=True)["u"].values,
                                  read(clean["ks"] / "train.h5")["u"][:2])

    # the refusals: a partial file without --resume; another card with --resume
    assert main(argv) == 2
    assert "pass --resume" in capsys.readouterr().err
    other = tmp_path / "other.toml"
    other.write_text(KS.replace("seed = 3", "seed = 4"))
    assert main(["generate", str(other), "--out", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "another card" in err and len(err.strip().splitlines()) == 1

    monkeypatch.setattr(gen, "solve_batch", real)
    assert main([*argv, "--resume"]) == 0
    assert_same_files(out, clean["ks"])
    assert not list(out.glob("*.partial"))

    # a complete directory: nothing to do with --resume, refused without it
    assert main([*argv, "--resume"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(argv) == 2
    assert "exists; pass --resume" in capsys.readouterr().err
    assert main(["generate", str(other), "--out", str(out), "--resume", "--quiet"]) == 2  # complete, other card
    assert "train.h5: made from another card" in capsys.readouterr().err
    assert main([*argv, "--resume", "--samples", "6"]) == 2  # complete, other sample count


def test_resume_keeps_finished_splits_and_continues_the_interrupted_one(clean, tmp_path, monkeypatch):
    card = Card.from_text(BURGERS)
    real = gen.solve_batch

    def stop_in_val(card_, split, indices, device="cpu"):
        if split == "val" and indices.start == 1:
            raise KeyboardInterrupt
        return real(card_, split, indices, device)

    monkeypatch.setattr(gen, "solve_batch", stop_in_val)
    with pytest.raises(KeyboardInterrupt):
        generate(card, tmp_path, batch=1, progress=False)
    assert (tmp_path / "train.h5").exists() and (tmp_path / "val.h5.partial").exists()
    assert not (tmp_path / "val.h5").exists() and not (tmp_path / "test.h5.partial").exists()
    monkeypatch.setattr(gen, "solve_batch", real)
    stats = generate(card, tmp_path, batch=1, resume=True, progress=False)
    assert stats.trajectories == 2  # the last val trajectory and the test one; train is kept
    assert_same_files(tmp_path, clean["burgers"])


def test_samples_scales_val_and_test_alike(clean, tmp_path):
    card = Card.from_text(KS)
    assert split_counts(card, None) == {"train": 5, "val": 2, "test": 1}
    assert split_counts(card, 10) == {"train": 10, "val": 4, "test": 2}
    assert split_counts(card, 2) == {"train": 2, "val": 1, "test": 1}  # rounded up: no split vanishes
    with pytest.raises(SciwmError, match="--samples 0"):
        split_counts(card, 0)
    generate(card, tmp_path, samples=7, progress=False)
    counts = {s: read(tmp_path / f"{s}.h5")["u"].shape[0] for s in ("train", "val", "test")}
    assert counts == {"train": 7, "val": 3, "test": 2}
    # more samples extend the dataset: the first trajectories are those of the card's own run
    for split, n in {"train": 5, "val": 2, "test": 1}.items():
        np.testing.assert_array_equal(read(tmp_path / f"{split}.h5")["u"][:n], read(clean["ks"] / f"{split}.h5")["u"])


@pytest.mark.parametrize("card_text", [
    KS.replace("dt = 0.05", "dt = 25.0").replace("save_every = 0.25", "save_every = 25.0").replace(
        "burn_in = 1.0", "burn_in = 0.0"),
    BURGERS.replace("dt = 0.01", "dt = 5.0").replace("save_every = 0.05", "save_every = 5.0").replace(
        "min = 0.02, max = 0.2, log = true", "min = 0.0, max = 0.0").replace(
        "modes = 3", "modes = 3\namplitude = 50.0"),
], ids=["ks", "burgers"])
def test_unstable_card_fails_cleanly_without_a_complete_file(card_text, tmp_path, capsys):
    path = tmp_path / "unstable.toml"
    path.write_text(card_text)
    out = tmp_path / "out"
    assert main(["generate", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "non-finite" in lines[0] and "reduce dt" in lines[0], err
    assert "Traceback" not in err
    assert not list(out.glob("*.h5"))


def test_batch_and_device_are_checked(tmp_path):
    card = Card.from_text(KS)
    with pytest.raises(SciwmError, match="--batch 0"):
        generate(card, tmp_path, batch=0, progress=False)
    path = tmp_path / "ks.toml"
    path.write_text(KS)
    assert main(["generate", str(path), "--out", str(tmp_path), "--device", "tpu9"]) == 2
    assert main(["generate", str(path), "--out", str(tmp_path), "--batch", "-1"]) == 2
    assert not list(tmp_path.glob("*.h5*"))



def test_an_interrupted_command_without_resume_does_not_offer_it(monkeypatch, capsys):
    import sciwm.eval_cli

    def interrupted(args):  # noqa: ANN001
        raise KeyboardInterrupt

    monkeypatch.setattr(sciwm.eval_cli, "_eval", interrupted)
    assert main(["eval", "pred.h5", "truth.h5"]) == 130
    err = capsys.readouterr().err
    assert "sciwm eval: interrupted" in err and "--resume" not in err


def test_values_that_overflow_the_files_float32_are_refused(tmp_path):
    """The solver runs in float64, files store float32: an amplitude finite in the one and not in the other
    must not end in a file marked complete that is full of inf."""
    card = Card.from_text("""
name = "huge"
pde = "diffusion"
[domain]
length = 1.0
n = 16
[params]
nu = 0.01
[ic]
kind = "fourier"
modes = 2
amplitude = 1e39
[time]
dt = 0.01
save_every = 0.01
frames = 3
[splits]
train = 2
""")
    with pytest.raises(SciwmError, match="u of train trajectory 0, frame 0, overflows the float32 the file stores"):
        generate(card, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "train.h5").exists()
