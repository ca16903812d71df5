"""`sciwm probe` and `sciwm surprise`: what a latent world model knows, and where it is surprised."""

from __future__ import annotations

import argparse


def _probe(args: argparse.Namespace) -> None:
    from sciwm.probe import format_table, probe, write_json

    result = probe(args.run, args.data, fit=args.fit, every=args.every)
    print(format_table(result))
    if args.out:
        print(write_json(result, args.out, "probe.json"))


def _surprise(args: argparse.Namespace) -> None:
    from sciwm.probe import write_json
    from sciwm.surprise import format_table, surprise_file

    result = surprise_file(args.run, args.data, threshold=args.threshold, calibrate_on=args.calibrate)
    print(format_table(result))
    if args.out:
        print(write_json(result, args.out, "surprise.json"))


def add_analysis_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `probe` and `surprise` on the sciwm subparsers."""
    p = sub.add_parser("probe", help="linear probes from a latent model's embeddings to parameters and "
                                     "physical quantities (R² on held-out trajectories, vs a random encoder)",
                       description="Ridge probes from each frame's embedding to every per-trajectory parameter "
                                   "and to mean, energy, enstrophy and dominant wavenumber; R² on held-out "
                                   "trajectories, beside the same probes on a randomly initialised encoder. "
                                   "Definitions: docs/jepa.md, 'Probes'.")
    p.add_argument("run", help="run directory of a latent model (jepa, latent_fno)")
    p.add_argument("--data", required=True, help="trajectory file to score (K-fold by trajectory without --fit)")
    p.add_argument("--fit", metavar="FILE", help="fit the probes on this file's trajectories, score on --data")
    p.add_argument("--every", type=int, default=1, metavar="N", help="use every N-th frame (default 1: all)")
    p.add_argument("--out", metavar="DIR", help="write DIR/probe.json")
    p.set_defaults(func=_probe)

    p = sub.add_parser("surprise", help="per-frame one-step prediction error of a model; flag anomalous frames",
                       description="Surprise of frame t+1 = squared error of the model's prediction of it from "
                                   "the true frames before it (latent space for latent models), per latent value. "
                                   "Frames above the threshold are flagged. Definitions: docs/jepa.md, 'Surprise'.")
    p.add_argument("run", help="run directory")
    p.add_argument("--data", required=True, help="trajectory file to score")
    p.add_argument("--threshold", type=float, help="flag above this surprise (default: calibrated, see --calibrate)")
    p.add_argument("--calibrate", metavar="FILE", help="normal trajectories to calibrate the threshold on "
                                                       "(default: the run's [data] val file, else train)")
    p.add_argument("--out", metavar="DIR", help="write DIR/surprise.json (scores, threshold, flagged frames)")
    p.set_defaults(func=_surprise)
