"""`digan generate` and `digan interpolate`: the arguments are read once into a request that goes to the library."""

from __future__ import annotations

import argparse

from ..checkpoint import load_snapshot
from ..data.io import FORMATS
from ..invert import load_fit, load_fit_points, load_fit_snapshot, write_fit
from ..sampling.files import InterpolationRequest, VideoRequest, Written, generate, interpolate, plural
from .common import (
    TIME_HELP,
    CliError,
    add_ckpt_argument,
    add_render_arguments,
    add_runtime_arguments,
    add_time_arguments,
    at_least,
    output_dir,
    parse_seeds,
    positive,
    render_options,
    resolve_device,
    time_request,
    user_input,
)

SIZE_HELP = (
    "output size H or HxW, smaller or larger than the training size (e.g. 4x: 128 for a 32x32 model; "
    "default: the training size); mp4 files pad an odd size to the next even one (H.264 in yuv420p)"
)


def formats(args) -> tuple[str, ...]:
    return tuple(f for f in args.formats.split(",") if f.strip())


def summary(written: Written) -> str:
    h, w = written.size
    padded = (
        f" (the mp4 files {written.mp4_size[0]}x{written.mp4_size[1]}: H.264 pads to even sizes by repeating "
        "the last row or column)"
        if written.mp4_size
        else ""
    )
    return (
        f"{plural(len(written.t), 'frame')} at {h}x{w}{padded}, {written.fps:g} fps, "
        f"{written.timebase.describe(written.t)}"
    )


def cmd_generate(args) -> int:
    if args.fit:
        return generate_fit(args)
    if not args.ckpt:
        raise CliError("the following arguments are required: --ckpt (or --fit)")
    device = resolve_device(args.device)
    with user_input():
        request = VideoRequest(
            seeds=parse_seeds(args.seeds or "0-15"),
            motion_seeds=None if args.motion_seeds is None else parse_seeds(args.motion_seeds),
            times=time_request(args),
            render=render_options(args, device),
            formats=formats(args),
            grid=args.grid,
            compare=args.compare,
        )
    out = output_dir(args.out)
    G, meta = load_snapshot(args.ckpt, device)
    with user_input():  # e.g. times past what float32 holds, known once the snapshot's time base is
        written = generate(G, meta, out, request, progress=False if args.quiet else None)
    print(
        f"wrote {plural(len(written.paths), 'file')} for {plural(request.videos, 'video')} of "
        f"{summary(written)} to {out}"
    )
    return 0


def generate_fit(args) -> int:
    """`generate --fit`: the fitted clip, with every option of a generated video but the seeds."""
    for option, given in (("--seeds", args.seeds), ("--motion-seeds", args.motion_seeds), ("--psi", args.psi != 1)):
        if given:
            raise CliError(f"--fit renders the fitted clip: leave out {option}")
    device = resolve_device(args.device)
    times, render = time_request(args), render_options(args, device)
    out = output_dir(args.out)
    fit = load_fit(args.fit)
    G, _ = load_fit_snapshot(fit, args.ckpt, device)
    with user_input():
        written = write_fit(
            G,
            fit,
            out,
            times=times,
            render=render,
            formats=formats(args),
            compare=args.compare,
            progress=False if args.quiet else None,
        )
    print(
        f"wrote {plural(len(written.paths), 'file')} for the fit {args.fit} ({plural(fit.frames, 'frame')} "
        f"fitted): {summary(written)} to {out}"
    )
    return 0


