"""Card → batched solves → one trajectory file per split (`train.h5`, `val.h5`, `test.h5`).

Trajectory `i` of a split is a pure function of the card and `i`: its seed comes from
`(card seed, split, i)`, its parameters and initial condition from that seed, so it is bit-identical
whatever the batch size, the device count, or an interruption and `--resume` in between.
Files are written as `<split>.h5.partial`, committed batch by batch, and renamed to `<split>.h5` only
when complete: an interrupted run loses at most the batch in flight and never leaves a file that looks
complete. `resume=True` continues a partial file and keeps finished ones.

Cards with a `[forcing]` table also store actions `(sample, time, A)`: trajectory `i` draws its
sequence from its own seed (`Card.draw_actions`), and frame t+1 is `solver.advance(frame t,
steps_per_frame, forcing=F(action[t]))` with `F = Card.modal_forcing()`; the burn-in is unforced.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import h5netcdf
import numpy as np
import torch
from tqdm import tqdm

from sciwm.data.card import Card
from sciwm.data.format import TrajectoryWriter
from sciwm.errors import SciwmError
from sciwm.ics import initial_condition
from sciwm.pdes import Solver, family, make_solver

SOLVER_NAME = (
    "sciwm pseudo-spectral (Fourier, 2/3 dealiasing) + ETDRK4 (Kassam-Trefethen contour coefficients)"
)


@dataclass
class GenerationStats:
    """Where the wall time went: `solver_s` inside the solves, `total_s` in all."""

    trajectories: int = 0
    solver_s: float = 0.0
    total_s: float = 0.0


def split_counts(card: Card, samples: int | None) -> dict[str, int]:
    """Trajectories per split: the card's, or `samples` for train and val/test scaled alike."""
    if samples is None:
        return dict(card.splits)
    if samples < 1:
        raise SciwmError(f"--samples {samples}: need at least 1")
    scale = samples / card.splits["train"]
    return {s: samples if s == "train" else math.ceil(n * scale) for s, n in card.splits.items()}


def solve_batch(card: Card, split: str, indices: range, device: str = "cpu") -> dict[str, np.ndarray]:
    """Solve trajectories `indices` of `split`; returns fields `(b, T, *grid)`, params `(b,)`, `seed`."""
    seeds = [card.trajectory_seed(split, i) for i in indices]
    pde = family(card.pde)
    draws = [card.draw_params(s) for s in seeds]
    params: dict[str, float | torch.Tensor] = dict(card.fixed_params)
    for key in card.sampled_params:
        params[key] = torch.tensor([d[key] for d in draws], dtype=torch.float64)
    u0 = initial_condition(card.ic_kind, card.grid, seeds, channels=len(pde.fields), **card.ic_options)
    pad = len(seeds) == 1  # a lone transform takes another FFT code path: pad to keep bits identical
    if pad:
        u0 = u0.repeat(2, *[1] * (u0.ndim - 1))
        params = {k: v.repeat(2) if isinstance(v, torch.Tensor) else v for k, v in params.items()}
    solver = make_solver(card.pde, card.grid, card.dt, params, device=device, dtype=card.dtype)
    u = solver.advance(u0, card.burn_in_steps)
    if card.forcing is None:
        traj = solver.rollout(u, card.frames, card.steps_per_frame)
    else:
        actions = np.stack([card.draw_actions(s) for s in seeds])
        traj = forced_rollout(card, solver, u, np.concatenate([actions] * 2) if pad else actions)
    traj = traj[: len(seeds)].cpu().numpy()
    out = {name: traj[:, :, c] for c, name in enumerate(pde.fields)}
    out.update({k: np.array([d[k] for d in draws]) for k in card.sampled_params})
    out["seed"] = np.array(seeds, dtype=np.int64)
    return out


def forced_rollout(card: Card, solver: Solver, u: torch.Tensor, actions: np.ndarray) -> torch.Tensor:
    """Frames `(b, T, C, *grid)` from `u: (b, C, *grid)` under `actions: (b, T, A)`: frame 0 is `u`,
    frame t+1 is `solver.advance(frame t, steps_per_frame, forcing=card.modal_forcing()(action[:, t]))`."""
    forcing = card.modal_forcing()
    frames = [u]
    for t in range(card.frames - 1):
        try:
            u = solver.advance(u, card.steps_per_frame, forcing=forcing(actions[:, t]))
        except SciwmError as err:
            raise SciwmError(f"forced solve, frame {t} to {t + 1}: {err} (or a smaller [forcing] scale)") from None
        frames.append(u)
    return torch.stack(frames, 1)


