"""Dataset cards: a short TOML file that says how to generate a trajectory dataset.

    name = "ks1d"
    pde = "ks"
    [domain]  length = 100.0        n = 256            # [Lx, Ly] and [nx, ny] in 2D
    [params]  nu = 0.01  or  nu = {min = 0.005, max = 0.05, log = true}   # sampled per trajectory
    [ic]      kind = "fourier"  (+ options of sciwm.ics.<kind>, e.g. modes = 8)
    [time]    dt = 0.1  save_every = 1.0  burn_in = 100.0  frames = 201  precision = "float64"
    [splits]  train = 256  val = 32  test = 32  seed = 0
    [forcing] modes = [1, 2, 3]  scale = 0.5  control_every = 1.0  kind = "uniform"   # optional: actions

Every key is checked: an unknown PDE, parameter, section or key, or a time that is not a whole number
of steps, is refused with one line that names it.
"""

from __future__ import annotations

import inspect
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciwm.errors import SciwmError
from sciwm.forcing import ACTION_KINDS, ModalForcing, random_actions
from sciwm.ics import INITIAL_CONDITIONS, initial_condition
from sciwm.pdes import Grid, family

SPLITS = ("train", "val", "test")
_SECTIONS = {"name", "pde", "description", "domain", "params", "ic", "time", "splits", "forcing"}


@dataclass(frozen=True)
class ParamRange:
    """A parameter drawn per trajectory, uniformly in `[min, max]` (in `log` space if `log`)."""

    min: float
    max: float
    log: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        lo, hi = (math.log(self.min), math.log(self.max)) if self.log else (self.min, self.max)
        value = rng.uniform(lo, hi)
        return math.exp(value) if self.log else value


@dataclass(frozen=True)
class ForcingSpec:
    """The `[forcing]` table: actions are amplitudes of Fourier modes (`sciwm.forcing.ModalForcing`).

    `modes`: wave vectors; `scale`: actions lie in `[-scale, scale]`; `control_every`: how long an
    action lasts, a whole multiple of `save_every` (default: `save_every`, a new action every frame);
    `kind`: `uniform` (i.i.d.) or `ar1` (same marginal, lag-one correlation `correlation`).
    """

    modes: tuple[tuple[int, ...], ...]
    scale: float
    control_every: float
    kind: str = "uniform"
    correlation: float = 0.0


