"""Linear probes: what a latent model's embedding of one frame knows, read out by ridge regression.

For every frame of a trajectory file, the run's encoder gives a feature vector (`encode`, flattened for
grid latents). Ridge probes map it to (a) each per-trajectory parameter of the file (every frame labelled
with its trajectory's value, e.g. `nu`) and (b) physical quantities of the frame itself (`frame_quantities`).
Scores are R² on held-out trajectories: the split is by trajectory, never by frame, because neighbouring
frames of one trajectory are nearly the same point and a frame split would let a probe recognise the
trajectory instead of reading the quantity. The floor is the same probe on a randomly initialised
encoder of the same architecture (same config, another seed): a random conv net is already a rich
feature map, and a trained encoder is only worth its R² above that floor.

    result = probe("runs/burgers-jepa", "data/burgers1d/test.h5")              # K-fold by trajectory
    result = probe(run, "data/burgers1d/test.h5", fit="data/burgers1d/train.h5")  # fit on one, score on other

Each parameter is also probed per trajectory ("nu (trajectory)"): the features are the mean embedding
of the trajectory's frames after the first (frame 0 is the initial condition, drawn without regard to
the parameters), one sample per trajectory. A parameter shows in how frames change, so one frame may
hold little of it (Burgers: only the width of its fronts); the trajectory probe asks whether the encoder
carries it at all.

Definitions (docs/jepa.md, "Probes"): features are z-scored with the fitting set's statistics; targets
that are positive with max/min >= LOG_RATIO are probed as log10; the ridge penalty is chosen per target
from LAMBDAS (relative to the mean feature variance) by grouped K-fold cross-validation on the fitting
trajectories, then the probe is refit on all of them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sciwm.checkpoint import LoadedRun, load_run
from sciwm.data.reading import field_names, param_names
from sciwm.data.reading import open as open_data
from sciwm.errors import SciwmError
from sciwm.models import build_model

FOLDS = 5  # trajectory folds, for the outer split (no --fit) and for choosing the penalty
LAMBDAS = tuple(10.0 ** e for e in range(-6, 4))  # ridge penalty, times n * the mean feature variance
LOG_RATIO = 4.0  # a positive target with max/min >= this is probed as log10 (nu in [0.02, 0.2]: ~10)
RANDOM_SEED = 12345  # the random-encoder floor's initialisation (torch.manual_seed, RNG state restored)


@dataclass
class Trajectories:
    """Frames of a file, normalised as the run sees them, with every per-trajectory parameter."""

    frames: Tensor  # (S, T, C, *grid) normalised
    raw: Tensor  # (S, T, C, *grid) physical units
    params: dict[str, np.ndarray]  # name -> (S,)
    lengths: tuple[float, ...]  # domain length per space dim, in grid order ((Ly, Lx) in 2D)
    fields: list[str]
    actions: Tensor | None  # (S, T, A) or None


def read_trajectories(run: LoadedRun, data: str | Path) -> Trajectories:
    """All trajectories of `data`, checked against the run (fields, grid)."""
    ds = open_data(data)
    fields = list(run.stats.fields)
    missing = [f for f in fields if f not in field_names(ds)]
    if missing:
        raise SciwmError(f"{data}: lacks field(s) {missing}, which the run was trained on")
    grid = tuple(ds[fields[0]].shape[2:])
    if grid != run.spec.grid:
        raise SciwmError(f"{data}: grid {grid} differs from the run's {run.spec.grid}")
    run.check_data(ds.attrs, data)
    raw = torch.from_numpy(np.stack([ds[f].values for f in fields], 2).astype(np.float32))
    bad = ~torch.isfinite(raw).flatten(2).all(2)  # (S, T)
    if bad.any():
        s, t = (int(v) for v in bad.nonzero()[0])
        raise SciwmError(f"{data}: sample {s}, frame {t} has NaN or Inf ({int(bad.sum())} such frames)")
    names = [p for p in param_names(ds) if p not in ("action",)]
    params = {p: np.asarray(ds[p].values, np.float64) for p in names}
    dims = ("y", "x")[2 - len(grid):]
    lengths = tuple(_length(ds, d) for d in dims)
    actions = torch.from_numpy(ds["action"].values.reshape(*raw.shape[:2], -1).astype(np.float32)) \
        if "action" in ds else None
    return Trajectories(run.stats.normalize(raw), raw, params, lengths, fields, actions)


def _length(ds, dim: str) -> float:  # noqa: ANN001 - xarray.Dataset
    """Domain length along `dim`: n * spacing of the coordinate (periodic grid, endpoint excluded)."""
    x = np.asarray(ds[dim].values, np.float64)
    return float(len(x) * (x[1] - x[0])) if len(x) > 1 else 1.0


# ---------------------------------------------------------------- physical quantities of a frame


def frame_quantities(u: Tensor, lengths: tuple[float, ...], fields: list[str]) -> dict[str, Tensor]:
    """Per-frame physical quantities of the first field: u (N, C, *grid) -> name -> (N,), float64.

    mean: the spatial mean; energy: mean u²/2 (for `vorticity`, the kinetic energy mean |v|²/2 of the
    velocity it induces); enstrophy: mean |∇u|²/2 (1D: mean u_x²/2; for `vorticity`, mean w²/2);
    k_dom: the mode number n = |k| L / 2π of the energy shell that holds the most energy, mean excluded.
    Derivatives are spectral.
    """
    f = u[:, 0].double()
    d = len(lengths)
    dims = tuple(range(-d, 0))
    fh = torch.fft.fftn(f, dim=dims)
    axes = [torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64) * 2 * math.pi / L
            for n, L in zip(f.shape[-d:], lengths, strict=True)]
    ks = torch.meshgrid(*axes, indexing="ij")
    k2 = sum(k * k for k in ks)
    power = (fh.abs() ** 2) / math.prod(f.shape[-d:]) ** 2  # Parseval: mean f² = sum power
    grad2 = (power * k2).flatten(1).sum(1)  # mean |∇f|²
    if fields[0] == "vorticity":
        energy = (power / torch.where(k2 > 0, k2, torch.inf)).flatten(1).sum(1) / 2
        enstrophy = f.square().flatten(1).mean(1) / 2
    else:
        energy = f.square().flatten(1).mean(1) / 2
        enstrophy = grad2 / 2
    dk = 2 * math.pi / max(lengths)
    shell = torch.round(torch.sqrt(k2) / dk).long().flatten()
    shells = torch.zeros(len(f), int(shell.max()) + 1, dtype=torch.float64).index_add_(1, shell, power.flatten(1))
    k_dom = shells[:, 1:].argmax(1).double() + 1
    return {"mean": f.flatten(1).mean(1), "energy": energy, "enstrophy": enstrophy, "k_dom": k_dom}


# ---------------------------------------------------------------- ridge regression


def _transform(y: np.ndarray) -> tuple[np.ndarray, str]:
    """(values as probed, "log10" | "none"): log10 for positive targets spanning max/min >= LOG_RATIO."""
    if np.all(y > 0) and y.max() / y.min() >= LOG_RATIO:
        return np.log10(y), "log10"
    return y, "none"


def _fit(x: np.ndarray, y: np.ndarray, lambdas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge for several penalties at once: x (n, D) standardised, y (n, m) -> W (L, D, m), centres.

    Closed form through the eigendecomposition of the smaller Gram matrix (primal X'X or dual XX')."""
    xm, ym = x.mean(0), y.mean(0)
    xc, yc = x - xm, y - ym
    n, dim = xc.shape
    if n >= dim:
        e, v = np.linalg.eigh(xc.T @ xc)
        proj = v.T @ (xc.T @ yc)  # (D, m)
        w = np.stack([v @ (proj / (e + lam)[:, None]) for lam in lambdas])
    else:
        e, v = np.linalg.eigh(xc @ xc.T)
        proj = v.T @ yc  # (n, m)
        w = np.stack([xc.T @ (v @ (proj / (e + lam)[:, None])) for lam in lambdas])
    return w, xm, ym


