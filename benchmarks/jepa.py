"""JEPA world model targets ("JEPA world model" issue), side by side with latent_fno and field fno.

On one dataset, each model trains for the same wall time, then:
1. decoded-rollout correlation time: every test trajectory rolled out from its first frame over the whole
   trajectory (`sciwm.rollout.rollout_file`, with the file's parameters and actions), median time until
   the spatial correlation with the truth (mean over fields) falls below 0.8;
2. linear probes (sciwm.probe, fitted on the training file's trajectories, scored on the test file's,
   ~50 frames per trajectory) of every per-trajectory parameter ("nu": per frame, and per trajectory from
   the mean embedding) and of frame quantities, beside a random encoder of the same architecture
   (target: nu R² >= 0.9 for JEPA, far above the floor); "—" where the data has no such parameter;
3. cost per predicted step on the same batch (32), the data's grid, and device: the JEPA latent step and
   the latent_fno latent step against one field FNO step (target: JEPA >= 100x cheaper), interleaved, medians;
4. surprise of the latent models (sciwm.surprise, with the file's parameters and actions): threshold
   calibrated on val, false alarms on the clean test trajectories, and detection of one frame replaced by
   noise (the middle frame) in each test trajectory.

    # burgers1d: nu log-uniform per trajectory, 101 frames every 0.02 (horizon 2.0)
    sciwm generate datasets/burgers1d.toml --out /tmp/jepa/burgers1d --samples 128
    .venv/bin/python benchmarks/jepa.py --data /tmp/jepa/burgers1d --minutes 3
    # ks1d: no parameters, 201 frames every 1.0 (horizon 200)
    sciwm generate datasets/ks1d.toml --out /tmp/exp/ks1d
    .venv/bin/python benchmarks/jepa.py --data /tmp/exp/ks1d --minutes 3 --config sciwm/configs/jepa-ks1d.toml \
        --work /tmp/jepa/bench-ks
    # burgers1d-forced-nu: nu per trajectory, stirred by actions that no model is given (the config's
    # [data] actions = false), 101 frames every 0.1, one model step every 10 (horizon 10)
    sciwm generate datasets/burgers1d-forced-nu.toml --out /tmp/jepa/bfnu
    .venv/bin/python benchmarks/jepa.py --data /tmp/jepa/bfnu --minutes 10 --batch 32 \
        --config sciwm/configs/jepa-burgers1d-forced-nu.toml --work /tmp/jepa/bench-bfnu
    # burgers1d-forced: nu fixed, 6 actions per frame, 51 frames every 0.1 (horizon 5.0)
    sciwm generate datasets/burgers1d-forced.toml --out /tmp/jepa/bf
    .venv/bin/python benchmarks/jepa.py --data /tmp/jepa/bf --minutes 3 --work /tmp/jepa/bench-bf

The jepa entry uses the [model] of `--config`; the other two are fixed below; all three share the [data]
of `--config` (history, time stride) and the training settings TRAIN (the config's [train] is not used).
Budget: 3 x `--minutes` of training, plus a few minutes of evaluation. torch runs on one thread: on a
shared 2-core machine two threads wait on each other (measured: 4 s per JEPA step with 2 threads under
load, against ~0.2 s with 1).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

import sciwm.data
from sciwm.checkpoint import load_run
from sciwm.data.reading import param_names
from sciwm.data.windows import step_actions
from sciwm.metrics import correlation, correlation_time, nrmse
from sciwm.probe import format_table, probe, read_trajectories
from sciwm.rollout import rollout_file
from sciwm.runconfig import RunConfig
from sciwm.surprise import RunPredictor, calibrate, file_scores, flagged_frames, onsets, surprise
from sciwm.train import train

ROOT = Path(__file__).resolve().parent.parent
# The same objective settings for all three; batch 16 and unroll 2 instead of the configs' 32 and 4 so
# that a few minutes on 2 CPU cores give each model enough steps.
TRAIN = {"objective": "unrolled", "unroll": 2, "curriculum": 0, "batch_size": 16, "lr": 1e-3, "warmup": 50,
         "steps": 10**6, "val_every": 10**6, "checkpoint_minutes": 10**6, "log_every": 10}
MODELS = {
    "jepa": None,  # the [model] of --config
    "latent_fno": {"name": "latent_fno", "width": 32, "latent_downsample": 8, "latent_channels": 16, "modes": 8},
    "fno": {"name": "fno", "width": 64, "modes": 32, "layers": 4},  # full grid, no resolution reduction
}
PROBE_FRAMES = 50  # frames per trajectory probed (every n-th): neighbouring frames are nearly the same point


def config(name: str, data: Path, minutes: float, path: Path, batch: int) -> RunConfig:
    raw = tomllib.loads(path.read_text())
    if MODELS[name] is not None:
        raw["model"] = dict(MODELS[name])
    raw["data"].update(train=str(data / "train.h5"), val=str(data / "val.h5"))
    raw["train"] = {**TRAIN, "max_minutes": minutes, "batch_size": batch}
    return RunConfig.from_dict(raw)


def correlation_times(run: Path, test: Path, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Roll every trajectory of `test` out over its whole length; correlation time per trajectory, and
    nRMSE at the last step (correlation saturates at the horizon where every model stays correlated)."""
    loaded = load_run(run)
    k, ts = loaded.spec.history, loaded.time_stride
    true = sciwm.data.open(test)
    steps = (true.sizes["time"] - 1) // ts - (k - 1)
    rollout_file(run, test, steps, out)
    pred = sciwm.data.open(out)
    fields = list(loaded.stats.fields)
    p = torch.from_numpy(np.stack([pred[f].values for f in fields], 2)[:, k:]).double()
    t = torch.from_numpy(np.stack([true[f].values[:, ::ts] for f in fields], 2)[:, k : k + steps]).double()
    corr = correlation(torch.nan_to_num(p), t).mean(-1)  # (B, steps): mean over fields
    dt = float(np.asarray(pred.attrs["dt_save"]).reshape(-1)[0])  # model step: dt_save * time_stride
    ct, _ = correlation_time(torch.cat([torch.ones(len(corr), 1, dtype=corr.dtype), corr], 1), dt, 0.8)
    err = nrmse(torch.nan_to_num(p[:, -1:], nan=1e6), t[:, -1:]).mean(-1)[:, 0]  # (B,): mean over fields
    return ct.numpy(), err.numpy()


