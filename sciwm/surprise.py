"""Surprise: a world model's one-step prediction error, per frame, as an anomaly detector.

For a trajectory u_0 .. u_{T-1}, the surprise of frame t+1 is how badly the model predicted it from the
true frames before it:

    latent model:  s_{t+1} = || step_latent(E(u_{t-k+1}), .., E(u_t)) - E(u_{t+1}) ||² / D
    field model:   s_{t+1} = || model(u_{t-k+1} .. u_t) - u_{t+1} ||² / (C · grid points)   (normalised units)

(D: the number of latent values of a frame). A frame is flagged when its surprise exceeds a threshold
calibrated on normal trajectories (`calibrate`: median + C·MAD of log10 scores). `surprise` accepts any
`Predictor`, so the true solver can stand in for the model (`SolverPredictor`, solver-in-the-loop
prediction error): that separates "the detector works" from "the model is good enough".

    scores = surprise("runs/burgers-jepa", frames, params)       # frames (T, C, *grid), physical units
    thr = calibrate(normal_scores)                              # a Threshold
    flagged = flagged_frames(scores, thr.value)                 # frame indices t + 1 with s > threshold
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from sciwm.checkpoint import LoadedRun, load_run
from sciwm.data.windows import step_actions
from sciwm.errors import SciwmError
from sciwm.probe import read_trajectories

MAD_C = 4.0  # threshold = median + MAD_C * 1.4826 * MAD of log10 scores on normal trajectories
CHUNK = 512  # windows per model call


class Predictor(Protocol):
    """What `surprise` needs: frames of history, spatial dims, a feature map and a one-step prediction in it."""

    history: int  # k
    ndim: int  # spatial dims of a frame (1 or 2)

    def embed(self, frames: Tensor) -> Tensor:
        """(N, C, *grid) physical frames -> (N, *features), the space in which errors are measured."""

    def predict(self, hist: Tensor, params: Tensor | None, action: Tensor | None) -> Tensor:
        """hist (B, k, *features), params (B, P) raw, action (B, A) -> next features (B, *features)."""


class RunPredictor:
    """A trained run as a Predictor: latent models in their latent space, field models in field space."""

    def __init__(self, run: LoadedRun) -> None:
        self.run, self.model, self.history, self.ndim = run, run.model, run.spec.history, run.spec.ndim
        self.latent = bool(getattr(run.model, "latent", False))

    @torch.no_grad()
    def embed(self, frames: Tensor) -> Tensor:
        u = self.run.stats.normalize(frames.float())
        return self.model.encode(u) if self.latent else u

    @torch.no_grad()
    def predict(self, hist: Tensor, params: Tensor | None, action: Tensor | None) -> Tensor:
        p = self.run.normalize_params(params.double()).float() if params is not None and self.run.param_names \
            else None
        if self.latent:
            return self.model.step_latent(hist, p, action)
        return self.model(hist, p, action)


class SolverPredictor:
    """The true solver as a Predictor (history 1): the next frame is `solver.advance(frame, steps)`.

    `solver` is a `sciwm.pdes.Solver` built with the parameters the trajectory is believed to have;
    params passed to `predict` are ignored (they are in the solver)."""

    history = 1

    def __init__(self, solver, steps: int) -> None:  # noqa: ANN001 - sciwm.pdes.Solver
        self.solver, self.steps, self.ndim = solver, steps, solver.pde.ndim

    def embed(self, frames: Tensor) -> Tensor:
        return frames

    @torch.no_grad()
    def predict(self, hist: Tensor, params: Tensor | None, action: Tensor | None) -> Tensor:
        u = hist[:, -1]
        return self.solver.advance(u.to(self.solver.pde.dtype), self.steps).to(u.dtype)


def as_predictor(model: str | Path | LoadedRun | Predictor) -> Predictor:
    if isinstance(model, (str, Path)):
        model = load_run(model)
    return RunPredictor(model) if isinstance(model, LoadedRun) else model


@torch.no_grad()
def surprise(model: str | Path | LoadedRun | Predictor, frames: Tensor, params: Tensor | None = None,
             actions: Tensor | None = None) -> Tensor:
    """Per-frame surprise: frames (T, C, *grid) -> (T-1,), or (B, T, C, *grid) -> (B, T-1).

    Entry t scores frame t+1, predicted from frames t-k+1 .. t (NaN for the first k-1 entries).
    params: (P,) or (B, P) raw values; actions: (T, A) or (B, T, A), action t acts from frame t to t+1."""
    pred = as_predictor(model)
    batched = frames.ndim == pred.ndim + 3
    if not batched and frames.ndim != pred.ndim + 2:
        raise SciwmError(f"surprise: frames must be (T, C, *grid) or (B, T, C, *grid) with {pred.ndim} "
                         f"spatial dim(s), got {tuple(frames.shape)}")
    if not batched:
        frames = frames.unsqueeze(0)
        actions = None if actions is None else actions.unsqueeze(0)
    if params is not None:
        params = params.reshape(1, -1).expand(frames.shape[0], -1) if params.ndim == 1 else params
    b, t, k = frames.shape[0], frames.shape[1], pred.history
    if t <= k:
        raise SciwmError(f"surprise: need more than k = {k} frames, got {t}")
    emb = torch.cat([pred.embed(c) for c in frames.flatten(0, 1).split(CHUNK)]).unflatten(0, (b, t))
    hist = torch.stack([emb[:, j - k + 1 : j + 1] for j in range(k - 1, t - 1)], 1).flatten(0, 1)
    target = emb[:, k:].flatten(0, 1)  # (B (T - k), *features)
    p = None if params is None else params.repeat_interleave(t - k, 0)
    a = None if actions is None else actions[:, k - 1 : t - 1].reshape(b * (t - k), -1)
    out = []
    for i in range(0, len(hist), CHUNK):
        sl = slice(i, i + CHUNK)
        err = pred.predict(hist[sl], None if p is None else p[sl], None if a is None else a[sl]) - target[sl]
        out.append(err.double().square().flatten(1).mean(1))
    scores = torch.cat([torch.full((b, k - 1), math.nan, dtype=torch.float64),
                        torch.cat(out).reshape(b, t - k)], 1)
    return scores if batched else scores[0]


@dataclass(frozen=True)
class Threshold:
    """A flagging threshold: `value`, and how it was obtained (median, MAD of log10 scores, c, n)."""

    value: float
    log_median: float = math.nan
    log_mad: float = math.nan
    c: float = MAD_C
    steps: int = 0
    source: str = "given"


def calibrate(scores: Tensor | np.ndarray, c: float = MAD_C, source: str = "") -> Threshold:
    """Threshold from scores of normal trajectories: 10 ** (median + c * 1.4826 * MAD) of log10 scores.

    Robust (a few anomalies among the calibration steps do not move it) and scale-free (scores of a
    decaying flow span decades; in log10 their spread is an honest measure of "normal")."""
    s = np.asarray(scores, np.float64).ravel()
    s = s[np.isfinite(s)]
    if len(s) < 10:
        raise SciwmError(f"surprise: need at least 10 finite calibration scores, got {len(s)}")
    logs = np.log10(np.maximum(s, 1e-300))
    med = float(np.median(logs))
    mad = float(np.median(np.abs(logs - med)))
    return Threshold(float(10 ** (med + c * 1.4826 * mad)), med, mad, c, len(s), source)


def flagged_frames(scores: Tensor, threshold: float) -> list[int]:
    """Frames (index t + 1 of score t) whose surprise exceeds the threshold; scores (T-1,)."""
    return [int(i) + 1 for i in torch.nonzero(torch.nan_to_num(scores, nan=-math.inf) > threshold).flatten()]


def onsets(flagged: list[int]) -> list[int]:
    """First frame of each run of consecutive flagged frames: where an anomaly starts.

    A glitched frame g is flagged at g (unexpected) and often at g + 1 (predicted from the glitch);
    a lasting change (new viscosity) keeps every later frame flagged. Both are one event."""
    return [f for i, f in enumerate(flagged) if i == 0 or flagged[i - 1] != f - 1]


def file_scores(pred: Predictor, data: str | Path, run: LoadedRun) -> tuple[Tensor, Tensor]:
    """Surprise of every trajectory of a file and its raw frames `(S, T, C, *grid)`.

    A run with `time_stride` s scores every s-th frame (its steps, actions per `step_actions`):
    scores `(S, T' - 1)` with T' = (T - 1) // s + 1, entry j scoring saved frame (j + 1) s."""
    tr = read_trajectories(run, data)
    missing = [p for p in run.param_names if p not in tr.params]
    if missing:
        raise SciwmError(f"{data}: lacks parameter(s) {missing}, which the run was trained with")
    params = torch.tensor(np.stack([tr.params[p] for p in run.param_names], 1)) if run.param_names else None
    ts = run.time_stride
    frames = tr.raw[:, ::ts]
    actions = None
    if run.spec.n_action and tr.actions is not None:
        actions = torch.from_numpy(step_actions(tr.actions.numpy(), ts, frames.shape[1]))
    return surprise(pred, frames, params, actions), tr.raw