def _r2(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """R² per column; NaN where the truth does not vary (nothing to explain)."""
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    ss_res = ((y - pred) ** 2).sum(0)
    ok = ss_tot > 1e-12 * np.maximum((y**2).sum(0), 1e-300)
    return np.where(ok, 1 - ss_res / np.where(ok, ss_tot, 1), np.nan)


def _folds(groups: np.ndarray, k: int) -> list[np.ndarray]:
    """k folds of whole trajectories (group ids), a fixed permutation; each a boolean mask over rows."""
    ids = np.unique(groups)
    k = min(k, len(ids))
    perm = np.random.default_rng(0).permutation(ids)
    return [np.isin(groups, perm[i::k]) for i in range(k)]


def ridge_probe(x: np.ndarray, y: np.ndarray, groups: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, list]:
    """Fit on (x, y) with the penalty per target chosen by grouped K-fold CV; predict x_test.

    x (n, D), y (n, m), groups (n,) trajectory ids -> predictions (n_test, m), chosen penalties (m,)."""
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    xs, xt = (x - mu) / sd, (x_test - mu) / sd
    folds = _folds(groups, FOLDS)
    if len(folds) < 2:
        raise SciwmError("probe: need at least 2 trajectories to fit a probe and choose its penalty")
    lambdas = np.asarray(LAMBDAS) * len(xs)  # features have unit variance: penalty relative to n
    sse = np.zeros((len(lambdas), y.shape[1]))
    for held in folds:
        w, xm, ym = _fit(xs[~held], y[~held], lambdas)
        pred = (xs[held] - xm) @ w + ym  # (L, n_held, m)
        sse += ((pred - y[held]) ** 2).sum(1)
    best = sse.argmin(0)
    w, xm, ym = _fit(xs, y, lambdas)
    pred = np.stack([(xt - xm) @ w[b, :, j] + ym[j] for j, b in enumerate(best)], 1)
    return pred, [float(LAMBDAS[b]) for b in best]


# ---------------------------------------------------------------- features and the probe


@torch.no_grad()
def encode_frames(model: torch.nn.Module, frames: Tensor, batch: int = 256) -> np.ndarray:
    """frames (N, C, *grid) normalised -> features (N, F): the embedding, flattened, float64."""
    out = [model.encode(frames[i : i + batch]).flatten(1) for i in range(0, len(frames), batch)]
    return torch.cat(out).double().numpy()


def random_encoder(run: LoadedRun) -> torch.nn.Module:
    """A fresh model of the run's architecture (same config and data spec), seed RANDOM_SEED."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return build_model(run.config.model, run.spec).eval()


def targets_of(tr: Trajectories) -> dict[str, tuple[np.ndarray, str]]:
    """name -> (values per frame (S * T,), kind) for every parameter and frame quantity."""
    s, t = tr.raw.shape[:2]
    out = {name: (np.repeat(v, t), "param") for name, v in tr.params.items()}
    quantities = frame_quantities(tr.raw.flatten(0, 1), tr.lengths, tr.fields)
    out.update({name: (q.numpy(), "frame") for name, q in quantities.items()})
    return out


def _check_latent(run: LoadedRun) -> None:
    if not getattr(run.model, "latent", False) or not hasattr(run.model, "encode"):
        raise SciwmError(f"probe: a {run.config.model.name} run predicts in field space and has no encoder; "
                         "probes need a latent model (jepa, latent_fno)")


def probe(run: str | Path | LoadedRun, data: str | Path, fit: str | Path | None = None, every: int = 1) -> dict:
    """R² of ridge probes from the run's (and a random encoder's) features to parameters and quantities.

    Without `fit`: K-fold by trajectory over `data` (every trajectory scored once, held out). With `fit`:
    probes are fitted on all trajectories of `fit` and scored on all of `data`. every: use every n-th
    frame of each trajectory (neighbouring frames are nearly the same point; encoding them all costs time)."""
    if every < 1:
        raise SciwmError(f"probe: --every {every}: need a whole number >= 1")
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    _check_latent(loaded)
    test = _thin(read_trajectories(loaded, data), every)
    train = _thin(read_trajectories(loaded, fit), every) if fit is not None else None
    t_test = targets_of(test)
    t_fit = targets_of(train) if train is not None else t_test
    missing = sorted(set(t_test) - set(t_fit))
    if missing:
        raise SciwmError(f"probe: {fit} lacks parameter(s) {missing} that {data} has")
    scales = {n: _transform(t_fit[n][0])[1] for n in t_test}
    result = {"run": "<loaded>" if isinstance(run, LoadedRun) else str(run), "data": str(data),
              "fit": None if fit is None else str(fit), "model": loaded.config.model.name,
              "model_params": list(loaded.param_names),
              "trajectories": int(test.raw.shape[0]), "frames": int(test.raw.shape[1]), "every": every,
              "targets": {}}
    scores = {}
    for label, model in (("trained", loaded.model), ("random", random_encoder(loaded))):
        scores[label] = _score(model, test, t_test, train, t_fit, scales)
    result["features"] = scores["trained"][1]
    rms = float(test.raw.double().square().mean().sqrt())
    for name, (y, kind) in t_test.items():
        # constant up to float32 rounding (Burgers' mean): nothing to explain, no R²
        const = np.std(y) <= 1e-5 * (rms if name == "mean" else np.abs(y).mean())
        result["targets"][name] = {"kind": kind, "transform": scales[name],
                                   "r2": None if const else scores["trained"][0][name],
                                   "r2_random": None if const else scores["random"][0][name],
                                   "lambda": scores["trained"][2][name]}
        if kind == "param":
            key = f"{name} (trajectory)"
            result["targets"][key] = {"kind": "traj", "transform": scales[name],
                                      "r2": None if const else scores["trained"][0][key],
                                      "r2_random": None if const else scores["random"][0][key],
                                      "lambda": scores["trained"][2][key]}
    return result


def _thin(tr: Trajectories, every: int) -> Trajectories:
    return dataclasses.replace(tr, frames=tr.frames[:, ::every], raw=tr.raw[:, ::every], actions=None)


def _score(model: torch.nn.Module, test: Trajectories, t_test: dict, train: Trajectories | None, t_fit: dict,
           scales: dict[str, str]) -> tuple[dict, int, dict]:
    """R² per target of one encoder's features (see `probe`); also the feature count and chosen penalties."""
    names = list(t_test)
    x_test = encode_frames(model, test.frames.flatten(0, 1))
    g_test = np.repeat(np.arange(test.frames.shape[0]), test.frames.shape[1])
    y_test = np.stack([_apply(t_test[n][0], scales[n]) for n in names], 1)
    if train is not None:
        x_fit = encode_frames(model, train.frames.flatten(0, 1))
        g_fit = np.repeat(np.arange(train.frames.shape[0]), train.frames.shape[1])
        y_fit = np.stack([_apply(t_fit[n][0], scales[n]) for n in names], 1)
        pred, lams = ridge_probe(x_fit, y_fit, g_fit, x_test)
    else:
        pred, chosen = np.zeros_like(y_test), []
        for held in _folds(g_test, FOLDS):  # outer folds: each trajectory predicted by a probe that never saw it
            pred[held], lam = ridge_probe(x_test[~held], y_test[~held], g_test[~held], x_test[held])
            chosen.append(lam)
        lams = list(np.exp(np.log(np.asarray(chosen)).mean(0)))  # geometric mean over the outer folds
    r2 = _r2(y_test, pred)
    scores = {n: None if math.isnan(v) else float(v) for n, v in zip(names, r2, strict=True)}
    lams = {n: float(v) for n, v in zip(names, lams, strict=True)}
    for name in test.params:
        key = f"{name} (trajectory)"
        scores[key], lams[key] = _score_trajectories(
            _trajectory_features(x_test, test), _apply(test.params[name], scales[name]),
            None if train is None else _trajectory_features(x_fit, train),
            None if train is None else _apply(train.params[name], scales[name]))
    return scores, int(x_test.shape[1]), lams


