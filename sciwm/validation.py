"""Validation during training: one-step loss on held-out windows and a rollout's correlation time.

The rollout starts from the first `k` frames of up to `val_samples` validation trajectories and runs
`val_rollout` steps (fewer if the trajectories are shorter); the correlation time is in frames
(multiply by the file's `dt_save` for physical time), the median over trajectories, threshold 0.8.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from sciwm.data.windows import Windows
from sciwm.metrics import correlation, correlation_time, nrmse
from sciwm.rollout import rollout_model
from sciwm.runconfig import TrainConfig

ONE_STEP_WINDOWS = 256


def _params(batch, pmean: torch.Tensor, pstd: torch.Tensor, dev: torch.device):  # noqa: ANN001, ANN202
    if not batch.params.shape[-1]:
        return None
    return ((batch.params.double() - pmean) / pstd).float().to(dev)


@torch.no_grad()
def validate(model: torch.nn.Module, val: Windows, tc: TrainConfig, dev: torch.device, pmean: torch.Tensor,
             pstd: torch.Tensor) -> dict[str, float]:
    was_training = model.training
    model.eval()
    idx = torch.linspace(0, len(val) - 1, min(len(val), ONE_STEP_WINDOWS)).long().tolist()
    batch = torch.utils.data.default_collate([val[i] for i in idx])
    pred = model(batch.history.to(dev), _params(batch, pmean, pstd, dev), None)
    out = {"val_loss": F.mse_loss(pred, batch.future[:, 0].to(dev)).item()}
    k = val.history
    horizon = min(tc.val_rollout, val.n_time - k)
    traj = Windows(val.path, history=k, future=horizon, stride=val.n_time, stats=val.stats)
    n = min(tc.val_samples, len(traj))
    if n and horizon > 0:
        batch = torch.utils.data.default_collate([traj[i] for i in range(n)])
        result = rollout_model(model, batch.history.to(dev), horizon, _params(batch, pmean, pstd, dev))
        pred, true = result.frames.cpu().double(), batch.future.double()
        corr = correlation(torch.nan_to_num(pred, nan=0.0), true).mean(-1)  # (B, T), mean over channels
        t_corr, _ = correlation_time(corr, dt=1.0, threshold=0.8)
        out["val_corr_time"] = float(t_corr.median()) + 1  # frames predicted while still correlated
        out["val_nrmse"] = float(nrmse(pred[:, -1:], true[:, -1:]).nanmean())
    model.train(was_training)
    return out
