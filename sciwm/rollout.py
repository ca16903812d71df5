"""Long-horizon autoregressive prediction with a trained surrogate.

`rollout_model` feeds predictions back as inputs (latent models roll forward in latent space and decode
each step); `rollout_file` does that from the first `k` frames of every trajectory of a data file and
writes the prediction in the trajectory format (frames `0 .. k-1` are the given history, so the time
axis lines up with the truth). A run trained with `[data] time_stride = s` starts from the file's frames
0, s, .., (k-1) s, steps s saved frames at a time (its actions: `sciwm.data.windows.step_actions`), and
writes frames `s * dt_save` apart. A trajectory that turns non-finite or leaves `limit` (in normalised
units: standard deviations of the training data) is marked diverged at that step, its later frames are
NaN, and the others go on; nothing computed is lost.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sciwm.checkpoint import load_run
from sciwm.data.format import TrajectoryWriter
from sciwm.data.reading import field_names
from sciwm.data.reading import open as open_data
from sciwm.data.windows import step_actions
from sciwm.errors import SciwmError

DIVERGENCE_LIMIT = 1e3


@dataclass
class Rollout:
    frames: Tensor  # (B, steps, C, *grid), normalised units; NaN after divergence
    diverged: Tensor  # (B,) int64: first step (1-based) that diverged, 0 if none


@torch.no_grad()
def rollout_model(
    model: torch.nn.Module,
    history: Tensor,
    steps: int,
    params: Tensor | None = None,
    actions: Tensor | None = None,
    limit: float = DIVERGENCE_LIMIT,
) -> Rollout:
    """history `(B, k, C, *grid)` -> `steps` predicted frames; actions `(B, >= steps, A)` or None."""
    b, k = history.shape[:2]
    out = history.new_full((b, steps, *history.shape[2:]), float("nan"))
    diverged = torch.zeros(b, dtype=torch.long)
    alive = torch.ones(b, dtype=torch.bool, device=history.device)
    latent = getattr(model, "latent", False)
    state = torch.stack([model.encode(history[:, i]) for i in range(k)], 1) if latent else history
    for j in range(steps):
        a = None if actions is None else actions[:, j].reshape(b, -1)
        if latent:
            z = model.step_latent(state, params, a)
            frame = model.decode(z)
            state = torch.cat([state[:, 1:], z.unsqueeze(1)], 1)
        else:
            frame = model(state, params, a)
            state = torch.cat([state[:, 1:], frame.unsqueeze(1)], 1)
        bad = alive & ~(torch.isfinite(frame).flatten(1).all(1) & (frame.abs().flatten(1).amax(1) < limit))
        if bad.any():
            diverged[bad.cpu()] = j + 1
            alive &= ~bad
        out[:, j] = torch.where(alive.reshape(-1, *[1] * (frame.ndim - 1)), frame, float("nan"))
        if not alive.any():
            break
    return Rollout(out, diverged)


def rollout_file(
    run: str | Path, data: str | Path, steps: int, out: str | Path, device: str = "cpu", batch: int = 32
) -> dict:
    """Roll out every trajectory of `data` from its first k frames; write `out`; return a summary."""
    if steps < 1:
        raise SciwmError(f"--steps {steps}: need at least 1")
    loaded = load_run(run, device)
    ds = open_data(data)
    fields, k = list(loaded.stats.fields), loaded.spec.history
    missing = [f for f in fields if f not in field_names(ds)] + [p for p in loaded.param_names if p not in ds]
    if missing:
        raise SciwmError(f"{data}: lacks {missing}, which run {run} was trained with")
    grid = tuple(ds[fields[0]].shape[2:])
    if grid != loaded.spec.grid:
        raise SciwmError(f"{data}: grid {grid} differs from the run's {loaded.spec.grid}")
    loaded.check_data(ds.attrs, data)
    if batch < 1:
        raise SciwmError(f"--batch {batch}: need at least 1")
    n, ts = ds.sizes["sample"], loaded.time_stride
    if (k - 1) * ts >= ds.sizes["time"]:
        raise SciwmError(f"{data}: {ds.sizes['time']} frames cannot hold the run's {k} history frames {ts} apart")
    starts = np.stack([ds[f][:, : (k - 1) * ts + 1 : ts].values for f in fields], 2)
    bad = ~np.isfinite(starts).reshape(n, -1).all(1)
    if bad.any():
        raise SciwmError(f"{data}: sample {int(bad.nonzero()[0][0])} has NaN or Inf in the frames a rollout starts "
                         f"from ({int(bad.sum())} such samples)")
    dt = float(np.asarray(ds.attrs.get("dt_save", 1.0)).reshape(-1)[0])
    out = Path(out)
    if out.is_dir():
        raise SciwmError(f"--out {out}: is a directory; give the file to write, e.g. {out / 'rollout.h5'}")
    partial = out.with_name(out.name + ".partial")
    attrs = {key: ds.attrs.get(key, "") for key in ("pde", "equation", "params", "domain_length", "boundary",
                                                     "solver", "dt_solver", "seed", "card")}
    attrs.update(dt_save=dt * ts, history_frames=k, time_stride=ts,
                 source=f"sciwm rollout of {Path(run).resolve()} (step {loaded.step})")
    coords = {d: ds[d].values for d in ("x", "y") if d in ds.coords}
    writer = TrajectoryWriter.create(partial, fields=fields, time=np.arange(k + steps) * dt * ts, x=coords["x"],
                                     y=coords.get("y"), params=loaded.param_names, attrs=attrs, n_expected=n)
    diverged = []
    try:
        for s0 in range(0, n, batch):
            s1 = min(n, s0 + batch)
            hist = torch.from_numpy(np.stack([ds[f][s0:s1, : (k - 1) * ts + 1 : ts].values for f in fields], 2)
                                    .astype(np.float32))
            raw = np.stack([ds[p][s0:s1].values for p in loaded.param_names], 1) if loaded.param_names \
                else np.zeros((s1 - s0, 0))
            params = loaded.normalize_params(torch.from_numpy(raw.astype(np.float64)))
            actions = _file_actions(ds, slice(s0, s1), k, steps, ts) if loaded.spec.n_action else None
            result = rollout_model(loaded.model, loaded.stats.normalize(hist).to(device), steps,
                                   None if params is None else params.float().to(device),
                                   None if actions is None else actions.to(device))
            pred = loaded.stats.denormalize(result.frames.cpu())
            frames = torch.cat([hist, pred], 1).numpy()
            writer.append({f: frames[:, :, c] for c, f in enumerate(fields)},
                          params={p: raw[:, i] for i, p in enumerate(loaded.param_names)},
                          seeds=ds["seed"][s0:s1].values if "seed" in ds else None)
            diverged += result.diverged.tolist()
        writer.set_attrs(diverged_steps=json.dumps(diverged))
        writer.finish()
    finally:
        writer.close()
    os.replace(partial, out)
    bad = [(i, s) for i, s in enumerate(diverged) if s]
    return {"samples": n, "steps": steps, "history": k, "diverged": len(bad),
            "first_divergence": min((s for _, s in bad), default=None), "out": str(out)}


def _file_actions(ds, samples: slice, k: int, steps: int, ts: int) -> Tensor:  # noqa: ANN001 - xarray
    """The actions of a rollout's `steps` model steps, from model frame k - 1 on: `(B, steps, ts * A)`."""
    if "action" not in ds:
        raise SciwmError("the run takes actions; the data file has none (variable `action`)")
    need = (k - 1 + steps) * ts
    if need > ds.sizes["time"]:
        raise SciwmError(f"--steps {steps}: the actions of {steps} steps reach frame {need - 1}; the file's end at "
                         f"frame {ds.sizes['time'] - 1}; lower --steps")
    per_frame = np.asarray(ds["action"][samples, (k - 1) * ts : need].values, np.float32)
    return torch.from_numpy(step_actions(per_frame, ts, steps).reshape(per_frame.shape[0], steps, -1))


def summary_line(summary: dict) -> str:
    msg = f"rolled out {summary['samples']} trajectories x {summary['steps']} steps -> {summary['out']}"
    if summary["diverged"]:
        msg += (f"; {summary['diverged']} diverged (earliest at step {summary['first_divergence']}; "
                "frames after it are NaN)")
    return msg
