"""Independent peer for ``benchmarks/solvers.py``: the same two ETDRK4 problems solved by exponax (JAX).

Run it from the separate venv (JAX must not enter the project's torch venv)::

    python3 -m venv .venv-bench && .venv-bench/bin/pip install "jax[cpu]" exponax numpy
    .venv-bench/bin/python benchmarks/peer_exponax.py --problem ks --batch 64 --steps 200 --repeats 5

Problems (both ETDRK4, Cox-Matthews, coefficients by exponax's contour integral: 16 points on a
full circle of radius 1 around each ``L*dt``; 2/3 dealiasing as exponax does it, see below):

* ``ks``: ``u_t + u u_x + u_xx + u_xxxx = 0``, periodic, L=100, N=256, dt=0.1, via
  ``exponax.stepper.KuramotoSivashinskyConservative(1, 100.0, 256, 0.1, convection_scale=1.0,
  second_order_scale=1.0, fourth_order_scale=1.0, conservative=True, order=4)``: its nonlinearity
  is ``-b1/2 (u^2)_x`` = ``-u u_x`` for b1=1. (``exponax.stepper.KuramotoSivashinsky`` is the
  *combustion* form ``u_t + |u_x|^2/2 + ...``, a different equation.)
* ``ns``: ``w_t + (u.grad) w = nu lap w`` on [0, 2pi)^2, N=128, nu=1e-3, dt=1e-3, via
  ``exponax.stepper.NavierStokesVorticity(2, 2*pi, 128, 1e-3, diffusivity=1e-3,
  vorticity_convection_scale=1.0, drag=0.0, order=4)``. Fed arrays laid out (y, x), it solves the
  standard convention ``w = v_x - u_y``, ``u = psi_y``, ``v = -psi_x``, ``lap psi = -w``.

Grids: x_j = j*L/N, j = 0..N-1 (left end included, right end excluded), channel-first states
(1, N) and (1, N, N); a batch is (B, 1, N) / (B, 1, N, N), the layout of ``--init``/``--save``.

Dealiasing (exponax): the nonlinear term masks its input before each inverse FFT and its output
after the forward FFT, keeping modes with |k| <= fraction*(N//2) - 1 on every axis (square mask);
the state itself is never truncated. Its default fraction 2/3 keeps |k| <= 84 (N=256) / 41 (N=128),
one mode fewer than Orszag's |k| < N/3 (85 / 42) that sciwm uses. ``--dealias orszag`` (default)
passes fraction (kmax + 1.5)/(N//2), kmax = ceil(N/3) - 1, to get |k| < N/3 exactly;
``--dealias exponax`` keeps exponax's default. Speed is the same; results differ at the cut-off.

Timing: one jit-compiled function does rfft, ``lax.scan`` over ``S`` calls of the vmapped
``step_fourier`` (the solve stays in Fourier space, as a careful JAX user would run it;
``--physical`` instead scans exponax's ``stepper(u)`` which adds one rfft+irfft per step), then irfft.
Compilation and one warm-up run are excluded; each repeat ends with ``block_until_ready``.
Threads: XLA:CPU uses all cores it sees (Eigen pool, one per core) and we do not restrict it;
to pin, set ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` or limit CPUs with ``taskset``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

PROBLEMS: dict[str, dict[str, Any]] = {
    "ks": {"L": 100.0, "N": 256, "dt": 0.1, "dims": 1},
    "ns": {"L": 2 * math.pi, "N": 128, "dt": 1e-3, "dims": 2, "nu": 1e-3},
}


def dealias_fraction(n: int, mode: str) -> float:
    """exponax ``dealiasing_fraction`` for its own 2/3 default or for Orszag's |k| < n/3 mask."""
    return 2 / 3 if mode == "exponax" else (math.ceil(n / 3) - 1 + 1.5) / (n // 2)


def build_stepper(problem: str, dealias: str = "orszag") -> Any:
    """The exponax ETDRK4 stepper for ``problem`` (call after the dtype is configured)."""
    import exponax as ex

    p = PROBLEMS[problem]
    frac = dealias_fraction(p["N"], dealias)
    if problem == "ks":
        return ex.stepper.KuramotoSivashinskyConservative(
            1,
            p["L"],
            p["N"],
            p["dt"],
            convection_scale=1.0,
            second_order_scale=1.0,
            fourth_order_scale=1.0,
            conservative=True,
            dealiasing_fraction=frac,
            order=4,
            num_circle_points=16,
            circle_radius=1.0,
        )
    return ex.stepper.NavierStokesVorticity(
        2,
        p["L"],
        p["N"],
        p["dt"],
        diffusivity=p["nu"],
        vorticity_convection_scale=1.0,
        drag=0.0,
        dealiasing_fraction=frac,
        order=4,
        num_circle_points=16,
        circle_radius=1.0,
    )


def default_init(problem: str, batch: int, seed: int = 0) -> np.ndarray:
    """Smooth random batch: zero-mean truncated Fourier series (|k| <= 8 per axis), unit RMS."""
    p = PROBLEMS[problem]
    n, d = p["N"], p["dims"]
    rng = np.random.default_rng(seed)
    shape = (batch, 1) + (n,) * (d - 1) + (n // 2 + 1,)
    coef = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    k = [np.fft.fftfreq(n, 1 / n)] * (d - 1) + [np.fft.rfftfreq(n, 1 / n)]
    kk = np.meshgrid(*k, indexing="ij")
    keep = np.all([np.abs(ki) <= 8 for ki in kk], axis=0) & ~np.all([ki == 0 for ki in kk], axis=0)
    u = np.fft.irfftn(coef * keep, s=(n,) * d, axes=tuple(range(-d, 0)))
    return u / np.sqrt(np.mean(u**2, axis=tuple(range(1, u.ndim)), keepdims=True))


def make_advance(stepper: Any, dims: int, steps: int, physical: bool) -> Callable[[Any], Any]:
    """jit(u0 batch -> state after ``steps`` steps); vmap over the batch, lax.scan over steps."""
    import jax
    import jax.numpy as jnp

    axes = tuple(range(-dims, 0))
    shape = (stepper.num_points,) * dims

    def run(u0: Any) -> Any:
        if physical:
            body = jax.vmap(stepper.step)
            return jax.lax.scan(lambda u, _: (body(u), None), u0, None, length=steps)[0]
        body = jax.vmap(stepper.step_fourier)
        u_hat0 = jnp.fft.rfftn(u0, axes=axes)
        u_hat = jax.lax.scan(lambda v, _: (body(v), None), u_hat0, None, length=steps)[0]
        return jnp.fft.irfftn(u_hat, s=shape, axes=axes)

    return jax.jit(run)


def make_fft_only(problem: str, n: int, steps: int) -> Callable[[Any], Any]:
    """jit of only the transforms ``steps`` exponax ETDRK4 steps do (4 stages each).

    ks: 1 irfft + 1 rfft per stage; ns: 4 irfft2 + 1 rfft2 per stage. Cheap elementwise work
    chains them so nothing is dead code."""
    import jax
    import jax.numpy as jnp

    dims, n_inv = (1, 1) if problem == "ks" else (2, 4)
    axes, shape = tuple(range(-dims, 0)), (n,) * dims

    def step(u_hat: Any, _: Any) -> tuple[Any, None]:
        for _stage in range(4):
            prod = sum(jnp.fft.irfftn(u_hat * (1.0 + 0.1 * i), s=shape, axes=axes) for i in range(n_inv))
            u_hat = jnp.fft.rfftn(prod, axes=axes) * (1.0 / n_inv)
        return u_hat, None

    def run(u0: Any) -> Any:
        u_hat = jax.lax.scan(step, jnp.fft.rfftn(u0, axes=axes), None, length=steps)[0]
        return jnp.fft.irfftn(u_hat, s=shape, axes=axes)

    return jax.jit(run)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problem", choices=sorted(PROBLEMS), required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--init", help=".npy initial batch, (B,1,N) or (B,1,N,N) in (y, x) order")
    ap.add_argument("--save", help="write the state after --steps steps to this .npy")
    ap.add_argument("--physical", action="store_true", help="scan stepper(u), not step_fourier")
    ap.add_argument(
        "--dealias",
        choices=["orszag", "exponax"],
        default="orszag",
        help="orszag: keep |k| < N/3 (as sciwm); exponax: its default 2/3 fraction",
    )
    ap.add_argument("--fft-only", action="store_true", help="time only the FFTs of the steps")
    args = ap.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", args.dtype == "float64")  # before any array is made
    import exponax

    p = PROBLEMS[args.problem]
    u0_np = np.load(args.init) if args.init else default_init(args.problem, args.batch)
    want = (u0_np.shape[0], 1) + (p["N"],) * p["dims"]
    if u0_np.shape != want:
        raise SystemExit(f"--init has shape {u0_np.shape}, expected {want}")
    batch = u0_np.shape[0]
    u0 = jax.device_put(u0_np.astype(args.dtype))

    if args.fft_only:
        advance = make_fft_only(args.problem, p["N"], args.steps)
    else:
        stepper = build_stepper(args.problem, args.dealias)
        advance = make_advance(stepper, p["dims"], args.steps, args.physical)
    t0 = time.perf_counter()
    compiled = advance.lower(u0).compile()
    compile_s = time.perf_counter() - t0
    out = compiled(u0).block_until_ready()  # warm-up run, not timed
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = compiled(u0).block_until_ready()
        rates.append(batch * args.steps / (time.perf_counter() - t0))
    if args.save:
        np.save(args.save, np.asarray(out))
    finite = bool(np.isfinite(np.asarray(out)).all())
    print(
        json.dumps(
            {
                "peer": f"exponax {exponax.__version__} / jax {jax.__version__}",
                "problem": args.problem,
                "batch": batch,
                "steps": args.steps,
                "sample_steps_per_s_median": statistics.median(rates),
                "spread": [min(rates), max(rates)],
                "order": 4,
                "dtype": str(out.dtype),
                "mode": "fft-only" if args.fft_only else ("physical" if args.physical else "fourier"),
                "dealias": args.dealias,
                "device": str(jax.devices()[0]),
                "compile_s": round(compile_s, 3),
                "finite": finite,
            }
        )
    )


if __name__ == "__main__":
    main()
