"""`Surrogate`: the interface every model keeps, and the checks of its inputs."""

from __future__ import annotations

from torch import Tensor, nn

from sciwm.errors import SciwmError
from sciwm.models.conditioning import forcing_basis, forcing_fields
from sciwm.models.config import DataSpec, ModelConfig


class Surrogate(nn.Module):
    """A one-step surrogate: k normalised frames (+ params, action) -> the next frame.

    Subclasses implement `forward(history, params, action)`: history (B, k, C, *grid) -> (B, C, *grid).
    Latent models (`latent = True`) also implement `encode`, `decode` and `step_latent`.
    """

    latent: bool = False
    takes_resolution: bool = False  # whether `cfg.resolution` (a coarser work grid) applies; refused otherwise

    def __init__(self, cfg: ModelConfig, spec: DataSpec) -> None:
        super().__init__()
        if cfg.resolution and not self.takes_resolution:
            raise SciwmError(f"model.resolution: {cfg.name} runs on the data's grid; only fno, tfno, jepa and "
                             "closure take a resolution")
        self.cfg = cfg
        self.spec = spec
        self.register_buffer("forcing_basis", None, persistent=False)  # (A, *grid) where actions are fields

    @property
    def film(self) -> bool:
        """Whether params enter by FiLM (else as constant channels)."""
        return self.cfg.conditioning == "film" and self.spec.n_params > 0

    @property
    def work_grid(self) -> tuple[int, ...]:
        """The grid the network runs on: `resolution` points per dim (never finer than the data's), or the
        data's grid (models that take `resolution`: fno, tfno, jepa, closure)."""
        r = self.cfg.resolution
        return tuple(min(r, n) for n in self.spec.grid) if r else self.spec.grid

    def take_forcing_fields(self, grid: tuple[int, ...]) -> None:
        """Grid models: where the data describes its modal forcing (`spec.forcing`), take each action as its
        forcing field on `grid`, the network's grid (see `sciwm.models.conditioning`). The basis is a buffer
        rebuilt from the spec, not saved. Call before sizing the input with `n_values`."""
        if not self.spec.forcing or not self.spec.n_action:
            return
        basis = forcing_basis(self.spec.forcing, grid)
        if self.spec.n_action % basis.shape[0]:
            raise SciwmError(f"{self.cfg.name}: {self.spec.n_action} action values per step are not a whole number "
                             f"of the forcing's {basis.shape[0]} amplitudes")
        self.register_buffer("forcing_basis", basis, persistent=False)

    def n_values(self) -> int:
        """How many input channels params and actions add: one per param (unless FiLM), and one per action
        value, or one forcing field per sub-step where actions are taken as fields."""
        n_action = self.spec.n_action if self.forcing_basis is None else self.spec.n_action // len(self.forcing_basis)
        return n_action + (0 if self.film else self.spec.n_params)

    def condition_inputs(self, params: Tensor, action: Tensor, grid: tuple[int, ...]) -> list[Tensor]:
        """What `input_channels` stacks after the frames on `grid`: params (B, P) unless FiLM, and actions
        (B, A) or their forcing fields (B, s, *grid) (the basis is resampled where the network runs on
        another grid than the one it was built for)."""
        if self.forcing_basis is not None and action.shape[1]:
            basis = self.forcing_basis
            if tuple(basis.shape[1:]) != tuple(grid):
                basis = forcing_basis(self.spec.forcing, grid).to(basis.device)
            action = forcing_fields(action, basis)
        return [action] if self.film else [params, action]

    def check_history(self, history: Tensor) -> None:
        """history must be (B, k, C, *grid) with the spec's k, C and number of spatial dims."""
        s = self.spec
        if history.ndim != 3 + s.ndim or history.shape[1:3] != (s.history, s.channels):
            raise SciwmError(
                f"{self.cfg.name}: history must be (B, k={s.history}, C={s.channels}, *grid) with "
                f"{s.ndim} spatial dim(s), got {tuple(history.shape)}"
            )

    def check_conditions(self, like: Tensor, params: Tensor | None, action: Tensor | None) -> tuple[Tensor, Tensor]:
        """Validate params (B, P) and action (B, A) or (B, *action_shape); return both as (B, n), n may be 0.

        `like` is the history (B, ...): it gives the batch size, device and dtype of the empty results.
        The trainer's empty tensors (B, 0) are accepted where the spec has no params or actions.
        """
        batch = like.shape[0]
        out = []
        for name, value, n in (("params", params, self.spec.n_params), ("action", action, self.spec.n_action)):
            if value is None or (n == 0 and value.numel() == 0):
                if n > 0:
                    raise SciwmError(f"{self.cfg.name}: the data spec has {n} {name} value(s); pass {name}=(B, {n})")
                out.append(like.new_zeros(batch, 0))
                continue
            value = value.reshape(batch, -1).to(like.dtype)
            if value.shape[1] != n:
                raise SciwmError(f"{self.cfg.name}: {name} must have {n} value(s) per sample, got {value.shape[1]}")
            out.append(value)
        return out[0], out[1]
