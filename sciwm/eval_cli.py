"""`sciwm eval PRED TRUTH [--out DIR] [--threshold 0.8] [--animate]`: score a rollout file against the truth."""

from __future__ import annotations

import argparse


def _eval(args: argparse.Namespace) -> None:
    from sciwm.evaluate import evaluate, format_table

    result = evaluate(args.pred, args.truth, threshold=args.threshold, out=args.out, animate=args.animate)
    print(format_table(result))
    for path in result.get("figures", []):
        print(path)
    if args.out:
        print(f"{args.out}/metrics.json")


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    """Register `eval` on the sciwm subparsers."""
    p = sub.add_parser("eval", help="score predicted trajectories against the truth (metrics, figures)",
                       description="Compare two trajectory files with the same fields, grid and samples; "
                                   "frames are matched by time. Definitions: docs/metrics.md.")
    p.add_argument("pred", metavar="PRED", help="predicted trajectories (e.g. from sciwm rollout)")
    p.add_argument("truth", metavar="TRUTH", help="true trajectories (e.g. the test split)")
    p.add_argument("--out", metavar="DIR", help="write DIR/metrics.json and figures (default: print only)")
    p.add_argument("--threshold", type=float, default=0.8,
                   help="correlation threshold for the correlation time (default 0.8; 0.8 and 0.95 are "
                        "always reported too)")
    p.add_argument("--animate", action="store_true", help="also write DIR/animation.gif (2D data only)")
    p.set_defaults(func=_eval)
