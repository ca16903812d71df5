"""Score a predicted trajectory file against the true one: per-step curves, summaries, metrics.json, figures.

    result = sciwm.evaluate.evaluate("pred.h5", "test.h5", out="eval/")   # also eval/metrics.json, *.png
    print(sciwm.evaluate.format_table(result))

Both files are in the sciwm layout (any source `sciwm.data.open` reads) with the same fields, grid and
sample count; frames are matched by their time coordinate and only the common ones are scored (so a
rollout of a run with `time_stride` s, frames s * dt_save apart, is scored against every s-th truth frame). A
diverged rollout is scored, not refused: a non-finite frame of a field counts as correlation 0 and
infinite error, and the first such time per sample is reported. Definitions: docs/metrics.md.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from sciwm import metrics
from sciwm.data.reading import field_names, open, space_of  # noqa: A004 - sciwm.data.open
from sciwm.errors import SciwmError

EXTRA_THRESHOLDS = (0.8, 0.95)  # always reported, besides the requested threshold
BAND_NAMES = ("low", "mid", "high")
CHUNK_BYTES = 128 * 2**20  # float64 bytes of prediction + truth scored at once


@dataclass(frozen=True)
class Pair:
    """Two opened files and how they line up: frame indices into each, lead times, grid lengths."""

    pred: xr.Dataset
    true: xr.Dataset
    fields: list[str]
    pred_frames: np.ndarray
    true_frames: np.ndarray
    times: np.ndarray  # time coordinate of the compared frames, in the truth file
    lengths: tuple[float, ...]  # domain length per space dim, space-dim order ((Ly, Lx) in 2D)

    @property
    def space(self) -> tuple[str, ...]:
        return space_of(self.true)

    def load(self, samples: slice) -> tuple[np.ndarray, np.ndarray]:
        """(pred, true) of the compared frames as float64 arrays (samples, time, fields, *space)."""
        def read(ds: xr.Dataset, frames: np.ndarray) -> np.ndarray:
            window = slice(int(frames[0]), int(frames[-1]) + 1)
            arrays = [np.asarray(ds[f].isel(sample=samples, time=window).values)[:, frames - frames[0]]
                      for f in self.fields]
            return np.stack(arrays, axis=2).astype(np.float64)
        return read(self.pred, self.pred_frames), read(self.true, self.true_frames)


def _grid_lengths(ds: xr.Dataset) -> tuple[float, ...]:
    """Periodic domain length per space dim from the uniform grid: n * spacing."""
    out = []
    for dim in space_of(ds):
        c = np.asarray(ds[dim].values, np.float64)
        out.append(float(c[1] - c[0]) * len(c) if len(c) > 1 else 1.0)
    return tuple(out)


def _check_seeds(pred: xr.Dataset, true: xr.Dataset, pred_path: Path) -> None:
    """Refuse when both files name their trajectories' seeds and the names differ (unset seeds: 0 or -1)."""
    if "seed" not in pred or "seed" not in true:
        return
    ps, ts = np.asarray(pred["seed"].values), np.asarray(true["seed"].values)
    if np.all(np.isin(ps, (0, -1))) or np.array_equal(ps, ts):
        return
    i = int(np.argmax(ps != ts))
    raise SciwmError(f"{pred_path}: sample {i} has seed {ps[i]}, the truth's has seed {ts[i]}; "
                     "predictions must be made from the truth's samples in the same order")


def align(pred_path: str | Path, true_path: str | Path) -> Pair:
    """Open both files and check they can be compared; frames are matched by time (common frames only)."""
    pred_path, true_path = Path(pred_path), Path(true_path)
    pred, true = open(pred_path), open(true_path)
    fields, pf = field_names(true), field_names(pred)
    if set(fields) != set(pf):
        raise SciwmError(f"{pred_path} has fields {pf}, {true_path} has {fields}; they must be the same")
    if space_of(pred) != space_of(true) or any(pred.sizes[d] != true.sizes[d] for d in space_of(true)):
        got = {d: pred.sizes.get(d) for d in space_of(pred)}
        want = {d: true.sizes[d] for d in space_of(true)}
        raise SciwmError(f"{pred_path}: grid {got} differs from the truth's {want}; resample one of them first")
    for d in space_of(true):
        if not np.allclose(pred[d].values, true[d].values, rtol=1e-6, atol=1e-9):
            raise SciwmError(f"{pred_path}: coordinate {d} differs from the truth's (different domain?)")
    if pred.sizes["sample"] != true.sizes["sample"]:
        raise SciwmError(f"{pred_path} has {pred.sizes['sample']} samples, {true_path} has "
                         f"{true.sizes['sample']}; evaluate against the same samples, in the same order")
    _check_seeds(pred, true, pred_path)
    tp, tt = np.asarray(pred["time"].values, np.float64), np.asarray(true["time"].values, np.float64)
    scale = float(np.median(np.diff(tt))) if len(tt) > 1 else 1.0
    match = np.abs(tp[:, None] - tt[None, :]) <= 1e-6 * max(abs(scale), 1e-12)
    pred_frames = np.flatnonzero(match.any(1))
    # a rollout starts with its k given frames; score from the last of them (lead time 0) on
    given = int(np.asarray(pred.attrs.get("history_frames", 1)).reshape(-1)[0])
    pred_frames = pred_frames[pred_frames >= given - 1]
    true_frames = np.argmax(match[pred_frames], axis=1)
    if len(pred_frames) < 2:
        raise SciwmError(f"{pred_path}: times [{tp[0]:g}, {tp[-1]:g}] share {len(pred_frames)} frame(s) with "
                         f"the truth's [{tt[0]:g}, {tt[-1]:g}]; need at least 2 common frames")
    return Pair(pred, true, fields, pred_frames, true_frames, tt[true_frames], _grid_lengths(true))


