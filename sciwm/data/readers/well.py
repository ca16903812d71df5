"""The Well HDF5 files as a sciwm `xarray.Dataset` (lazy).

Layout (the_well docs "Data format" and the_well/data/datasets.py): root attributes `dataset_name`,
`grid_type`, `n_spatial_dims`, `n_trajectories`, `simulation_parameters` (names of root attributes
holding parameter values); group `dimensions` (attr `spatial_dims`, datasets per spatial dim and
`time`, each with `sample_varying`); `boundary_conditions/*` (attr `bc_type`); `scalars` (attr
`field_names`); `t0_fields`, `t1_fields`, `t2_fields` (attr `field_names`; datasets
(n_traj, n_t, *spatial[, D[, D]]) with `sample_varying`, `time_varying`, `dim_varying`).

Mapping: spatial dims in `spatial_dims` order become x (first) and y (second); vector components become
`<name>_<dim>` and tensor components `<name>_<dim><dim>`, as the Well's own loader names them. Fields that
do not vary over samples, time and every spatial dim are skipped (listed in attr `skipped_fields`);
sample-varying constant scalars become per-sample variables, constant scalars go into `params`.
"""

from __future__ import annotations

import itertools
import json

import h5py
import numpy as np
import xarray as xr

from sciwm.data.readers.lazy import H5View, lazy_variable, space_dims
from sciwm.errors import SciwmError


def is_well(f: h5py.File) -> bool:
    """True for files in the Well layout."""
    return "t0_fields" in f and "dimensions" in f and "n_spatial_dims" in f.attrs


def _names(attr: object) -> list[str]:
    return [a.decode() if isinstance(a, bytes) else str(a) for a in np.atleast_1d(attr)]


def _coord(d: h5py.Dataset) -> np.ndarray:
    values = d[:]
    return np.asarray(values[0] if d.attrs.get("sample_varying", False) and values.ndim > 1 else values,
                      np.float64)


def open_well(path: str) -> xr.Dataset:
    """Open a Well file lazily as (sample, time, [y,] x) fields."""
    with h5py.File(path, "r") as f:
        dims = _names(f["dimensions"].attrs["spatial_dims"])
        if len(dims) not in (1, 2):
            raise SciwmError(f"{len(dims)}D Well data are not supported (only 1D and 2D)")
        time = _coord(f["dimensions"]["time"])
        coords = {"time": time - time[0], "x": _coord(f["dimensions"][dims[0]])}
        if len(dims) == 2:
            coords["y"] = _coord(f["dimensions"][dims[1]])
        data, skipped = _fields(path, f, dims)
        params, per_sample = _scalars(f)
        bcs = {g: _names(f["boundary_conditions"][g].attrs.get("bc_type", "unknown"))[0].lower()
               for g in f.get("boundary_conditions", {})}
        attrs = {k: _scalar_attr(v) for k, v in f.attrs.items()}
    data.update({k: ("sample", v) for k, v in per_sample.items()})
    ds = xr.Dataset(data, coords=coords)
    sim = attrs.get("simulation_parameters", [])
    params.update({k: attrs[k] for k in _names(sim) if k in attrs} if sim is not None else {})
    kinds = set(bcs.values())
    ds.attrs.update(
        pde=str(attrs.get("dataset_name", "the_well")), equation="", params=json.dumps(params, default=str),
        boundary=kinds.pop() if len(kinds) == 1 else ",".join(f"{k}:{v}" for k, v in sorted(bcs.items())),
        solver="the Well", source="the_well", source_path=str(path), time_offset=float(time[0]),
        skipped_fields=",".join(skipped),
    )
    return ds


def _scalar_attr(v: object) -> object:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return [_scalar_attr(x) for x in v.tolist()] if v.ndim else v.item()
    return v.item() if isinstance(v, np.generic) else v


def _fields(path: str, f: h5py.File, dims: list[str]) -> tuple[dict, list[str]]:
    n = len(dims)
    perm = (0, 1, 3, 2) if n == 2 else (0, 1, 2)
    data, skipped = {}, []
    for order in range(3):
        group = f.get(f"t{order}_fields")
        if group is None:
            continue
        for name in _names(group.attrs.get("field_names", [])):
            d = group[name]
            varying = d.attrs.get("sample_varying", True) and d.attrs.get("time_varying", True) \
                and bool(np.all(d.attrs.get("dim_varying", True)))
            if not varying:
                skipped.append(name)
                continue
            want = 2 + n + order  # (sample, time, *space, then one axis of n components per tensor order)
            if d.ndim != want or any(c != n for c in d.shape[2 + n:]):
                axes = f"sample, time, {n} spatial" + (f", {order} of {n} components" if order else "")
                raise SciwmError(f"t{order}_fields/{name} has shape {d.shape}; a rank-{order} field in {n}D "
                                 f"needs {want} axes ({axes})")
            nb, nt, *disk = d.shape[: 2 + n]
            ours = (nb, nt, *disk[::-1])
            for comp in itertools.product(range(n), repeat=order):
                label = f"{name}_{''.join(dims[i] for i in comp)}" if order else name
                view = H5View(path, [f"t{order}_fields/{name}"], ours, perm, tail=comp)
                data[label] = lazy_variable(("sample", "time", *space_dims(n)), view)
    if not data:
        raise SciwmError("no field varies over samples and time (t0/t1/t2_fields)")
    return data, skipped


def _scalars(f: h5py.File) -> tuple[dict, dict]:
    """Constant scalars -> params; sample-varying constant scalars -> per-sample arrays."""
    params, per_sample = {}, {}
    group = f.get("scalars")
    if group is None:
        return params, per_sample
    for name in _names(group.attrs.get("field_names", [])):
        d = group[name]
        if d.attrs.get("time_varying", False):
            continue
        values = np.asarray(d[()], np.float64)
        if d.attrs.get("sample_varying", False):
            per_sample[name] = values.reshape(-1)
        else:
            params[name] = float(values.reshape(-1)[0])
    return params, per_sample
