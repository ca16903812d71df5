"""`Windows`: a torch Dataset of (history -> future) windows from one sciwm trajectory file.

Window i of sample s starts at frame t0 = i * stride and holds the history + future frames
t0, t0 + s, t0 + 2s, ... (s = `time_stride`: one model step spans s saved frames; 1 by default);
fields are stacked as channels in the order of `fields`. The action of a step is what acts over its
interval: the s per-frame actions of frames t0 + i s .. t0 + (i + 1) s - 1, concatenated (`step_actions`).
Reads are lazy and the file is opened per process, so DataLoader workers are safe. A DataLoader fetches a
batch through `Windows.__getitems__`: one h5py read per field per run of overlapping windows of a sample,
one normalisation and one set of tensors per batch; pass `collate_fn=Windows.collate` to take that batch
as it is instead of re-stacking it item by item:

    DataLoader(windows, batch_size=32, shuffle=True, collate_fn=Windows.collate)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from sciwm.data.stats import FieldStats, compute_stats
from sciwm.errors import SciwmError

SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
SPLIT_SEED = 0
FILTERED_CACHE_BYTES = 64 * 2**20  # chunk cache cap for compressed files (per process)
IN_MEMORY_BYTES = 256 * 2**20  # a file whose windowed variables take at most this is read into memory once


class WindowBatch(NamedTuple):
    """One window (or, after the default collate, a batch with a leading B axis)."""

    history: torch.Tensor  # (k, C, *grid) float32, normalised if the Windows normalise
    future: torch.Tensor  # (m, C, *grid)
    params: torch.Tensor  # (P,) per-trajectory parameters, in Windows.params order; (0,) if none
    action: torch.Tensor  # (k + m, *action_shape) actions at the window's frames (time_stride s > 1:
    #                       (k + m, s * A), see `step_actions`); (k + m, 0) if none
    sample: torch.Tensor  # () int64 sample index in the file
    start: torch.Tensor  # () int64 first frame of the window


class WindowList(Sequence):
    """What `Windows.__getitems__` returns: the windows of one batch, already stacked (`.batch`).

    `Windows.collate` returns `.batch` as it is; any other collate (torch's default included) sees a
    sequence of per-window `WindowBatch` views and stacks them again into the same values."""

    def __init__(self, batch: WindowBatch) -> None:
        self.batch = batch

    def __len__(self) -> int:
        return len(self.batch.sample)

    def __getitem__(self, j: int) -> WindowBatch:  # type: ignore[override]
        if not -len(self) <= j < len(self):
            raise IndexError(j)
        return WindowBatch(*(t[j] for t in self.batch))

    def __iter__(self) -> Iterator[WindowBatch]:
        return (self[j] for j in range(len(self)))


def _attr_int(f: h5py.File, key: str) -> int:
    """An integer attribute (h5netcdf stores scalars as 1-element arrays)."""
    return int(np.asarray(f.attrs.get(key, 0)).reshape(-1)[0])


def _chunk_cache_bytes(variables: Sequence[h5py.Dataset]) -> int:
    """HDF5 chunk cache size for reading windows of these variables.

    HDF5 loads a whole chunk (here a whole trajectory of a field) into its cache for any partial read when
    the chunk fits in the cache (default 1 MiB). Random windows rarely hit the same trajectory twice, so
    for uncompressed chunks that only copies ~40x more bytes than a 5-frame window needs (4-6x slower
    reads, measured on ks1d and ns2d files); with no cache, HDF5 reads the window's bytes straight from the
    file. Compressed chunks must be decompressed whole for any read, so there a few are kept
    (at most FILTERED_CACHE_BYTES per process); overlapping windows within a batch are read once anyway.
    """
    filtered = [v for v in variables if v.chunks and v.id.get_create_plist().get_nfilters() > 0]
    if not filtered:
        return 0
    chunk = max(int(np.prod(v.chunks)) * v.dtype.itemsize for v in filtered)
    return min(FILTERED_CACHE_BYTES, max(2**20, 4 * chunk))


def split_samples(n: int, split: str | None) -> np.ndarray:
    """Sample indices of `split` for one file: a fixed permutation (seed SPLIT_SEED) cut 80/10/10."""
    if split is None:
        return np.arange(n)
    if split not in SPLIT_FRACTIONS:
        raise SciwmError(f"unknown split {split!r}; use one of {sorted(SPLIT_FRACTIONS)} or None")
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_train = int(round(SPLIT_FRACTIONS["train"] * n))
    n_val = int(round(SPLIT_FRACTIONS["val"] * n))
    cut = {"train": perm[:n_train], "val": perm[n_train : n_train + n_val], "test": perm[n_train + n_val :]}
    return np.sort(cut[split])


def stats_path(path: str | Path, split: str | None) -> Path:
    """Where statistics of a file are cached: next to it; `.train-split` when computed on its train split."""
    path = Path(path)
    return path.with_name(path.name + (".train-split" if split else "") + ".stats.json")


class Windows(Dataset):
    """(history k frames -> future m frames) windows of a sciwm file, as `WindowBatch` items.

    path: a complete sciwm trajectory file (convert other sources with `sciwm convert`);
    stride: frames between consecutive window starts; time_stride: saved frames per model step (a window's
    frames are t0, t0 + s, ...); split: None (all samples) or train/val/test of this one file (see
    `split_samples`); fields: subset and order of channels (default: all); params: the per-trajectory
    parameters a window carries, in this order (default: all of the file; [] for none); actions: whether
    windows carry the file's per-step actions (False: a window of a forced file carries none, as if unforced);
    normalize: apply per-field (u - mean) / std; stats: FieldStats or a JSON path. Without `stats`, they
    are computed once over the file's samples (its train split when `split` is set) and cached as JSON
    next to the file. For separate val/test files, pass the train file's `stats`.
    """

    def __init__(self, path: str | Path, history: int = 1, future: int = 1, stride: int = 1,
                 split: str | None = None, fields: Sequence[str] | None = None, normalize: bool = True,
                 stats: FieldStats | str | Path | None = None, params: Sequence[str] | None = None,
                 time_stride: int = 1, actions: bool = True) -> None:
        self.path = Path(path)
        if history < 1 or future < 0 or stride < 1 or time_stride < 1:
            got = f"{history}, {future}, {stride}, {time_stride}"
            raise SciwmError(f"need history >= 1, future >= 0, stride >= 1, time_stride >= 1 (got {got})")
        self.history, self.future, self.stride, self.time_stride = history, future, stride, time_stride
        self._read_meta(fields, params, actions)
        self.samples = split_samples(self.n_samples, split)
        span = history + future
        extent = (span - 1) * time_stride + 1
        if extent > self.n_time:
            apart = f" {time_stride} apart ({extent} saved frames)" if time_stride > 1 else ""
            raise SciwmError(f"{self.path}: a window of {span} frames{apart} exceeds trajectories of {self.n_time}; "
                             "lower history, train.unroll or data.time_stride")
        self.starts = np.arange(0, self.n_time - extent + 1, stride)
        self.stats: FieldStats | None = None
        if normalize:
            self.stats = self._load_stats(stats, split)
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._vars: dict[str, h5py.Dataset | np.ndarray] | None = None

    @property
    def n_steps(self) -> int:
        """Frames of a trajectory at the model's time step, from frame 0: (n_time - 1) // time_stride + 1."""
        return (self.n_time - 1) // self.time_stride + 1

    def _read_meta(self, fields: Sequence[str] | None, params: Sequence[str] | None, actions: bool) -> None:
        try:
            f = h5py.File(self.path, "r")
        except OSError as err:
            raise SciwmError(f"{self.path}: cannot open ({' '.join(str(err).split())})") from None
        with f:
            if "n_written" not in f.attrs:
                raise SciwmError(f"{self.path}: not a sciwm trajectory file; convert it with `sciwm convert`")
            if not _attr_int(f, "complete"):
                raise SciwmError(f"{self.path}: incomplete file ({_attr_int(f, 'n_written')} of "
                                 f"{_attr_int(f, 'n_expected')} samples); finish generating it first")
            roles = {n: d.attrs.get("role", b"") for n, d in f.items() if isinstance(d, h5py.Dataset)}
            roles = {n: r.decode() if isinstance(r, bytes) else str(r) for n, r in roles.items()}
            all_fields = [n for n, r in roles.items() if r == "field"]
            self.fields = list(fields) if fields is not None else all_fields
            missing = [n for n in self.fields if n not in all_fields]
            if missing:
                raise SciwmError(f"{self.path}: no field(s) {missing}; the file has {all_fields}")
            self.params = select_params(self.path, [n for n, r in roles.items() if r == "param"], params)
            self.n_samples, self.n_time, *self.grid = f[self.fields[0]].shape
            self.param_values = np.stack([f[p][:] for p in self.params], axis=1).astype(np.float32) \
                if self.params else np.zeros((self.n_samples, 0), np.float32)
            self.has_action = actions and "action" in f
            self.action_shape = tuple(f["action"].shape[2:]) if self.has_action else (0,)
            if self.time_stride > 1 and self.has_action:
                self.action_shape = (self.time_stride * math.prod(self.action_shape),)
            self.action_size = math.prod(self.action_shape) if self.has_action else 0
            forcing = f.attrs.get("forcing", "") if self.has_action else ""
            self.forcing = forcing.decode() if isinstance(forcing, bytes) else str(forcing)  # JSON, or ""
            self.physics = physics_of(f.attrs)  # JSON, or "" (models with a solver inside: sciwm.models.closure)
            variables = [f[n] for n in self._read_names()]
            self._rdcc_nbytes = _chunk_cache_bytes(variables)
            self.in_memory = sum(v.size * v.dtype.itemsize for v in variables) <= IN_MEMORY_BYTES

    def _read_names(self) -> list[str]:
        """The variables a window reads: its fields, then the actions if the file has them."""
        return [*self.fields, *(["action"] if self.has_action else [])]

    def _load_stats(self, stats: FieldStats | str | Path | None, split: str | None) -> FieldStats:
        if isinstance(stats, FieldStats):
            return stats.select(self.fields)
        if stats is not None:
            return FieldStats.from_json(stats).select(self.fields)
        cache = stats_path(self.path, split)
        if cache.exists():
            cached = FieldStats.from_json(cache)
            if set(self.fields) <= set(cached.fields):
                return cached.select(self.fields)
        train = split_samples(self.n_samples, "train" if split else None)
        computed = compute_stats(self.path, self.fields, train)
        try:
            computed.to_json(cache)
        except OSError:
            pass  # read-only data directory: statistics are recomputed next time
        return computed

    def __len__(self) -> int:
        return len(self.samples) * len(self.starts)

    def _h5(self) -> dict[str, h5py.Dataset | np.ndarray]:
        """The file's variables, sliced like arrays. Small files (`in_memory`: at most IN_MEMORY_BYTES) are
        read whole on first use and the file closed: a window is then a numpy slice (~1 us) instead of an
        HDF5 read (~10-15 us), and forked DataLoader workers share the arrays copy-on-write. Larger files
        stay open once per process (a handle inherited through fork is not reused); datasets stay open,
        since a fresh `f[name]` per read costs ~50 us. Chunk cache: see `_chunk_cache_bytes`."""
        if self.in_memory and self._vars is not None:
            return self._vars
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r", rdcc_nbytes=self._rdcc_nbytes)
            self._pid = os.getpid()
            self._vars = {n: self._file[n] for n in self._read_names()}
            if self.in_memory:
                self._vars = {n: v[...] for n, v in self._vars.items()}
                self._file.close()
                self._file = None
        return self._vars

    def _norm_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of `self.stats` as float32 arrays shaped (C, 1, ...), cached per stats object."""
        cached = getattr(self, "_norm", None)
        if cached is None or cached[0] is not self.stats:
            shape = (len(self.stats.fields),) + (1,) * self.stats.grid_ndim
            mean, std = (np.asarray(v, np.float32).reshape(shape) for v in (self.stats.mean, self.stats.std))
            cached = (self.stats, mean, std)
            self._norm = cached
        return cached[1], cached[2]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": None, "_vars": None}

    def __getitem__(self, i: int) -> WindowBatch:
        if not 0 <= i < len(self):
            raise IndexError(i)
        s = int(self.samples[i // len(self.starts)])
        t0 = int(self.starts[i % len(self.starts)])
        span, ts = self.history + self.future, self.time_stride
        f = self._h5()
        t1 = t0 + (span - 1) * ts + 1
        frames = np.stack([f[n][s, t0:t1:ts] if ts == 1 else f[n][s, t0:t1][::ts] for n in self.fields], axis=1)
        frames = frames.astype(np.float32, copy=False)
        if self.stats is not None:
            mean, std = self._norm_arrays()
            frames = (frames - mean) / std  # as FieldStats.normalize, in numpy: ~20 us less per window
        frames = torch.from_numpy(frames)
        if self.has_action:
            per_frame = np.asarray(f["action"][s, t0 : t0 + span * ts], np.float32)
            action = torch.from_numpy(step_actions(per_frame[None], ts, span)[0])
        else:
            action = torch.zeros(span, 0)
        params = torch.from_numpy(self.param_values[s])
        k = self.history
        return WindowBatch(frames[:k], frames[k:], params, action, torch.tensor(s), torch.tensor(t0))

    def __getitems__(self, indices: Sequence[int]) -> WindowList:
        """A batch of windows, equal bit for bit to `default_collate([self[i] for i in indices])`.

        Called by torch's DataLoader (torch >= 2.1) with each batch of indices. Windows are sorted by
        (sample, start) and those of a sample that overlap or touch are read as one run of frames: one h5py
        read per field per run. Normalisation and tensor creation happen once for the batch, and the six
        tensors share one storage, so that a DataLoader worker hands a batch over as one shared-memory block
        (about 1 ms per tensor otherwise)."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        n, k, span, ts = len(idx), self.history, self.history + self.future, self.time_stride
        if n and not (0 <= idx.min() and idx.max() < len(self)):
            raise IndexError(int(idx[(idx < 0) | (idx >= len(self))][0]))
        f = self._h5()
        channels = (len(self.fields), *self.grid)
        tensors = _one_storage(n, [
            (n, k, *channels), (n, span - k, *channels), (n, len(self.params)), (n, span, *self.action_shape)])
        sample_t, start_t, history, future, params, action = tensors
        sample, start = sample_t.numpy(), start_t.numpy()
        np.take(self.samples, idx // len(self.starts), out=sample)
        np.take(self.starts, idx % len(self.starts), out=start)
        np.take(self.param_values, sample, axis=0, out=params.numpy())
        reads = _ReadPlan.of(sample.tolist(), start.tolist(), (span - 1) * ts + 1, ts)
        frames = np.empty((len(self.fields), n, span, *self.grid), np.float32)  # each window's field contiguous
        for name, out in zip(self.fields, frames, strict=True):
            reads.into(f[name], out)
        frames = np.moveaxis(frames, 0, 2)  # (n, span, C, *grid)
        if self.stats is not None:
            mean, std = self._norm_arrays()  # (u - mean) / std in float32, as in __getitem__
            for part, out in ((frames[:, :k], history.numpy()), (frames[:, k:], future.numpy())):
                np.divide(np.subtract(part, mean, out=out), std, out=out)
        else:
            history.numpy()[...], future.numpy()[...] = frames[:, :k], frames[:, k:]
        if self.has_action and ts == 1:
            reads.into(f["action"], action.numpy())
        elif self.has_action:
            per_frame = np.empty((n, span * ts, *f["action"].shape[2:]), np.float32)
            _ReadPlan.of(sample.tolist(), start.tolist(), span * ts, 1).into(f["action"], per_frame)
            action.numpy()[...] = step_actions(per_frame, ts, span)
        return WindowList(WindowBatch(history, future, params, action, sample_t, start_t))

    @staticmethod
    def collate(data: WindowList | Sequence[WindowBatch]) -> WindowBatch:
        """DataLoader collate_fn: the batch `__getitems__` built, as it is; anything else by default_collate."""
        return data.batch if isinstance(data, WindowList) else default_collate(data)


def _one_storage(n: int, shapes: Sequence[tuple[int, ...]]) -> list[torch.Tensor]:
    """Two int64 tensors of n (sample, start), then float32 tensors of `shapes`: contiguous views of one
    storage (built with as_strided: a third of the cost of slicing and viewing, which matters per batch)."""
    sizes = [math.prod(shape) for shape in shapes]
    total = 4 * n + sum(sizes)
    buf = torch.empty(total + total % 2)  # float32; the first 4n hold the 2n int64 (offset 0: aligned)
    ints = buf.view(torch.int64)
    out, offset = [ints.as_strided((n,), (1,), 0), ints.as_strided((n,), (1,), n)], 4 * n
    for shape, size in zip(shapes, sizes, strict=True):
        strides = [1] * len(shape)
        for d in range(len(shape) - 1, 0, -1):
            strides[d - 1] = strides[d] * max(shape[d], 1)
        out.append(buf.as_strided(shape, strides, offset))
        offset += size
    return out


class _ReadPlan(NamedTuple):
    """The h5py reads for a batch of windows: one per run of overlapping or touching windows of a sample.

    A window reads `extent` consecutive frames from its start and keeps every `step`-th; frames past the
    end of the file (only actions of a window's last step ask for them) are zeros."""

    runs: list[tuple[int, int, int]]  # (sample, first frame, end frame), in file order
    windows: list[tuple[int, int, int]]  # (batch row, run, first frame - run's first frame)
    extent: int
    step: int

    @classmethod
    def of(cls, sample: Sequence[int], start: Sequence[int], extent: int, step: int = 1) -> _ReadPlan:
        """Sort the windows by (sample, start); a window starts a new run unless it overlaps or touches the
        previous one. Plain Python: for a batch of tens of windows it is several times faster than numpy."""
        runs: list[list[int]] = []
        windows = []
        for s, t, row in sorted(zip(sample, start, range(len(sample)), strict=True)):
            if not runs or s != runs[-1][0] or t > runs[-1][2]:
                runs.append([s, t, t + extent])
            else:
                runs[-1][2] = t + extent
            windows.append((row, len(runs) - 1, t - runs[-1][1]))
        return cls([tuple(r) for r in runs], windows, extent, step)

    def into(self, var: h5py.Dataset, out: np.ndarray) -> None:
        """out[row] = var[sample, start:start + extent:step] for every window; out: (B, frames, ...), may be
        a view; rows past the file's end are zero."""
        if len(self.runs) == len(self.windows):  # no overlaps: one read per window, straight into place
            for (s, t0, t1), (row, _, _) in zip(self.runs, self.windows, strict=True):
                _put(out[row], var[s, t0:t1] if self.step == 1 else var[s, t0:t1][:: self.step])
            return
        blocks = [var[s, t0:t1] for s, t0, t1 in self.runs]
        for row, run, offset in self.windows:
            _put(out[row], blocks[run][offset : offset + self.extent : self.step])


def _put(out: np.ndarray, frames: np.ndarray) -> None:
    """out[:len(frames)] = frames, zeros after (a read cut short by the end of the file)."""
    out[: len(frames)] = frames
    out[len(frames) :] = 0


def select_params(path: Path, available: list[str], wanted: Sequence[str] | None) -> list[str]:
    """The per-trajectory parameters a model is given: `wanted` in its order (None: all of the file)."""
    if wanted is None:
        return list(available)
    unknown = [p for p in wanted if p not in available]
    if unknown:
        raise SciwmError(f"{path}: no parameter(s) {unknown} (data.params); the file has {available}")
    return list(wanted)


def step_actions(per_frame: np.ndarray, time_stride: int, steps: int) -> np.ndarray:
    """Per-frame actions `(B, F, *A)` from a window's first frame -> the actions of `steps` model steps.

    time_stride s = 1: the first `steps` frames as they are, `(B, steps, *A)`. s > 1: `(B, steps, s * A)`,
    step i the concatenation of the actions of frames i s .. (i + 1) s - 1 (flattened, frame-major): what
    acts over its interval. Frames past F (the end of the file; only a window's last step, never used to
    predict, reaches there) are zeros."""
    if time_stride == 1:
        return per_frame[:, :steps]
    b, n = per_frame.shape[:2]
    flat = per_frame.reshape(b, n, -1)
    out = np.zeros((b, steps * time_stride, flat.shape[2]), np.float32)
    m = min(n, steps * time_stride)
    out[:, :m] = flat[:, :m]
    return out.reshape(b, steps, -1)


def physics_of(attrs: Mapping[str, Any]) -> str:
    """What a solver needs to step a file's PDE (JSON: pde, params, sampled_params, length, dt_solver,
    dt_save), from the global attributes of a generated file; "" where one is missing. Converted files have
    them all but `dt_solver` is NaN there (unknown), and models that need it refuse them."""
    if not all(key in attrs for key in ("pde", "params", "domain_length", "dt_solver", "dt_save")):
        return ""

    def text(key: str, default: str) -> str:
        v = attrs.get(key, default)
        return v.decode() if isinstance(v, bytes) else str(v)

    try:
        return json.dumps({
            "pde": text("pde", ""), "params": json.loads(text("params", "{}")),
            "sampled_params": json.loads(text("sampled_params", "[]")),
            "length": [float(x) for x in np.asarray(attrs["domain_length"]).reshape(-1)],
            "dt_solver": float(np.asarray(attrs["dt_solver"]).reshape(-1)[0]),
            "dt_save": float(np.asarray(attrs["dt_save"]).reshape(-1)[0]),
        })
    except (ValueError, TypeError):
        return ""