def _score_chunk(p: np.ndarray, t: np.ndarray, pair: Pair, bands: list[tuple[int, int]]) -> dict[str, np.ndarray]:
    """Metrics of one chunk of samples: (samples, time, fields[, bands]) arrays; bad frames scored as diverged."""
    if not np.isfinite(t).all():
        raise SciwmError("the truth file has non-finite values; it cannot be a reference")
    space = tuple(range(3, p.ndim))
    bad = torch.from_numpy(~np.isfinite(p).all(axis=space))
    pt, tt = torch.from_numpy(np.where(np.isfinite(p), p, 0.0)), torch.from_numpy(t)
    cons = metrics.conserved_drift(pt, tt)
    out = {
        "nrmse": metrics.nrmse(pt, tt).masked_fill(bad, math.inf),
        "vrmse": metrics.vrmse(pt, tt).masked_fill(bad, math.inf),
        "correlation": metrics.correlation(pt, tt).masked_fill(bad, 0.0),
        "spectral_error": metrics.spectral_error(pt, tt, bands, pair.lengths).masked_fill(bad[..., None], math.inf),
        "mass_pred": cons.mass_pred.masked_fill(bad, math.nan), "mass_true": cons.mass_true,
        "energy_pred": cons.energy_pred.masked_fill(bad, math.nan), "energy_true": cons.energy_true,
        "mass_drift": cons.mass_drift.masked_fill(bad, math.nan),
        "energy_drift": cons.energy_drift.masked_fill(bad, math.nan),
        "bad": bad,
    }
    k, ep = metrics.energy_spectrum(pt, pair.lengths)
    _, et = metrics.energy_spectrum(tt, pair.lengths)
    out["spectrum_pred_sum"] = ep.masked_fill(bad[..., None], 0.0).sum(0)
    out["spectrum_good"] = (~bad).sum(0)
    out["spectrum_true_sum"] = et.sum(0)
    out["k"] = k
    return {name: v.numpy() for name, v in out.items()}


