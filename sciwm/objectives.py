"""Training objectives: small functions `loss(model, batch, cfg, step, gen) -> (loss, logs)`.

A batch is a collated `WindowBatch`: `history (B, k, C, *grid)`, `future (B, m, C, *grid)`, normalised,
`params (B, P)` normalised, `action (B, k + m, A...)`.

- `onestep`: teacher forcing, `MSE(model(history), future[0])`;
- `unrolled`: feed predictions back for `n` steps (`n` ramps from 1 to `unroll` over `curriculum` steps)
  and average the per-step MSE; with `pushforward`, the first `n - 1` steps run without gradient, so the
  model learns to correct the distribution of its own inputs (Brandstetter, Worrall & Welling 2022);
- input noise: Gaussian noise of std `noise` on the input frames (Sanchez-Gonzalez et al. 2020);
- latent models unroll in latent space (no decoding between steps, as rollouts and planners run them)
  and add the autoencoder reconstruction of every frame and the latent prediction error
  `MSE(step_latent(z_hist), encode(future))` (weight `latent_weight`);
- `jepa` (the JEPA world model): latent prediction over `n` unrolled steps + lambda SIGReg, or targets from
  an EMA encoder; the decoder learns on detached latents. Equations and diagnostics: docs/jepa.md.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor
from torch.nn import functional as F

from sciwm.data.windows import WindowBatch
from sciwm.models.jepa import JEPASurrogate
from sciwm.models.sigreg import effective_rank, embedding_std, sigreg
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
    """Latent models, unrolled in latent space as `rollout_model` and the planners roll them.

    z = encode(frames) for the k history frames (with input noise) and the n = unroll_length next ones;
    the predictor rolls n steps from z_hist without decoding in between: zhat_{j+1} = step_latent(zhat_..j).
    Loss = MSE(decode(z), frames) + mean_j [MSE(decode(zhat_j), future_j) + latent_weight MSE(zhat_j, sg(z_j))].
    With `pushforward` the first n - 1 steps run without gradient. The first step with gradient runs through
    `model` (its DistributedDataParallel wrapper under torchrun), which makes DDP reduce every gradient.
    """
    core = model.module if hasattr(model, "module") else model
    k, n = batch.history.shape[1], unroll_length(cfg, step)
    frames = torch.cat([batch.history, batch.future[:, :n]], dim=1)  # (B, k + n, C, *grid)
    noisy = torch.cat([_noisy(batch.history, cfg.noise, gen), batch.future[:, :n]], dim=1) if cfg.noise > 0 \
        else frames
    z = core.encode(noisy.flatten(0, 1))
    recon = F.mse_loss(core.decode(z), frames.flatten(0, 1))
    z = z.unflatten(0, frames.shape[:2])
    params = batch.params if batch.params.shape[-1] else None
    z_hist, field, latent = z[:, :k], [], []
    wrapped = n - 1 if cfg.pushforward else 0  # DDP arms its gradient reduction only in a forward with grad
    for j in range(n):
        grad = not (cfg.pushforward and j < n - 1)
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            z_next = model(z_hist, params, step_action(batch, k, j), latent=True) if j == wrapped else \
                core.step_latent(z_hist, params, step_action(batch, k, j))
        if grad:
            field.append(F.mse_loss(core.decode(z_next), batch.future[:, j]))
            latent.append(F.mse_loss(z_next, z[:, k + j].detach()))
        z_hist = torch.cat([z_hist[:, 1:], z_next.unsqueeze(1)], dim=1)
    field_mse, latent_mse = torch.stack(field).mean(), torch.stack(latent).mean()
    loss = field_mse + recon + cfg.latent_weight * latent_mse
    return loss, {"mse": field_mse.item(), "unroll": float(n), "recon": recon.item(), "latent": latent_mse.item()}


COLLAPSE_RANK = 2.0  # the batch embeddings span fewer directions than this ...
COLLAPSE_STD = 1e-3  # ... or vary less than this (mean std per dim): the JEPA latent has collapsed


def jepa_loss(
    model: torch.nn.Module, batch: WindowBatch, cfg: TrainConfig, step: int, gen: torch.Generator | None
) -> tuple[Tensor, dict[str, float]]:
    """JEPA: latent prediction + lambda SIGReg (or EMA targets) + decoder losses on detached latents.

    Embeds the k history frames (with input noise) and the next n = unroll_length frames; the predictor
    unrolls n steps from the history's embeddings; SIGReg is taken over all (k + n) * B embeddings.
    """
    core = model.module if hasattr(model, "module") else model
    mc, k, n = core.cfg, batch.history.shape[1], unroll_length(cfg, step)
    hist = _noisy(batch.history, cfg.noise, gen)
    clean = torch.cat([batch.history, batch.future[:, :n]], dim=1)  # (B, k + n, C, *grid)
    z = core.encode(torch.cat([hist, batch.future[:, :n]], dim=1).flatten(0, 1))  # (B (k + n), D)
    zs = z.unflatten(0, clean.shape[:2])
    target = core.encode_target(batch.future[:, :n].flatten(0, 1)).unflatten(0, (-1, n)) \
        if mc.target == "ema" else zs[:, k:]
    params = batch.params if batch.params.shape[-1] else None
    pred = _latent_unroll(core, zs[:, :k], target, batch, params, cfg.pushforward)
    reg = sigreg(z, mc.sigreg_directions, gen)
    recon = F.mse_loss(core.decode(z.detach()), clean.flatten(0, 1))
    field = F.mse_loss(model(hist, params, step_action(batch, k, 0), detach_latent=True), batch.future[:, 0])
    weight = mc.sigreg_weight if mc.target == "sigreg" else 0.0  # EMA: SIGReg is logged, not optimised
    loss = pred + weight * reg + recon + field
    logs = {"unroll": float(n), "latent": pred.item(), "sigreg": reg.item(), "recon": recon.item(),
            "field": field.item(), "emb_std": embedding_std(z), "emb_rank": effective_rank(z)}
    _warn_if_collapsed(core, logs, step)
    return loss, logs


def _latent_unroll(core: JEPASurrogate, z_hist: Tensor, target: Tensor, batch: WindowBatch,
                   params: Tensor | None, pushforward: bool) -> Tensor:
    """Mean over n steps of MSE(predicted latent, target[:, j]); z_hist (B, k, D), target (B, n, D)."""
    k, n = z_hist.shape[1], target.shape[1]
    losses = []
    for j in range(n):
        grad = not (pushforward and j < n - 1)
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            z_next = core.step_latent(z_hist, params, step_action(batch, k, j))
        if grad:
            losses.append(F.mse_loss(z_next, target[:, j]))
        z_hist = torch.cat([z_hist[:, 1:], z_next.unsqueeze(1)], dim=1)
    return torch.stack(losses).mean()


def _warn_if_collapsed(core: torch.nn.Module, logs: dict[str, float], step: int) -> None:
    """Warn once per model when the batch embeddings have collapsed (see COLLAPSE_RANK, COLLAPSE_STD)."""
    if getattr(core, "collapse_warned", False):
        return
    if logs["emb_rank"] < COLLAPSE_RANK or logs["emb_std"] < COLLAPSE_STD:
        core.collapse_warned = True
        warnings.warn(
            f"JEPA latent collapsed at step {step}: effective rank {logs['emb_rank']:.3g} of "
            f"{core.cfg.latent_dim}, embedding std {logs['emb_std']:.3g}. The prediction loss can reach 0 with "
            "a constant embedding; raise model.sigreg_weight (now "
            f"{core.cfg.sigreg_weight:g}) or use model.target = \"ema\".", stacklevel=2)


def objective_for(model: torch.nn.Module):  # noqa: ANN201 - one of the functions above
    core = model.module if hasattr(model, "module") else model
    if isinstance(core, JEPASurrogate):
        return jepa_loss
    return latent_loss if getattr(core, "latent", False) else rollout_loss
