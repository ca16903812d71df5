"""Training objectives: small functions `loss(model, batch, cfg, step, gen) -> (loss, logs)`.

A batch is a collated `WindowBatch`: `history (B, k, C, *grid)`, `future (B, m, C, *grid)`, normalised,
`params (B, P)` normalised, `action (B, k + m, A...)`.

- `onestep`: teacher forcing, `MSE(model(history), future[0])`;
- `unrolled`: feed predictions back for `n` steps (`n` ramps from 1 to `unroll` over `curriculum` steps)
  and average the per-step MSE; with `pushforward`, the first `n - 1` steps run without gradient, so the
  model learns to correct the distribution of its own inputs (Brandstetter, Worrall & Welling 2022);
- input noise: Gaussian noise of std `noise` on the input frames (Sanchez-Gonzalez et al. 2020);
- latent models add the autoencoder reconstruction of every frame and the latent prediction error
  `MSE(step_latent(z_hist), encode(future[0]))` (weight `latent_weight`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from sciwm.data.windows import WindowBatch
from sciwm.runconfig import TrainConfig


def unroll_length(cfg: TrainConfig, step: int) -> int:
    """Curriculum: 1 at step 0, `cfg.unroll` from step `cfg.curriculum` on (linear in between)."""
    if cfg.objective == "onestep":
        return 1
    if cfg.curriculum <= 0:
        return cfg.unroll
    return min(cfg.unroll, 1 + math.floor((cfg.unroll - 1) * step / cfg.curriculum))


def step_action(batch: WindowBatch, k: int, j: int) -> Tensor | None:
    """The action applied between frame `k - 1 + j` and the next, flattened: `(B, A)`, or None."""
    a = batch.action
    return None if a.numel() == 0 else a[:, k - 1 + j].reshape(a.shape[0], -1)


def _noisy(x: Tensor, std: float, gen: torch.Generator | None) -> Tensor:
    if std <= 0:
        return x
    noise = torch.randn(x.shape, generator=gen, dtype=x.dtype, device="cpu").to(x.device)
    return x + std * noise


def rollout_loss(
    model: torch.nn.Module, batch: WindowBatch, cfg: TrainConfig, step: int, gen: torch.Generator | None
) -> tuple[Tensor, dict[str, float]]:
    """The one-step / unrolled / pushforward objective in field space (see module docstring)."""
    n = unroll_length(cfg, step)
    k = batch.history.shape[1]
    hist = _noisy(batch.history, cfg.noise, gen)
    params = batch.params if batch.params.shape[-1] else None
    losses = []
    for j in range(n):
        grad = not (cfg.pushforward and j < n - 1)
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            pred = model(hist, params, step_action(batch, k, j))
        if grad:
            losses.append(F.mse_loss(pred, batch.future[:, j]))
        hist = torch.cat([hist[:, 1:], pred.unsqueeze(1)], dim=1)
    loss = torch.stack(losses).mean()
    return loss, {"mse": loss.item(), "unroll": float(n)}


def latent_loss(
    model: torch.nn.Module, batch: WindowBatch, cfg: TrainConfig, step: int, gen: torch.Generator | None
) -> tuple[Tensor, dict[str, float]]:
    """Reconstruction + latent prediction + decoded (unrolled) field prediction for latent models."""
    core = model.module if hasattr(model, "module") else model
    frames = torch.cat([batch.history, batch.future[:, :1]], dim=1)  # (B, k+1, C, *grid)
    flat = frames.flatten(0, 1)
    z = core.encode(_noisy(flat, cfg.noise, gen))
    recon = F.mse_loss(core.decode(z), flat)
    z = z.unflatten(0, frames.shape[:2])
    k = batch.history.shape[1]
    params = batch.params if batch.params.shape[-1] else None
    z_next = core.step_latent(z[:, :k], params, step_action(batch, k, 0))
    latent = F.mse_loss(z_next, z[:, k].detach())
    field, logs = rollout_loss(model, batch, cfg, step, gen)
    loss = field + recon + cfg.latent_weight * latent
    return loss, {**logs, "recon": recon.item(), "latent": latent.item()}


def objective_for(model: torch.nn.Module):  # noqa: ANN201 - one of the two functions above
    core = model.module if hasattr(model, "module") else model
    return latent_loss if getattr(core, "latent", False) else rollout_loss
