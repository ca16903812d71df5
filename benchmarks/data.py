"""Data pipeline: where generation time goes, how fast windows load, how much memory an epoch takes.

Three figures, each printed beside its peer in the same run:

- generation: share of wall time inside the solver, for ks1d and ns2d-decaying (reduced by --samples).
  `GenerationStats.solver_s` times all of `solve_batch` (seeds, parameter draws, initial conditions,
  ETDRK4 coefficients, the solve, the copy to numpy); the pure solve (`Solver.advance` + `Solver.rollout`,
  timed by wrapping them) is reported beside it. Target: >= 80% of the wall time in the solver.
- window loading: windows per second from `Windows(path, history, future)` through a DataLoader
  (shuffled batches of 32 given as `batch_sampler`, as sciwm.train does; normalize on/off; num_workers 0
  and 2; `collate_fn=Windows.collate`, and torch's default collate beside it), against raw h5py slicing
  of the same windows in the same batches and order, assembled into the same (B, k + m, C, *grid) float32
  batch arrays (`out[j, :, c] = f[field][s, t:t + k + m]`, datasets kept open, one process), with h5py's
  default chunk cache and with none (`rdcc_nbytes=0`, as `Windows` opens the file); the ratio is to the
  faster of the two. Each repeat measures every figure once, alternating. Target: >= 80% of raw.
- memory: a file 10x a memory budget (default budget 200 MB, file 2 GB; written with TrajectoryWriter),
  one shuffled epoch of `Windows` in a fresh process; peak RSS growth (VmHWM - VmRSS before opening the
  file) of the main process and, with workers, of the largest worker. Target: growth <= budget.

    .venv/bin/python benchmarks/data.py [--samples 64] [--budget-mb 200] [--write]

`--write` appends the rows, the command and the CPU model to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader

from sciwm.bench.report import cpu_model
from sciwm.data.card import Card
from sciwm.data.format import TrajectoryWriter
from sciwm.data.generate import generate
from sciwm.data.windows import Windows
from sciwm.pdes.solver import Solver

ROOT = Path(__file__).resolve().parent.parent
CARDS = {"ks1d": ROOT / "datasets" / "ks1d.toml", "ns2d-decaying": ROOT / "datasets" / "ns2d-decaying.toml"}


# --- generation ----------------------------------------------------------------------------------
@contextmanager
def timed_solver() -> dict[str, float]:
    """Accumulate the wall time of Solver.advance and Solver.rollout into the yielded dict."""
    spent = {"s": 0.0}
    originals = {name: getattr(Solver, name) for name in ("advance", "rollout")}

    def wrap(fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - t0
        return timed

    for name, fn in originals.items():
        setattr(Solver, name, wrap(fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(Solver, name, fn)


def bench_generation(name: str, samples: int, batch: int, out: Path) -> dict:
    card = Card.load(CARDS[name])
    with timed_solver() as pure:
        stats = generate(card, out / name, samples=samples, batch=batch, progress=False)
    return {"card": name, "samples": samples, "batch": batch, "trajectories": stats.trajectories,
            "total_s": stats.total_s, "solve_batch_share": stats.solver_s / stats.total_s,
            "pure_share": pure["s"] / stats.total_s}


# --- window loading ------------------------------------------------------------------------------
def shuffled_batches(n: int, batch: int, seed: int) -> list[list[int]]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[i : i + batch] for i in range(0, n, batch)]


def raw_rate(path: Path, ds: Windows, batches: list[list[int]], rdcc_nbytes: int | None) -> float:
    """Windows per second by plain h5py slicing of the same windows, batch by batch, into the batch array
    (B, k + m, C, *grid) float32 (and (B, k + m, *action) when the file has actions)."""
    span = ds.history + ds.future
    windows = [[(int(ds.samples[i // len(ds.starts)]), int(ds.starts[i % len(ds.starts)])) for i in b]
               for b in batches]
    with h5py.File(path, "r", rdcc_nbytes=rdcc_nbytes) as f:
        fields = [f[n] for n in ds.fields]
        action = f["action"] if ds.has_action else None
        t0 = time.perf_counter()
        for b in windows:
            out = np.empty((len(b), span, len(fields), *ds.grid), np.float32)
            acts = np.empty((len(b), span, *action.shape[2:]), np.float32) if action is not None else None
            for j, (s, t) in enumerate(b):
                for c, var in enumerate(fields):
                    out[j, :, c] = var[s, t : t + span]
                if action is not None:
                    acts[j] = action[s, t : t + span]
        return sum(map(len, windows)) / (time.perf_counter() - t0)


def loader_rate(ds: Windows, workers: int, batches: list[list[int]], collate: bool) -> float:
    loader = DataLoader(ds, batch_sampler=batches, num_workers=workers, persistent_workers=False,
                        **({"collate_fn": Windows.collate} if collate else {}))
    t0 = time.perf_counter()
    n = sum(len(b.history) for b in loader)
    return n / (time.perf_counter() - t0)


def bench_windows(path: Path, history: int, future: int, repeats: int) -> list[dict]:
    rows = []
    for normalize in (False, True):
        ds = Windows(path, history=history, future=future, normalize=normalize)
        for workers in (0, 2):
            best: dict[str, float] = {}
            for r in range(repeats):  # every figure once per repeat, alternating; best of the repeats
                batches = shuffled_batches(len(ds), 32, r)
                rates = {"raw": raw_rate(path, ds, batches, None),
                         "rate": loader_rate(ds, workers, batches, True),
                         "raw_nocache": raw_rate(path, ds, batches, 0),
                         "rate_default": loader_rate(ds, workers, batches, False)}  # measured in this order
                best = {key: max(best.get(key, 0.0), v) for key, v in rates.items()}
            peer = max(best["raw"], best["raw_nocache"])
            rows.append({"file": path.parent.name, "windows": len(ds), "normalize": normalize, "workers": workers,
                         **best, "ratio": best["rate"] / peer, "ratio_default": best["rate_default"] / peer})
    return rows


# --- memory --------------------------------------------------------------------------------------
def write_big_file(path: Path, gb: float, nt: int = 51, grid: tuple[int, int] = (64, 64)) -> int:
    """A 2D file of `gb` GB of float32 vorticity (distinct values per trajectory), written in batches."""
    per_traj = nt * grid[0] * grid[1] * 4
    n = int(gb * 1e9 // per_traj)
    attrs = {"pde": "ns2d", "equation": "synthetic", "params": {}, "domain_length": [1.0, 1.0],
             "boundary": "periodic", "solver": "synthetic (benchmark)", "dt_solver": 0.1, "dt_save": 0.1,
             "seed": 0, "card": ""}
    base = np.random.default_rng(0).standard_normal((64, nt, *grid)).astype(np.float32)
    w = TrajectoryWriter.create(path, fields=["vorticity"], time=np.arange(nt) * 0.1,
                                x=np.arange(grid[1]) / grid[1], y=np.arange(grid[0]) / grid[0], params=["nu"],
                                attrs=attrs, n_expected=n)
    for s in range(0, n, 64):
        b = min(64, n - s)
        w.append({"vorticity": base[:b] + np.float32(s)}, {"nu": np.full(b, 0.01)}, np.arange(s, s + b))
    w.finish()
    return n


def _vm(key: str) -> int:
    """VmRSS / VmHWM of this process, bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def epoch_memory(path: str, workers: int, stride: int) -> None:
    """Run in a fresh process: one shuffled epoch; prints peak RSS growth of main and largest worker."""
    torch.utils.data.get_worker_info()  # imports done before the baseline
    base = _vm("VmRSS")
    t0 = time.perf_counter()
    ds = Windows(path, history=4, future=1, stride=stride, normalize=True)  # streams statistics first
    loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    n = sum(len(b.history) for b in loader)
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 if workers else 0
    print(f"{n} {time.perf_counter() - t0:.2f} {_vm('VmHWM') - base} {base} {worker_peak}")


