"""The trajectory file: a NetCDF4-compatible HDF5 file, written with h5netcdf, grown sample by sample.

Layout (the contract in DESIGN.md; every name is listed in docs/data.md):

- dims: `sample` (unlimited), `time`, then `x` (1D) or `y`, `x` (2D);
- coords: `time` (time), `x` (x), `y` (y);
- one float32 variable per field, dims (sample, time, [y,] x), chunked one trajectory per chunk;
- per-trajectory parameters (sample,), `seed` (sample,), optional `action` (sample, time, *action_dims);
- global attributes: pde, equation, params (JSON), domain_length, boundary, solver, dt_solver, dt_save,
  seed, card, sciwm_version, format_version, plus the bookkeeping `n_expected`, `n_written`, `complete`.

Crash safety: `append` writes the data first and bumps `n_written` last, so samples beyond `n_written`
are garbage from an interrupted append; `resume` cuts them off. `complete` becomes 1 in `finish`, last.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5netcdf
import numpy as np

from sciwm import __version__
from sciwm.errors import SciwmError

FORMAT_VERSION = 1
REQUIRED_ATTRS = (
    "pde", "equation", "params", "domain_length", "boundary", "solver", "dt_solver", "dt_save", "seed",
    "card", "sciwm_version", "format_version",
)
BOOKKEEPING_ATTRS = ("n_expected", "n_written", "complete")
MAX_CHUNK_BYTES = 16 * 2**20  # a chunk holds a trajectory's whole time range unless that exceeds this


def _chunk_frames(n_time: int, grid: tuple[int, ...], itemsize: int) -> int:
    """Frames per chunk: all of them, or as many as fit in MAX_CHUNK_BYTES (at least one)."""
    frame_bytes = itemsize * int(np.prod(grid))
    return max(1, min(n_time, MAX_CHUNK_BYTES // max(frame_bytes, 1)))


def _coerce_attr(value: Any) -> Any:
    """Attributes as NetCDF can hold them: dicts become JSON text, None becomes ''."""
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return np.asarray(value, dtype=np.float64)
    return value


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


class TrajectoryWriter:
    """Writes a trajectory file; use `create` or `resume`, then `append` batches and `finish`.

    Also a context manager: leaving the block closes the file (without marking it complete).
    """

    def __init__(self, path: Path, handle: h5netcdf.File) -> None:
        self.path = path
        self._f = handle
        self.fields: list[str] = [n for n, v in handle.variables.items() if v.attrs.get("role") == "field"]
        self.params: list[str] = [n for n, v in handle.variables.items() if v.attrs.get("role") == "param"]
        self.has_action = "action" in handle.variables
        self.n_expected = int(handle.attrs["n_expected"])
        self._closed = False

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        fields: Sequence[str],
        time: np.ndarray,
        x: np.ndarray,
        y: np.ndarray | None = None,
        params: Sequence[str] = (),
        action_shape: tuple[int, ...] | None = None,
        attrs: Mapping[str, Any],
        n_expected: int,
        dtype: str = "float32",
    ) -> TrajectoryWriter:
        """Create a new, empty file (overwriting `path`).

        fields: names of the physical fields, e.g. ["u"]; time: (T,) frame times; x: (nx,), y: (ny,)
        for 2D; params: names of per-trajectory parameters; action_shape: trailing shape of the
        per-step action, or None; attrs: the global attributes (see REQUIRED_ATTRS; `sciwm_version`
        and `format_version` are filled in); n_expected: samples the file will hold when complete.
        """
        attrs = {"sciwm_version": __version__, "format_version": FORMAT_VERSION, **attrs}
        missing = [k for k in REQUIRED_ATTRS if k not in attrs]
        if missing:
            raise SciwmError(f"{path}: cannot create trajectory file, missing attributes {missing}")
        if not fields:
            raise SciwmError(f"{path}: a trajectory file needs at least one field")
        clash = set(fields) & set(params) | (set(fields) | set(params)) & {"time", "x", "y", "seed", "action"}
        if clash:
            raise SciwmError(f"{path}: names {sorted(clash)} are used twice or reserved; rename them")
        time, x = np.asarray(time, np.float64), np.asarray(x, np.float64)
        space = ("x",) if y is None else ("y", "x")
        grid = (len(x),) if y is None else (len(y), len(x))
        path = Path(path)
        f = h5netcdf.File(path, "w")
        f.dimensions = {"sample": None, "time": len(time), **dict(zip(space, grid, strict=True))}
        coords = {"time": time, "x": x, **({"y": np.asarray(y, np.float64)} if y is not None else {})}
        for name, values in coords.items():
            v = f.create_variable(name, (name,), "f8", data=values)
            v.attrs.update({"units": "1", "long_name": "time" if name == "time" else f"position {name}"})
        nt = _chunk_frames(len(time), grid, np.dtype(dtype).itemsize)
        for name in fields:
            v = f.create_variable(name, ("sample", "time", *space), dtype, chunks=(1, nt, *grid))
            v.attrs["role"] = "field"
        for name in params:
            f.create_variable(name, ("sample",), "f8", chunks=(1024,)).attrs["role"] = "param"
        f.create_variable("seed", ("sample",), "i8", chunks=(1024,)).attrs["role"] = "seed"
        if action_shape is not None:
            adims = tuple(f"action_{i}" for i in range(len(action_shape)))
            f.dimensions.update(dict(zip(adims, action_shape, strict=True)))
            v = f.create_variable("action", ("sample", "time", *adims), dtype,
                                  chunks=(1, len(time), *action_shape))
            v.attrs["role"] = "action"
        for key, value in attrs.items():
            f.attrs[key] = _coerce_attr(value)
        f.attrs.update({"n_expected": int(n_expected), "n_written": 0, "complete": 0})
        _flush(f)
        return cls(path, f)

    @classmethod
    def resume(cls, path: str | Path) -> TrajectoryWriter:
        """Reopen a file for appending; samples past the recorded count (an interrupted append) are cut."""
        path = Path(path)
        try:
            f = h5netcdf.File(path, "r+")
        except OSError as err:
            msg = " ".join(str(err).split())
            raise SciwmError(f"{path}: cannot reopen for appending ({msg}); delete it, start again") from None
        if "n_written" not in f.attrs:
            f.close()
            raise SciwmError(f"{path}: not a sciwm trajectory file (no n_written attribute); cannot resume")
        n = int(f.attrs["n_written"])
        if f.dimensions["sample"].size != n:
            f.resize_dimension("sample", n)
        return cls(path, f)

    @property
    def attrs(self) -> dict[str, Any]:
        """The file's global attributes (read-only copy), e.g. to check `card` before resuming."""
        return {k: _scalar(v) for k, v in self._f.attrs.items()}

    def set_attrs(self, **attrs: Any) -> None:
        """Add or change global attributes (e.g. a summary known only at the end, before `finish`)."""
        for key, value in attrs.items():
            self._f.attrs[key] = _coerce_attr(value)

    # ---- writing ----------------------------------------------------------------------------
    @property
    def n_written(self) -> int:
        """Samples committed so far."""
        return int(self._f.attrs["n_written"])

    def append(
        self,
        fields: Mapping[str, np.ndarray],
        params: Mapping[str, np.ndarray] | None = None,
        seeds: np.ndarray | Sequence[int] | None = None,
        action: np.ndarray | None = None,
    ) -> None:
        """Append a batch of b trajectories.

        fields: name -> (b, T, *grid); params: name -> (b,); seeds: (b,) ints; action: (b, T, *a).
        """
        params = dict(params or {})
        if set(fields) != set(self.fields) or set(params) != set(self.params):
            raise SciwmError(
                f"{self.path}: append got fields {sorted(fields)} and params {sorted(params)}, "
                f"the file has fields {self.fields} and params {self.params}"
            )
        b = len(next(iter(fields.values())))
        n0 = self.n_written
        if n0 + b > self.n_expected:
            raise SciwmError(f"{self.path}: appending {b} samples would exceed n_expected={self.n_expected}")
        if (action is None) == self.has_action:
            raise SciwmError(f"{self.path}: action {'missing' if self.has_action else 'given'} for this file")
        arrays = {**fields, **({"action": action} if action is not None else {})}
        for name, arr in arrays.items():
            want = (b, *self._f.variables[name].shape[1:])
            if np.shape(arr) != want:
                raise SciwmError(f"{self.path}: {name} has shape {np.shape(arr)}, expected {want}")
        seeds = np.zeros(b, np.int64) if seeds is None else np.asarray(seeds, np.int64)
        if seeds.shape != (b,) or any(np.shape(p) != (b,) for p in params.values()):
            raise SciwmError(f"{self.path}: seeds and params must have shape ({b},)")
        self._f.resize_dimension("sample", n0 + b)
        for name, arr in {**arrays, **params, "seed": seeds}.items():
            self._f.variables[name][n0 : n0 + b] = np.asarray(arr)
        _flush(self._f)
        self._f.attrs["n_written"] = n0 + b  # commit point: written last
        _flush(self._f)

    def finish(self) -> None:
        """Mark the file complete (requires n_written == n_expected) and close it."""
        if self.n_written != self.n_expected:
            n, want = self.n_written, self.n_expected
            raise SciwmError(f"{self.path}: {n} of {want} samples written; cannot finish")
        self._f.attrs["complete"] = 1
        self.close()

    def close(self) -> None:
        """Close the file; a file not finished stays incomplete and can be resumed."""
        if not self._closed:
            self._f.close()
            self._closed = True

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _flush(f: h5netcdf.File) -> None:
    """Write everything so far to disk: h5netcdf's `flush` writes only its own attribute, HDF5's writes the
    data and the metadata that keep the file readable if the process dies before the next write (SIGKILL,
    the out-of-memory killer)."""
    f.flush()
    f._h5file.flush()  # h5netcdf keeps the h5py.File here
