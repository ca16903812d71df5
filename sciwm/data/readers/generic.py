"""Any NetCDF file or Zarr store with sample/time/space dims, as a sciwm `xarray.Dataset` (lazy).

Dims are found by the `dims` mapping (ours -> theirs, e.g. {"sample": "member", "x": "lon"}) or guessed
from common names. Variables with dims {sample, time, [y,] x} become fields (transposed to our order),
variables with dims (sample,) become per-sample parameters; anything else is dropped. A file without a
sample dim is read as one trajectory.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from sciwm.errors import SciwmError

GUESSES = {
    "sample": ("sample", "samples", "batch", "member", "ensemble", "realization", "trajectory", "n"),
    "time": ("time", "t"),
    "y": ("y", "lat", "latitude"),
    "x": ("x", "lon", "longitude"),
}


def is_zarr(path: str | Path) -> bool:
    """Zarr stores are directories (or *.zarr paths)."""
    p = Path(path)
    return p.is_dir() or p.suffix == ".zarr"


def _open_raw(path: str) -> xr.Dataset:
    if is_zarr(path):
        try:
            with warnings.catch_warnings():  # stores without consolidated metadata are fine, only slower
                warnings.simplefilter("ignore", RuntimeWarning)
                return xr.open_zarr(path, consolidated=None)
        except ImportError:
            raise SciwmError("reading Zarr needs the zarr package: pip install 'sciwm[zarr]'") from None
    return xr.open_dataset(path, engine="h5netcdf" if is_hdf5(path) else None)


def is_hdf5(path: str | Path) -> bool:
    """HDF5 (and so NetCDF4) files start with this signature."""
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89HDF\r\n\x1a\n"


def resolve_dims(available: Mapping[str, int], dims: Mapping[str, str] | None) -> dict[str, str]:
    """Map our dim names to the source's: explicit `dims` first, then GUESSES. Returns theirs -> ours."""
    dims = dict(dims or {})
    unknown = set(dims) - set(GUESSES)
    if unknown:
        raise SciwmError(f"--dims keys {sorted(unknown)} unknown; use sample, time, x, y (e.g. time=t,x=lon)")
    out = {}
    for ours, guesses in GUESSES.items():
        if ours in dims:
            if dims[ours] not in available:
                have = sorted(available)
                raise SciwmError(f"dim {dims[ours]!r} (for {ours}) not in the file; it has {have}")
            out[dims[ours]] = ours
            continue
        found = [g for g in guesses if g in available and g not in out]
        if found:
            out[found[0]] = ours
    if "time" not in out.values() or "x" not in out.values():
        have = sorted(available)
        raise SciwmError(f"cannot tell time and x among dims {have}; pass --dims time=NAME,x=NAME")
    return out


def open_generic(path: str, dims: Mapping[str, str] | None = None) -> xr.Dataset:
    """Open a NetCDF file or Zarr store lazily in sciwm layout."""
    raw = _open_raw(path)
    mapping = resolve_dims(raw.sizes, dims)
    ds = raw.rename(mapping)
    if "sample" not in ds.dims:
        ds = ds.expand_dims("sample")
    space = ("y", "x") if "y" in ds.dims else ("x",)
    want = {"sample", "time", *space}
    fields = {n: v.transpose("sample", "time", *space)
              for n, v in ds.data_vars.items() if set(v.dims) == want}
    if not fields:
        shapes = {n: v.dims for n, v in ds.data_vars.items()}
        raise SciwmError(f"no variable has dims {tuple(sorted(want))}; variables: {shapes}")
    params = {n: v for n, v in ds.data_vars.items() if v.dims == ("sample",)}
    out = xr.Dataset({**fields, **params})
    for name in ("time", *space):
        if name not in out.coords:
            out = out.assign_coords({name: np.arange(out.sizes[name], dtype=np.float64)})
    out.attrs.update(raw.attrs)
    out.attrs.setdefault("pde", Path(path).stem)
    out.attrs.update(source="netcdf/zarr", source_path=str(path))
    return out
