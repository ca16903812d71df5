"""Dataset cards: every shipped card parses and solves; a bad card is refused with one line naming the problem."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from sciwm.cli import main
from sciwm.data.card import Card, ParamRange
from sciwm.data.generate import solve_batch
from sciwm.errors import SciwmError
from sciwm.pdes import family

DATASETS = sorted((Path(__file__).parents[1] / "datasets").glob("*.toml"))

GOOD = """
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
train = 4
val = 2
test = 1
seed = 11
"""


def test_good_card_is_parsed_as_written():
    card = Card.from_text(GOOD)
    assert (card.name, card.pde, card.grid.n, card.grid.length) == ("tiny-burgers", "burgers", (32,), (2 * math.pi,))
    assert card.params == {"nu": ParamRange(0.02, 0.2, log=True)}
    assert card.sampled_params == ["nu"] and card.fixed_params == {}
    assert (card.ic_kind, card.ic_options) == ("fourier", {"modes": 3})
    assert (card.steps_per_frame, card.burn_in_steps, card.frames) == (5, 0, 5)
    assert card.splits == {"train": 4, "val": 2, "test": 1} and card.seed == 11
    assert card.text == GOOD  # stored verbatim in every file it makes


def test_trajectory_seeds_and_draws_depend_only_on_split_and_index():
    card = Card.from_text(GOOD)
    seeds = {(s, i): card.trajectory_seed(s, i) for s in ("train", "val", "test") for i in range(50)}
    assert len(set(seeds.values())) == len(seeds)  # no two trajectories share a seed
    assert card.trajectory_seed("val", 3) == Card.from_text(GOOD).trajectory_seed("val", 3)
    nus = np.array([card.draw_params(s)["nu"] for s in seeds.values()])
    assert nus.min() >= 0.02 and nus.max() <= 0.2
    # log-uniform: about half the draws lie below the geometric mean sqrt(0.02 * 0.2)
    assert 0.35 < np.mean(nus < math.sqrt(0.02 * 0.2)) < 0.65


BAD = {
    "unknown pde": (GOOD.replace('pde = "burgers"', 'pde = "burger"'), "unknown PDE 'burger'"),
    "unknown parameter": (GOOD.replace("nu = {", "viscosity = {"), "viscosity: not a parameter of burgers"),
    "unknown section": (GOOD + "[solver]\nkind = 'rk4'\n", "unknown key(s) solver"),
    "unknown [time] key": (GOOD.replace("frames = 5", "frames = 5\nsteps = 3"), "[time]: unknown key(s) steps"),
    "unknown [domain] key": (GOOD.replace("n = 32", "n = 32\nbc = 'periodic'"), "[domain]: unknown key(s) bc"),
    "unknown [ic] option": (GOOD.replace("modes = 3", "mode = 3"), "unexpected keyword argument 'mode'"),
    "negative viscosity": (GOOD.replace("nu = { min = 0.02, max = 0.2, log = true }", "nu = -0.1"),
                           "nu must be >= 0"),
    "negative sampled viscosity": (GOOD.replace("min = 0.02, max = 0.2, log = true", "min = -0.1, max = 0.2"),
                                   "nu must be >= 0"),
    "inverted range": (GOOD.replace("min = 0.02, max = 0.2", "min = 0.2, max = 0.02"), "need min <= max"),
    "save_every off the step": (GOOD.replace("save_every = 0.05", "save_every = 0.055"),
                                "save_every=0.055 is not a whole number of steps dt=0.01"),
    "burn_in off the step": (GOOD.replace("frames = 5", "frames = 5\nburn_in = 0.015"),
                             "burn_in=0.015 is not a whole number of steps"),
    "odd grid": (GOOD.replace("n = 32", "n = 33"), "n=33 points; use an even number"),
    "zero dt": (GOOD.replace("dt = 0.01", "dt = 0.0"), "dt must be a positive number"),
    "one frame": (GOOD.replace("frames = 5", "frames = 1"), "frames must be a whole number >= 2, got 1"),
    "no train split": (GOOD.replace("train = 4", "train = 0"), "train >= 1"),
    "2D grid for a 1D pde": (GOOD.replace("n = 32", "n = [32, 32]").replace("length = 6.283185307179586",
                                                                            "length = [1.0, 1.0]"), "is 1D"),
    "missing frames": (GOOD.replace("frames = 5", ""), "missing 'frames'"),
    "too many ic modes": (GOOD.replace("modes = 3", "modes = 11"), "modes=11 must be >= 1 and below n/3"),
    "invalid TOML": (GOOD.replace('name = "tiny-burgers"', "name = tiny-burgers"), "not valid TOML"),
    "NaN burn_in": (GOOD.replace("frames = 5", "frames = 5\nburn_in = nan"), "burn_in must be a finite number"),
    "burn_in as text": (GOOD.replace("frames = 5", 'frames = 5\nburn_in = "ten"'), "burn_in must be a finite"),
    "frames as text": (GOOD.replace("frames = 5", 'frames = "five"'), "frames must be a whole number >= 2"),
    "fractional frames": (GOOD.replace("frames = 5", "frames = 5.7"), "frames must be a whole number >= 2, got 5.7"),
    "fractional split": (GOOD.replace("train = 4", "train = 4.5"), "train must be a whole number >= 0, got 4.5"),
    "negative seed": (GOOD.replace("seed = 11", "seed = -1"), "seed must be a whole number >= 0"),
    "log as text": (GOOD.replace("log = true", 'log = "false"'), "log must be true or false, got 'false'"),
    "range bound as text": (GOOD.replace("min = 0.02", 'min = "abc"'), "min must be a finite number, got 'abc'"),
    "fractional ic modes": (GOOD.replace("modes = 3", "modes = 2.5"), "[ic] modes must be a whole number >= 1"),
    "ic amplitude as text": (GOOD.replace("modes = 3", 'modes = 3\namplitude = "big"'),
                             "[ic] amplitude must be a finite number, got 'big'"),
}


@pytest.mark.parametrize("problem", sorted(BAD))
def test_bad_card_is_refused_naming_the_problem(problem, tmp_path, capsys):
    text, expected = BAD[problem]
    with pytest.raises(SciwmError, match="card.*") as err:
        Card.from_text(text)
    assert expected in str(err.value)
    # the command: exit status 2, the message alone on one line, no traceback, no file started
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["generate", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and str(path) in lines[0], captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert not list(tmp_path.glob("out/*"))


def test_missing_card_file_is_one_line(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "nope.toml"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nope.toml: cannot read" in err


@pytest.mark.parametrize("path", DATASETS, ids=[p.stem for p in DATASETS])
def test_shipped_card_parses_and_two_short_trajectories_stay_finite(path):
    card = Card.load(path)
    assert card.name == path.stem and card.text == path.read_text()
    assert card.splits["train"] >= card.splits["val"] > 0 and card.frames >= 2
    # a short run: no burn-in, three frames at the card's own dt and save_every
    short = dataclasses.replace(card, frames=3, burn_in=0.0)
    out = solve_batch(short, "train", range(2))
    fields = family(card.pde).fields
    assert set(out) == {*fields, *card.sampled_params, "seed"}
    for name in fields:
        assert out[name].shape == (2, 3, *card.grid.shape)
        assert np.isfinite(out[name]).all()
        assert not np.array_equal(out[name][0], out[name][1])  # two different initial conditions
        assert not np.array_equal(out[name][:, 0], out[name][:, 2])  # and they evolve
    for key in card.sampled_params:
        r = card.params[key]
        assert ((r.min <= out[key]) & (out[key] <= r.max)).all()


def test_stirred_burgers_is_steady_and_shows_its_viscosity_in_every_frame():
    """burgers1d-forced-nu: after the decay of the initial condition the stirring holds the energy steady,
    and each late frame shows nu at the dissipation scale: the log power of modes 16..32 falls with nu
    (Pearson correlation with log nu over 16 trajectories, every frame of the second half)."""
    card = Card.load(Path(__file__).parents[1] / "datasets" / "burgers1d-forced-nu.toml")
    out = solve_batch(card, "train", range(16))
    u, log_nu = out["u"], np.log(out["nu"])
    energy = (u**2).mean(-1).mean(0)  # (T,)
    assert energy[:5].mean() > 2 * energy[50:].mean()  # the initial condition decays ...
    assert abs(energy[50:75].mean() / energy[75:].mean() - 1) < 0.3  # ... to a steady stirred state
    high = np.log((np.abs(np.fft.rfft(u, axis=-1))[..., 16:33] ** 2).sum(-1))  # (S, T)
    corr = np.array([np.corrcoef(high[:, t], log_nu)[0, 1] for t in range(50, u.shape[1])])
    assert corr.max() < -0.7 and np.median(corr) < -0.85