def step_costs(runs: dict[str, Path], batch: int = 32, repeats: int = 7) -> dict[str, float]:
    """Seconds per predicted step: latent models' step_latent on encoded latents, fno's forward."""
    calls = {}
    for name, run in runs.items():
        loaded = load_run(run)
        model, s = loaded.model, loaded.spec
        params = torch.zeros(batch, s.n_params) if s.n_params else None
        action = torch.zeros(batch, s.n_action) if s.n_action else None
        hist = torch.randn(batch, s.history, s.channels, *s.grid)
        if model.latent:
            with torch.no_grad():
                z = torch.stack([model.encode(hist[:, i]) for i in range(s.history)], 1)
            calls[name] = lambda m=model, z=z, p=params, a=action: m.step_latent(z, p, a)
        else:
            calls[name] = lambda m=model, h=hist, p=params, a=action: m(h, p, a)
    times: dict[str, list[float]] = {n: [] for n in calls}
    with torch.no_grad():
        for _ in range(repeats):  # interleaved: every model once per round
            for name, fn in calls.items():
                fn()
                n = 200 if name != "fno" else 5
                t = time.perf_counter()
                for _ in range(n):
                    fn()
                times[name].append((time.perf_counter() - t) / n)
    return {n: statistics.median(v) for n, v in times.items()}


def glitch_detection(run: Path, data: Path) -> tuple[float, int, int, float]:
    """(threshold, glitches whose onset is the glitch frame, trajectories, clean false-alarm rate).

    The middle model step's frame of every test trajectory is replaced by noise of the frame's mean and std."""
    loaded = load_run(run)
    pred = RunPredictor(loaded)
    thr = calibrate(file_scores(pred, data / "val.h5", loaded)[0])
    clean, _ = file_scores(pred, data / "test.h5", loaded)
    false_rate = float((torch.nan_to_num(clean, nan=0) > thr.value).double().mean())
    tr = read_trajectories(loaded, data / "test.h5")
    ts = loaded.time_stride
    frames = tr.raw[:, ::ts].clone()  # the model's steps, as file_scores scores them
    step = frames.shape[1] // 2
    params = torch.tensor(np.stack([tr.params[p] for p in loaded.param_names], 1)) if loaded.param_names else None
    actions = None
    if loaded.spec.n_action:
        actions = torch.from_numpy(step_actions(tr.actions.numpy(), ts, frames.shape[1]))
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(frames[:, step].shape, generator=gen)
    frames[:, step] = noise * frames[:, step].std() + frames[:, step].mean()
    scores = surprise(pred, frames, params, actions)
    hits = sum(onsets(flagged_frames(s, thr.value))[:1] == [step] for s in scores)
    return thr.value, hits, len(scores), false_rate


