"""Validation during training: one-step loss on held-out windows and a rollout's correlation time.

The rollout starts from the first `k` frames of up to `val_samples` validation trajectories and runs
`val_rollout` steps (fewer if the trajectories are shorter); the correlation time is in model steps
(multiply by `time_stride * dt_save` of the file for physical time), the median over trajectories,
threshold 0.8. Runs with actions are given the file's actions (per step, as in training).
"""

from __future__ import annotations

import functools

import torch
from torch.nn import functional as F

from sciwm.data.windows import WindowBatch, Windows
from sciwm.metrics import correlation, correlation_time, nrmse
from sciwm.objectives import step_action
from sciwm.rollout import rollout_model
from sciwm.runconfig import TrainConfig

ONE_STEP_WINDOWS = 256


def _params(batch, pmean: torch.Tensor, pstd: torch.Tensor, dev: torch.device):  # noqa: ANN001, ANN202
    if not batch.params.shape[-1]:
        return None
    return ((batch.params.double() - pmean) / pstd).float().to(dev)


def _action(action: torch.Tensor | None, dev: torch.device) -> torch.Tensor | None:
    return None if action is None or action.numel() == 0 else action.to(dev)


# The validation batches are the same at every validation of a run: read them once (a small file is read
# into memory whole by Windows, so a fresh read per validation would load the file each time).
@functools.lru_cache(maxsize=2)
def _one_step_batch(val: Windows) -> WindowBatch:
    idx = torch.linspace(0, len(val) - 1, min(len(val), ONE_STEP_WINDOWS)).long().tolist()
    return torch.utils.data.default_collate([val[i] for i in idx])


@functools.lru_cache(maxsize=2)
def _rollout_batch(val: Windows, horizon: int, samples: int) -> WindowBatch | None:
    """The first `samples` trajectories as windows of `val.history` frames then `horizon` steps (None: none)."""
    if horizon <= 0:
        return None
    traj = Windows(val.path, history=val.history, future=horizon, stride=val.n_time, stats=val.stats,
                   params=val.params, time_stride=val.time_stride, actions=val.has_action)
    n = min(samples, len(traj))
    return torch.utils.data.default_collate([traj[i] for i in range(n)]) if n else None


@torch.no_grad()
def validate(model: torch.nn.Module, val: Windows, tc: TrainConfig, dev: torch.device, pmean: torch.Tensor,
             pstd: torch.Tensor) -> dict[str, float]:
    was_training = model.training
    model.eval()
    k = val.history
    batch = _one_step_batch(val)
    pred = model(batch.history.to(dev), _params(batch, pmean, pstd, dev), _action(step_action(batch, k, 0), dev))
    out = {"val_loss": F.mse_loss(pred, batch.future[:, 0].to(dev)).item()}
    horizon = min(tc.val_rollout, val.n_steps - k)
    batch = _rollout_batch(val, horizon, tc.val_samples)
    if batch is not None:
        actions = _action(batch.action[:, k - 1 : k - 1 + horizon], dev)
        result = rollout_model(model, batch.history.to(dev), horizon, _params(batch, pmean, pstd, dev), actions)
        pred, true = result.frames.cpu().double(), batch.future.double()
        corr = correlation(torch.nan_to_num(pred, nan=0.0), true).mean(-1)  # (B, T), mean over channels
        t_corr, _ = correlation_time(corr, dt=1.0, threshold=0.8)
        out["val_corr_time"] = float(t_corr.median()) + 1  # frames predicted while still correlated
        out["val_nrmse"] = float(nrmse(pred[:, -1:], true[:, -1:]).nanmean())
    model.train(was_training)
    return out
