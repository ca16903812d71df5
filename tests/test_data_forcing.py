"""Forced datasets: actions are amplitudes of a few Fourier modes, drawn per trajectory from its own seed,
stored next to the fields, and enough (with the file's `forcing` attribute) to re-solve every trajectory."""

import json
import math

import h5py
import numpy as np
import pytest
import torch

import sciwm.data
import sciwm.data.generate as gen
from sciwm.cli import main
from sciwm.data.card import Card
from sciwm.data.generate import generate
from sciwm.errors import SciwmError
from sciwm.forcing import ModalForcing, random_actions
from sciwm.ics import initial_condition
from sciwm.pdes import Grid, make_solver

BURGERS = """
name = "tiny-burgers-forced"
pde = "burgers"
[domain]
length = 6.283185307179586
n = 32
[params]
nu = { min = 0.05, max = 0.1 }
[ic]
kind = "fourier"
modes = 3
[time]
dt = 0.01
save_every = 0.05
frames = 7
[forcing]
modes = [1, 2, 3]
scale = 0.5
control_every = 0.1
[splits]
train = 5
val = 2
test = 1
seed = 7
"""

NS = """
name = "tiny-ns-forced"
pde = "ns2d"
[domain]
length = [6.283185307179586, 6.283185307179586]
n = [16, 16]
[params]
nu = 0.01
alpha = 0.1
forcing_amplitude = 0.5
forcing_mode = 2
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
[forcing]
modes = [[1, 0], [0, 1], [1, -1]]
scale = 1.0
kind = "ar1"
correlation = 0.5
[splits]
train = 5
val = 2
test = 1
seed = 8
"""

CARDS = {"burgers": BURGERS, "ns": NS}


