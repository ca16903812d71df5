"""A lazy, xarray-compatible view of HDF5 datasets in the sciwm axis order (sample, time, [y,] x).

Readers of foreign layouts describe where the data lie (one stacked dataset, or one dataset per sample),
how the on-disk axes map to ours, and which trailing channel to take; nothing is read until indexed.
"""

from __future__ import annotations

from collections.abc import Sequence

import h5py
import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing


class H5View(BackendArray):
    """Array (sample, time, *space) over HDF5 data, read on indexing.

    sources: one dataset path holding all samples on its first axis, or (per_sample=True) one path per
    sample, each holding (time, *space);
    perm: ours = disk.transpose(perm), over the axes of one source without the trailing component axes;
    tail: fixed indices into trailing on-disk component axes (a channel, a vector or tensor component).
    """

    def __init__(self, path: str, sources: Sequence[str], shape: tuple[int, ...], perm: Sequence[int],
                 tail: tuple[int, ...] = (), per_sample: bool = False,
                 dtype: str = "float32") -> None:
        self.path, self.sources, self.perm, self.tail = path, list(sources), tuple(perm), tuple(tail)
        self.shape, self.dtype, self.per_sample = tuple(shape), np.dtype(dtype), per_sample

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._raw)

    def _raw(self, key: tuple) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            if not self.per_sample:
                return self._read(f[self.sources[0]], key)
            first, rest = key[0], key[1:]
            if not isinstance(first, slice):
                return self._read(f[self.sources[int(first)]], rest)
            picks = range(self.shape[0])[first]
            if len(picks) == 0:
                return np.empty(np.broadcast_to(np.empty((), self.dtype), self.shape)[key].shape, self.dtype)
            return np.stack([self._read(f[self.sources[i]], rest) for i in picks])

    def _read(self, dset: h5py.Dataset, key: tuple) -> np.ndarray:
        """Read `key` (our axis order, ints and slices) from one on-disk dataset."""
        disk_key: list[slice] = [slice(None)] * len(self.perm)
        squeeze = []
        for ours, k in enumerate(key):
            if isinstance(k, (int, np.integer)):
                k, _ = slice(int(k), int(k) + 1), squeeze.append(ours)
            disk_key[self.perm[ours]] = k
        arr = np.asarray(dset[tuple(disk_key) + self.tail], dtype=self.dtype).transpose(self.perm)
        return arr.squeeze(axis=tuple(squeeze)) if squeeze else arr


def lazy_variable(dims: Sequence[str], view: H5View, attrs: dict | None = None) -> xr.Variable:
    """An xarray Variable that reads from `view` only when indexed."""
    return xr.Variable(tuple(dims), indexing.LazilyIndexedArray(view), attrs=attrs or {})


def space_dims(n: int) -> tuple[str, ...]:
    """Our names for the space dims of an n-dimensional grid."""
    return {1: ("x",), 2: ("y", "x")}[n]
