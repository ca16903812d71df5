"""The bench config: top-level keys for the comparison, a `[ladder]` table for the solver rungs.

    data = "data/ks1d/test.h5"          # the test trajectories (and, by default, the truth)
    runs = ["runs/ks1d-fno"]            # trained run directories (may be empty: a solver-only ladder)
    [ladder]
    n = [256, 128, 64]                  # grid sizes along x (default: N, 3N/4, N/2, 3N/8, N/4)
    dt_factor = [1, 2, 5]               # multiples of the data's solver step (default: divisors of dt_save/dt)

Paths are relative to the working directory, as in training configs. Unknown keys are errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sciwm.device import resolve_device
from sciwm.errors import SciwmError, read_toml

ACCURACY = ("nrmse", "correlation_time")
TRUTH = ("data", "solver")
PRECISION = ("float32", "float64")


@dataclass(frozen=True)
class LadderConfig:
    """Which solver rungs to run; empty lists are chosen from the data (see docs/bench.md)."""

    n: tuple[int, ...] = ()  # grid points along x; 2D grids scale y by the same ratio
    dt_factor: tuple[int, ...] = ()  # solver step = factor * the data's dt_solver; must divide dt_save
    precision: str = "float32"  # the surrogates' precision: the fair default

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _ints(self.n, "ladder.n", minimum=8))
        object.__setattr__(self, "dt_factor", _ints(self.dt_factor, "ladder.dt_factor", minimum=1))
        if self.precision not in PRECISION:
            raise SciwmError(f"ladder.precision: {self.precision!r}; use one of {list(PRECISION)}")


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark: a test set, its truth, trained runs, a solver ladder, and how to measure."""

    data: str = ""  # test trajectory file (sciwm generate output, or any file with the sciwm attrs)
    runs: tuple[str, ...] = ()  # run directories (sciwm train output)
    truth: str = "data"  # "data": the file itself; "solver": the reference solver re-run finer
    truth_refine: int = 2  # truth = "solver": grid x refine and dt / refine, in float64
    device: str = "cpu"  # every entry runs here
    batch: int = 32  # trajectories per call, the same for every entry (clipped to the samples)
    samples: int = 0  # score the first `samples` test trajectories (0: all)
    frames: int = 0  # compared frames, lead time 0 included (0: all the file has)
    repeats: int = 5  # timed repeats per entry, interleaved across entries, after one warm-up call
    threads: int = 0  # torch intra-op threads for every entry (0: torch's default); 1 on a shared machine
    accuracy: str = "nrmse"  # the verdict's accuracy: nRMSE at `horizon`, or the correlation time
    horizon: float = 0.0  # lead time of the nRMSE (0: a quarter of the compared horizon)
    threshold: float = 0.8  # correlation threshold of the correlation time (0.8 and 0.95 always reported)
    ladder: LadderConfig = field(default_factory=LadderConfig)

    def __post_init__(self) -> None:
        for key in ("data", "truth", "device", "accuracy"):
            if not isinstance(getattr(self, key), str):
                raise SciwmError(f"{key}: {getattr(self, key)!r} must be a string")
        for key in ("horizon", "threshold"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SciwmError(f"{key}: {value!r} must be a finite number")
        if not self.data:
            raise SciwmError("bench config: `data` (the test trajectory file) is required")
        resolve_device(self.device, "device =")
        runs = (self.runs,) if isinstance(self.runs, str) else tuple(str(r) for r in self.runs)
        object.__setattr__(self, "runs", runs)
        if self.truth not in TRUTH:
            raise SciwmError(f"truth: {self.truth!r}; use one of {list(TRUTH)}")
        if self.accuracy not in ACCURACY:
            raise SciwmError(f"accuracy: {self.accuracy!r}; use one of {list(ACCURACY)}")
        for key, minimum in (("truth_refine", 1), ("batch", 1), ("samples", 0), ("frames", 0), ("repeats", 1),
                             ("threads", 0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise SciwmError(f"{key}: {value!r} must be a whole number >= {minimum}")
        if self.frames == 1:
            raise SciwmError("frames: 1 compares nothing; use 0 (all) or >= 2")
        if not 0 < self.threshold < 1:
            raise SciwmError(f"threshold: {self.threshold} must lie in (0, 1), e.g. 0.8")
        if self.horizon < 0:
            raise SciwmError(f"horizon: {self.horizon} must be >= 0 (0: a quarter of the compared horizon)")

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "bench config") -> BenchConfig:
        raw = dict(raw)
        ladder = raw.pop("ladder", {})
        if not isinstance(ladder, dict):
            raise SciwmError(f"{source}: `ladder` must be a table ([ladder])")
        _only(raw, {f.name for f in fields(cls)} - {"ladder"}, source, "")
        _only(ladder, {f.name for f in fields(LadderConfig)}, source, "ladder.")
        return cls(**raw, ladder=LadderConfig(**ladder))

    @classmethod
    def load(cls, path: str | Path) -> BenchConfig:
        path = Path(path)
        if not path.is_file():
            raise SciwmError(f"{path}: no such bench config")
        return cls.from_dict(read_toml(path, str(path)), str(path))

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "ladder"}
        out["runs"] = list(self.runs)
        out["ladder"] = {"n": list(self.ladder.n), "dt_factor": list(self.ladder.dt_factor),
                         "precision": self.ladder.precision}
        return out


def _only(table: dict[str, Any], allowed: set[str], source: str, prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SciwmError(f"{source}: unknown key(s) {[prefix + k for k in unknown]}; "
                         f"known: {', '.join(prefix + k for k in sorted(allowed))}")


def _ints(values: Any, what: str, minimum: int) -> tuple[int, ...]:
    values = (values,) if isinstance(values, int) else tuple(values)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise SciwmError(f"{what}: {v!r} must be a whole number >= {minimum}")
    return values
