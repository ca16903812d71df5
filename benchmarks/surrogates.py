"""Surrogate targets of the "Surrogates" issue, each figure beside its peer in the same run.

1. accuracy at a fixed budget: sciwm's default ks1d surrogate (sciwm/configs/ks1d.toml, a closure,
   through `sciwm.train`; with the row of its coarse solver alone), any `--peer` configs, and the plain
   baseline users write today (neuraloperator FNO width 64, 32 modes, 4 layers, in a bare loop: one-step
   residual MSE, AdamW at a constant lr, no unrolling, no noise, no schedule; `plain_baseline`), each
   trained for the same wall time on the same data, then rolled out from every test trajectory's first
   frame; the figure is the median correlation time (correlation > 0.8) and the ratio default / baseline
   (target >= 2);
2. training-loop overhead: time per optimiser step of `sciwm.train` against a bare
   forward/backward/step loop on the same model and batch size (target <= 10%);
3. latent rollout cost at similar accuracy: the latent FNO (`--latent-config`) and the field-space default
   (`--config`), each trained for the same wall time, then their correlation times and their cost per
   rollout step on the same batch (target: a latent step >= 10x cheaper). The latent config ships for
   ns2d-kolmogorov (a 64x64 field to 16 x 8 x 8):

    .venv/bin/python benchmarks/surrogates.py --data demo/ks1d --minutes 10 --only accuracy,overhead \
        --peer sciwm/configs/fno-ks1d.toml
    .venv/bin/python benchmarks/surrogates.py --data DIR --minutes 10 --only latent \
        --config sciwm/configs/ns2d-kolmogorov.toml --latent-config sciwm/configs/latent-ns2d-kolmogorov.toml

`--data` is a directory made by `sciwm generate datasets/ks1d.toml --out DIR` (train/val/test.h5).
The same table for 2D Kolmogorov flow, and on a GPU:

    sciwm generate datasets/ns2d-kolmogorov.toml --out DIR
    python benchmarks/surrogates.py --data DIR --config sciwm/configs/ns2d-kolmogorov.toml --device cuda

The plain baseline has the width and modes users take for each problem: 64 / 32 for KS (the issue's
reference), 32 / 12 for 2D Navier–Stokes (the FNO paper's), 4 layers, periodic positions where the
default config has them.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sciwm.bench.report import cpu_model
from sciwm.checkpoint import load_run
from sciwm.data.reading import field_names
from sciwm.data.reading import open as open_data
from sciwm.data.windows import Windows
from sciwm.metrics import correlation, correlation_time
from sciwm.models import DataSpec, ModelConfig, build_model, count_parameters
from sciwm.rollout import rollout_model
from sciwm.runconfig import RunConfig
from sciwm.train import train

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "sciwm/configs/ks1d.toml"
LATENT_CONFIG = ROOT / "sciwm/configs/latent-ns2d-kolmogorov.toml"
BASELINE = {"model": {"name": "fno", "width": 64, "modes": 32, "layers": 4},
            "train": {"objective": "onestep", "batch_size": 32, "lr": 1e-3, "warmup": 0}}


def baseline_model(default: Path) -> ModelConfig:
    """The plain baseline's FNO beside a default config: 1D as the issue states it (width 64, 32 modes),
    2D with the FNO paper's width 32 and 12 modes; periodic positions where the default has them."""
    import tomllib

    raw = tomllib.loads(default.read_text())
    width, modes = (32, 12) if "ns2d" in default.stem else (64, 32)
    return ModelConfig(name="fno", width=width, modes=modes, layers=4,
                       positional=raw["model"].get("positional", False))


def config(data: Path, minutes: float, base: dict | None, default: Path = DEFAULT_CONFIG) -> RunConfig:
    import tomllib

    raw = tomllib.loads(default.read_text()) if base is None else {k: dict(v) for k, v in base.items()}
    raw["data"] = {**raw.get("data", {}), "train": str(data / "train.h5"), "val": str(data / "val.h5")}
    raw["train"] = {**raw["train"], "steps": 10**6, "max_minutes": minutes, "val_every": 10**6,
                    "checkpoint_minutes": 10**6}
    return RunConfig.from_dict(raw)


