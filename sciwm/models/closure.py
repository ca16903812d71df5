"""`closure`: a coarse solver of the data's own PDE plus a learned correction (solver in the loop).

    u_{t+1} = S_c(u_t, F(a_t)) + N_theta(u_{t-k+1..t}, S_c(u_t, F(a_t)), F(a_t), params)

`S_c` is sciwm's pseudo-spectral ETDRK4 solver of the PDE that made the data (its name, parameters and
domain from the file's attributes, `DataSpec.physics`), run on `resolution` points per dim (the
frames spectrally truncated onto that grid, `sciwm.pdes.grid.resample`) with step `solver_dt` over one
model step (`time_stride` saved frames; a step's per-frame actions force their own frame intervals). It
is cheap and wrong where the coarse grid misses the small scales. `N_theta` is a small periodic CNN
(`layers` 3x3 convolutions of `width` channels, periodic by a halo, `PeriodicCNN`) that learns the coarse solver's error
from data: the correction approach of "Solver-in-the-Loop" (Um et al., NeurIPS 2020) and learned
correction (Kochkov et al., PNAS 2021). Its last layer starts at zero, so an untrained closure *is* the
coarse solver. Training backpropagates through the solver (`Solver.advance_tracked`), so unrolled
objectives see how corrections propagate through the physics.

Frames go in and come out normalised (the run's field statistics ride in `DataSpec.physics`); the
prediction is band-limited to the work grid and interpolated back to the data's grid, as for an FNO
with `resolution`. Needs data made by `sciwm generate` (the solver description) with fixed parameters.
"""

from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciwm.errors import SciwmError
from sciwm.forcing import ModalForcing
from sciwm.models.base import Surrogate
from sciwm.models.conditioning import input_channels, n_input_channels
from sciwm.models.config import DataSpec, ModelConfig
from sciwm.pdes import FAMILIES, Grid, Solver, make_solver
from sciwm.pdes.grid import resample


