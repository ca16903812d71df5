"""`sciwm train` and `sciwm rollout`."""

from __future__ import annotations

import argparse
import os

from sciwm.device import resolve_device


def _train(args: argparse.Namespace) -> None:
    from sciwm.runconfig import RunConfig
    from sciwm.train import train

    if args.resume and args.set:
        from sciwm.errors import SciwmError

        raise SciwmError(f"--set {args.set[0]} with --resume: a resumed run continues with its own config "
                         f"({args.out}/config.toml), so that it reproduces the uninterrupted run; start a new "
                         "run to change it")
    cfg = RunConfig.load(args.config, args.set or [])
    path = train(cfg, args.out, resume=args.resume, device=resolve_device(args.device), progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:  # one line under torchrun, not one per process
        print(f"checkpoint: {path}")


def _rollout(args: argparse.Namespace) -> None:
    from sciwm.rollout import rollout_file, summary_line

    summary = rollout_file(args.run, args.data, args.steps, args.out, device=resolve_device(args.device),
                           batch=args.batch)
    print(summary_line(summary))


def add_train_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a surrogate from a config (TOML) into a run directory")
    p.add_argument("config", help="training config, e.g. sciwm/configs/ks1d.toml")
    p.add_argument("--out", required=True, help="run directory (config.toml, metrics.csv, checkpoint.pt)")
    p.add_argument("--set", action="append", metavar="TABLE.KEY=VALUE", help="override a config value")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("rollout", help="autoregressive prediction of every trajectory of a data file")
    p.add_argument("run", help="run directory (or its checkpoint.pt)")
    p.add_argument("--data", required=True, help="trajectory file whose first frames start the rollouts")
    p.add_argument("--steps", type=int, required=True,
                   help="predicted model steps per trajectory (each spans the run's time_stride saved frames)")
    p.add_argument("--out", required=True, help="prediction file (trajectory format)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_rollout)
