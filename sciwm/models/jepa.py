"""`jepa`: a joint-embedding predictive world model (JEPA) with a vector latent and a decoder on the side.

encode: frame (B, C, *grid) -> z (B, D), D = latent_dim: a circular conv, log2 d stride-2 stages
(d = latent_downsample, as in latent_fno), average pooling to at most POOL cells per dim, flatten, linear.
step_latent: (B, k, D) history (+ actions, params or FiLM) -> next z (B, D): a residual MLP with `layers`
hidden layers of `predictor_hidden` units, z_next = z_last + mlp(...).
decode: z (B, D) -> frame (B, C, *grid): linear to the coarse grid (grid / d), then latent_fno's decoder.
forward = decode(step_latent(encode each history frame)), the Surrogate interface, so rollouts give fields.
`resolution = r` (0: off) runs encoder and decoder on an r-point grid per dim, as for `fno`: frames are
spectrally truncated to |k| < r/2 before encoding and decoded frames interpolated back exactly, so the
latent sees the large scales only and the encoder's and decoder's convs cost ~(r/n)^ndim as much.

The encoder and predictor are trained in latent space only (sciwm.objectives.jepa_loss); the decoder is
trained on detached latents, so it reads the representation but never shapes it. Against collapse:
target = "sigreg" adds SIGReg of the batch's embeddings (LeJEPA / LeWorldModel style, targets keep their
gradient); target = "ema" takes targets from `target_encoder`, an exponential moving average of the
encoder without gradient (I-JEPA / V-JEPA style), updated by `update_target()` after each optimiser step.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sciwm.errors import SciwmError
from sciwm.models.base import Surrogate
from sciwm.models.conditioning import FiLM, modulate
from sciwm.models.config import DataSpec, ModelConfig
from sciwm.models.latent import Decoder, Encoder
from sciwm.pdes.grid import resample

POOL = 8  # the encoder pools its coarse grid to at most this many cells per dim before the linear layer


class VectorEncoder(nn.Module):
    """(B, C, *grid) -> (B, D): strided circular convs, average pooling, flatten, linear."""

    def __init__(self, spec: DataSpec, width: int, dim: int, n_down: int, coarse: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = Encoder(spec.ndim, spec.channels, [width] * (n_down + 1), width)
        self.pooled = tuple(min(n, POOL) for n in coarse)
        self.pool = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d)[spec.ndim - 1]
        self.linear = nn.Linear(width * int(torch.tensor(self.pooled).prod()), dim)
        # Variance-preserving init (He for the GELU convs, LeCun for the linear maps): with torch's default
        # init every layer shrinks the signal by ~2, and the embeddings start ~1e-3 of the field, i.e. as
        # good as collapsed (SIGReg's gradient vanishes with the spread, so it escapes that only slowly).
        layers = [m for m in self.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
        for i, m in enumerate(layers):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu" if i < len(layers) - 2 else "linear")
            nn.init.zeros_(m.bias)

    def forward(self, frames: Tensor) -> Tensor:
        return self.linear(self.pool(self.convs(frames), self.pooled).flatten(1))


class VectorDecoder(nn.Module):
    """(B, D) -> (B, C, *grid): linear to (width, *coarse), then nearest upsampling + circular convs."""

    def __init__(self, spec: DataSpec, width: int, dim: int, n_up: int, coarse: tuple[int, ...]) -> None:
        super().__init__()
        self.coarse = (width, *coarse)
        self.linear = nn.Linear(dim, width * int(torch.tensor(coarse).prod()))
        self.convs = Decoder(spec.ndim, width, [width] * (n_up + 1), spec.channels)

    def forward(self, z: Tensor) -> Tensor:
        return self.convs(F.gelu(self.linear(z)).reshape(-1, *self.coarse))


class Predictor(nn.Module):
    """x (B, n_in) [+ film_params (B, P)] -> (B, D): `n_layers` GELU layers of `hidden`, FiLM after each."""

    def __init__(self, n_in: int, hidden: int, dim: int, n_layers: int, n_film: int = 0) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(nn.Linear(n_in if i == 0 else hidden, hidden) for i in range(n_layers))
        self.out = nn.Linear(hidden, dim)
        self.film = FiLM(n_film, [hidden] * n_layers, hidden=hidden) if n_film else None

    def forward(self, x: Tensor, film_params: Tensor | None = None) -> Tensor:
        mods = self.film(film_params) if self.film is not None else [None] * len(self.hidden)
        for layer, mod in zip(self.hidden, mods, strict=True):
            x = modulate(F.gelu(layer(x)), mod)
        return self.out(x)


class JEPASurrogate(Surrogate):
    """Vector-latent JEPA world model; see the module docstring for the parts and their shapes."""

    takes_resolution = True

    latent = True

    def __init__(self, cfg: ModelConfig, spec: DataSpec) -> None:
        super().__init__(cfg, spec)
        d = cfg.latent_downsample
        if any(n % d for n in self.work_grid):
            raise SciwmError(f"jepa: grid {self.work_grid} must divide by model.latent_downsample = {d}")
        coarse = tuple(n // d for n in self.work_grid)
        n_down = d.bit_length() - 1
        self.encoder = VectorEncoder(spec, cfg.width, cfg.latent_dim, n_down, coarse)
        self.decoder = VectorDecoder(spec, cfg.width, cfg.latent_dim, n_down, coarse)
        n_in = spec.history * cfg.latent_dim + self.n_values()
        self.predictor = Predictor(n_in, cfg.predictor_hidden, cfg.latent_dim, cfg.layers,
                                   n_film=spec.n_params if self.film else 0)
        self.target_encoder = None
        if cfg.target == "ema":
            self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)

    @property
    def output_layer(self) -> nn.Module:
        """The predictor's last layer; zeroed (with residual) step_latent returns the last latent."""
        return self.predictor.out

    def encode(self, frames: Tensor) -> Tensor:
        """frames (B, C, *grid) -> z (B, D)."""
        return self.encoder(resample(frames, self.work_grid))

    @torch.no_grad()
    def encode_target(self, frames: Tensor) -> Tensor:
        """frames (B, C, *grid) -> target embeddings (B, D), without gradient: the EMA encoder's
        (target = "ema"), else the online encoder's."""
        encoder = self.encoder if self.target_encoder is None else self.target_encoder
        return encoder(resample(frames, self.work_grid))

    @torch.no_grad()
    def update_target(self) -> None:
        """target <- m * target + (1 - m) * online (m = ema_momentum); nothing unless target = "ema"."""
        if self.target_encoder is None:
            return
        online = dict(self.encoder.named_parameters())
        for name, p in self.target_encoder.named_parameters():
            p.lerp_(online[name], 1.0 - self.cfg.ema_momentum)

    def decode(self, z: Tensor) -> Tensor:
        """z (B, D) -> frames (B, C, *grid)."""
        return resample(self.decoder(z).float(), self.spec.grid)  # float: FFTs refuse bf16 (CUDA autocast)

    def step_latent(self, z_hist: Tensor, params: Tensor | None = None, action: Tensor | None = None) -> Tensor:
        """z_hist (B, k, D), params (B, P), action (B, A) -> next latent (B, D)."""
        k, dim = self.spec.history, self.cfg.latent_dim
        if z_hist.ndim != 3 or z_hist.shape[1:] != (k, dim):
            raise SciwmError(f"jepa: z_hist must be (B, k={k}, D={dim}), got {tuple(z_hist.shape)}")
        params, action = self.check_conditions(z_hist, params, action)
        values = [action] if self.film else [params, action]
        dz = self.predictor(torch.cat([z_hist.flatten(1), *values], dim=1), params if self.film else None)
        return z_hist[:, -1] + dz if self.cfg.residual else dz

    def forward(self, history: Tensor, params: Tensor | None = None, action: Tensor | None = None, *,
                detach_latent: bool = False) -> Tensor:
        """history (B, k, C, *grid) -> next frame (B, C, *grid) = decode(step_latent(encode(history))).

        detach_latent: decode a detached latent, so the loss trains the decoder alone (used by jepa_loss,
        which calls the model through this method so that DistributedDataParallel syncs gradients).
        """
        self.check_history(history)
        b, k = history.shape[:2]
        z = self.encode(history.flatten(0, 1)).reshape(b, k, -1)
        z_next = self.step_latent(z, params, action)
        return self.decode(z_next.detach() if detach_latent else z_next)