def bench_memory(out: Path, budget_mb: float) -> list[dict]:
    path = out / "big.h5"
    t0 = time.perf_counter()
    n = write_big_file(path, 10 * budget_mb / 1000)
    write_s = time.perf_counter() - t0
    size = path.stat().st_size
    rows = []
    for workers in (0, 2):
        cmd = [sys.executable, __file__, "--epoch-memory", str(path), str(workers), "10"]
        windows, secs, growth, base, worker_peak = subprocess.run(
            cmd, capture_output=True, text=True, check=True).stdout.split()
        rows.append({"size": size, "samples": n, "write_s": write_s, "workers": workers, "windows": int(windows),
                     "epoch_s": float(secs), "growth": int(growth), "base": int(base),
                     "worker_peak": int(worker_peak), "budget": budget_mb * 1e6})
    return rows


# --- report --------------------------------------------------------------------------------------
def tables(gen: list[dict], win: list[dict], mem: list[dict]) -> str:
    mb = 1e6
    lines = ["| generation | trajectories | batch | wall s | in `solve_batch` | in `Solver.advance/rollout` "
             "| target |", "|---|---|---|---|---|---|---|"]
    for r in gen:
        ok = "met" if r["pure_share"] >= 0.8 else "**missed**"
        lines.append(f"| {r['card']} --samples {r['samples']} | {r['trajectories']} | {r['batch']} | "
                     f"{r['total_s']:.1f} | {r['solve_batch_share']:.1%} | {r['pure_share']:.1%} | >= 80%: {ok} |")
    lines += ["", "| window loading (file, windows) | normalize | workers | Windows + `Windows.collate` win/s "
              "| raw h5py win/s, default cache / no cache | ratio to the faster raw | target "
              "| with default collate: win/s, ratio |", "|---|---|---|---|---|---|---|---|"]
    for r in win:
        ok = "met" if r["ratio"] >= 0.8 else "**missed**"
        lines.append(f"| {r['file']}, {r['windows']} | {r['normalize']} | {r['workers']} | {r['rate']:,.0f} | "
                     f"{r['raw']:,.0f} / {r['raw_nocache']:,.0f} | {r['ratio']:.2f} | >= 0.80: {ok} | "
                     f"{r['rate_default']:,.0f}, {r['ratio_default']:.2f} |")
    lines += ["", "| memory: file (samples) | workers | windows, epoch s | RSS before | peak RSS growth, main "
              "| peak RSS, largest worker | budget | target |", "|---|---|---|---|---|---|---|---|"]
    for r in mem:
        # a forked worker starts as a copy of the main process: its peak is compared with the main baseline
        worst = max(r["growth"], r["worker_peak"] - r["base"] if r["workers"] else 0)
        ok = "met" if worst <= r["budget"] else "**missed**"
        wp = f"{r['worker_peak'] / mb:.0f} MB" if r["workers"] else "-"
        lines.append(f"| {r['size'] / 1e9:.2f} GB ({r['samples']}), written in {r['write_s']:.1f} s | "
                     f"{r['workers']} | {r['windows']}, {r['epoch_s']:.1f} | {r['base'] / mb:.0f} MB | "
                     f"{r['growth'] / mb:.0f} MB | {wp} | {r['budget'] / mb:.0f} MB | {ok} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=64, help="training trajectories of ks1d (ns2d: a quarter)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--budget-mb", type=float, default=200.0, help="memory budget; the file is 10x this")
    ap.add_argument("--write", action="store_true", help="append the rows to benchmarks/RESULTS.md")
    ap.add_argument("--epoch-memory", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.epoch_memory:
        path, workers, stride = args.epoch_memory
        epoch_memory(path, int(workers), int(stride))
        return
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        gen = [bench_generation("ks1d", args.samples, args.batch, out),
               bench_generation("ns2d-decaying", max(1, args.samples // 4), args.batch, out)]
        win = (bench_windows(out / "ks1d" / "train.h5", 4, 1, args.repeats)
               + bench_windows(out / "ns2d-decaying" / "train.h5", 4, 1, args.repeats))
        mem = bench_memory(out, args.budget_mb)
    meta = (f"CPU: {cpu_model()} ({torch.get_num_threads()} torch threads); torch {torch.__version__}; "
            f"h5py {h5py.__version__}; whole run {time.perf_counter() - t_all:.0f} s")
    table = tables(gen, win, mem)
    print(meta)
    print(table)
    if args.write:
        cmd = ".venv/bin/python benchmarks/data.py " + " ".join(sys.argv[1:])
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write(f"\n## Data, {time.strftime('%Y-%m-%d')}\n\n`{cmd.strip()}`  \n{meta}\n\n{table}\n")


if __name__ == "__main__":
    main()
