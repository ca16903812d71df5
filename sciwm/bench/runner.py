"""`run_bench`: the solver ladder and the surrogates on one test set, one device, one batch size.

Order of work: load the test set into memory (data loading is never timed); score every entry on all
test trajectories (untimed); time every surviving entry on the first `batch` trajectories (warm,
synchronised, interleaved repeats); read the verdict off the ladder's Pareto front; write the report.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

from sciwm.bench.config import BenchConfig
from sciwm.bench.ladder import Problem, SolverEntry, ladder, reference_rung
from sciwm.bench.scoring import Accumulator
from sciwm.bench.surrogates import SurrogateEntry
from sciwm.bench.timing import time_calls
from sciwm.bench.verdict import verdicts
from sciwm.data.reading import open as open_data
from sciwm.data.reading import space_of
from sciwm.errors import SciwmError
from sciwm.metrics import default_bands, energy_spectrum

Entry = SolverEntry | SurrogateEntry


def run_bench(config: BenchConfig | dict | str | Path, out: str | Path | None = None,
              log: Callable[[str], None] | None = None) -> dict:
    """Run the benchmark `config` (a BenchConfig, its dict, or a TOML path); with `out`, write the report.

    Returns the dict that `out/results.json` holds (schema: docs/bench.md); figures need `out`.
    """
    cfg = config if isinstance(config, BenchConfig) else (
        BenchConfig.from_dict(config) if isinstance(config, dict) else BenchConfig.load(config))
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(cfg, out, log)
    finally:
        torch.set_num_threads(threads)


def _run(cfg: BenchConfig, out: str | Path | None, log: Callable[[str], None] | None) -> dict:
    say = log or (lambda msg: None)
    if torch.device(cfg.device).type == "cuda" and not torch.cuda.is_available():
        raise SciwmError(f"device {cfg.device}: CUDA is not available on this machine")
    ds = open_data(cfg.data)
    problem = Problem.from_dataset(ds, cfg.data)
    surrogates = [SurrogateEntry.load(r, problem, ds, cfg.data, cfg.device) for r in cfg.runs]
    start = max((s.history for s in surrogates), default=1) - 1
    frames, samples = _extent(cfg, ds, problem, start)
    lead = np.arange(frames) * problem.dt_save
    horizon = _horizon_frame(cfg, problem, frames)
    test, params = _load(ds, problem, samples, start + frames)
    entries: list[Entry] = [SolverEntry(problem, r, cfg.device) for r in ladder(problem, cfg.ladder)]
    entries += surrogates
    if len({e.name for e in entries}) != len(entries):
        raise SciwmError("two runs have the same name (model and directory); give their directories distinct names")
    batch = min(cfg.batch, samples)
    thresholds = tuple(dict.fromkeys([cfg.threshold, 0.8, 0.95]))
    lengths = tuple(reversed(problem.grid.length))
    shape = problem.grid.shape

    truth, truth_info = test[:, start:], {"kind": "data"}
    if cfg.truth == "solver":
        ref = SolverEntry(problem, reference_rung(problem, cfg.truth_refine), cfg.device)
        say(f"truth: {ref.name}")
        truth = torch.cat([_predict(ref, test[s:s + batch, :start + 1], _slice(params, s, batch), frames)
                           for s in range(0, samples, batch)])
        acc = Accumulator(lengths, shape)
        acc.add(test[:, start:], truth)
        truth_info = {"kind": "solver", "refine": cfg.truth_refine, **ref.settings(),
                      "data_vs_truth": acc.summary(lead, horizon, thresholds)["at_horizon"]}

    scored, dropped, snapshots, spectra = [], [], {}, {}
    for e in entries:
        say(f"scoring {e.name}")
        acc = Accumulator(lengths, shape)
        try:
            for s in range(0, samples, batch):
                pred = _predict(e, test[s:s + batch, :start + 1], _slice(params, s, batch), frames)
                acc.add(pred, truth[s:s + batch])
                if s == 0:
                    snapshots[e.name] = _snapshot(pred[0], horizon)
        except SciwmError as err:
            if "non-finite" not in str(err):
                raise
            dropped.append({"name": e.name, "kind": e.kind, "settings": e.settings(),
                            "reason": f"unstable: {err}"})
            say(f"dropped {e.name}: unstable")
            continue
        spectra[e.name] = acc.spectrum()[[horizon, -1]]
        scored.append((e, acc.summary(lead, horizon, thresholds)))

    say(f"timing {len(scored)} entries: {cfg.repeats} repeats, batch {batch}")
    prepared = {e.name: e.prepare(test[:batch, :start + 1], _slice(params, 0, batch), frames) for e, _ in scored}
    timings = time_calls({e.name: partial(e.run, prepared[e.name]) for e, _ in scored}, cfg.repeats,
                         cfg.device, say)
    span = float(lead[-1])
    results = []
    for e, summary in scored:
        t = timings[e.name]
        per = batch * span
        cost = {"s_per_time_unit": t.median / per, "min": min(t.seconds) / per, "max": max(t.seconds) / per,
                "spread": (max(t.seconds) - min(t.seconds)) / t.median, "batch_seconds": t.seconds,
                "setup_s": getattr(prepared[e.name], "setup_s", 0.0)}
        memory = {"peak_bytes": t.peak_bytes, "method": t.memory_method, "state_bytes": e.state_bytes(batch)}
        item = {"name": e.name, "kind": e.kind, "settings": e.settings(), "cost": cost, "memory": memory,
                **summary}
        if isinstance(e, SurrogateEntry):
            item["training"] = e.training_cost()
            item["train_set"] = e.train_set()
        results.append(item)

    k, e_true = energy_spectrum(truth[:, [horizon, -1]], lengths)
    bands = default_bands(shape, lengths)
    band_energy = [float(e_true[:, 0, ..., lo:hi].sum()) for lo, hi in bands]
    settings = {**cfg.to_dict(), "batch": batch, "samples": samples, "frames": frames, "start_frame": start,
                "horizon_frame": horizon, "horizon_time": float(lead[horizon]), "thresholds": list(thresholds),
                "simulated_time_per_rollout": span, "torch_threads": torch.get_num_threads()}
    result = {
        "format": "sciwm-bench", "format_version": 1, "settings": settings,
        "problem": {"pde": problem.pde, "fields": list(problem.fields), "n": list(problem.grid.n),
                    "domain_length": list(problem.grid.length), "dt_solver": problem.dt,
                    "dt_save": problem.dt_save, "params": problem.fixed, "sampled_params": list(problem.sampled),
                    "data_precision": problem.precision, "time_units": str(ds["time"].attrs.get("units", ""))},
        "truth": truth_info, "times": lead.tolist(), "entries": results, "dropped": dropped,
        "spectra": {"k": k[1:].tolist(), "times": [float(lead[horizon]), span],
                    "truth": e_true.mean(0)[..., 1:].tolist(), "bands": bands,
                    "true_energy_fraction": [b / max(sum(band_energy), 1e-300) for b in band_energy],
                    "entries": {name: s[..., 1:].tolist() for name, s in spectra.items()}},
    }
    result.update(verdicts(result))
    if out is not None:
        from sciwm.bench.report import write_report

        result["files"] = write_report(result, snapshots, truth[0], Path(out))
    return result


def _predict(e: Entry, history: torch.Tensor, params: dict, frames: int) -> torch.Tensor:
    x = e.prepare(history, params, frames)
    return e.to_test(x, e.run(x))


def _slice(params: dict[str, torch.Tensor], s: int, n: int) -> dict[str, torch.Tensor]:
    return {k: v[s:s + n] for k, v in params.items()}


def _snapshot(pred: torch.Tensor, horizon: int) -> np.ndarray:
    """Sample 0 of an entry for the figures: every frame in 1D, frames 0, horizon, middle, last in 2D."""
    if pred.ndim == 3:  # (T, C, x)
        return pred.numpy().astype(np.float32)
    t = pred.shape[0]
    return pred[sorted({0, horizon, (t - 1) // 2, t - 1})].numpy().astype(np.float32)


def _extent(cfg: BenchConfig, ds, problem: Problem, start: int) -> tuple[int, int]:  # noqa: ANN001
    n_time, n_samples = ds.sizes["time"], ds.sizes["sample"]
    t = np.asarray(ds["time"].values, np.float64)
    if len(t) > 1 and not np.allclose(np.diff(t), problem.dt_save, rtol=1e-6):
        raise SciwmError(f"{cfg.data}: frames are not dt_save = {problem.dt_save:g} apart")
    frames = cfg.frames or n_time - start
    if start + frames > n_time or frames < 2:
        raise SciwmError(f"frames: {cfg.frames} from frame {start} (the runs' history) needs {start + frames} "
                         f"frames; {cfg.data} has {n_time}")
    samples = cfg.samples or n_samples
    if samples > n_samples:
        raise SciwmError(f"samples: {samples}, but {cfg.data} has {n_samples}")
    return frames, samples


def _horizon_frame(cfg: BenchConfig, problem: Problem, frames: int) -> int:
    if not cfg.horizon:
        return max(1, round(0.25 * (frames - 1)))
    h = round(cfg.horizon / problem.dt_save)
    if abs(h * problem.dt_save - cfg.horizon) > 1e-6 * problem.dt_save or not 1 <= h <= frames - 1:
        raise SciwmError(f"horizon: {cfg.horizon:g} must be a saved lead time, a multiple of dt_save "
                         f"{problem.dt_save:g} up to {(frames - 1) * problem.dt_save:g}")
    return h


def _load(ds, problem: Problem, samples: int, frames: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # noqa: ANN001
    """Test frames `(samples, frames, C, *grid)` float64 and per-sample parameters, in memory."""
    dims = ("sample", "time", *space_of(ds))
    arrays = [np.asarray(ds[f].transpose(*dims).isel(sample=slice(0, samples), time=slice(0, frames)).values)
              for f in problem.fields]
    test = torch.from_numpy(np.stack(arrays, 2).astype(np.float64))
    if not torch.isfinite(test).all():
        raise SciwmError("the test set has non-finite values; it cannot be a reference")
    params = {p: torch.from_numpy(np.asarray(ds[p].values[:samples], np.float64)) for p in ds.data_vars
              if ds[p].dims == ("sample",) and p != "seed"}
    return test, params

