"""Accuracy of one entry against the truth, batch by batch, with `sciwm.metrics` (docs/metrics.md).

    acc = Accumulator(lengths=(100.0,), shape=(256,))
    acc.add(pred, true)                    # (B, T, C, *space) float64, any number of batches
    summary = acc.summary(lead_times, horizon_frame, thresholds=(0.8, 0.95))

Diverged frames follow `sciwm.evaluate`: a frame with any non-finite value scores correlation 0 and
infinite nRMSE and spectral error, and is left out of the drift and spectrum means.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import Tensor

from sciwm import metrics
from sciwm.evaluate import correlation_times

BAND_NAMES = ("low", "mid", "high")


class Accumulator:
    """Per-sample metric arrays of one entry, gathered over batches."""

    def __init__(self, lengths: tuple[float, ...], shape: tuple[int, ...]) -> None:
        self.lengths = lengths  # space-dim order ((Ly, Lx) in 2D)
        self.bands = metrics.default_bands(shape, lengths)
        self.parts: dict[str, list[np.ndarray]] = {}
        self.spectrum_sum: Tensor | None = None
        self.spectrum_good: Tensor | None = None
        self.k: Tensor | None = None

    def add(self, pred: Tensor, true: Tensor) -> None:
        space = tuple(range(3, pred.ndim))
        bad = ~torch.isfinite(pred).all(dim=space)  # (B, T, C)
        p = torch.where(torch.isfinite(pred), pred, torch.zeros((), dtype=pred.dtype))
        cons = metrics.conserved_drift(p, true)
        got = {
            "nrmse": metrics.nrmse(p, true).masked_fill(bad, math.inf),
            "correlation": metrics.correlation(p, true).masked_fill(bad, 0.0),
            "spectral_error": metrics.spectral_error(p, true, self.bands, self.lengths).masked_fill(
                bad[..., None], math.inf),
            "energy_drift": cons.energy_drift.masked_fill(bad, math.nan),
            "mass_drift": cons.mass_drift.masked_fill(bad, math.nan),
            "bad": bad,
        }
        for name, v in got.items():
            self.parts.setdefault(name, []).append(v.numpy())
        k, e = metrics.energy_spectrum(p, self.lengths)  # (B, T, C, shells)
        e = e.masked_fill(bad[..., None], 0.0).sum(0)
        good = (~bad).sum(0)
        self.k = k
        self.spectrum_sum = e if self.spectrum_sum is None else self.spectrum_sum + e
        self.spectrum_good = good if self.spectrum_good is None else self.spectrum_good + good

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(v) for name, v in self.parts.items()}

    def spectrum(self) -> np.ndarray:
        """Sample-mean spectrum (T, C, shells) over the finite frames."""
        good = self.spectrum_good.clamp_min(1)[..., None]
        return (self.spectrum_sum / good).numpy()

    def summary(self, lead: np.ndarray, horizon: int, thresholds: tuple[float, ...]) -> dict:
        """Curves over lead time, correlation times, and the values at the horizon frame (see docs/bench.md)."""
        a = self.arrays()
        nrmse, corr = a["nrmse"].mean(2), a["correlation"].mean(2)  # field means per (sample, time)
        spec = a["spectral_error"].mean(2)  # (sample, time, band)
        ct = {thr: {k: v for k, v in summary.items() if k not in ("per_sample", "censored")}
              for thr, summary in correlation_times(corr, lead, list(thresholds)).items()}
        bad_any = a["bad"].any(axis=(1, 2))
        return {
            "correlation_time": ct,
            "at_horizon": {
                "time": float(lead[horizon]),
                "nrmse_median": float(_quantiles(nrmse[:, horizon])[1]),
                "nrmse_mean": float(nrmse[:, horizon].mean()),
                "correlation_median": float(np.median(corr[:, horizon])),
                "spectral_error_median": [float(v) for v in _quantiles(spec[:, horizon])[1]],
                "energy_drift_median": float(_quantiles(_nanmean(a["energy_drift"][:, horizon], 1))[1]),
                "mass_drift_median": float(_quantiles(_nanmean(a["mass_drift"][:, horizon], 1))[1]),
            },
            "curves": {"nrmse": _stats(nrmse), "correlation": _stats(corr)},
            "non_finite_samples": int(bad_any.sum()),
        }


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis)


def _quantiles(a: np.ndarray) -> np.ndarray:
    """25th, 50th, 75th percentile over axis 0, where inf is a legitimate value (a diverged sample)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q = np.nanpercentile(np.clip(a, -1e300, 1e300), (25, 50, 75), axis=0)
    return np.where(q > 1e250, np.inf, np.where(q < -1e250, -np.inf, q))


def _stats(a: np.ndarray) -> dict[str, list[float]]:
    q25, q50, q75 = _quantiles(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = a.mean(0)
    return {"median": q50.tolist(), "q25": q25.tolist(), "q75": q75.tolist(), "mean": mean.tolist()}
