"""A trained run as a bench entry: checked against the test set, rolled out from its history frames.

    entry = SurrogateEntry.load("runs/ks1d-fno", problem, ds, device="cpu")
    x = entry.prepare(frames, params, n_frames)    # untimed: normalise, move to the device
    out = entry.run(x)                              # timed: the autoregressive rollout
    pred = entry.to_test(x, out)                    # untimed: physical units, (B, n_frames, C, *grid)
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from sciwm.bench.ladder import Problem
from sciwm.checkpoint import LoadedRun, load_run
from sciwm.data.reading import open as open_data
from sciwm.errors import SciwmError
from sciwm.rollout import Rollout, rollout_model


@dataclass
class SurrogateInput:
    history: Tensor  # (B, k, C, *grid), normalised, float32 on the device
    params: Tensor | None
    last: Tensor  # (B, C, *grid) float64 CPU: the last history frame, lead time 0
    steps: int


class SurrogateEntry:
    kind = "surrogate"

    def __init__(self, run: str, loaded: LoadedRun, problem: Problem, device: str) -> None:
        self.run_dir, self.loaded, self.problem, self.device = run, loaded, problem, device
        self.history = loaded.spec.history
        self.name = f"{loaded.config.model.name} ({Path(run).resolve().name})"

    @classmethod
    def load(cls, run: str, problem: Problem, ds: xr.Dataset, data_path: str, device: str) -> SurrogateEntry:
        loaded = load_run(run, device)
        grid = tuple(reversed(problem.grid.n))
        if loaded.spec.grid != grid:
            raise SciwmError(f"run {run}: trained on grid {loaded.spec.grid}, the test set {data_path} has {grid}; "
                             "bench a run on data of its own grid")
        if tuple(loaded.stats.fields) != problem.fields:
            raise SciwmError(f"run {run}: fields {list(loaded.stats.fields)} differ from the test set's "
                             f"{list(problem.fields)}")
        if loaded.spec.n_action:
            raise SciwmError(f"run {run}: takes actions; sciwm bench compares autonomous rollouts only")
        loaded.check_data(ds.attrs, data_path)
        missing = [p for p in loaded.param_names if p not in ds]
        if missing:
            raise SciwmError(f"run {run}: needs parameter(s) {missing}, which {data_path} lacks")
        dt = _train_dt_save(loaded)
        if dt is not None and abs(dt - problem.dt_save) > 1e-9 * problem.dt_save:
            raise SciwmError(f"run {run}: trained on frames {dt:g} apart, the test set's are {problem.dt_save:g}")
        return cls(run, loaded, problem, device)

    def settings(self) -> dict:
        cfg = self.loaded.config
        return {"run": str(Path(self.run_dir).resolve()), "model": cfg.model.name, "step": self.loaded.step,
                "history": self.history, "parameters": sum(p.numel() for p in self.loaded.model.parameters()),
                "objective": cfg.train.objective}

    def state_bytes(self, batch: int) -> int:
        """One batch of history frames plus the weights (float32)."""
        grid = math.prod(self.loaded.spec.grid)
        weights = sum(p.numel() * p.element_size() for p in self.loaded.model.parameters())
        return batch * self.history * len(self.problem.fields) * grid * 4 + weights

    def prepare(self, history: Tensor, params: dict[str, Tensor], frames: int) -> SurrogateInput:
        """history `(B, >= k, C, *grid)` float64 (its last frame is lead time 0), raw parameters."""
        h = self.loaded.stats.normalize(history[:, -self.history:]).float().to(self.device)
        raw = torch.stack([params[p].to(torch.float64) for p in self.loaded.param_names], 1) \
            if self.loaded.param_names else None
        p = None if raw is None else self.loaded.normalize_params(raw).float().to(self.device)
        return SurrogateInput(h, p, history[:, -1], frames - 1)

    def run(self, x: SurrogateInput) -> Rollout:
        return rollout_model(self.loaded.model, x.history, x.steps, x.params)

    def to_test(self, x: SurrogateInput, out: Rollout) -> Tensor:
        pred = self.loaded.stats.denormalize(out.frames.to("cpu", torch.float64))
        return torch.cat([x.last.unsqueeze(1), pred], 1)

    def training_cost(self) -> dict | None:
        """Wall time of the training run from its metrics.csv (the last `time_s`), or None."""
        path = Path(self.run_dir) / "metrics.csv"
        if not path.is_file():
            return None
        with open(path) as f:
            rows = list(csv.DictReader(f))
        if not rows or not rows[-1].get("time_s"):
            return None
        return {"time_s": float(rows[-1]["time_s"]), "steps": int(rows[-1]["step"]),
                "note": "wall time of the training loop (validation included), on the hardware it ran on"}

    def train_set(self) -> dict | None:
        """Size of the training set (samples, simulated time per sample incl. burn-in), if its file is here."""
        ds = _train_file(self.loaded)
        if ds is None:
            return None
        path = Path(self.loaded.config.data.train)
        t = np.asarray(ds["time"].values, np.float64)
        burn = float(np.asarray(ds.attrs.get("burn_in", 0.0)).reshape(-1)[0])
        return {"path": str(path), "samples": int(ds.sizes["sample"]), "time_per_sample": float(t[-1] - t[0]) + burn,
                "precision": str(ds.attrs.get("precision", ""))}


def _train_file(loaded: LoadedRun):  # noqa: ANN202 - xarray.Dataset | None
    """The run's training file, when it is still where the run's config says and readable."""
    path = Path(loaded.config.data.train)
    if not path.is_file():
        return None
    try:
        return open_data(path)
    except SciwmError:
        return None


def _train_dt_save(loaded: LoadedRun) -> float | None:
    """The run's time step: its training file's dt_save times `[data] time_stride`."""
    ds = _train_file(loaded)
    if ds is None or "dt_save" not in ds.attrs:
        return None
    return float(np.asarray(ds.attrs["dt_save"]).reshape(-1)[0]) * loaded.time_stride