def read(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {k: v[()] for k, v in f.items() if k in ("u", "vorticity", "nu", "seed", "action")}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    runs = {}
    for key, text in CARDS.items():
        runs[key] = tmp_path_factory.mktemp(f"forced-{key}")
        generate(Card.from_text(text), runs[key], batch=64, progress=False)
    return runs


# --- the basis -------------------------------------------------------------------------------
def test_one_action_component_gives_exactly_cos_or_sin_of_its_mode():
    grid = Grid(n=32, length=22.0)
    forcing = ModalForcing(grid, [1, 3])
    assert forcing.size == 4 and forcing.names == ["cos(1)", "sin(1)", "cos(3)", "sin(3)"]
    x = grid.coords()[0]
    for j, (fn, m) in enumerate([(torch.cos, 1), (torch.sin, 1), (torch.cos, 3), (torch.sin, 3)]):
        a = torch.zeros(2, 4)
        a[1, j] = 0.75
        f = forcing(a)
        assert f.shape == (2, 1, 32) and f.dtype == torch.float64
        torch.testing.assert_close(f[1, 0], 0.75 * fn(2 * math.pi * m * x / 22.0), rtol=0, atol=1e-14)
        assert f[0].abs().max() == 0 and f[1].abs().max() <= 0.75  # |phi_j| <= 1
    # linear in the action
    a, b = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(forcing(a + 2 * b), forcing(a) + 2 * forcing(b), rtol=0, atol=1e-14)


def test_2d_wave_vectors_are_in_physical_order_on_a_y_x_grid():
    grid = Grid(n=(16, 12), length=(2 * math.pi, 3.0))  # n_x = 16, n_y = 12: tensors are (12, 16)
    forcing = ModalForcing(grid, [[1, -2], [0, 1]])
    x, y = grid.mesh()
    a = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    f = forcing(a)
    assert f.shape == (2, 1, 12, 16)
    torch.testing.assert_close(f[0, 0], torch.sin(x - 2 * 2 * math.pi * y / 3.0), rtol=0, atol=1e-14)
    torch.testing.assert_close(f[1, 0], torch.cos(2 * math.pi * y / 3.0).expand(12, 16), rtol=0, atol=1e-14)
    rebuilt = ModalForcing.from_json(json.dumps(forcing.to_dict()))
    assert rebuilt.modes == ((1, -2), (0, 1)) and torch.equal(rebuilt(a), f)


@pytest.mark.parametrize(("modes", "message"), [
    ([], "non-empty list"),
    ([0], "zero mode"),
    ([1, 11], "forcing mode [11]: beyond n/3"),
    ([2, -2], "listed twice"),
    ([1.5], "not a wave vector"),
    ([[1, 0]], "not a wave vector"),
])
def test_bad_modes_are_refused(modes, message):
    with pytest.raises(SciwmError, match="forcing") as err:
        ModalForcing(Grid(n=32, length=1.0), modes)
    assert message in str(err.value)


# --- random action sequences -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["uniform", "ar1"])
def test_random_actions_are_reproducible_bounded_uniform_and_extendable(kind):
    a = random_actions([5, 2], 4000, 3, 0.5, kind, correlation=0.8 if kind == "ar1" else 0.0)
    assert a.shape == (4000, 3) and np.abs(a).max() <= 0.5
    np.testing.assert_array_equal(a, random_actions([5, 2], 4000, 3, 0.5, kind, 0.8 if kind == "ar1" else 0.0))
    np.testing.assert_array_equal(a[:10], random_actions([5, 2], 10, 3, 0.5, kind, 0.8 if kind == "ar1" else 0.0))
    # the marginal is uniform on [-0.5, 0.5]: variance 1/12, a quarter of the values above 0.25
    assert abs(a.var() - 1 / 12) < 0.01 and abs(np.mean(a > 0.25) - 0.25) < 0.03
    lag1 = np.mean([np.corrcoef(a[:-1, j], a[1:, j])[0, 1] for j in range(3)])
    assert (abs(lag1) < 0.05) if kind == "uniform" else (0.7 < lag1 < 0.85)
    assert not np.array_equal(a[:10], random_actions([6, 2], 10, 3, 0.5, kind, 0.8 if kind == "ar1" else 0.0))


# --- the exact response of the heat equation ---------------------------------------------------
def test_heat_equation_under_constant_forcing_matches_the_exact_solution():
    """u_t = nu u_xx + f, u(0) = 0: each forced mode grows as u_hat(t) = (1 - e^{-nu k^2 t}) / (nu k^2) f_hat."""
    grid, nu = Grid(n=32, length=2 * math.pi), 0.1
    forcing = ModalForcing(grid, [1, 3])
    a = torch.tensor([[0.7, -0.3, 0.2, 0.5]], dtype=torch.float64)
    x = grid.coords()[0]
    t = 2.0
    exact = torch.zeros(32, dtype=torch.float64)
    for i, m in enumerate((1, 3)):
        g = (1 - math.exp(-nu * m**2 * t)) / (nu * m**2)
        exact += g * (a[0, 2 * i] * torch.cos(m * x) + a[0, 2 * i + 1] * torch.sin(m * x))
    f, u0 = forcing(a), torch.zeros(1, 1, 32, dtype=torch.float64)
    for dt, calls in [(0.05, 1), (0.05, 4), (0.5, 1)]:  # exact whatever the step and however it is split
        solver = make_solver("diffusion", grid, dt, {"nu": nu}, dtype=torch.float64)
        u = u0
        for _ in range(calls):
            u = solver.advance(u, round(t / dt / calls), forcing=f)
        torch.testing.assert_close(u[0, 0], exact, rtol=0, atol=1e-13)


# --- generation ---------------------------------------------------------------------------------
def test_stored_actions_are_the_drawn_ones_and_follow_the_control_interval(clean):
    card = Card.from_text(BURGERS)
    assert card.frames_per_action == 2
    data = read(clean["burgers"] / "train.h5")
    assert data["action"].shape == (5, 7, 6) and data["action"].dtype == np.float32
    for i, seed in enumerate(data["seed"]):
        drawn = random_actions([int(seed), 2], 4, 6, 0.5)  # ceil(7 frames / 2 frames per action)
        np.testing.assert_array_equal(data["action"][i], np.repeat(drawn, 2, axis=0)[:7].astype(np.float32))
        np.testing.assert_array_equal(data["action"][i], card.draw_actions(int(seed)))
    assert len({data["action"][i].tobytes() for i in range(5)}) == 5


@pytest.mark.parametrize("key", sorted(CARDS))
def test_forced_file_equals_an_independent_re_solve_from_the_file_alone(key, clean):
    """The file's attributes, seeds, parameters and actions rebuild the solve bit for bit."""
    path = clean[key] / "val.h5"
    ds = sciwm.data.open(path)
    a = ds.attrs
    card = Card.from_text(a["card"])
    forcing = ModalForcing.from_json(a["forcing"])
    spec = json.loads(a["forcing"])
    assert spec["field"] == ("vorticity" if key == "ns" else "u") and spec["scale"] == card.forcing.scale
    assert spec["control_every"] == card.forcing.control_every and "frame t to frame t+1" in spec["timing"]
    assert forcing.size == ds["action"].shape[-1]
    field = spec["field"]
    params = json.loads(a["params"])
    params.update({p: torch.tensor(ds[p].values) for p in card.sampled_params})
    dt, steps = float(a["dt_solver"]), round(float(a["dt_save"]) / float(a["dt_solver"]))
    solver = make_solver(a["pde"], card.grid, dt, params, dtype=card.dtype)
    u = initial_condition(card.ic_kind, card.grid, ds["seed"].values.tolist(), **card.ic_options)
    u = solver.advance(u, round(float(a["burn_in"]) / dt))
    actions = ds["action"].values
    frames = [u]
    for t in range(ds.sizes["time"] - 1):
        u = solver.advance(u, steps, forcing=forcing(actions[:, t]))
        frames.append(u)
    np.testing.assert_array_equal(ds[field].values, torch.stack(frames, 1)[:, :, 0].numpy().astype(np.float32))
    # and the forcing matters: the unforced solve from the same start is far off by the last frame
    free = solver.rollout(frames[0], ds.sizes["time"], steps)[:, -1, 0].numpy()
    assert np.linalg.norm(free - ds[field].values[:, -1]) > 0.05 * np.linalg.norm(free)
    ds.close()


@pytest.mark.parametrize("key", sorted(CARDS))
@pytest.mark.parametrize("batch", [1, 3])
def test_forced_trajectories_do_not_depend_on_the_batch_size(key, batch, clean, tmp_path):
    generate(Card.from_text(CARDS[key]), tmp_path, batch=batch, progress=False)
    for split in ("train", "val", "test"):
        x, y = read(tmp_path / f"{split}.h5"), read(clean[key] / f"{split}.h5")
        assert x.keys() == y.keys() and "action" in x
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"{split} {k}")