def frames(path: Path, fields: Sequence[str]) -> torch.Tensor:
    """Every trajectory of a file, (B, T, C, *grid) float32."""
    ds = open_data(path)
    return torch.from_numpy(np.stack([ds[f].values for f in fields], 2).astype(np.float32))


def plain_baseline(data: Path, minutes: float, model_cfg: ModelConfig, batch: int, device: str):  # noqa: ANN201
    """What users write today: the FNO trained by a bare loop, one-step residual MSE on frames normalised
    by the training set's mean and std per field, random (trajectory, time) pairs held in memory,
    AdamW at a constant lr 1e-3, for `minutes` of wall time. Returns (model, mean, std, steps, last loss)."""
    fields = field_names(open_data(data / "train.h5"))
    u = frames(data / "train.h5", fields)
    dims = (0, 1, *range(3, u.ndim))
    mean, std = u.mean(dims, keepdim=True)[0], u.std(dims, keepdim=True)[0]  # (1, C, 1...)
    u = ((u - mean) / std).to(device)
    torch.manual_seed(0)
    model = build_model(model_cfg, DataSpec(channels=u.shape[2], grid=tuple(u.shape[3:]), history=1)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 60 * minutes:
        b = torch.randint(0, u.shape[0], (batch,), generator=gen).to(device)
        t = torch.randint(0, u.shape[1] - 1, (batch,), generator=gen).to(device)
        loss = torch.nn.functional.mse_loss(model(u[b, t].unsqueeze(1)), u[b, t + 1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    return model.eval(), mean, std, steps, loss.item()


def correlation_times(model: torch.nn.Module, normalize, denormalize, test: Path,  # noqa: ANN001
                      fields: Sequence[str], device: str = "cpu") -> np.ndarray:
    """Roll `model` out from every test trajectory's first frame to the file's end; correlation time
    (> 0.8) per trajectory."""
    true = frames(test, fields)
    hist = normalize(true[:, :1]).to(device)
    with torch.no_grad():
        pred = denormalize(rollout_model(model, hist, true.shape[1] - 1).frames.cpu())
    corr = correlation(torch.nan_to_num(pred.double()), true[:, 1:].double()).mean(-1)  # mean over fields
    dt = float(np.asarray(open_data(test).attrs["dt_save"]).reshape(-1)[0])
    t, _ = correlation_time(torch.cat([torch.ones(len(corr), 1, dtype=corr.dtype), corr], 1), dt, 0.8)
    return t.numpy()


def accuracy(data: Path, minutes: float, work: Path, default: Path = DEFAULT_CONFIG,
             device: str = "cpu", peers: Sequence[Path] = ()) -> list[str]:
    """The default config through `sciwm.train`, then each of `peers` (other sciwm configs, as more rows),
    then the plain baseline, the same wall time each. A closure default also gets the row of its coarse
    solver alone (the untrained closure: its CNN's last layer starts at zero), which costs no training."""
    run, last, t_default = trained(default, data, minutes, work / "sciwm_default", device)
    batch = run.config.train.batch_size
    rows = [(f"sciwm default ({default.name})", int(last["step"]), float(last["loss"]), t_default)]
    if run.config.model.name == "closure":
        solver = build_model(run.config.model, run.spec).to(device).eval()
        t = correlation_times(solver, run.stats.normalize, run.stats.denormalize, data / "test.h5", run.stats.fields,
                              device)
        rows.append(("its coarse solver alone (the untrained closure)", 0, float("nan"), t))
    for i, peer in enumerate(peers):
        _, peer_last, t = trained(peer, data, minutes, work / f"peer{i}_{peer.stem}", device)
        rows.append((f"sciwm {peer.name}", int(peer_last["step"]), float(peer_last["loss"]), t))
    model, mean, std, steps, loss = plain_baseline(data, minutes, baseline_model(default), batch, device)
    t_plain = correlation_times(model, lambda x: (x - mean) / std, lambda x: x * std + mean, data / "test.h5",
                                run.stats.fields, device)
    rows.append((f"plain FNO baseline (width {baseline_model(default).width}, one-step, constant lr, batch {batch})",
                 steps, loss, t_plain))
    plain = max(float(np.median(t_plain)), 1e-9)

    def row(name: str, steps: int, loss: float, t: np.ndarray) -> str:
        budget, done, last = (f"{minutes:g} min", f"{steps:,} steps", f"{loss:.2e}") if steps else ("—",) * 3
        return (f"| {name} | {budget} | {done} | {last} | "
                f"{np.median(t):.1f} ({np.percentile(t, 25):.1f}–{np.percentile(t, 75):.1f}) | "
                f"{np.median(t) / plain:.2f} |")

    return ["| surrogate | budget | steps done | last train loss | median corr. time > 0.8 (IQR) | / baseline |",
            "|---|---|---|---|---|---|", *[row(*r) for r in rows],
            f"| **ratio default / baseline** | | | | | **{float(np.median(t_default)) / plain:.2f}** (target >= 2) |"]


def overhead(data: Path, work: Path, steps: int = 60, skip: int = 10, repeats: int = 3) -> list[str]:
    """Steady-state seconds per step of `sciwm.train` (steps `skip`..`steps`, from metrics.csv) against a
    bare forward/backward/step loop on the same model and batch size, data already in memory.

    The machine drifts (shared cores): each repeat times the bare loop just before and just after a
    `sciwm.train` run and compares the run with the mean of the two; the median over `repeats` is reported."""
    import dataclasses

    cfg = config(data, 0, BASELINE)  # sciwm.train on the plain baseline's model and objective
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=steps, max_minutes=0.0, log_every=skip))
    windows = Windows(data / "train.h5", history=1, future=1)
    batch = torch.utils.data.default_collate([windows[i] for i in range(cfg.train.batch_size)])
    torch.manual_seed(0)
    model = build_model(cfg.model, DataSpec(channels=1, grid=tuple(windows.grid), history=1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def bare() -> float:
        for i in range(steps):
            if i == skip:
                t0 = time.perf_counter()
            loss = torch.nn.functional.mse_loss(model(batch.history), batch.future[:, 0])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return (time.perf_counter() - t0) / (steps - skip)

    rows = []
    for r in range(repeats):
        before = bare()
        out = work / f"overhead{r}"
        train(cfg, out, progress=False)
        with open(out / "metrics.csv") as f:
            t = {int(row["step"]): float(row["time_s"]) for row in csv.DictReader(f)}
        sciwm_s = (t[steps] - t[skip]) / (steps - skip)
        after = bare()
        rows.append((sciwm_s, (before + after) / 2))
    sciwm_s, bare_s = sorted(rows, key=lambda x: x[0] / x[1])[len(rows) // 2]
    spread = ", ".join(f"{a / b - 1:+.1%}" for a, b in rows)
    return ["| loop | s / step | overhead |", "|---|---|---|",
            f"| bare forward/backward/step (data in memory; mean of the runs before and after) | "
            f"{bare_s * 1e3:.1f} ms | — |",
            f"| sciwm train (data loading, lr schedule, clipping, logging) | {sciwm_s * 1e3:.1f} ms | "
            f"**{sciwm_s / bare_s - 1:+.1%}** (median of {repeats}: {spread}; target <= 10%) |"]


def trained(cfg_path: Path, data: Path, minutes: float, out: Path, device: str):  # noqa: ANN201
    """`sciwm.train` on `cfg_path` for `minutes` (kept in `out` and reused when a checkpoint is there);
    returns (run, the last row of metrics.csv, correlation times on test.h5)."""
    cfg = config(data, minutes, None, cfg_path)
    if not (out / "checkpoint.pt").exists():
        train(cfg, out, device=device, progress=False)
    elif (out / "config.toml").read_text() != cfg.to_toml():
        raise SystemExit(f"{out}: holds a run of another config, data or budget; remove it or use another --work")
    with open(out / "metrics.csv") as f:
        last = list(csv.DictReader(f))[-1]
    if float(last["time_s"]) < 60 * minutes - 60 and int(last["step"]) < cfg.train.steps:
        raise SystemExit(f"{out}: holds an interrupted run ({float(last['time_s']):.0f} s of {60 * minutes:.0f}); "
                         "remove it or use another --work")
    run = load_run(out, device)
    t = correlation_times(run.model, run.stats.normalize, run.stats.denormalize, data / "test.h5",
                          run.stats.fields, device)
    return run, last, t


def step_costs(runs: dict, hist: torch.Tensor, steps: int = 10, repeats: int = 5) -> dict[str, float]:
    """Median seconds per rollout step on `hist` (B, k, C, *grid): a field model's `rollout_model`; a latent
    model's latent steps alone (`step_latent`, decoding only when asked) and its `rollout_model`, which
    decodes every frame. Interleaved repeats, so drifts of a noisy machine hit every entry alike."""
    def latent_steps(model: torch.nn.Module, z: torch.Tensor) -> None:
        for _ in range(steps):
            z = torch.cat([z[:, 1:], model.step_latent(z).unsqueeze(1)], 1)

    fns = {}
    for name, model in runs.items():
        fns[name] = lambda model=model: rollout_model(model, hist, steps)
        if getattr(model, "latent", False):
            with torch.no_grad():
                z = torch.stack([model.encode(hist[:, i]) for i in range(hist.shape[1])], 1)
            fns[f"{name}, latent steps"] = lambda model=model, z=z: latent_steps(model, z)
    sync = torch.cuda.synchronize if hist.is_cuda else (lambda: None)
    times: dict[str, list[float]] = {}
    with torch.no_grad():
        for _ in range(repeats):
            for name, fn in fns.items():
                fn()
                sync()
                t = time.perf_counter()
                fn()
                sync()
                times.setdefault(name, []).append((time.perf_counter() - t) / steps)
    return {name: statistics.median(reps) for name, reps in times.items()}


def latent(data: Path, minutes: float, work: Path, field_config: Path, latent_config: Path,
           device: str = "cpu", batch: int = 32) -> list[str]:
    """The latent FNO against the field-space default, both trained `minutes` on `data`: correlation time of
    their rollouts (the latent one rolls in latent space and decodes each frame) and cost per step on a
    batch of test trajectories. Target: a latent step >= 10x cheaper at similar accuracy."""
    field, field_last, t_field = trained(field_config, data, minutes, work / "sciwm_default", device)
    lat, lat_last, t_lat = trained(latent_config, data, minutes, work / "latent", device)
    field_steps, lat_steps = int(field_last["step"]), int(lat_last["step"])
    true = frames(data / "test.h5", field.stats.fields)
    k = field.config.data.history
    hist = field.stats.normalize(true[:batch, :k]).to(device)
    costs = step_costs({"field": field.model, "latent": lat.model}, hist)
    base = costs["field"]

    def row(name: str, model: torch.nn.Module, steps: int, t: np.ndarray, cost: float) -> str:
        return (f"| {name} | {count_parameters(model):,} | {steps:,} | {np.median(t):.2f} ({np.percentile(t, 25):.2f}–"
                f"{np.percentile(t, 75):.2f}) | {cost * 1e3:.2f} | {base / cost:.1f}x |")

    b = hist.shape[0]
    return [f"| model | params | steps in {minutes:g} min | median corr. time > 0.8 (IQR) | ms / step (batch {b}) "
            "| field step / this |", "|---|---|---|---|---|---|",
            row(f"field ({field_config.name})", field.model, field_steps, t_field, costs["field"]),
            row(f"latent ({latent_config.name}), decoding every frame", lat.model, lat_steps, t_lat,
                costs["latent"]),
            row(f"latent ({latent_config.name}), latent steps", lat.model, lat_steps, t_lat,
                costs["latent, latent steps"])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--only", default="accuracy,overhead", help="accuracy, overhead, latent (comma-separated)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for every part (1: steady timings on a shared machine)")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the default config to measure")
    ap.add_argument("--peer", type=Path, action="append", default=[],
                    help="another config trained as long, as one more row of the accuracy table (repeatable; "
                         "accuracy only)")
    ap.add_argument("--latent-config", type=Path, default=LATENT_CONFIG, help="the latent surrogate (latent)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (accuracy and latent)")
    ap.add_argument("--work", type=Path,
                    help="keep the trained runs here, and reuse those found there (default: a temporary directory)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "no GPU"
    print(f"CPU: {cpu_model()}; GPU: {where} (device {args.device}); torch {torch.__version__}, "
          f"{args.threads} thread(s); config {args.config.name}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.work or tmp
        for part in args.only.split(","):
            lines = {"accuracy": lambda: accuracy(args.data, args.minutes, Path(tmp), args.config, args.device,
                                                         args.peer),
                     "overhead": lambda: overhead(args.data, Path(tmp)),
                     "latent": lambda: latent(args.data, args.minutes, Path(tmp), args.config, args.latent_config,
                                              args.device)}[part]()
            print(f"\n{part}:\n" + "\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