def _trajectory_features(x: np.ndarray, tr: Trajectories) -> np.ndarray:
    """Frame features (S * T, F) -> the mean over each trajectory's frames after the first, (S, F)."""
    s, t = tr.frames.shape[:2]
    x = x.reshape(s, t, -1)
    return x[:, 1:].mean(1) if t > 1 else x[:, 0]


def _score_trajectories(x_test: np.ndarray, y_test: np.ndarray, x_fit: np.ndarray | None,
                        y_fit: np.ndarray | None) -> tuple[float | None, float]:
    """R² of a ridge probe, one sample per trajectory (K-fold over the test trajectories without a fit set)."""
    y_test = y_test[:, None]
    if x_fit is not None:
        pred, lam = ridge_probe(x_fit, y_fit[:, None], np.arange(len(x_fit)), x_test)
        lams = [lam[0]]
    else:
        pred, lams = np.zeros_like(y_test), []
        groups = np.arange(len(x_test))
        for held in _folds(groups, FOLDS):
            pred[held], lam = ridge_probe(x_test[~held], y_test[~held], groups[~held], x_test[held])
            lams.append(lam[0])
    r2 = float(_r2(y_test, pred)[0])
    return (None if math.isnan(r2) else r2), float(np.exp(np.log(lams).mean()))