def surprise_file(run: str | Path, data: str | Path, threshold: float | None = None,
                  calibrate_on: str | Path | None = None, c: float = MAD_C) -> dict:
    """Score every trajectory of `data`, flag frames above the threshold (given, or calibrated on
    `calibrate_on`, by default the run's validation file, else its training file)."""
    loaded = load_run(run)
    pred = RunPredictor(loaded)
    if threshold is None:
        source = calibrate_on or loaded.config.data.val or loaded.config.data.train
        if not source or not Path(source).exists():
            raise SciwmError(f"surprise: calibration file {source!r} not found (paths in the run's config are "
                             "relative to where it was trained); pass --calibrate FILE or --threshold VALUE")
        thr = calibrate(file_scores(pred, source, loaded)[0], c, str(source))
    else:
        thr = Threshold(float(threshold))
    scores, _ = file_scores(pred, data, loaded)
    ts = loaded.time_stride  # flags are found in model steps, reported as the file's frame indices
    trajectories = []
    for i, s in enumerate(scores):
        flags = flagged_frames(s, thr.value)
        peak = int(torch.nan_to_num(s, nan=-math.inf).argmax()) + 1
        trajectories.append({"sample": i, "max": float(np.nanmax(s.numpy())), "at": peak * ts,
                             "flagged": [f * ts for f in flags], "onsets": [f * ts for f in onsets(flags)],
                             "scores": [None if math.isnan(v) else v for v in s.tolist()]})
    return {"run": str(run), "data": str(data), "model": loaded.config.model.name, "time_stride": ts,
            "space": "latent" if pred.latent else "field", "threshold": asdict(thr), "trajectories": trajectories}


def format_table(result: dict, limit: int = 8) -> str:
    """One line per trajectory: peak surprise, where, and the flagged frames (first `limit`)."""
    thr = result["threshold"]
    how = f"calibrated on {thr['source']} ({thr['steps']} steps)" if thr["source"] != "given" else "given"
    rows = [f"surprise of {result['model']} ({result['space']} space); threshold {thr['value']:.3g} ({how})",
            f"{'sample':>6} {'max':>10} {'at':>5}  flagged frames"]
    n_flag = 0
    for t in result["trajectories"]:
        flags = t["flagged"]
        n_flag += bool(flags)
        shown = ", ".join(map(str, flags[:limit])) + (f", ... ({len(flags)})" if len(flags) > limit else "")
        rows.append(f"{t['sample']:>6} {t['max']:>10.3g} {t['at']:>5}  {shown or '-'}")
    rows.append(f"{n_flag} of {len(result['trajectories'])} trajectories have flagged frames")
    return "\n".join(rows)
