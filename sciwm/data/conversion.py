"""`convert` any readable source into a sciwm trajectory file, and `info`, a one-screen summary."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from sciwm.data.format import TrajectoryWriter
from sciwm.data.reading import field_names, open, param_names, space_of
from sciwm.errors import SciwmError

CHUNK_BYTES = 64 * 2**20  # samples read per step in streaming passes


def samples_per_chunk(ds: xr.Dataset) -> int:
    """Samples per streaming step, so one step reads about CHUNK_BYTES."""
    per_sample = sum(int(np.prod(ds[n].shape[1:])) * 4 for n in field_names(ds))
    return max(1, CHUNK_BYTES // max(per_sample, 1))


def check_frames(arr: np.ndarray, what: str, path: str | Path, s0: int) -> None:
    """Raise on the first (sample, frame) of `arr` (b, T, ...), samples from `s0` on, holding a NaN or inf."""
    bad = ~np.isfinite(arr.reshape(arr.shape[0], arr.shape[1], -1)).all(axis=2)
    if bad.any():
        s, t = np.argwhere(bad)[0]
        raise SciwmError(f"{path}: {what} has NaN/inf at sample {s0 + s}, frame {t} "
                         f"({int(bad.sum())} bad frames in samples {s0}-{s0 + len(arr) - 1})")


def iter_chunks(ds: xr.Dataset, names: list[str], path: str | Path):
    """Yield (start, {name: (b, T, *grid) float32}) over sample chunks; raise on a NaN/inf frame."""
    step = samples_per_chunk(ds)
    n = ds.sizes["sample"]
    for s0 in range(0, n, step):
        block = {name: np.asarray(ds[name][s0 : s0 + step].values, np.float32) for name in names}
        for name, arr in block.items():
            check_frames(arr, f"field {name!r}", path, s0)
        yield s0, block


def _domain_length(x: np.ndarray) -> float:
    """Periodic grid [0, L): L = n * dx for uniform spacing."""
    return float(len(x) * (x[1] - x[0])) if len(x) > 1 else 1.0


def _attrs(ds: xr.Dataset) -> dict:
    a = ds.attrs
    time = ds["time"].values
    space = space_of(ds)
    lengths = [_domain_length(ds[d].values) for d in reversed(space)]  # [Lx, Ly]
    params = a.get("params", "{}")
    return {
        "pde": str(a.get("pde", "unknown")), "equation": str(a.get("equation", "")),
        "params": params if isinstance(params, str) else json.dumps(params),
        "domain_length": lengths[0] if len(lengths) == 1 else lengths,
        "boundary": str(a.get("boundary", "unknown")), "solver": str(a.get("solver", "unknown")),
        "dt_solver": float(a.get("dt_solver", np.nan)),
        "dt_save": float(a.get("dt_save", time[1] - time[0] if len(time) > 1 else np.nan)),
        "seed": int(a.get("seed", -1)), "card": str(a.get("card", "")),
        "source": str(a.get("source", "")), "source_path": str(a.get("source_path", "")),
    }


def convert(src: str | Path, dst: str | Path, *, dims: Mapping[str, str] | None = None) -> Path:
    """Write `src` (anything `open` reads) as a sciwm trajectory file at `dst`; returns `dst`.

    Streams sample chunks; writes `dst.partial` and renames it at the end, so `dst` never holds a half
    file. Raises SciwmError on NaN/inf frames or actions (naming sample and frame) or parameters, and
    removes the partial file.
    """
    ds = open(src, dims=dims)
    dst = Path(dst)
    tmp = dst.with_name(dst.name + ".partial")
    names, params = field_names(ds), param_names(ds)
    space = space_of(ds)
    has_action = "action" in ds.data_vars
    for p in params:  # per-trajectory values are small: checked before anything is written
        bad = np.flatnonzero(~np.isfinite(np.asarray(ds[p].values, dtype=float)))
        if bad.size:
            raise SciwmError(f"{src}: parameter {p!r} is NaN/inf at sample {bad[0]}")
    writer = TrajectoryWriter.create(
        tmp, fields=names, time=ds["time"].values, x=ds["x"].values,
        y=ds["y"].values if "y" in space else None, params=params,
        action_shape=ds["action"].shape[2:] if has_action else None,
        attrs=_attrs(ds), n_expected=ds.sizes["sample"],
    )
    try:
        seeds = ds["seed"].values if "seed" in ds else np.full(ds.sizes["sample"], -1)
        for s0, block in iter_chunks(ds, names, src):
            b = len(next(iter(block.values())))
            action = ds["action"][s0 : s0 + b].values if has_action else None
            if action is not None:
                check_frames(action, "action", src, s0)
            writer.append(block, {p: ds[p].values[s0 : s0 + b] for p in params}, seeds[s0 : s0 + b], action=action)
        writer.finish()
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dst)
    return dst


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def info(path: str | Path, *, dims: Mapping[str, str] | None = None, check: bool = True) -> str:
    """One-screen summary: PDE, fields and shapes, time step, parameter ranges, size, completeness.

    Incomplete sciwm files are summarised (committed samples only), not refused. check: stream over the
    data and raise SciwmError on NaN/inf frames.
    """
    path = Path(path)
    ds = open(path, dims=dims, allow_incomplete=True)
    names, params = field_names(ds), param_names(ds)
    time = ds["time"].values
    a = ds.attrs
    lines = [f"{path}  ({a.get('source', '?')}, {_size(path) / 2**20:.1f} MiB on disk)"]
    if a.get("source") == "sciwm":
        done = int(a.get("complete", 0))
        state = "complete" if done else "INCOMPLETE"
        lines.append(f"  status   {state}: {a['n_written']} of {a['n_expected']} samples")
    lines.append(f"  pde      {a.get('pde', '?')}   {a.get('equation', '')}".rstrip())
    sizes = (f"{d}={n}" for d, n in ds.sizes.items() if not d.startswith("action_"))
    lines.append("  dims     " + ", ".join(sizes))
    dt = f"{time[1] - time[0]:.6g}" if len(time) > 1 else "-"
    lines.append(f"  time     {time[0]:.6g} .. {time[-1]:.6g}, dt_save {dt}")
    for d in space_of(ds)[::-1]:
        v = ds[d].values
        lines.append(f"  {d:<8} {v[0]:.6g} .. {v[-1]:.6g} ({len(v)} points)")
    for name in names:
        lines.append(f"  field    {name} {tuple(ds[name].shape)} {ds[name].dtype}")
    for name in params:
        v = ds[name].values
        span = f" in [{np.min(v):.6g}, {np.max(v):.6g}]" if len(v) else ""
        lines.append(f"  param    {name}{span}")
    if "action" in ds:
        forcing = json.loads(a["forcing"]) if a.get("forcing") else {}
        detail = f"; modal forcing, modes {forcing.get('modes')}, scale {forcing.get('scale')}" if forcing else ""
        lines.append(f"  action   {tuple(ds['action'].shape)} per frame{detail}")
    if a.get("params"):
        lines.append(f"  fixed    {a['params']}")
    if a.get("boundary"):
        lines.append(f"  boundary {a['boundary']}")
    if check and ds.sizes["sample"]:
        for _ in iter_chunks(ds, names, path):
            pass
        lines.append("  values   all finite")
    return "\n".join(lines)
