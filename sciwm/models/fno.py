"""Field-space Fourier neural operators (`fno`, `tfno`) built on `neuralop.models.FNO` / `TFNO`.

Input: the k history frames flattened into k*C channels, then params (with conditioning="channels") as
constant channels, then actions (their forcing fields where the data describes its forcing, else constant
channels; `sciwm.models.conditioning`), then optional periodic position channels.
neuralop's own positional embedding (a linear ramp on [0, 1], not periodic) is always off.
`modes` counts wavenumbers |k| < modes per dim (the original FNO convention); neuralop counts
modes of both signs, so it receives n_modes = 2 * modes - 1 per dim, with modes clipped to n // 2.

`resolution = r` (0: off) runs the network on an r-point grid per dim: the history is projected onto the
wavenumbers |k| < r/2 (spectral truncation, `sciwm.pdes.grid.resample`), the next frame is predicted
there and interpolated back exactly (zero-padded spectrum). The surrogate's state is then band-limited:
for dissipative PDEs whose spectrum has decayed by |k| = r/2 (KS at L = 100: r = 128 of 256 points), the
same network costs about r/n as much per step, so a fixed budget buys more optimiser steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from neuralop.models import FNO, TFNO
from torch import Tensor, nn

from sciwm.models.base import Surrogate
from sciwm.models.conditioning import FiLM, input_channels, modulate, n_input_channels
from sciwm.models.config import DataSpec, ModelConfig
from sciwm.pdes.grid import resample


def neuralop_modes(modes: int, grid: Sequence[int]) -> tuple[int, ...]:
    """sciwm `modes` (|k| < modes, clipped to n // 2) -> neuralop n_modes (modes of both signs)."""
    return tuple(2 * max(1, min(modes, n // 2)) - 1 for n in grid)


class FNOCore(nn.Module):
    """neuralop FNO (lifting -> blocks -> projection) with optional FiLM after each block.

    x (B, in_channels, *grid) [+ film_params (B, P)] -> (B, out_channels, *grid).
    The FNO's own forward is bypassed only to reach between its blocks; its submodules are used as is.
    """

    def __init__(
        self, in_channels: int, out_channels: int, grid: Sequence[int], cfg: ModelConfig,
        n_film: int = 0, factorized: bool = False,
    ) -> None:
        super().__init__()
        kind, extra = (TFNO, {"rank": cfg.rank}) if factorized else (FNO, {})
        self.fno = kind(
            n_modes=neuralop_modes(cfg.modes, grid), in_channels=in_channels, out_channels=out_channels,
            hidden_channels=cfg.width, n_layers=cfg.layers, positional_embedding=None, **extra,
        )
        self.film = FiLM(n_film, [cfg.width] * cfg.layers, hidden=cfg.width) if n_film else None
        for conv in self.fno.fno_blocks.convs:
            conv.register_forward_pre_hook(_spectral_input_in_float32)

    @property
    def output_layer(self) -> nn.Module:
        """The last layer (a 1x1 conv); zero it and the core outputs exactly 0."""
        return self.fno.projection.fcs[-1]

    def state_dict(self, *args, **kwargs) -> dict[str, Tensor]:
        """Tensors only: neuralop adds a `_metadata` entry (its init kwargs, functions included) that
        `torch.load(weights_only=True)` refuses and `load_state_dict` of an enclosing module rejects."""
        state = super().state_dict(*args, **kwargs)
        state.pop("_metadata", None)
        return state

    def forward(self, x: Tensor, film_params: Tensor | None = None) -> Tensor:
        """x (B, in_channels, *grid), film_params (B, P) or None -> (B, out_channels, *grid)."""
        mods = self.film(film_params) if self.film is not None else [None] * self.fno.n_layers
        h = self.fno.lifting(x)
        for i, mod in enumerate(mods):
            h = modulate(self.fno.fno_blocks(h, i), mod)
        return self.fno.projection(h)


def _spectral_input_in_float32(module: nn.Module, args: tuple) -> tuple:
    """Under bf16 autocast (CUDA training) the spectral convolutions get float32 input: torch's FFTs have
    no bfloat16 kernels, and the Fourier weights are complex64 anyway. The 1x1 convs and MLPs around
    them still run in bf16."""
    x, *rest = args
    return (x.float(), *rest) if x.dtype in (torch.bfloat16, torch.float16) else args


class FNOSurrogate(Surrogate):
    """Field-space FNO: history (B, k, C, *grid) -> next frame (B, C, *grid), residual by default.

    Works at any grid with the spec's number of dims (modes are clipped at build time, for spec.grid).
    """

    factorized = False
    takes_resolution = True

    def __init__(self, cfg: ModelConfig, spec: DataSpec) -> None:
        super().__init__(cfg, spec)
        self.take_forcing_fields(self.work_grid)
        n_in = n_input_channels(spec.history, spec.channels, self.n_values(), spec.ndim, cfg.positional)
        n_film = spec.n_params if self.film else 0
        self.core = FNOCore(n_in, spec.channels, self.work_grid, cfg, n_film=n_film, factorized=self.factorized)

    @property
    def output_layer(self) -> nn.Module:
        return self.core.output_layer

    def forward(self, history: Tensor, params: Tensor | None = None, action: Tensor | None = None) -> Tensor:
        """history (B, k, C, *grid), params (B, P), action (B, A) -> next frame (B, C, *grid)."""
        self.check_history(history)
        params, action = self.check_conditions(history, params, action)
        grid = history.shape[3:]
        if self.work_grid != self.spec.grid:
            history = resample(history, self.work_grid)
        values = self.condition_inputs(params, action, tuple(history.shape[3:]))
        y = self.core(input_channels(history, values, self.cfg.positional),
                      params if self.film else None)
        return resample(history[:, -1] + y if self.cfg.residual else y, tuple(grid))


class TFNOSurrogate(FNOSurrogate):
    """FNO with Tucker-factorised spectral weights (neuralop TFNO); `cfg.rank` sets their size."""

    factorized = True
