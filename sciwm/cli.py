"""The `sciwm` command: a thin layer over functions a Python user can call directly.

User errors (`SciwmError`, and `OSError`: a path that cannot be read or written) print one line and exit
with status 2; SIGINT and SIGTERM stop work at a
safe point (files are committed batch by batch, so `--resume` continues). Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from sciwm import __version__
from sciwm.errors import SciwmError


def build_parser() -> argparse.ArgumentParser:
    from sciwm.analysis_cli import add_analysis_parsers
    from sciwm.bench_cli import add_bench_parser
    from sciwm.data.cli import add_data_parsers
    from sciwm.eval_cli import add_eval_parser
    from sciwm.plan_cli import add_plan_parser
    from sciwm.train_cli import add_train_parsers

    parser = argparse.ArgumentParser(
        prog="sciwm",
        description="Scientific world models: spectral solvers, trajectory data, surrogates, benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"sciwm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_data_parsers(sub)
    add_train_parsers(sub)
    add_eval_parser(sub)
    add_bench_parser(sub)
    add_analysis_parsers(sub)
    add_plan_parser(sub)
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _kept_work(args: argparse.Namespace) -> bool:
    """Whether an interrupted resumable command (one with --resume) has left what --resume continues:
    train a checkpoint, generate and plan anything in their --out."""
    out = getattr(args, "out", None)
    if not hasattr(args, "resume") or out is None or not Path(out).is_dir():
        return False
    return (Path(out) / "checkpoint.pt").is_file() if args.command == "train" else any(Path(out).iterdir())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        args.func(args)
    except SciwmError as err:
        print(f"sciwm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a path that cannot be written or read (parent is a file, no permission, disk full)
        print(f"sciwm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # generate, train and plan keep what they finished; the other commands, or an interrupt before the
        # first thing was kept (during start-up), have nothing to resume
        hint = "what was finished is kept (rerun with --resume)" if _kept_work(args) else "rerun the command"
        print(f"sciwm {args.command}: interrupted; {hint}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
