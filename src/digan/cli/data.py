"""`digan prepare`: decode a dataset once into a store that training reads without decoding video."""

from __future__ import annotations

import argparse
import sys

from .common import at_least, old_spelling, positive


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "prepare",
        help="decode videos once into a fast training store",
        description="Decode every video under SRC once, resize its short side to R with antialiasing, crop the "
                    "centre R x R, and write a store at DEST that `digan train --data DEST` reads without decoding. "
                    "Run the same command again to resume an interrupted run.",
    )
    p.add_argument("src", metavar="SRC", help="folder or .zip of video files or frame folders, a video file, or a UCF-101 tree")
    p.add_argument("dest", metavar="DEST", help="store folder to create (or to resume)")
    size = p.add_mutually_exclusive_group(required=True)  # required, in either spelling
    size.add_argument("--size", type=at_least(4), metavar="R", help="frame size in pixels, R x R")
    old_spelling(size, "--resolution", "-r", dest="size", type=at_least(4))
    p.add_argument("--fps", type=positive(float), default=None, metavar="F",
                   help="resample video files to F frames/s by nearest frame in time (default: keep every frame)")
    p.add_argument("--workers", "-j", type=positive(int), default=1, metavar="N",
                   help="decoding processes (default 1)")
    p.add_argument("--split", default="train+test", choices=("train", "test", "train+test"),
                   help="UCF-101 split to keep (default train+test, as the paper); ignored elsewhere")
    p.add_argument("--fold", type=int, default=1, choices=(1, 2, 3), help="UCF-101 split fold (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    old_spelling(p, "--no-progress", dest="quiet", action="store_true")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..data.store import prepare

    try:  # a DataError reaches `digan`'s entry point, which prints it as one line
        store = prepare(args.src, args.dest, args.size, fps=args.fps, workers=args.workers,
                        split=args.split, fold=args.fold, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: run the same command again to resume into {args.dest}", file=sys.stderr)
        return 130
    frames = sum(store.num_frames(i) for i in range(len(store)))
    print(f"{args.dest}: {len(store)} videos, {frames} frames at {store.resolution}x{store.resolution}")
    return 0
