"""How much of a per-trajectory parameter can a linear probe read at all? A ceiling for `sciwm probe`.

The same ridge probe as `sciwm.probe` (penalty chosen by grouped K-fold, fitted on one file, scored on
another), on hand-made features of the frames instead of a learned encoder's:

- per frame: the log power spectrum |u_k|^2, k = 1..K, of one frame (what one frame shows);
- per trajectory: the same features averaged over frames 1..T/2 (as `nu (trajectory)` averages the
  embeddings), and the linear power spectrum (no log) for comparison.

    .venv/bin/python benchmarks/probe_ceiling.py --data data/burgers1d --param nu

Not a bound (a learned encoder may find better features), but a reference: where a log spectrum reads
the parameter and an encoder does not, the encoder has dropped it; where neither does, one frame (or
the mean over a trajectory) shows too little of it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np

from sciwm.bench.report import cpu_model
from sciwm.probe import ridge_probe


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def spectra(path: Path, param: str, field: str, kmax: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, T, K) power spectra of a 1D field's modes 1..K, and log10 of the parameter (S,)."""
    with h5py.File(path, "r") as f:
        u = f[field][:].astype(np.float64)
        value = f[param][:].astype(np.float64)
    if u.ndim != 3:
        raise SystemExit(f"{path}: {field} is not a 1D field (sample, time, x)")
    return np.abs(np.fft.rfft(u, axis=-1))[..., 1 : kmax + 1] ** 2, np.log10(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with train.h5 and test.h5")
    ap.add_argument("--param", default="nu")
    ap.add_argument("--field", default="u")
    ap.add_argument("--every", type=int, default=2, help="every n-th frame (as sciwm probe --every)")
    args = ap.parse_args()
    fit, y_fit = spectra(args.data / "train.h5", args.param, args.field, 64)
    test, y_test = spectra(args.data / "test.h5", args.param, args.field, 64)
    t = fit.shape[1]
    print(f"{args.data}: log10 {args.param}, fitted on {len(fit)} trajectories, scored on {len(test)}; {cpu_model()}")
    print("| features | K | R² per frame | R² per trajectory |\n|---|---|---|---|")
    for kmax in (8, 16, 32, 64):
        xf, xt = (np.log10(p[:, :: args.every, :kmax] + 1e-30) for p in (fit, test))
        n_f, n_t = xf.shape[1], xt.shape[1]
        pred, _ = ridge_probe(xf.reshape(-1, kmax), np.repeat(y_fit, n_f)[:, None],
                              np.repeat(np.arange(len(fit)), n_f), xt.reshape(-1, kmax))
        per_frame = r2(np.repeat(y_test, n_t), pred[:, 0])
        late = slice(1, t // 2, args.every)  # frames 1 .. T/2, as the trajectory probe
        scores = []
        for log in (True, False):
            ff, ft = ((np.log10(p[:, late, :kmax] + 1e-30) if log else p[:, late, :kmax]).mean(1) for p in (fit, test))
            pred_t, _ = ridge_probe(ff, y_fit[:, None], np.arange(len(fit)), ft)
            scores.append(r2(y_test, pred_t[:, 0]))
        print(f"| log power spectrum of a frame / its trajectory mean | {kmax} | {per_frame:.3f} | {scores[0]:.3f} |")
        print(f"| power spectrum (linear), trajectory mean | {kmax} | | {scores[1]:.3f} |")

if __name__ == "__main__":
    main()