@dataclass(frozen=True)
class Card:
    """A parsed, validated dataset card."""

    name: str
    pde: str
    grid: Grid
    params: dict[str, float | ParamRange]
    ic_kind: str
    ic_options: dict[str, Any]
    dt: float
    save_every: float
    burn_in: float
    frames: int
    splits: dict[str, int]
    seed: int
    precision: str = "float64"
    text: str = field(default="", repr=False)
    forcing: ForcingSpec | None = None

    # --- derived --------------------------------------------------------------------------
    @property
    def steps_per_frame(self) -> int:
        return _whole_steps(self.save_every, self.dt, "save_every", self.name)

    @property
    def burn_in_steps(self) -> int:
        return _whole_steps(self.burn_in, self.dt, "burn_in", self.name)

    @property
    def sampled_params(self) -> list[str]:
        return [k for k, v in self.params.items() if isinstance(v, ParamRange)]

    @property
    def fixed_params(self) -> dict[str, float]:
        return {k: v for k, v in self.params.items() if not isinstance(v, ParamRange)}

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64 if self.precision == "float64" else torch.float32

    def trajectory_seed(self, split: str, index: int) -> int:
        """The seed of trajectory `index` of `split`: depends on nothing else (batch, device, resume)."""
        ss = np.random.SeedSequence([self.seed, SPLITS.index(split), index])
        return int(ss.generate_state(1, dtype=np.uint32)[0])

    def draw_params(self, seed: int) -> dict[str, float]:
        """Per-trajectory parameter values for the trajectory with `seed`."""
        rng = np.random.default_rng([seed, 1])
        return {k: v.sample(rng) for k, v in self.params.items() if isinstance(v, ParamRange)}

    # --- actions (cards with [forcing]) -----------------------------------------------------
    @property
    def frames_per_action(self) -> int:
        """Frames an action lasts: `control_every / save_every`."""
        if self.forcing is None:
            raise SciwmError(f"card {self.name} has no [forcing] table")
        k = round(self.forcing.control_every / self.save_every)
        if k < 1 or abs(k * self.save_every - self.forcing.control_every) > 1e-9 * self.forcing.control_every:
            raise SciwmError(
                f"[forcing] control_every={self.forcing.control_every} must be a whole multiple of "
                f"save_every={self.save_every} (actions are stored once per frame)"
            )
        return k

    def modal_forcing(self) -> ModalForcing:
        """The map from actions `(B, A)` to forcing fields `(B, 1, *grid.shape)`."""
        if self.forcing is None:
            raise SciwmError(f"card {self.name} has no [forcing] table")
        return ModalForcing(self.grid, self.forcing.modes)

    def draw_actions(self, seed: int) -> np.ndarray:
        """The action sequence `(frames, A)` float32 of the trajectory with `seed`; `action[t]` acts
        from frame t to t + 1 (the last one, never applied, continues the sequence). Drawn in float64
        from `default_rng([seed, 2])` and rounded to float32, the precision files store, so that
        the stored actions reproduce the solve exactly."""
        spec, k = self.forcing, self.frames_per_action
        size = 2 * len(spec.modes)
        a = random_actions([seed, 2], -(-self.frames // k), size, spec.scale, spec.kind, spec.correlation)
        return np.repeat(a, k, axis=0)[: self.frames].astype(np.float32)

    def forcing_attr(self) -> dict[str, Any]:
        """The files' `forcing` attribute: what rebuilds the forcing (`ModalForcing.from_json`) and
        how the actions were drawn."""
        spec = self.forcing
        return {
            **self.modal_forcing().to_dict(),
            "field": family(self.pde).fields[0],
            "scale": spec.scale,
            "kind": spec.kind,
            "correlation": spec.correlation,
            "control_every": spec.control_every,
            "timing": "action[t] acts from frame t to frame t+1; the last frame's action is never applied",
        }

    # --- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Card:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as err:
            raise SciwmError(f"card {path}: cannot read ({err.strerror})") from None
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "card") -> Card:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise SciwmError(f"{source}: not valid TOML ({err})") from None
        try:
            return _parse(raw, text)
        except SciwmError as err:
            raise SciwmError(f"{source}: {err}") from None


def _parse(raw: dict[str, Any], text: str) -> Card:
    _only(raw, _SECTIONS, "the card")
    name = str(_need(raw, "name", "the card"))
    pde_name = str(_need(raw, "pde", "the card"))
    pde = family(pde_name)
    domain = _table(raw, "domain")
    _only(domain, {"length", "n"}, "[domain]")
    grid = Grid(n=_need(domain, "n", "[domain]"), length=_need(domain, "length", "[domain]"))
    if grid.ndim != pde.ndim:
        raise SciwmError(f"pde {pde_name} is {pde.ndim}D but [domain] n has {grid.ndim} entries")
    params: dict[str, float | ParamRange] = {}
    for key, value in _table(raw, "params").items():
        if key not in pde.defaults:
            known = ", ".join(pde.defaults) or "none"
            raise SciwmError(f"[params] {key}: not a parameter of {pde_name} (known: {known})")
        params[key] = _param(key, value)
    ic = dict(_table(raw, "ic"))
    kind = str(ic.pop("kind", "fourier"))
    if kind not in INITIAL_CONDITIONS:
        raise SciwmError(f"[ic] kind {kind!r} unknown; known: {', '.join(INITIAL_CONDITIONS)}")
    options = inspect.signature(INITIAL_CONDITIONS[kind]).parameters
    for key in ic:
        default = options[key].default if key in options and key not in ("grid", "seeds", "channels") else None
        if isinstance(default, int) and not isinstance(default, bool):
            _whole(ic, key, None, "[ic]", 1)
        elif isinstance(default, float):
            _finite(ic, key, None, "[ic]")
    time = _table(raw, "time")
    _only(time, {"dt", "save_every", "burn_in", "frames", "precision"}, "[time]")
    dt = _positive(time, "dt", None)
    save_every = _positive(time, "save_every", dt)
    burn_in = _finite(time, "burn_in", 0.0, "[time]")
    frames = _whole(time, "frames", None, "[time]", 2)
    precision = str(time.get("precision", "float64"))
    if precision not in ("float32", "float64"):
        raise SciwmError(f"[time] precision must be 'float32' or 'float64', got {precision!r}")
    if frames < 2 or burn_in < 0:
        raise SciwmError(f"[time] needs frames >= 2 and burn_in >= 0, got frames={frames}, burn_in={burn_in}")
    splits_t = dict(_table(raw, "splits"))
    seed = _whole(splits_t, "seed", 0, "[splits]", 0)
    splits_t.pop("seed", None)
    _only(splits_t, set(SPLITS), "[splits]")
    splits = {s: _whole(splits_t, s, 0, "[splits]", 0) for s in SPLITS}
    if splits["train"] < 1 or any(v < 0 for v in splits.values()):
        raise SciwmError(f"[splits] needs train >= 1 and no negative counts, got {splits}")
    forcing = _forcing(raw["forcing"], grid, save_every, pde) if "forcing" in raw else None
    card = Card(
        name, pde_name, grid, params, kind, ic, dt, save_every, burn_in, frames, splits, seed, precision, text,
        forcing,
    )
    card.steps_per_frame, card.burn_in_steps  # noqa: B018 - validate now, not mid-generation
    if forcing is not None:
        card.frames_per_action  # noqa: B018
    _check_model(card)
    return card


def _forcing(table: Any, grid: Grid, save_every: float, pde: type) -> ForcingSpec:
    if not isinstance(table, dict):
        raise SciwmError("[forcing] must be a table")
    _only(table, {"modes", "scale", "control_every", "kind", "correlation"}, "[forcing]")
    if len(pde.fields) != 1:
        raise SciwmError(f"[forcing]: {pde.name} has fields {', '.join(pde.fields)}; forcing acts on one-field PDEs")
    modes = _need(table, "modes", "[forcing]")
    if not isinstance(modes, list):
        raise SciwmError(f"[forcing] modes: give a list, e.g. [1, 2, 3] or [[1, 0], [0, 1]], got {modes!r}")
    modes = ModalForcing(grid, modes).modes  # checks them: dimension, zero, repeats, 2/3 dealiasing
    scale = _number(table, "scale", None, "[forcing]")
    control_every = _number(table, "control_every", save_every, "[forcing]")
    kind = table.get("kind", "uniform")
    if kind not in ACTION_KINDS:
        raise SciwmError(f"[forcing] kind {kind!r} unknown; known: {', '.join(ACTION_KINDS)}")
    if "correlation" in table and kind != "ar1":
        raise SciwmError(f"[forcing] correlation is for kind = 'ar1', not {kind!r}")
    correlation = table.get("correlation", 0.9 if kind == "ar1" else 0.0)
    if isinstance(correlation, bool) or not isinstance(correlation, (int, float)) or not 0 <= correlation < 1:
        raise SciwmError(f"[forcing] correlation must be a number in [0, 1), got {correlation!r}")
    return ForcingSpec(modes, scale, control_every, str(kind), float(correlation))


def _check_model(card: Card) -> None:
    """Refuse bad parameter values and [ic] options at load, not after a file has been started:
    build the PDE at both ends of each sampled range and draw one initial condition."""
    values = {k: torch.tensor([v.min, v.max]) if isinstance(v, ParamRange) else v for k, v in card.params.items()}
    family(card.pde)(card.grid, values, dtype=card.dtype).forcing()  # forcing() checks forcing_mode
    initial_condition(card.ic_kind, card.grid, [0], channels=len(family(card.pde).fields), **card.ic_options)


def _param(key: str, value: Any) -> float | ParamRange:
    if isinstance(value, dict):
        _only(value, {"min", "max", "log"}, f"[params] {key}")
        log = value.get("log", False)
        if not isinstance(log, bool):
            raise SciwmError(f"[params] {key}: log must be true or false, got {log!r}")
        r = ParamRange(_finite(value, "min", None, f"[params] {key}"), _finite(value, "max", None, f"[params] {key}"),
                       log)
        if not (r.min <= r.max) or (r.log and r.min <= 0):
            raise SciwmError(f"[params] {key}: need min <= max (and min > 0 with log), got {value}")
        return r
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SciwmError(f"[params] {key}: give a number or {{min, max, log}}, got {value!r}")
    return float(value)


def _whole_steps(span: float, dt: float, what: str, name: str) -> int:
    steps = round(span / dt)
    if abs(steps * dt - span) > 1e-9 * max(1.0, span):
        raise SciwmError(f"[time] {what}={span} is not a whole number of steps dt={dt}")
    return steps


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SciwmError(f"[{key}] must be a table")
    return value


def _need(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise SciwmError(f"{where}: missing {key!r}")
    return table[key]


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise SciwmError(
            f"{where}: unknown key(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})"
        )


def _checked(table: dict[str, Any], key: str, default: Any, where: str, ok: Callable[[Any], bool], what: str) -> Any:
    """`table[key]` (or `default`) if it is a number (not a bool) that `ok` accepts; else one line saying it
    must be `what`."""
    value = table.get(key, default)
    if value is None:
        raise SciwmError(f"{where}: missing {key!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
        raise SciwmError(f"{where} {key} must be {what}, got {value!r}")
    return value


def _finite(table: dict[str, Any], key: str, default: float | None, where: str) -> float:
    """A finite number `table[key]` (or `default`)."""
    return float(_checked(table, key, default, where, math.isfinite, "a finite number"))


def _whole(table: dict[str, Any], key: str, default: int | None, where: str, minimum: int) -> int:
    """A whole number `table[key]` >= `minimum` (or `default`)."""
    return _checked(table, key, default, where, lambda v: isinstance(v, int) and v >= minimum,
                    f"a whole number >= {minimum}")


def _positive(table: dict[str, Any], key: str, default: float | None) -> float:
    return _number(table, key, default, "[time]")


def _number(table: dict[str, Any], key: str, default: float | None, where: str) -> float:
    """A positive finite number `table[key]` (or `default`); refused with a line naming `where` and `key`."""
    return float(_checked(table, key, default, where, lambda v: v > 0 and math.isfinite(v), "a positive number"))
