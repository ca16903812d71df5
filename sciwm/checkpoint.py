"""The run directory and its checkpoint (contract in DESIGN.md).

`RUN/checkpoint.pt` holds only tensors and plain Python values, so it loads with
`torch.load(..., weights_only=True)`: model and optimiser state, step, data position, RNG states, the
resolved config, the data spec and the normalisation statistics — everything `rollout` needs.
A file that would need unpickling (a checkpoint from elsewhere, or a tampered one) is refused.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciwm import __version__
from sciwm.data.stats import FieldStats
from sciwm.errors import SciwmError
from sciwm.models import DataSpec, Surrogate, build_model
from sciwm.runconfig import RunConfig

FORMAT = "sciwm-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("config", "data_spec", "stats", "param_stats", "model", "optimizer", "step", "epoch", "batch_in_epoch",
            "rng")  # what `Session.checkpoint` writes


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write atomically: a crash mid-save leaves the previous checkpoint intact."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "sciwm_version": __version__, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.exists():
        raise SciwmError(f"{path}: no checkpoint here (train a run first, or check the path)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means: not ours or not safe
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        first = re.sub(r"\x1b\[[0-9;]*m", "", first)  # torch's message carries terminal colour codes
        raise SciwmError(f"{path}: refused, not a safe and complete sciwm checkpoint: truncated, corrupt or "
                         f"from elsewhere ({first[:160]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SciwmError(f"{path}: not a sciwm checkpoint (no '{FORMAT}' marker)")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise SciwmError(f"{path}: an incomplete sciwm checkpoint (no {', '.join(missing)})")
    return state


def tensor_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """`module.state_dict()` without non-tensor entries (neuraloperator adds its constructor arguments,
    functions included, under `_metadata`; they are rebuilt from the config, and would need unpickling)."""
    return {k: v for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}


def stats_to_dict(stats: FieldStats) -> dict[str, Any]:
    return {"fields": list(stats.fields), "mean": list(stats.mean), "std": list(stats.std),
            "grid_ndim": stats.grid_ndim}


def stats_from_dict(d: dict[str, Any]) -> FieldStats:
    return FieldStats(tuple(d["fields"]), tuple(d["mean"]), tuple(d["std"]), int(d["grid_ndim"]))


@dataclass
class LoadedRun:
    """A trained surrogate with what it needs to read and write physical fields."""

    model: Surrogate
    config: RunConfig
    spec: DataSpec
    stats: FieldStats
    param_names: list[str]  # the per-trajectory parameters the model takes, in order (`[data] params`)
    param_mean: torch.Tensor
    param_std: torch.Tensor
    step: int

    @property
    def time_stride(self) -> int:
        """Saved frames of the training data per model step (`[data] time_stride`; 1 for older runs)."""
        return self.config.data.time_stride

    def check_data(self, attrs: Mapping[str, Any], data: str | Path) -> None:
        """Refuse a data file whose frames are spaced, or whose domain is sized, otherwise than the training
        file's, where both are known (files from `sciwm generate`; converted files may not say)."""
        if not self.spec.physics:
            return
        trained = json.loads(self.spec.physics)
        for key, name, want in (("dt_save", "frames", [trained["dt_save"]]),
                                ("domain_length", "domain lengths", trained["length"])):
            if key not in attrs:
                continue
            try:
                got = [float(v) for v in np.asarray(attrs[key], np.float64).reshape(-1)]
            except (TypeError, ValueError):
                continue
            if len(got) != len(want) or not all(
                    math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want, strict=True)):
                what = "are {} apart" if key == "dt_save" else "are {}"
                raise SciwmError(f"{data}: its {name} {what.format(_fmt(got))}, the run was trained on "
                                 f"{name} that {what.format(_fmt(want))}; use data like the training file's")

    def normalize_params(self, values: torch.Tensor) -> torch.Tensor | None:
        """Raw `(B, P)` parameters -> the model's normalised inputs (None when the data has none)."""
        if not self.param_names:
            return None
        return (values - self.param_mean.to(values)) / self.param_std.to(values)


def load_run(run: str | Path, device: str | torch.device = "cpu") -> LoadedRun:
    state = load_checkpoint(run, map_location=device)
    config = RunConfig.from_dict(state["config"])
    spec = DataSpec(**state["data_spec"])
    model = build_model(config.model, spec).to(device)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise SciwmError(f"{run}: the checkpoint's weights do not fit its own config ({str(err).splitlines()[1:2]}"
                         "); was checkpoint.pt or its config edited?") from None
    model.eval()
    p = state["param_stats"]
    return LoadedRun(model, config, spec, stats_from_dict(state["stats"]), list(p["names"]),
                     torch.tensor(p["mean"]), torch.tensor(p["std"]), int(state["step"]))


def _fmt(values: list[float]) -> str:
    return " x ".join(f"{v:g}" for v in values)
