"""PDEBench HDF5 files as a sciwm `xarray.Dataset` (lazy).

Layouts (from pdebench/data_gen/data_gen_NLE/Data_Merge.py and pdebench/models/fno/utils.py):

- flat, scalar PDEs (advection, Burgers, 1D reaction-diffusion): `tensor` (sample, time, x[, y]),
  `x-coordinate` (x), `t-coordinate` (time + 1: one more entry than saved frames), parameters as root
  attributes (`Nu`, `beta`, `rho`) and in the file name (`1D_Burgers_Sols_Nu0.001.hdf5`);
- flat, compressible flow (CFD): `density`, `pressure`, `Vx` [, `Vy`, `Vz`] (sample, time, x[, y]),
  plus `x-`, `y-`, `t-coordinate`; `eta`, `zeta`, `M` as attributes and in the file name;
- per-sample groups (2D shallow water, 2D diffusion-reaction, diffusion-sorption): `0000/data`
  (time, x[, y], channels), `0000/grid/x`, `0000/grid/y`, `0000/grid/t`.

On disk x comes before y; we transpose to (y, x).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from sciwm.data.readers.lazy import H5View, lazy_variable, space_dims
from sciwm.errors import SciwmError

CFD_FIELDS = ("density", "pressure", "Vx", "Vy", "Vz")
_NAME_PARAM = re.compile(r"^([A-Za-z]+)(-?\d[\d.eE+-]*)$")


def is_pdebench(f: h5py.File) -> bool:
    """True for files in one of the PDEBench layouts."""
    if "tensor" in f or "density" in f:
        return True
    keys = list(f.keys())
    return bool(keys) and all(k.isdigit() for k in keys) and "data" in f[keys[0]]


def params_from_name(path: str | Path) -> dict[str, float]:
    """Parameters encoded in a PDEBench file name: `1D_CFD_Rand_Eta0.01_Zeta0.1_...` -> {Eta, Zeta}."""
    out = {}
    for token in Path(path).stem.split("_"):
        m = _NAME_PARAM.match(token)
        if m and not token[:2].isdigit():
            try:
                out[m.group(1)] = float(m.group(2).rstrip(".eE+-"))
            except ValueError:
                continue
    return out


def _time(t: np.ndarray, n_time: int) -> np.ndarray:
    """PDEBench `t-coordinate` has one entry more than saved frames; keep the first n_time."""
    if len(t) < n_time:
        raise SciwmError(f"t-coordinate has {len(t)} entries for {n_time} frames")
    return np.asarray(t[:n_time], np.float64)


def open_pdebench(path: str) -> xr.Dataset:
    """Open a PDEBench file lazily as (sample, time, [y,] x) fields."""
    with h5py.File(path, "r") as f:
        if "tensor" in f or "density" in f:
            ds = _flat(path, f)
        else:
            ds = _grouped(path, f)
        file_params = {k: float(v) for k, v in f.attrs.items() if np.ndim(v) == 0 and _is_number(v)}
    file_params = {**params_from_name(path), **file_params}
    n = ds.sizes["sample"]
    for name, value in file_params.items():
        if name not in ds.variables:
            ds[name] = ("sample", np.full(n, value))
    stem = Path(path).stem
    boundary = "periodic" if "periodic" in stem else "unknown"
    ds.attrs.update(pde=stem, equation="", params=json.dumps(file_params), boundary=boundary,
                    solver="PDEBench", source="pdebench", source_path=str(path))
    return ds


def _coord(group: h5py.Group | dict, key: str, n: int) -> np.ndarray:
    """Grid positions from `group[key]`, or 0..n-1 when the file has none."""
    return np.asarray(group[key][:], np.float64) if key in group else np.arange(n, dtype=np.float64)


def _is_number(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
        return True
    except (TypeError, ValueError):
        return False


def _flat(path: str, f: h5py.File) -> xr.Dataset:
    names = ["tensor"] if "tensor" in f else [n for n in CFD_FIELDS if n in f]
    if not isinstance(f[names[0]], h5py.Dataset):
        raise SciwmError(f"{names[0]} is a group, not an array")
    shape = f[names[0]].shape
    ndim = len(shape) - 2
    if ndim not in (1, 2):
        raise SciwmError(f"{names[0]} has shape {shape}; only 1D and 2D PDEBench data are supported")
    for name in names[1:]:
        if not isinstance(f[name], h5py.Dataset) or f[name].shape != shape:
            got = f[name].shape if isinstance(f[name], h5py.Dataset) else "a group"
            raise SciwmError(f"{name} has shape {got}, {names[0]} has {shape}; every field must have the same")
    n, nt, *disk_space = shape
    space = space_dims(ndim)
    ours = (n, nt, *disk_space[::-1])
    perm = (0, 1, 3, 2) if ndim == 2 else (0, 1, 2)
    data = {("u" if name == "tensor" else name): lazy_variable(
        ("sample", "time", *space), H5View(path, [name], ours, perm)) for name in names}
    coords = {"time": _time(f["t-coordinate"][:], nt) if "t-coordinate" in f else np.arange(nt, dtype=float)}
    for i, axis in enumerate(("x", "y")[:ndim]):
        key = f"{axis}-coordinate"
        coords[axis] = _coord(f, key, disk_space[i])
    return xr.Dataset(data, coords=coords)


def _grouped(path: str, f: h5py.File) -> xr.Dataset:
    keys = sorted(f.keys())
    first = f[keys[0]]
    for k in keys:  # every sample group must hold a `data` array of the same shape (read lazily, checked now)
        d = f[k].get("data") if isinstance(f[k], h5py.Group) else None
        if not isinstance(d, h5py.Dataset):
            raise SciwmError(f"sample group {k!r} has no 'data' array")
        if d.shape != first["data"].shape:
            raise SciwmError(f"{k}/data has shape {d.shape}, {keys[0]}/data has {first['data'].shape}; every sample "
                             "must have the same")
    shape = first["data"].shape  # (time, x[, y], channels)
    ndim = len(shape) - 2
    if ndim not in (1, 2):
        raise SciwmError(f"{keys[0]}/data has shape {shape}; expected (time, x[, y], channels)")
    nt, *disk_space, nc = shape
    space = space_dims(ndim)
    ours = (len(keys), nt, *disk_space[::-1])
    perm = (0, 2, 1) if ndim == 2 else (0, 1)
    names = {1: ["u"], 2: ["u", "v"]}.get(nc, [f"c{i}" for i in range(nc)])
    sources = [f"{k}/data" for k in keys]
    data = {name: lazy_variable(("sample", "time", *space),
                                H5View(path, sources, ours, perm, tail=(c,), per_sample=True))
            for c, name in enumerate(names)}
    grid = first["grid"] if "grid" in first else {}
    coords = {"time": _time(grid["t"][:], nt) if "t" in grid else np.arange(nt, dtype=float)}
    for i, axis in enumerate(("x", "y")[:ndim]):
        coords[axis] = _coord(grid, axis, disk_space[i])
    return xr.Dataset(data, coords=coords)
