"""The training config: three flat TOML tables, `[data]`, `[model]`, `[train]`, each a frozen dataclass.

    [data]   train = "data/ks1d/train.h5"   val = "data/ks1d/val.h5"   history = 1
    [model]  name = "fno"   width = 64   modes = 16   layers = 4        (see sciwm.models.ModelConfig)
    [train]  objective = "unrolled"   unroll = 4   steps = 2000   lr = 1e-3 ...

`--set train.lr=3e-4` overrides a value; the resolved config is written to the run directory.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sciwm.errors import SciwmError, read_toml
from sciwm.models import ModelConfig

OBJECTIVES = ("onestep", "unrolled")


@dataclass(frozen=True)
class DataConfig:
    """Where the windows come from. Paths are relative to the working directory."""

    train: str = ""
    val: str = ""  # optional; validation rollouts are skipped without it
    history: int = 1  # k input frames
    stride: int = 1  # frames between window starts
    time_stride: int = 1  # saved frames per model step: the model sees frames t0, t0 + s, t0 + 2s, ...
    params: tuple[str, ...] | None = None  # per-trajectory parameters given to the model; None: all of the file
    actions: bool = True  # give the model the file's per-step actions; false withholds them (the forcing is
    #                       then unknown noise to the model, which must learn the flow's statistics)

    def __post_init__(self) -> None:
        if isinstance(self.time_stride, bool) or not isinstance(self.time_stride, int) or self.time_stride < 1:
            raise SciwmError(f"data.time_stride must be a whole number >= 1, got {self.time_stride!r}")
        if self.params is not None:
            if isinstance(self.params, str) or not all(isinstance(p, str) for p in self.params):
                raise SciwmError(f"data.params = {self.params!r}: expected a list of names, e.g. [\"nu\"] or []")
            object.__setattr__(self, "params", tuple(self.params))


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation. Every objective is a small function in sciwm.objectives."""

    objective: str = "onestep"  # onestep (teacher forcing) | unrolled (backprop through `unroll` steps)
    unroll: int = 1  # steps of the unrolled objective (maximum of the curriculum)
    curriculum: int = 0  # optimiser steps over which the unroll length ramps from 1 to `unroll`
    pushforward: bool = False  # unrolled: only the last step carries gradient (Brandstetter et al. 2022)
    noise: float = 0.0  # std of Gaussian noise added to input frames (normalised units)
    latent_weight: float = 1.0  # latent models: weight of the latent-prediction loss
    batch_size: int = 32  # global batch (split over DDP ranks)
    steps: int = 1000
    max_minutes: float = 0.0  # stop early after this wall time (0: no limit)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 50  # linear warm-up steps, then cosine decay to 0
    grad_clip: float = 1.0
    val_every: int = 200
    val_rollout: int = 50  # steps of the validation rollout
    val_samples: int = 16  # validation trajectories rolled out
    checkpoint_minutes: float = 5.0
    log_every: int = 10
    num_workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise SciwmError(f"train.objective: unknown {self.objective!r}; use one of {list(OBJECTIVES)}")
        for key in ("unroll", "batch_size", "steps", "val_every", "log_every"):
            if int(getattr(self, key)) < 1:
                raise SciwmError(f"train.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("curriculum", "warmup", "val_rollout", "val_samples", "num_workers", "seed"):
            if int(getattr(self, key)) < 0:
                raise SciwmError(f"train.{key} must be >= 0, got {getattr(self, key)}")
        for key, low, strict in (("lr", 0.0, True), ("grad_clip", 0.0, True), ("noise", 0.0, False),
                                 ("weight_decay", 0.0, False), ("latent_weight", 0.0, False),
                                 ("max_minutes", 0.0, False), ("checkpoint_minutes", 0.0, False)):
            v = getattr(self, key)
            if not math.isfinite(v) or v < low or (strict and v == low):
                raise SciwmError(f"train.{key} must be a finite number {'>' if strict else '>='} {low:g}, got {v}")


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: ModelConfig
    train: TrainConfig

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        extra = sorted(set(raw) - {"data", "model", "train"})
        if extra:
            raise SciwmError(f"config: unknown table(s) {extra}; use [data], [model], [train]")
        for name in ("data", "model", "train"):
            if not isinstance(raw.get(name, {}), dict):
                raise SciwmError(f"config: {name} = {raw[name]!r}; [{name}] must be a table of key = value lines")
        return cls(
            data=from_table(DataConfig, raw.get("data", {}), "data"),
            model=ModelConfig.from_dict(dict(raw.get("model", {}))),
            train=from_table(TrainConfig, raw.get("train", {}), "train"),
        )

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] = ()) -> RunConfig:
        raw = read_toml(path, f"config {path}")
        for item in overrides:
            apply_override(raw, item)
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in ("data", "model", "train")}

    def to_toml(self) -> str:
        lines = []
        for table, values in self.to_dict().items():
            lines.append(f"[{table}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items() if value is not None]
            lines.append("")
        return "\n".join(lines)


def from_table(cls: type, table: dict[str, Any], name: str) -> Any:
    """Build dataclass `cls` from a TOML table, refusing unknown keys and wrong types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise SciwmError(f"[{name}]: unknown key(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    values = {}
    for key, value in table.items():
        default = fields[key].default
        whole = isinstance(default, int) and not isinstance(default, bool)
        if isinstance(default, bool) != isinstance(value, bool) or (
            isinstance(default, float) and not isinstance(value, (int, float))
        ) or (whole and not isinstance(value, int)) or (isinstance(default, str) and not isinstance(value, str)):
            kind = "whole number" if whole else type(default).__name__
            raise SciwmError(f"[{name}] {key} = {value!r}: expected a {kind}")
        values[key] = float(value) if isinstance(default, float) else value
    return cls(**values)


def apply_override(raw: dict[str, Any], item: str) -> None:
    """`table.key=value` with a TOML value (`3e-4`, `true`, `"fno"`, `["nu"]`; bare words are strings, and
    so are the bare words of a list: `data.params=[nu]`)."""
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise SciwmError(f"--set {item!r}: expected TABLE.KEY=VALUE, e.g. train.lr=3e-4")
    key, text = item.split("=", 1)
    table, name = key.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        inner = text.strip()
        words = [w.strip() for w in inner[1:-1].split(",") if w.strip()]
        value = words if inner.startswith("[") and inner.endswith("]") else text
    raw.setdefault(table, {})[name] = value