def probe_cell(targets: dict | None, name: str) -> str:
    if targets is None or name not in targets:
        return "—"
    t = targets[name]
    return "const" if t["r2"] is None else f"{t['r2']:.3f} ({t['r2_random']:.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="directory with train.h5, val.h5, test.h5")
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=TRAIN["batch_size"], help="training batch of all three")
    ap.add_argument("--work", type=Path, default=Path("/tmp/jepa/bench"))
    ap.add_argument("--config", type=Path, default=ROOT / "sciwm/configs/jepa-burgers1d.toml",
                    help="JEPA config: its [model] is the jepa entry's, its [data] everyone's")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    runs = {}
    for name in MODELS:
        out = args.work / name
        if not (out / "checkpoint.pt").exists():
            train(config(name, args.data, args.minutes, args.config, args.batch), out, progress=False)
        runs[name] = out
    test = sciwm.data.open(args.data / "test.h5")
    frames, params = test.sizes["time"], param_names(test)
    every = max(1, (frames - 1) // PROBE_FRAMES)
    rows = {}
    for name, run in runs.items():
        last = {"time_s": "nan"}
        if (run / "metrics.csv").exists():
            with open(run / "metrics.csv") as f:
                last = list(csv.DictReader(f))[-1]
        t = time.perf_counter()
        ct, err = correlation_times(run, args.data / "test.h5", run / "test-rollout.h5")
        loaded = load_run(run)
        rows[name] = {"steps": loaded.step, "minutes": float(last["time_s"]) / 60,
                      "params": sum(p.numel() for p in loaded.model.parameters()),
                      "corr": (np.median(ct), np.percentile(ct, 25), np.percentile(ct, 75)),
                      "nrmse_end": float(np.median(err)),
                      "rollout_s": time.perf_counter() - t}
        if name != "fno":
            result = probe(run, args.data / "test.h5", fit=args.data / "train.h5", every=every)
            print(format_table(result), flush=True)
            rows[name]["probe"] = result["targets"]
            rows[name]["surprise"] = glitch_detection(run, args.data)  # latent space (fno: skipped, slow on CPU)
        print(name, rows[name], flush=True)
    costs = step_costs(runs)
    print(f"\ntotal {(time.perf_counter() - t0) / 60:.1f} min\n")
    ptargets = [t for p in params for t in (p, f"{p} (trajectory)")] or ["parameter"]
    horizon = float(np.asarray(test.attrs["dt_save"]).reshape(-1)[0]) * (frames - 1)
    print(f"| model | params | steps in budget | median corr. time > 0.8, horizon {horizon:g} (IQR) | "
          f"median nRMSE at t = {horizon:g} | "
          + "".join(f"probe R² {t} (random) | " for t in ptargets)
          + "probe R² energy (random) | probe R² k_dom (random) | ms / predicted step (batch 32) | fno step / this |"
          " surprise: glitch onsets found, false-alarm rate |")
    print("|---" * (10 + len(ptargets)) + "|")
    for name, r in rows.items():
        p = r.get("probe")
        sur = "—" if "surprise" not in r else "{1}/{2}, {3:.2%}".format(*r["surprise"])
        print(f"| {name} | {r['params']:,} | {r['steps']:,} ({r['minutes']:.1f} min) | {r['corr'][0]:.2f} "
              f"({r['corr'][1]:.2f}–{r['corr'][2]:.2f}) | {r['nrmse_end']:.3g} | "
              + "".join(f"{probe_cell(p, t)} | " for t in ptargets)
              + f"{probe_cell(p, 'energy')} | {probe_cell(p, 'k_dom')} | "
              f"{costs[name] * 1e3:.3f} | {costs['fno'] / costs[name]:.0f}x | {sur} |")


if __name__ == "__main__":
    main()
