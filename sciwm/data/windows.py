"""`Windows`: a torch Dataset of (history -> future) windows from one sciwm trajectory file.

Window i of sample s starts at frame t0 = i * stride and holds frames t0 .. t0 + history + future - 1;
fields are stacked as channels in the order of `fields`. Reads are lazy (h5py, one small read per field
per window) and the file is opened per process, so DataLoader workers are safe.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from sciwm.data.stats import FieldStats, compute_stats
from sciwm.errors import SciwmError

SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
SPLIT_SEED = 0


class WindowBatch(NamedTuple):
    """One window (or, after the default collate, a batch with a leading B axis)."""

    history: torch.Tensor  # (k, C, *grid) float32, normalised if the Windows normalise
    future: torch.Tensor  # (m, C, *grid)
    params: torch.Tensor  # (P,) per-trajectory parameters, in Windows.params order; (0,) if none
    action: torch.Tensor  # (k + m, *action_shape) actions at the window's frames; (k + m, 0) if none
    sample: torch.Tensor  # () int64 sample index in the file
    start: torch.Tensor  # () int64 first frame of the window


def _attr_int(f: h5py.File, key: str) -> int:
    """An integer attribute (h5netcdf stores scalars as 1-element arrays)."""
    return int(np.asarray(f.attrs.get(key, 0)).reshape(-1)[0])


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
    stride: frames between consecutive window starts; split: None (all samples) or train/val/test of this
    one file (see `split_samples`); fields: subset and order of channels (default: all);
    normalize: apply per-field (u - mean) / std; stats: FieldStats or a JSON path. Without `stats`, they
    are computed once over the file's samples (its train split when `split` is set) and cached as JSON
    next to the file. For separate val/test files, pass the train file's `stats`.
    """

    def __init__(self, path: str | Path, history: int = 1, future: int = 1, stride: int = 1,
                 split: str | None = None, fields: Sequence[str] | None = None, normalize: bool = True,
                 stats: FieldStats | str | Path | None = None) -> None:
        self.path = Path(path)
        if history < 1 or future < 0 or stride < 1:
            got = f"{history}, {future}, {stride}"
            raise SciwmError(f"need history >= 1, future >= 0, stride >= 1 (got {got})")
        self.history, self.future, self.stride = history, future, stride
        self._read_meta(fields)
        self.samples = split_samples(self.n_samples, split)
        span = history + future
        if span > self.n_time:
            raise SciwmError(f"{self.path}: window of {span} frames exceeds trajectories of {self.n_time}")
        self.starts = np.arange(0, self.n_time - span + 1, stride)
        self.stats: FieldStats | None = None
        if normalize:
            self.stats = self._load_stats(stats, split)
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _read_meta(self, fields: Sequence[str] | None) -> None:
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
            self.params = [n for n, r in roles.items() if r == "param"]
            self.n_samples, self.n_time, *self.grid = f[self.fields[0]].shape
            self.param_values = np.stack([f[p][:] for p in self.params], axis=1).astype(np.float32) \
                if self.params else np.zeros((self.n_samples, 0), np.float32)
            self.has_action = "action" in f
            self.action_size = int(np.prod(f["action"].shape[2:])) if self.has_action else 0

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

    def _h5(self) -> dict[str, h5py.Dataset]:
        """The file's variables, opened once per process (a handle inherited through fork is not reused).
        Datasets stay open: a fresh `f[name]` per read costs ~50 us and drops HDF5's chunk cache."""
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
            self._vars = {n: self._file[n] for n in [*self.fields, *(["action"] if self.has_action else [])]}
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
        t1 = t0 + self.history + self.future
        f = self._h5()
        frames = np.stack([f[n][s, t0:t1] for n in self.fields], axis=1).astype(np.float32, copy=False)
        if self.stats is not None:
            mean, std = self._norm_arrays()
            frames = (frames - mean) / std  # as FieldStats.normalize, in numpy: ~20 us less per window
        frames = torch.from_numpy(frames)
        action = torch.from_numpy(np.asarray(f["action"][s, t0:t1], np.float32)) if self.has_action \
            else torch.zeros(t1 - t0, 0)
        params = torch.from_numpy(self.param_values[s])
        k = self.history
        return WindowBatch(frames[:k], frames[k:], params, action, torch.tensor(s), torch.tensor(t0))