class PeriodicCNN(nn.Sequential):
    """`layers` periodic convolutions (kernel 3, GELU between), `in -> width -> ... -> out`, 1D or 2D; the
    last one starts at zero.

    Periodic by a halo: the input is wrapped circularly by one point per layer once, and every convolution
    is unpadded, each trimming one point per side, so the output is exactly that of circularly padded
    convolutions on the grid. One wrap instead of one per layer: on 16x16 grids, where a step is bound by
    per-operation overhead, a forward and backward pass takes half to two thirds of the time (batches of 4
    and 32); a forward pass without gradients of a batch of 64 takes ~1.2x longer (benchmarks/RESULTS.md)."""

    def __init__(self, n_in: int, n_out: int, width: int, layers: int, ndim: int) -> None:
        conv = nn.Conv1d if ndim == 1 else nn.Conv2d
        sizes = [n_in, *[width] * max(layers - 1, 1), n_out]
        mods: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            mods.append(conv(a, b, 3))
            if i < len(sizes) - 2:
                mods.append(nn.GELU())
        super().__init__(*mods)
        self.halo = len(sizes) - 1
        self.ndim = ndim
        nn.init.zeros_(self[-1].weight)
        nn.init.zeros_(self[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        """`(B, n_in, *grid)` -> `(B, n_out, *grid)`; every grid dim at least `halo` points (one per convolution:
        `max(layers, 2)`). 2D convolutions run channels-last: ~1.05x faster through a closure step, forward and
        backward, on 1 and 2 CPU threads (benchmarks/RESULTS.md)."""
        x = F.pad(x, (self.halo,) * (2 * self.ndim), mode="circular")
        if self.ndim == 2:
            x = x.contiguous(memory_format=torch.channels_last)
        return super().forward(x)


class ClosureSurrogate(Surrogate):
    """Coarse solver + learned correction: history (B, k, C, *grid) -> next frame (B, C, *grid), normalised."""

    takes_resolution = True

    def __init__(self, cfg: ModelConfig, spec: DataSpec) -> None:
        super().__init__(cfg, spec)
        self.physics = _physics(spec)
        self.grid = Grid(n=tuple(reversed(self.work_grid)), length=tuple(self.physics["length"]))  # the solver's
        if spec.forcing and spec.n_action:  # the coarse solver's 2/3 dealiasing must keep every forced mode
            modes = [tuple(m) if isinstance(m, list) else m for m in json.loads(spec.forcing)["modes"]]
            try:
                ModalForcing(self.grid, modes)
            except SciwmError as err:
                raise SciwmError(f"closure at resolution {cfg.resolution}: {err}") from None
        self.take_forcing_fields(self.work_grid)
        n_in = n_input_channels(spec.history + 1, spec.channels, self.n_values(), spec.ndim, cfg.positional)
        self.net = PeriodicCNN(n_in, spec.channels, cfg.width, cfg.layers, spec.ndim)
        if self.net.halo > min(self.work_grid):
            raise SciwmError(f"closure: model.layers = {cfg.layers} is {self.net.halo} convolutions, which need at "
                             f"least {self.net.halo} points per dim; the work grid is "
                             f"{'x'.join(map(str, self.work_grid))}")
        p = self.physics
        self.frame_time = p["dt_save"]
        self.sub_steps = int(p["time_stride"])  # frame intervals per model step, each with its own action
        dt = cfg.solver_dt or p["dt_solver"] * min(spec.grid) / min(self.work_grid)
        self.steps_per_frame = max(1, math.ceil(self.frame_time / dt - 1e-9))
        if cfg.solver_dt and abs(self.steps_per_frame * cfg.solver_dt - self.frame_time) > 1e-9 * self.frame_time:
            raise SciwmError(f"closure: solver_dt={cfg.solver_dt:g} does not divide the frame interval "
                             f"{self.frame_time:g}")
        self.register_buffer("mean", _channel_shape(p["mean"], spec.ndim), persistent=False)
        self.register_buffer("std", _channel_shape(p["std"], spec.ndim), persistent=False)
        self._solvers: dict[torch.device, Solver] = {}

    @property
    def output_layer(self) -> nn.Module:
        return self.net[-1]

    @property
    def solver_dt(self) -> float:
        return self.frame_time / self.steps_per_frame

    def solver(self, device: torch.device) -> Solver:
        """The coarse solver on `device` (built on first use; solvers are not modules, so not moved by `.to`)."""
        if device not in self._solvers:
            p = self.physics
            self._solvers[device] = make_solver(p["pde"], self.grid, self.solver_dt, p["params"], device=device,
                                                dtype=torch.float32)
        return self._solvers[device]

    def coarse_step(self, u: Tensor, fields: Tensor | None) -> Tensor:
        """The coarse solver over one model step: normalised `u (B, C, *work_grid)`, the step's forcing fields
        `(B, s, *work_grid)` (one per frame interval) or None -> normalised `(B, C, *work_grid)`; differentiable
        where autograd is on. Non-finite input comes out non-finite instead of raising: a diverging rollout is
        reported by the rollout, not stopped here."""
        with torch.autocast(u.device.type, enabled=False):
            x = u.float() * self.std + self.mean
            solver = self.solver(x.device)
            if fields is not None:
                fields = fields.float()
                for j in range(self.sub_steps):
                    x = solver.advance_tracked(x, self.steps_per_frame, fields[:, j:j + 1], finite=False)
            else:
                x = solver.advance_tracked(x, self.steps_per_frame * self.sub_steps, finite=False)
            return (x - self.mean) / self.std

    def forward(self, history: Tensor, params: Tensor | None = None, action: Tensor | None = None) -> Tensor:
        """history (B, k, C, *grid), params (B, P), action (B, A) -> next frame (B, C, *grid)."""
        self.check_history(history)
        params, action = self.check_conditions(history, params, action)
        grid = tuple(history.shape[3:])
        if self.work_grid != self.spec.grid:
            history = resample(history, self.work_grid)
        with torch.autocast(history.device.type, enabled=False):  # the solver's forcing in float32 under bf16
            values = self.condition_inputs(params, action, tuple(history.shape[3:]))  # [params (B, 0), fields]
        fields = values[-1] if self.forcing_basis is not None and action.shape[1] else None
        coarse = self.coarse_step(history[:, -1], fields).to(history.dtype)
        x = input_channels(torch.cat([history, coarse[:, None]], 1), values, self.cfg.positional)
        return resample(coarse + self.net(x), grid)


def _channel_shape(values: list[float], ndim: int) -> Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(1, -1, *[1] * ndim)


def _physics(spec: DataSpec) -> dict:
    """The solver description of `spec.physics`, checked; one clear line where the closure cannot be built."""
    if not spec.physics:
        raise SciwmError("closure: the data does not say which solver made it (no pde, params, dt_solver, dt_save "
                         "attributes); train a closure on data from `sciwm generate`")
    p = json.loads(spec.physics)
    if p["pde"] not in FAMILIES:
        raise SciwmError(f"closure: the data's pde {p['pde']!r} is not a sciwm solver ({', '.join(FAMILIES)})")
    if p["sampled_params"]:
        raise SciwmError(f"closure: the data samples {', '.join(p['sampled_params'])} per trajectory; the "
                         "closure's coarse solver needs fixed parameters")
    if spec.n_params:
        raise SciwmError(f"closure: the data has {spec.n_params} per-trajectory parameter(s); the closure's coarse "
                         "solver needs fixed parameters")
    if not all(math.isfinite(p[k]) and p[k] > 0 for k in ("dt_solver", "dt_save")):
        raise SciwmError("closure: the data does not say its solver's time step (dt_solver), as converted files "
                         "do not; train a closure on data from `sciwm generate`")
    if spec.n_action and not spec.forcing:
        raise SciwmError("closure: the data's actions are not described as modal forcing (no 'forcing' attribute), "
                         "so its solver cannot apply them")
    if spec.n_action and spec.channels != 1:
        raise SciwmError("closure: modal forcing of multi-field data is not supported")
    return p