def test_interrupted_forced_run_resumes_bit_identically(clean, tmp_path, monkeypatch):
    card = Card.from_text(BURGERS)
    real = gen.solve_batch

    def stop(card_, split, indices, device="cpu"):
        if split == "train" and indices.start == 2:
            raise KeyboardInterrupt
        return real(card_, split, indices, device)

    monkeypatch.setattr(gen, "solve_batch", stop)
    with pytest.raises(KeyboardInterrupt):
        generate(card, tmp_path, batch=2, progress=False)
    monkeypatch.setattr(gen, "solve_batch", real)
    generate(card, tmp_path, batch=2, resume=True, progress=False)
    for split in ("train", "val", "test"):
        x, y = read(tmp_path / f"{split}.h5"), read(clean["burgers"] / f"{split}.h5")
        for k in y:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"{split} {k}")


def test_windows_return_the_action_of_each_frame(clean):
    path = clean["burgers"] / "train.h5"
    w = sciwm.data.Windows(path, history=2, future=2)
    batch = w[len(w.starts) + 1]  # sample 1, second start
    actions = read(path)["action"]
    t0 = int(batch.start)
    assert batch.action.shape == (4, 6)
    np.testing.assert_array_equal(batch.action.numpy(), actions[int(batch.sample), t0 : t0 + 4])