def _attrs(card: Card, split: str) -> dict:
    pde = family(card.pde)
    return {
        "name": card.name,
        "split": split,
        "pde": card.pde,
        "equation": pde.equation,
        "fields": json.dumps(list(pde.fields)),
        "params": json.dumps(card.fixed_params, sort_keys=True),
        "sampled_params": json.dumps(card.sampled_params),
        "domain_length": list(card.grid.length),
        "boundary": "periodic",
        "solver": SOLVER_NAME,
        "precision": card.precision,
        "dt_solver": card.dt,
        "dt_save": card.save_every,
        "burn_in": card.burn_in,
        "seed": card.seed,
        "card": card.text,
        **({"forcing": json.dumps(card.forcing_attr())} if card.forcing is not None else {}),
    }


def _same_run(attrs: dict, card: Card, n: int) -> bool:
    """Whether a file's attributes say it was made from `card` with `n` samples."""
    return attrs.get("card") == card.text and int(np.asarray(attrs.get("n_expected", -1)).reshape(-1)[0]) == n


def _open_writer(card: Card, split: str, n: int, partial: Path, resume: bool) -> TrajectoryWriter:
    if partial.exists():
        if not resume:
            raise SciwmError(
                f"{partial}: left by an interrupted run; pass --resume to continue it, or delete it"
            )
        writer = TrajectoryWriter.resume(partial)
        if not _same_run(writer.attrs, card, n):
            writer.close()
            raise SciwmError(f"{partial}: made from another card or sample count; delete it to start again")
        return writer
    pde = family(card.pde)
    coords = card.grid.coords(torch.float64)
    return TrajectoryWriter.create(
        partial,
        fields=list(pde.fields),
        time=np.arange(card.frames) * card.save_every,
        x=coords[0].numpy(),
        y=coords[1].numpy() if card.grid.ndim == 2 else None,
        params=card.sampled_params,
        action_shape=(card.modal_forcing().size,) if card.forcing is not None else None,
        attrs=_attrs(card, split),
        n_expected=n,
    )


def generate(
    card: Card,
    out: str | Path,
    *,
    samples: int | None = None,
    device: str = "cpu",
    batch: int = 64,
    resume: bool = False,
    progress: bool = True,
) -> GenerationStats:
    """Generate every split of `card` into directory `out`; see the module docstring."""
    if batch < 1:
        raise SciwmError(f"--batch {batch}: need at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stats = GenerationStats()
    t_start = time.perf_counter()
    for split, n in split_counts(card, samples).items():
        path, partial = out / f"{split}.h5", out / f"{split}.h5.partial"
        if n == 0:
            continue
        if path.exists():
            if not resume:
                raise SciwmError(f"{path}: exists; pass --resume to keep it, or delete it to generate again")
            with h5netcdf.File(path, "r") as f:
                if not _same_run(dict(f.attrs), card, n):
                    raise SciwmError(f"{path}: made from another card or sample count; delete it to start again")
            continue
        writer = _open_writer(card, split, n, partial, resume)
        try:
            bar = tqdm(
                total=n,
                initial=writer.n_written,
                desc=f"{card.name} {split}",
                unit="traj",
                disable=not progress,
            )
            for start in range(writer.n_written, n, batch):
                t0 = time.perf_counter()
                try:
                    result = solve_batch(card, split, range(start, min(start + batch, n)), device)
                except SciwmError as err:
                    raise SciwmError(f"card {card.name}, {split} trajectories from {start}: {err}") from None
                stats.solver_s += time.perf_counter() - t0
                seeds = result.pop("seed")
                fields = {f: result.pop(f) for f in family(card.pde).fields}
                for name, values in fields.items():  # finite in the solver's precision, maybe not in float32
                    with np.errstate(over="ignore"):  # the overflow is what is checked, and refused, here
                        stored = np.asarray(values, np.float32)
                    if not np.isfinite(stored).all():
                        i, t = (int(v) for v in np.argwhere(~np.isfinite(stored))[0][:2])
                        raise SciwmError(f"card {card.name}: {name} of {split} trajectory {start + i}, frame {t}, "
                                         "overflows the float32 the file stores (|values| above 3.4e38); lower the "
                                         "initial amplitude or forcing")
                    fields[name] = stored  # cast once, here, not again by the writer
                # actions are a pure function of the seed, like the parameters: drawn again, not carried
                action = np.stack([card.draw_actions(int(s)) for s in seeds]) if card.forcing else None
                writer.append(fields, params=result, seeds=seeds, action=action)
                stats.trajectories += len(seeds)
                bar.update(len(seeds))
            bar.close()
            writer.finish()
        finally:
            writer.close()
        os.replace(partial, path)
    stats.total_s = time.perf_counter() - t_start
    return stats