def score(pair: Pair) -> dict[str, np.ndarray]:
    """Per-(sample, time, field) metrics of the whole pair, computed in chunks of samples."""
    n = pair.true.sizes["sample"]
    grid = math.prod(pair.true.sizes[d] for d in pair.space)
    per_sample = 2 * 8 * len(pair.times) * len(pair.fields) * grid
    step = max(1, CHUNK_BYTES // per_sample)
    bands = metrics.default_bands([pair.true.sizes[d] for d in pair.space], pair.lengths)
    parts = [_score_chunk(*pair.load(slice(s, min(s + step, n))), pair, bands) for s in range(0, n, step)]
    out = {name: np.concatenate([q[name] for q in parts]) for name in parts[0]
           if not name.startswith("spectrum") and name != "k"}
    good = sum(q["spectrum_good"] for q in parts)
    out["spectrum_pred"] = sum(q["spectrum_pred_sum"] for q in parts) / np.maximum(good, 1)[..., None]
    out["spectrum_pred"][good == 0] = np.nan
    out["spectrum_true"] = sum(q["spectrum_true_sum"] for q in parts) / n
    out["k"], out["bands"] = parts[0]["k"], np.asarray(bands)
    return out


def _nanmean(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean ignoring NaN (frames left out); NaN where every entry is NaN, without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis)


def _quantiles(a: np.ndarray, qs: tuple[float, ...] = (25, 50, 75)) -> np.ndarray:
    """Percentiles over axis 0 ignoring NaN, where +-inf is a legitimate value (a diverged sample)."""
    big = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q = np.nanpercentile(np.clip(a, -big, big), qs, axis=0)
    return np.where(q > 1e250, np.inf, np.where(q < -1e250, -np.inf, q))


def _stats(a: np.ndarray) -> dict[str, list[float]]:
    """mean (ignoring NaN), median and interquartile range over samples (axis 0)."""
    q25, q50, q75 = _quantiles(a)
    return {"mean": _nanmean(a).tolist(), "median": q50.tolist(), "q25": q25.tolist(), "q75": q75.tolist()}


def _horizons(n_frames: int) -> list[int]:
    """The first step, a quarter, half and all of the compared horizon (frame indices, unique)."""
    return sorted({1, *(max(1, round(f * (n_frames - 1))) for f in (0.25, 0.5, 1.0))})


def correlation_times(corr: np.ndarray, lead: np.ndarray, thresholds: list[float]) -> dict[str, dict]:
    """Per-sample correlation time (field-mean correlation) at each threshold, with median and IQR."""
    out = {}
    for thr in thresholds:
        steps, censored = metrics.correlation_time(torch.from_numpy(corr), 1.0, thr)
        times = lead[steps.long().numpy()]
        q25, q50, q75 = np.percentile(times, (25, 50, 75))
        out[f"{thr:g}"] = {"median": float(q50), "q25": float(q25), "q75": float(q75),
                          "censored_fraction": float(censored.float().mean()),
                          "per_sample": times.tolist(), "censored": censored.tolist()}
    return out


def _spectra(pair: Pair, s: dict[str, np.ndarray], frames: list[int]) -> dict:
    """Sample-mean spectra of truth and prediction at a few frames (k > 0), per field."""
    k = s["k"][1:]
    return {"k": k.tolist(), "times": [float(pair.times[f]) for f in frames],
            "truth": {f: s["spectrum_true"][frames, c, 1:].tolist() for c, f in enumerate(pair.fields)},
            "pred": {f: s["spectrum_pred"][frames, c, 1:].tolist() for c, f in enumerate(pair.fields)}}


def summarise(pair: Pair, s: dict[str, np.ndarray], threshold: float = 0.8) -> dict:
    """Curves over time and summaries from `score`: the dict `evaluate` returns (see docs/metrics.md)."""
    lead = pair.times - pair.times[0]
    hz = _horizons(len(lead))
    field_mean = {m: s[m].mean(2) for m in ("nrmse", "vrmse", "correlation")}
    spec = s["spectral_error"].mean(2)  # (sample, time, band)
    edrift, mdrift = _nanmean(s["energy_drift"], 2), _nanmean(s["mass_drift"], 2)
    bad_any = s["bad"].any(2)
    first_bad = [float(lead[np.argmax(b)]) if b.any() else None for b in bad_any]
    band_energy = np.array([s["spectrum_true"][..., lo:hi].sum() for lo, hi in s["bands"]])
    curves = {m: {**_stats(v), "fields": {f: s[m][:, :, c].mean(0).tolist() for c, f in enumerate(pair.fields)}}
              for m, v in field_mean.items()}
    curves["spectral_error"] = {b: _stats(spec[..., i]) for i, b in enumerate(BAND_NAMES)}
    for q in ("mass", "energy"):
        same = np.where(s["bad"], np.nan, s[f"{q}_true"])  # truth over the samples the prediction still has
        curves[q] = {f: {"truth": _nanmean(same[:, :, c]).tolist(),
                         "pred": _nanmean(s[f"{q}_pred"][:, :, c]).tolist()} for c, f in enumerate(pair.fields)}
    curves["energy_drift"], curves["mass_drift"] = _stats(edrift), _stats(mdrift)
    thresholds = list(dict.fromkeys([threshold, *EXTRA_THRESHOLDS]))
    return {
        "pde": str(pair.true.attrs.get("pde", "")), "fields": pair.fields, "n_samples": int(bad_any.shape[0]),
        "n_frames": len(lead), "time_units": str(pair.true["time"].attrs.get("units", "")),
        "t0": float(pair.times[0]), "times": lead.tolist(), "threshold": threshold,
        "correlation_time": correlation_times(field_mean["correlation"], lead, thresholds),
        "horizons": {"steps": hz, "times": lead[hz].tolist(),
                     "nrmse_mean": field_mean["nrmse"][:, hz].mean(0).tolist(),
                     "nrmse_median": _quantiles(field_mean["nrmse"][:, hz])[1].tolist(),
                     "vrmse_mean": field_mean["vrmse"][:, hz].mean(0).tolist(),
                     "correlation_median": np.median(field_mean["correlation"][:, hz], 0).tolist(),
                     "energy_drift_median": _quantiles(edrift[:, hz])[1].tolist(),
                     "mass_drift_median": _quantiles(mdrift[:, hz])[1].tolist()},
        "spectral_error": {"band_names": list(BAND_NAMES), "bands": s["bands"].tolist(),
                           "k_fundamental": float(s["k"][1]),
                           "true_energy_fraction": (band_energy / s["spectrum_true"].sum()).tolist(),
                           "median_at_horizons": _quantiles(spec[:, hz])[1].tolist(),
                           "mean_at_horizons": spec[:, hz].mean(0).tolist()},
        "non_finite": {"n_samples": int(bad_any.any(1).sum()), "first_time": first_bad,
                       "earliest": min((t for t in first_bad if t is not None), default=None),
                       "policy": "non-finite frames score correlation 0, infinite nRMSE/VRMSE/spectral error, "
                                 "and are left out of drift and spectrum means"},
        "curves": curves,
        "spectra": _spectra(pair, s, sorted({0, *hz[1:]})),
    }


def _jsonable(v: object) -> object:
    """Plain JSON: non-finite floats become null (metrics.json says which frames diverged)."""
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def evaluate(pred_path: str | Path, true_path: str | Path, threshold: float = 0.8,
             out: str | Path | None = None, animate: bool = False) -> dict:
    """Score a predicted trajectory file against the truth; with `out`, write metrics.json and figures there.

    Returns the summaries and per-step curves described in docs/metrics.md (floats; inf marks diverged
    frames, which metrics.json writes as null). animate: also write a GIF for 2D data (slower).
    """
    if not 0 < threshold < 1:
        raise SciwmError(f"--threshold {threshold}: a correlation threshold must lie in (0, 1), e.g. 0.8")
    pair = align(pred_path, true_path)
    result = {"pred": str(pred_path), "truth": str(true_path), **summarise(pair, score(pair), threshold)}
    if out is not None:
        from sciwm.eval_plots import write_figures

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        result["figures"] = [str(p) for p in write_figures(result, pair, out, animate=animate)]
        (out / "metrics.json").write_text(json.dumps(_jsonable(result), indent=1) + "\n")
    return result


def _num(v: float | None) -> str:
    return "inf" if v is None or not math.isfinite(v) else f"{v:.3g}"


def format_table(r: dict) -> str:
    """The summaries as a plain-text table for the terminal."""
    units = "" if r["time_units"] in ("", "1") else f" [{r['time_units']}]"
    lines = [f"{r['pred']} vs {r['truth']}: {r['pde'] or 'unknown pde'}, fields {', '.join(r['fields'])}, "
             f"{r['n_samples']} samples, {r['n_frames']} frames, lead time 0 .. {r['times'][-1]:g}{units} "
             f"(t0 = {r['t0']:g})",
             "correlation time (field-mean Pearson correlation first below threshold), median [IQR]:"]
    for thr, c in r["correlation_time"].items():
        cens = f", {c['censored_fraction']:.0%} never fell below (horizon counted)" if c["censored_fraction"] else ""
        lines.append(f"  < {thr:<5} {c['median']:8.4g}  [{c['q25']:.4g}, {c['q75']:.4g}]{cens}")
    h, se = r["horizons"], r["spectral_error"]
    bands = [f"spec {n} [{lo},{hi})" for n, (lo, hi) in zip(se["band_names"], se["bands"], strict=True)]
    head = ["lead t", "nRMSE mean", "nRMSE med", "VRMSE mean", "corr med", "energy drift", *bands]
    rows = [[f"{t:g}", _num(a), _num(b), _num(c), _num(d), _num(e), *(_num(x) for x in sp)]
            for t, a, b, c, d, e, sp in zip(h["times"], h["nrmse_mean"], h["nrmse_median"], h["vrmse_mean"],
                                            h["correlation_median"], h["energy_drift_median"],
                                            se["median_at_horizons"], strict=True)]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    for row in (head, *rows):
        lines.append("  " + "  ".join(x.rjust(w) for x, w in zip(row, widths, strict=True)))
    frac = ", ".join(f"{n} {f:.2g}" for n, f in zip(se["band_names"], se["true_energy_fraction"], strict=True))
    lines.append(f"  (spectral error: median over samples; shells in units of k0 = {se['k_fundamental']:.4g}; "
                 f"true energy fraction {frac})")
    empty = [n for n, f in zip(se["band_names"], se["true_energy_fraction"], strict=True) if f < 1e-12]
    if empty:
        lines.append(f"  note: band(s) {', '.join(empty)} hold almost no true energy (dealiased or damped); "
                     "their relative error compares round-off")
    nf = r["non_finite"]
    if nf["n_samples"]:
        lines.append(f"warning: {nf['n_samples']} of {r['n_samples']} predictions have non-finite frames, the "
                     f"first at lead t = {nf['earliest']:g}; {nf['policy']}")
    return "\n".join(lines)
