"""`sciwm bench CONFIG.toml --out DIR`: surrogates vs a solver ladder; writes report.md, figures, results.json."""

from __future__ import annotations

import argparse
import sys


def _bench(args: argparse.Namespace) -> None:
    from sciwm.bench import run_bench

    def log(msg: str) -> None:
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    result = run_bench(args.config, out=args.out, log=None if args.quiet else log)
    for v in result["verdict"]:
        if v["metric"] == result["settings"]["accuracy"]:
            print(v["sentence"])
    for d in result["dropped"]:
        print(f"dropped {d['name']}: {d['reason']}")
    print(f"{args.out}/report.md")


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Register `bench` on the sciwm subparsers."""
    p = sub.add_parser("bench", help="compare surrogates with a ladder of classical solvers (equal accuracy, "
                                     "equal cost)",
                       description="Run the test set's PDE on a ladder of coarser grids and larger steps and every "
                                   "trained run on the same trajectories, device and batch; report the Pareto "
                                   "front and each surrogate's speedup at equal accuracy. Config: docs/bench.md.")
    p.add_argument("config", metavar="CONFIG.toml", help="bench config, e.g. benchmarks/configs/bench-ks1d.toml")
    p.add_argument("--out", required=True, metavar="REPORT_DIR",
                   help="directory for report.md, results.json and the figures")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_bench)
