"""Solver throughput: sciwm against the fastest independent spectral solver we can install (exponax/JAX).

Both solve the same problems, same CPU, same batch, ETDRK4, float32, 2/3 dealiasing, from the same
initial batch, timed warm (first calls and JAX compilation excluded), median of repeats:

- KS-1D:  u_t + u u_x + u_xx + u_xxxx = 0, L=100, N=256, dt=0.1, batch 64;
- NS-2D:  w_t + (u·∇)w = nu Δw, [0, 2π)^2, N=128, nu=1e-3, dt=1e-3, batch 16.

Printed per problem: sample-steps per second for both, their ratio, the FFT-only bound (the forward and
inverse transforms a conventional pseudo-spectral ETDRK4 step needs, timed alone in torch: 4 x (irfft +
rfft) for KS; 4 x (irfft2 of u, v, w_x, w_y + rfft2) for NS) with sciwm's fraction of it, and the max
relative difference between the two solutions after the timed horizon.

    make bench                 # creates .venv-bench (jax, exponax) on first use
    .venv/bin/python benchmarks/solvers.py [--repeats 5] [--write]

`--write` appends the rows, the command and the CPU model to benchmarks/RESULTS.md.

On a GPU: `--device cuda --batch-scale 64` (batches of 4,096 / 1,024 fill the card; timing synchronises
the device); the peer then runs JAX on the same GPU when its Python has a CUDA jaxlib (`--peer-python`).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sciwm.bench.report import cpu_model
from sciwm.ics import initial_condition
from sciwm.pdes import Grid, make_solver

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / ".venv-bench" / "bin" / "python"

PROBLEMS = {
    "ks": dict(
        pde="ks", grid=Grid(n=256, length=100.0), dt=0.1, params={}, batch=64, steps=200, ic="fourier"
    ),
    "ns": dict(
        pde="ns2d",
        grid=Grid(n=(128, 128), length=2 * math.pi),
        dt=1e-3,
        params={"nu": 1e-3},
        batch=16,
        steps=20,
        ic="grf",
    ),
}


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    def call() -> None:
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    call()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times


def fft_only(name: str, u0: torch.Tensor, steps: int, repeats: int) -> float:
    """Sample-steps/s of the transforms alone (see module docstring), on the faster of all threads or one."""
    threads = torch.get_num_threads()
    best = _fft_only(name, u0, steps, repeats)
    if u0.is_cuda:
        return best
    torch.set_num_threads(1)
    best = max(best, _fft_only(name, u0, steps, repeats))
    torch.set_num_threads(threads)
    return best


def _fft_only(name: str, u0: torch.Tensor, steps: int, repeats: int) -> float:
    if name == "ks":
        v = torch.fft.rfft(u0)

        def run() -> None:
            for _ in range(4 * steps):
                torch.fft.rfft(torch.fft.irfft(v, n=u0.shape[-1]))
    else:
        v4 = torch.fft.rfft2(u0).repeat(1, 4, 1, 1)

        def run() -> None:
            for _ in range(4 * steps):
                torch.fft.rfft2(torch.fft.irfft2(v4, s=u0.shape[-2:])[:, :1])

    return u0.shape[0] * steps / statistics.median(timed(run, repeats))


def peer(name: str, init: Path, steps: int, repeats: int, save: Path, python: Path = PEER_PYTHON) -> dict | None:
    if not python.exists():
        return None
    cmd = [
        str(python),
        str(ROOT / "benchmarks" / "peer_exponax.py"),
        "--problem",
        name,
        "--batch",
        str(int(np.load(init).shape[0])),
        "--steps",
        str(steps),
        "--repeats",
        str(repeats),
        "--dtype",
        "float32",
        "--init",
        str(init),
        "--save",
        str(save),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"note: the peer failed, so no peer for {name}: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(name: str, repeats: int, tmp: Path, device: str = "cpu", batch_scale: int = 1,
          peer_python: Path = PEER_PYTHON) -> dict:
    spec = PROBLEMS[name]
    grid, batch, steps = spec["grid"], spec["batch"] * batch_scale, spec["steps"]
    u0_cpu = initial_condition(spec["ic"], grid, range(batch)).float()
    u0 = u0_cpu.to(device)
    solver = make_solver(spec["pde"], grid, spec["dt"], spec["params"], device=device, dtype=torch.float32)
    init, saved = tmp / f"{name}_init.npy", tmp / f"{name}_peer.npy"
    np.save(init, u0_cpu.numpy())
    # sciwm on all cores and on one intra-op thread (small 1D states run faster on one: a torch setting
    # every user can choose with torch.set_num_threads); the better one is reported, with its count.
    # On a GPU the thread count does not matter: one setting.
    all_threads = torch.get_num_threads()
    settings = (all_threads,) if u0.is_cuda else (all_threads, 1)
    ours: dict[int, list[float]] = {t: [] for t in settings}
    for threads in settings:
        torch.set_num_threads(threads)
        ours[threads] += timed(lambda: solver.advance(u0, steps), repeats)
    torch.set_num_threads(all_threads)
    theirs = peer(name, init, steps, repeats, saved, peer_python)
    for threads in settings[::-1]:  # bracket the peer's run
        torch.set_num_threads(threads)
        ours[threads] += timed(lambda: solver.advance(u0, steps), repeats)
    torch.set_num_threads(all_threads)
    best = min(ours, key=lambda t: statistics.median(ours[t]))
    rate = batch * steps / statistics.median(ours[best])
    row = {
        "problem": name,
        "batch": batch,
        "steps": steps,
        "threads": best,
        "sciwm": rate,
        "sciwm_spread": [batch * steps / max(ours[best]), batch * steps / min(ours[best])],
        "fft_only": fft_only(name, u0, steps, repeats),
    }
    if theirs is not None:
        ref = np.load(saved)
        mine = solver.advance(u0, steps).cpu().numpy()
        row.update(
            peer=f"{theirs['peer']} on {theirs.get('device', '?')}",
            peer_rate=theirs["sample_steps_per_s_median"],
            ratio=rate / theirs["sample_steps_per_s_median"],
            max_rel_diff=float(np.abs(mine - ref).max() / np.abs(ref).max()),
        )
    return row


def format_row(r: dict) -> str:
    peer_rate = f"{r['peer_rate']:,.0f}" if "peer_rate" in r else "n/a"
    ratio = f"**{r['ratio']:.2f}**" if "ratio" in r else "n/a"
    diff = f"{r['max_rel_diff']:.1e}" if "max_rel_diff" in r else "n/a"
    return (
        f"| {r['problem']} | {r['batch']} | {r['threads']} | {r['sciwm']:,.0f} ({r['sciwm_spread'][0]:,.0f}–"
        f"{r['sciwm_spread'][1]:,.0f}) | {peer_rate} | {ratio} | {r['fft_only']:,.0f} | "
        f"{r['sciwm'] / r['fft_only']:.0%} | {diff} |"
    )


HEADER = (
    "| problem | batch | sciwm threads | sciwm sample-steps/s (min–max) | exponax sample-steps/s | ratio | "
    "FFT-only bound | of bound | max rel. diff |\n|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--problems", default="ks,ns")
    ap.add_argument("--write", action="store_true", help="append the rows to benchmarks/RESULTS.md")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--batch-scale", type=int, default=1, help="multiply both batches (64 fills a GPU)")
    ap.add_argument("--peer-python", type=Path, default=PEER_PYTHON, help="a Python with jax and exponax")
    args = ap.parse_args()
    if not args.peer_python.exists():
        print(
            "note: .venv-bench missing, so no peer; `make bench` creates it (jax + exponax)", file=sys.stderr
        )
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(name, args.repeats, Path(tmp), args.device, args.batch_scale, args.peer_python)
                for name in args.problems.split(",")]
    peer_name = next((r["peer"] for r in rows if "peer" in r), "none")
    where = (f"GPU: {torch.cuda.get_device_name(0)}" if args.device.startswith("cuda")
             else f"CPU: {cpu_model()} ({torch.get_num_threads()} torch threads)")
    meta = f"{where}; torch {torch.__version__}; peer: {peer_name}; float32"
    table = "\n".join([HEADER, *map(format_row, rows)])
    print(meta)
    print(table)
    if args.write:
        cmd = "python benchmarks/solvers.py " + " ".join(sys.argv[1:])
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write(f"\n### Solvers, {time.strftime('%Y-%m-%d')}\n\n`{cmd.strip()}`  \n{meta}\n\n{table}\n")


if __name__ == "__main__":
    main()