def test_info_lists_the_actions_and_the_forcing_modes(clean):
    text = sciwm.data.info(clean["burgers"] / "train.h5", check=False)
    line = next(s for s in text.splitlines() if s.strip().startswith("action"))
    n, t = read(clean["burgers"] / "train.h5")["action"].shape[:2]
    assert f"({n}, {t}, 6) per frame" in line and "modes [[1], [2], [3]]" in line


# --- bad [forcing] tables ---------------------------------------------------------------------
BAD = {
    "unknown key": (BURGERS.replace("scale = 0.5", "scale = 0.5\namplitude = 1.0"),
                    "[forcing]: unknown key(s) amplitude"),
    "missing modes": (BURGERS.replace("modes = [1, 2, 3]\n", ""), "[forcing]: missing 'modes'"),
    "modes not a list": (BURGERS.replace("modes = [1, 2, 3]", "modes = 3"), "[forcing] modes: give a list"),
    "mode beyond n/3": (BURGERS.replace("modes = [1, 2, 3]", "modes = [1, 11]"), "forcing mode [11]: beyond n/3"),
    "zero mode": (BURGERS.replace("modes = [1, 2, 3]", "modes = [0, 1]"), "zero mode is not allowed"),
    "1D pairs": (BURGERS.replace("modes = [1, 2, 3]", "modes = [[1, 0]]"), "not a wave vector"),
    "2D single numbers": (NS.replace("modes = [[1, 0], [0, 1], [1, -1]]", "modes = [1, 2]"), "pairs [m_x, m_y]"),
    "zero scale": (BURGERS.replace("scale = 0.5", "scale = 0.0"), "[forcing] scale must be a positive number"),
    "negative scale": (BURGERS.replace("scale = 0.5", "scale = -1"), "[forcing] scale must be a positive number"),
    "missing scale": (BURGERS.replace("scale = 0.5\n", ""), "[forcing]: missing 'scale'"),
    "control below a frame": (BURGERS.replace("control_every = 0.1", "control_every = 0.01"),
                              "control_every=0.01 must be a whole multiple of save_every=0.05"),
    "control off the frames": (BURGERS.replace("control_every = 0.1", "control_every = 0.12"),
                               "control_every=0.12 must be a whole multiple"),
    "unknown kind": (BURGERS.replace("control_every = 0.1", "kind = 'gaussian'"), "kind 'gaussian' unknown"),
    "correlation for uniform": (BURGERS.replace("control_every = 0.1", "correlation = 0.5"),
                                "correlation is for kind = 'ar1'"),
    "correlation of one": (NS.replace("correlation = 0.5", "correlation = 1.0"),
                           "correlation must be a number in [0, 1)"),
    "two-field pde": ("""name = "gs"\npde = "grayscott"\n[domain]\nlength = [1.0, 1.0]\nn = [16, 16]\n[ic]
kind = "spots"\n[time]\ndt = 1.0\nsave_every = 1.0\nframes = 2\n[forcing]\nmodes = [[1, 0]]\nscale = 0.1
[splits]\ntrain = 1\n""", "forcing acts on one-field PDEs"),
}


@pytest.mark.parametrize("problem", sorted(BAD))
def test_bad_forcing_table_is_refused_in_one_line(problem, tmp_path, capsys):
    text, expected = BAD[problem]
    with pytest.raises(SciwmError) as err:
        Card.from_text(text)
    assert expected in str(err.value)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["generate", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and str(path) in lines[0]
    assert not list(tmp_path.glob("out/*"))


def test_a_forcing_too_strong_for_the_step_fails_cleanly(tmp_path, capsys):
    text = BURGERS.replace("nu = { min = 0.05, max = 0.1 }", "nu = 0.0").replace("scale = 0.5", "scale = 1e4")
    path = tmp_path / "strong.toml"
    path.write_text(text)
    assert main(["generate", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "forced solve, frame" in lines[0] and "non-finite" in lines[0], lines
    assert not list((tmp_path / "out").glob("*.h5"))
