"""`digan prepare`: decode a dataset once into a store that training reads without decoding video."""

from __future__ import annotations

import argparse
import sys

from ..data.store import prepare
from ..utils.signals import Terminated, exit_code
from .common import at_least, positive


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="decode videos once into a fast training store",
        description="Decode every video under SRC once, resize its short side to R with antialiasing, crop the "
        "centre R x R, and write a store at DEST that `digan train --data DEST` reads without decoding. "
        "Run the same command again to resume an interrupted run.",
    )
    p.add_argument(
        "src", metavar="SRC", help="folder or .zip of video files or frame folders, a video file, or a UCF-101 tree"
    )
    p.add_argument("dest", metavar="DEST", help="store folder to create (or to resume)")
    p.add_argument("--size", type=at_least(4), required=True, metavar="R", help="frame size in pixels, R x R")
    p.add_argument(
        "--fps",
        type=positive(float),
        default=None,
        metavar="F",
        help="resample video files to F frames/s by nearest frame in time (default: keep every frame)",
    )
    p.add_argument("--workers", "-j", type=positive(int), default=1, metavar="N", help="decoding processes (default 1)")
    p.add_argument(
        "--split",
        default="train+test",
        choices=("train", "test", "train+test"),
        help="UCF-101 split to keep (default train+test, as the paper); ignored elsewhere",
    )
    p.add_argument("--fold", type=int, default=1, choices=(1, 2, 3), help="UCF-101 split fold (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args: argparse.Namespace) -> int:
    try:  # a DataError reaches `digan`'s entry point, which prints it as one line
        store = prepare(
            args.src,
            args.dest,
            args.size,
            fps=args.fps,
            workers=args.workers,
            split=args.split,
            fold=args.fold,
            progress=not args.quiet,
        )
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM
        print(
            f"{'terminated' if isinstance(e, Terminated) else 'interrupted'}: run the same command again to "
            f"resume into {args.dest}",
            file=sys.stderr,
        )
        return exit_code(e)
    frames = sum(store.num_frames(i) for i in range(len(store)))
    print(f"{args.dest}: {len(store)} videos, {frames} frames at {store.resolution}x{store.resolution}")
    return 0
