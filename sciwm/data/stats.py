"""Per-field normalisation statistics, computed once by streaming over a file and saved as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from sciwm.errors import SciwmError


@dataclass(frozen=True)
class FieldStats:
    """Mean and standard deviation of each field over samples, time and space (float64 sums)."""

    fields: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    grid_ndim: int  # 1 or 2: channels sit just before this many grid axes

    def normalize(self, u: torch.Tensor) -> torch.Tensor:
        """u: (..., C, *grid) with C = len(fields) -> (u - mean) / std per channel."""
        mean, std = self._shaped(u)
        return (u - mean) / std

    def denormalize(self, u: torch.Tensor) -> torch.Tensor:
        """Inverse of `normalize`."""
        mean, std = self._shaped(u)
        return u * std + mean

    def _shaped(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (len(self.fields),) + (1,) * self.grid_ndim
        return (torch.tensor(self.mean, dtype=u.dtype).reshape(shape),
                torch.tensor(self.std, dtype=u.dtype).reshape(shape))

    def to_json(self, path: str | Path) -> None:
        data = {f: {"mean": m, "std": s} for f, m, s in zip(self.fields, self.mean, self.std, strict=True)}
        Path(path).write_text(json.dumps({"grid_ndim": self.grid_ndim, "fields": data}, indent=2))

    @classmethod
    def from_json(cls, path: str | Path) -> FieldStats:
        try:
            raw = json.loads(Path(path).read_text())
            data, ndim = raw["fields"], int(raw["grid_ndim"])
        except (OSError, ValueError, KeyError) as err:
            raise SciwmError(f"{path}: not a statistics file ({err})") from None
        names = tuple(data)
        return cls(names, tuple(data[n]["mean"] for n in names), tuple(data[n]["std"] for n in names), ndim)

    def select(self, fields: Sequence[str]) -> FieldStats:
        """The statistics of `fields`, in that order."""
        missing = [f for f in fields if f not in self.fields]
        if missing:
            raise SciwmError(f"statistics have no entry for fields {missing}; recompute them")
        idx = [self.fields.index(f) for f in fields]
        return FieldStats(tuple(fields), tuple(self.mean[i] for i in idx), tuple(self.std[i] for i in idx),
                          self.grid_ndim)


def compute_stats(path: str | Path, fields: Sequence[str], samples: Sequence[int]) -> FieldStats:
    """Stream over `samples` (one trajectory at a time) of a sciwm file; refuse NaN/inf."""
    sums = np.zeros((len(fields), 2))
    count = 0
    with h5py.File(path, "r") as f:
        grid_ndim = f[fields[0]].ndim - 2
        for s in samples:
            for i, name in enumerate(fields):
                u = np.asarray(f[name][s], np.float64)
                if not np.isfinite(u).all():
                    t = int(np.argwhere(~np.isfinite(u.reshape(len(u), -1)).all(axis=1))[0, 0])
                    raise SciwmError(f"{path}: field {name!r} has NaN/inf at sample {s}, frame {t}; "
                                     "drop or regenerate that trajectory")
                sums[i] += (u.sum(), (u * u).sum())
            count += u.size
    if count == 0:
        raise SciwmError(f"{path}: no samples to compute statistics from")
    mean = sums[:, 0] / count
    std = np.sqrt(np.maximum(sums[:, 1] / count - mean**2, 0.0))
    std = np.where(std > 0, std, 1.0)  # a constant field is left unscaled
    return FieldStats(tuple(fields), tuple(mean.tolist()), tuple(std.tolist()), grid_ndim)
