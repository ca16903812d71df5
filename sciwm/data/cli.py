"""Data commands for the `sciwm` CLI: generate, info, convert, plot."""

from __future__ import annotations

import argparse
from pathlib import Path

from sciwm.errors import SciwmError


def parse_dims(text: str | None) -> dict[str, str] | None:
    """`sample=member,x=lon` -> {"sample": "member", "x": "lon"}."""
    if not text:
        return None
    try:
        return dict(item.split("=", 1) for item in text.split(","))
    except ValueError:
        msg = f"--dims {text!r}: expected OURS=THEIRS pairs, comma-separated, e.g. time=t,x=lon"
        raise SciwmError(msg) from None


def _info(args: argparse.Namespace) -> None:
    from sciwm.data.conversion import info

    print(info(args.file, dims=parse_dims(args.dims), check=not args.quick))


def _convert(args: argparse.Namespace) -> None:
    from sciwm.data.conversion import convert

    dst = Path(args.out)
    if dst.is_dir():
        raise SciwmError(f"{dst} is a directory; give the file to write, e.g. {dst / 'converted.h5'}")
    if dst.exists() and not args.force:
        raise SciwmError(f"{dst} exists; pass --force to overwrite it")
    print(convert(args.inp, dst, dims=parse_dims(args.dims)))


def _plot(args: argparse.Namespace) -> None:
    from matplotlib.backend_bases import FigureCanvasBase

    from sciwm.data.reading import open
    from sciwm.plots import plot_trajectory

    ds = open(args.file, dims=parse_dims(args.dims), allow_incomplete=True)
    out = Path(args.out or Path(args.file).with_suffix(f".sample{args.sample}.png").name)
    kinds = FigureCanvasBase.get_supported_filetypes()
    if out.suffix.lstrip(".").lower() not in kinds:
        raise SciwmError(f"--out {out}: matplotlib cannot write {out.suffix or 'a file without an extension'}; "
                         f"use one of {', '.join('.' + k for k in sorted(kinds))}")
    plot_trajectory(ds, sample=args.sample).savefig(out, dpi=120)
    print(out)


def _generate(args: argparse.Namespace) -> None:
    from sciwm.data.card import Card
    from sciwm.data.generate import generate
    from sciwm.device import resolve_device

    card = Card.load(args.card)
    stats = generate(card, args.out, samples=args.samples, device=resolve_device(args.device), batch=args.batch,
                     resume=args.resume, progress=not args.quiet)
    if stats.trajectories:
        share = stats.solver_s / max(stats.total_s, 1e-12)
        print(f"{card.name}: {stats.trajectories} trajectories in {stats.total_s:.1f} s "
              f"({share:.0%} in the solver) -> {args.out}")
    else:
        print(f"{card.name}: nothing to do, {args.out} is complete")


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="solve a dataset card into train/val/test trajectory files")
    p.add_argument("card", help="dataset card (TOML), e.g. datasets/ks1d.toml")
    p.add_argument("--out", required=True, help="output directory (one .h5 file per split)")
    p.add_argument("--samples", type=int, help="training trajectories (val/test scaled alike); default: the card's")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--batch", type=int, default=64, help="trajectories solved together")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run, keep finished splits")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_generate)


def add_data_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `generate`, `info`, `convert`, `plot` on the sciwm subparsers."""
    _add_generate(sub)
    dims_help = "dim names when not guessed, OURS=THEIRS pairs, e.g. sample=member,time=t,x=lon"

    p = sub.add_parser("info", help="one-screen summary of a trajectory file (any readable format)")
    p.add_argument("file")
    p.add_argument("--dims", help=dims_help)
    p.add_argument("--quick", action="store_true", help="skip the scan for NaN/inf frames")
    p.set_defaults(func=_info)

    p = sub.add_parser("convert", help="write PDEBench / Well / NetCDF / Zarr data as a sciwm file")
    p.add_argument("inp", metavar="IN")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--dims", help=dims_help)
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    p.set_defaults(func=_convert)

    p = sub.add_parser("plot", help="plot one trajectory: space-time diagram (1D) or snapshots (2D)")
    p.add_argument("file")
    p.add_argument("--out", help="PNG path (default: FILE.sample<i>.png in the current directory)")
    p.add_argument("--sample", type=int, default=0)
    p.add_argument("--dims", help=dims_help)
    p.set_defaults(func=_plot)