def _apply(y: np.ndarray, transform: str) -> np.ndarray:
    return np.log10(np.maximum(y, 1e-300)) if transform == "log10" else y


def format_table(result: dict) -> str:
    """The probe result as a plain-text table (R² of the run, of the random encoder, and the gap)."""
    rows = [f"probes of {result['model']} ({result['features']} features) on {result['trajectories']} "
            f"trajectories x {result['frames']} frames, "
            + ("K-fold by trajectory" if result["fit"] is None else f"fitted on {result['fit']}")
            + f"; the model is given parameters {result.get('model_params', [])}",
            f"{'target':<18} {'kind':<6} {'scale':<6} {'R2':>8} {'random':>8} {'gain':>8}"]
    for name, t in result["targets"].items():
        r2, r0 = t["r2"], t["r2_random"]
        cells = [f"{v:8.3f}" if v is not None else f"{'const':>8}" for v in (r2, r0)]
        gain = f"{r2 - r0:+8.3f}" if r2 is not None and r0 is not None else f"{'':>8}"
        rows.append(f"{name:<18} {t['kind']:<6} {'log' if t['transform'] == 'log10' else 'lin':<6} "
                    f"{cells[0]} {cells[1]} {gain}")
    return "\n".join(rows)


def write_json(result: dict, out: str | Path, name: str) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(result, indent=2))
    return path
