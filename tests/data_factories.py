"""Small files in the published layouts (sciwm, PDEBench, the Well, NetCDF), for the data tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from sciwm.data.format import TrajectoryWriter

ATTRS = {"pde": "burgers", "equation": "u_t + u u_x = nu u_xx", "params": {"a": 1.0}, "domain_length": 2.0,
         "boundary": "periodic", "solver": "test", "dt_solver": 0.01, "dt_save": 0.5, "seed": 7, "card": "x"}


def values(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Deterministic float32 values, exactly representable, distinct per entry."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def make_sciwm(path: Path, n: int = 4, nt: int = 6, nx: int = 8, ny: int | None = None,
               fields: tuple[str, ...] = ("u",), action: bool = False, complete: bool = True,
               batch: int = 2) -> dict[str, np.ndarray]:
    """Write a sciwm file in batches; returns the arrays written (fields, nu, seed, action)."""
    grid = (nx,) if ny is None else (ny, nx)
    data = {f: values((n, nt, *grid), seed=i) for i, f in enumerate(fields)}
    data["nu"] = np.linspace(0.1, 0.4, n)
    data["seed"] = np.arange(100, 100 + n)
    if action:
        data["action"] = values((n, nt, 2), seed=99)
    w = TrajectoryWriter.create(path, fields=list(fields), time=np.arange(nt) * 0.5,
                                x=np.arange(nx) * 2.0 / nx, y=None if ny is None else np.arange(ny) / ny,
                                params=["nu"],
                                action_shape=(2,) if action else None, attrs=ATTRS, n_expected=n)
    stop = n if complete else n - 1
    for s in range(0, stop, batch):
        e = min(s + batch, stop)
        w.append({f: data[f][s:e] for f in fields}, {"nu": data["nu"][s:e]}, data["seed"][s:e],
                 action=data["action"][s:e] if action else None)
    w.finish() if complete else w.close()
    return data


def make_pdebench_1d(directory: Path, n: int = 3, nt: int = 5, nx: int = 8) -> tuple[Path, np.ndarray]:
    """`tensor` (n, nt, nx), `x-coordinate` (nx), `t-coordinate` (nt + 1), Nu only in the name."""
    path = directory / "1D_Burgers_Sols_Nu0.01.hdf5"
    u = values((n, nt, nx))
    with h5py.File(path, "w") as f:
        f["tensor"] = u
        f["x-coordinate"] = (np.arange(nx) + 0.5) / nx
        f["t-coordinate"] = np.linspace(0, 2.0, nt + 1)
    return path, u


def make_pdebench_2d(directory: Path, n: int = 3, nt: int = 4, nx: int = 6, ny: int = 5,
                     nc: int = 2) -> tuple[Path, np.ndarray]:
    """Per-sample groups `0000/data` (nt, nx, ny, nc), `0000/grid/{x,y,t}`; returns (n, nt, nx, ny, nc)."""
    path = directory / "2D_diff-react_NA_NA.h5"
    u = values((n, nt, nx, ny, nc))
    with h5py.File(path, "w") as f:
        for i in range(n):
            g = f.create_group(f"{i:04d}")
            g["data"] = u[i]
            g["grid/x"] = np.linspace(-1, 1, nx)
            g["grid/y"] = np.linspace(-1, 1, ny)
            g["grid/t"] = np.linspace(0, 5, nt)
    return path, u


def make_well(directory: Path, n: int = 2, nt: int = 4, nx: int = 6, ny: int = 5) -> tuple[Path, dict]:
    """A 2D Well file: t0 `density`, t1 `velocity`, t2 `stress`, a constant field, scalars."""
    path = directory / "shear_flow.hdf5"
    d = {"density": values((n, nt, nx, ny), 1), "velocity": values((n, nt, nx, ny, 2), 2),
         "stress": values((n, nt, nx, ny, 2, 2), 3)}
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="shear_flow", grid_type="cartesian", n_spatial_dims=2, n_trajectories=n,
                       simulation_parameters=["Reynolds"], Reynolds=1000.0)
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["time"] = np.linspace(1.0, 2.5, nt)
        dims["time"].attrs["sample_varying"] = False
        for name, size in (("x", nx), ("y", ny)):
            dims[name] = np.arange(size) / size
            dims[name].attrs.update(sample_varying=False, time_varying=False)
        bc = f.create_group("boundary_conditions")
        for name in ("x_periodic", "y_periodic"):
            bc.create_group(name).attrs["bc_type"] = "PERIODIC"
        sc = f.create_group("scalars")
        sc.attrs["field_names"] = ["Reynolds", "amplitude"]
        sc["Reynolds"] = np.array(1000.0)
        sc["Reynolds"].attrs.update(sample_varying=False, time_varying=False)
        sc["amplitude"] = np.array([0.5, 1.5][:n])
        sc["amplitude"].attrs.update(sample_varying=True, time_varying=False)
        for order, names in enumerate((["density", "mask"], ["velocity"], ["stress"])):
            g = f.create_group(f"t{order}_fields")
            g.attrs["field_names"] = names
            for name in names:
                if name == "mask":  # constant in time and over samples: skipped
                    g[name] = np.ones((nx, ny), np.float32)
                    g[name].attrs.update(sample_varying=False, time_varying=False, dim_varying=[True, True])
                    continue
                g[name] = d[name]
                g[name].attrs.update(sample_varying=True, time_varying=True, dim_varying=[True, True])
    return path, d


def make_netcdf(path: Path, n: int = 3, nt: int = 4, nlat: int = 5, nlon: int = 6) -> np.ndarray:
    """NetCDF (or Zarr) with dims (member, t, lat, lon) stored as (t, member, lon, lat).

    Returns the field in (member, t, lat, lon) order."""
    u = values((n, nt, nlat, nlon), 5)
    ds = xr.Dataset(
        {"temp": (("t", "member", "lon", "lat"), u.transpose(1, 0, 3, 2)),
         "forcing": ("member", np.arange(n) * 1.0), "junk": (("lat",), np.zeros(nlat))},
        coords={"t": np.arange(nt) * 0.25, "lat": np.linspace(-1, 1, nlat), "lon": np.linspace(0, 3, nlon)},
    )
    if str(path).endswith(".zarr"):
        ds.to_zarr(path, consolidated=False)
    else:
        ds.to_netcdf(path, engine="h5netcdf")
    return u