def cmd_interpolate(args) -> int:
    fit_paths = args.fit or []
    seeds = parse_seeds(args.seeds) if args.seeds else (() if fit_paths else (0, 1))
    if len(fit_paths) + len(seeds) < 2:
        raise CliError("interpolation needs at least two seeds or fits, e.g. --seeds 0,5 or --fit fits/a --fit fits/b")
    if not args.ckpt and not fit_paths:
        raise CliError("the following arguments are required: --ckpt (or --fit)")
    device = resolve_device(args.device)
    times, render = time_request(args), render_options(args, device)
    out = output_dir(args.out)
    if fit_paths:
        G, meta, points = load_fit_points(fit_paths, args.ckpt, device)
    else:
        (G, meta), points = load_snapshot(args.ckpt, device), []
    with user_input():
        request = InterpolationRequest(
            points=(*points, *seeds),
            mode=args.mode,
            steps=args.steps,
            layout=args.layout,
            times=times,
            render=render,
            formats=formats(args),
        )
        written = interpolate(G, meta, out, request, progress=False if args.quiet else None)
    through = [f"fit {f}" for f in fit_paths] + [f"seed {s}" for s in seeds]
    print(
        f"wrote {', '.join(str(p) for p in written.paths)}: {args.mode} interpolation through "
        f"{', '.join(through)}, {written.timebase.describe(written.t)}"
    )
    return 0


def add_output_arguments(p) -> None:
    add_ckpt_argument(p, required=False, note="required unless --fit is given (default then: the fit's snapshot)")
    p.add_argument("--out", required=True, help="output directory")
    add_render_arguments(p, size_help=SIZE_HELP)
    p.add_argument(
        "--formats",
        default="mp4",
        help=f"one or more of {', '.join(FORMATS)}: mp4 (H.264, yuv420p; "
        "streamed), gif (held in memory until written: for short clips), png (a folder of frames; "
        "streamed), e.g. mp4,gif (default mp4)",
    )
    add_runtime_arguments(p, precision=True)
    add_time_arguments(p)


def register(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="render videos from a snapshot: any length, frame rate, size, motion",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=TIME_HELP,
        description="Render one video per seed (and per motion seed) and a grid of them from a snapshot, at any\n"
        "length, frame rate and size. Frames are rendered in chunks and streamed to the files, so memory does\n"
        "not grow with --frames. A seed gives the same video at any --batch or --chunk.",
    )
    add_output_arguments(p)
    p.add_argument("--fit", help="render a fitted clip (digan invert --out FOLDER) instead of seeds")
    p.add_argument("--seeds", help="content seeds, e.g. 0-15 or 1,4,9 (default 0-15)")
    p.add_argument(
        "--motion-seeds",
        help="motion seeds: render every content seed with each of them; they share "
        "their first frame (e.g. --seeds 3 --motion-seeds 0-7)",
    )
    p.add_argument(
        "--grid",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also write grid.<format> with every video (default: when there are several)",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="also write <name>-compare.mp4 (and grid-compare.mp4): "
        "the training size and training frames (held past t = 1) beside the render, over a time bar "
        "red past t = 1",
    )
    p.add_argument("--batch", type=positive(int), default=4, help="videos rendered at once (default 4)")
    p.add_argument(
        "--chunk",
        type=positive(int),
        help="frames rendered at once per video (default: as many as "
        "keep a step near 16k pixels, one 128x128 frame; at least 1)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "interpolate",
        help="interpolate content, motion or both between seeds, as a grid or a video",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=TIME_HELP,
        description="Walk from each seed to the next.\n"
        "  content: w on a straight line, with the motion of the first seed;\n"
        "  motion:  z_M on the sphere, with the content of the first seed;\n"
        "  both:    both.\n"
        "'grid' writes interp-<mode>-grid: a row per pair of seeds, --steps videos each playing the clip.\n"
        "'video' writes interp-<mode>-video: one continuous video in which each pair of seeds takes the\n"
        "clip's frames.",
    )
    add_output_arguments(p)
    p.add_argument(
        "--fit",
        action="append",
        help="a fitted clip (digan invert) to pass through, before any "
        "--seeds; repeat it, e.g. --fit fits/a --fit fits/b morphs one real clip into the other",
    )
    p.add_argument("--seeds", help="two or more seeds to pass through, e.g. 0,5,9 (default 0,1 without --fit)")
    p.add_argument("--mode", choices=["content", "motion", "both"], default="both", help="what moves (default both)")
    p.add_argument(
        "--steps", type=at_least(2), default=8, help="videos per pair in the grid, endpoints included (default 8)"
    )
    p.add_argument("--layout", choices=["grid", "video", "both"], default="both", help="what to write (default both)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_interpolate)
