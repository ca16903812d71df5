"""`open`: any supported trajectory source as one lazy `xarray.Dataset` in the sciwm layout.

The result always has dims (sample, time, [y,] x), coords time/x[/y], one variable per field and
per-sample parameters with dim `sample`; sources are told apart by their content, not their name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import h5py
import xarray as xr

from sciwm.data.readers.generic import is_hdf5, is_zarr, open_generic
from sciwm.data.readers.pdebench import is_pdebench, open_pdebench
from sciwm.data.readers.well import is_well, open_well
from sciwm.errors import SciwmError


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def detect(path: str | Path) -> str:
    """Kind of source: "sciwm", "pdebench", "well" or "generic"."""
    path = Path(path)
    if not path.exists():
        raise SciwmError(f"{path}: no such file")
    if is_zarr(path):
        return "generic"
    if not is_hdf5(path):
        return "generic"  # NetCDF3 or something xarray may know
    try:
        with h5py.File(path, "r") as f:
            if "format_version" in f.attrs and "n_written" in f.attrs:
                return "sciwm"
            if is_well(f):
                return "well"
            if is_pdebench(f):
                return "pdebench"
    except (OSError, KeyError, RuntimeError, ValueError) as err:  # h5py raises any of these on bad metadata
        raise SciwmError(f"{path}: corrupt or truncated HDF5 file ({_one_line(err)})") from None
    return "generic"


def open(  # noqa: A001 - the natural name for `sciwm.data.open`
    path: str | Path, *, dims: Mapping[str, str] | None = None, allow_incomplete: bool = False
) -> xr.Dataset:
    """Open a trajectory source lazily: a sciwm file, PDEBench or Well HDF5, or NetCDF/Zarr.

    dims: for NetCDF/Zarr, our dim name -> the source's (e.g. {"sample": "member", "x": "lon"}).
    allow_incomplete: open a sciwm file still being written (only its committed samples).
    """
    kind = detect(path)
    try:
        if kind == "sciwm":
            return _open_sciwm(str(path), allow_incomplete)
        reader = {"pdebench": open_pdebench, "well": open_well}.get(kind)
        ds = reader(str(path)) if reader else open_generic(str(path), dims)
    except SciwmError as err:
        msg = str(err)
        raise SciwmError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise SciwmError(f"{path}: cannot read as {kind} data ({_one_line(err)})") from None
    return ds


def _open_sciwm(path: str, allow_incomplete: bool) -> xr.Dataset:
    with h5py.File(path, "r") as f:  # xarray fails obscurely on a field whose dimension has no coordinate
        missing = [c for c in ("time", "x") if c not in f]
    if missing:
        raise SciwmError(f"{path}: missing coordinate(s) {missing}")
    try:
        ds = xr.open_dataset(path, engine="h5netcdf")
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise SciwmError(f"{path}: corrupt or truncated trajectory file ({_one_line(err)})") from None
    n_written, n_expected = int(ds.attrs["n_written"]), int(ds.attrs["n_expected"])
    if not int(ds.attrs.get("complete", 0)):
        if not allow_incomplete:
            raise SciwmError(
                f"{path}: incomplete file ({n_written} of {n_expected} samples written); "
                "finish or resume its generation, or pass allow_incomplete=True"
            )
        ds = ds.isel(sample=slice(0, n_written))
    fields = [n for n, v in ds.data_vars.items() if v.attrs.get("role") == "field"]
    if not fields:
        raise SciwmError(f"{path}: no field variables (role='field') in a sciwm file")
    for name in fields:
        dims = ds[name].dims
        if dims[:2] != ("sample", "time") or dims[2:] not in (("x",), ("y", "x")):
            raise SciwmError(f"{path}: field {name!r} has dims {dims}, expected (sample, time, [y,] x)")
    for coord in ("time", "x"):
        if coord not in ds.coords:
            raise SciwmError(f"{path}: missing coordinate {coord!r}")
    ds.attrs["source"] = "sciwm"
    return ds


def field_names(ds: xr.Dataset) -> list[str]:
    """Fields of an opened dataset: variables with dims (sample, time, ...space)."""
    return [n for n, v in ds.data_vars.items() if v.dims[:2] == ("sample", "time") and n != "action"]


def param_names(ds: xr.Dataset) -> list[str]:
    """Per-sample parameters of an opened dataset (not `seed`)."""
    return [n for n, v in ds.data_vars.items() if v.dims == ("sample",) and n != "seed"]


def space_of(ds: xr.Dataset) -> tuple[str, ...]:
    """("x",) or ("y", "x")."""
    return ("y", "x") if "y" in ds.dims else ("x",)

