"""The commands that show a trained generator to others: `digan export`, `digan gallery`, `digan explore`."""

from __future__ import annotations

import argparse
import sys

from ..apps.explore import LOOPBACK, Explorer, listening, make_server
from ..apps.gallery import build_gallery
from ..apps.onnx import OPSET, check_opset, export_onnx, written_opset
from ..checkpoint import load_snapshot
from .common import (
    CliError,
    add_ckpt_argument,
    add_runtime_arguments,
    at_least,
    output_dir,
    output_file,
    positive,
    render_options,
    resolve_device,
    user_input,
)


def cmd_export(args) -> int:
    out = output_file(args.out, "--out")
    try:
        with user_input():
            check_opset(args.opset)  # before the snapshot is read
            G, meta = load_snapshot(args.ckpt, "cpu")
            export_onnx(G, out, opset=args.opset)
    except ImportError as e:
        raise CliError(str(e)) from None
    print(
        f"wrote {out}: {meta['path']} as ONNX (opset {written_opset(out)}, read back from the file; inputs z, "
        "z_motion, t, coords, psi; output frames [B, T, 3, H, W]; see docs/showing.md)"
    )
    return 0


def cmd_gallery(args) -> int:
    out = output_dir(args.out)
    device = resolve_device(args.device)
    render = render_options(args, device)
    G, meta = load_snapshot(args.ckpt, device)
    page = build_gallery(
        G,
        meta,
        out,
        videos=args.videos,
        render=render,
        formats=("mp4", "gif") if args.gif else ("mp4",),
        progress=not args.quiet,
    )
    print(f"wrote {page}")
    return 0


def cmd_explore(args) -> int:
    device = resolve_device(args.device)
    render = render_options(args, device)
    G, meta = load_snapshot(args.ckpt, device)
    try:
        server = make_server(Explorer(G, meta, render), args.host, args.port)
    except (OSError, OverflowError, ValueError) as e:  # address in use or not here; a port past 65535
        raise CliError(
            f"cannot listen on {listening(args.host, args.port)[1]}: {getattr(e, 'strerror', None) or e}"
        ) from None
    url, where = listening(args.host, server.server_address[1])
    print(f"explorer of {meta['path']} at {url} (Ctrl-C stops it)", flush=True)
    if args.host.strip("[]").lower() not in LOOPBACK:
        print(
            f"warning: listening on {where}: anyone who can reach this port can use the page "
            "(it has no authentication)",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def add_export_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write the generator as ONNX (latents, times, coordinate grid -> frames)",
        description="Write a snapshot's generator as an ONNX file that renders any number of frames "
        "at any size with onnxruntime alone: inputs z [B, z_dim], z_motion [B, motion_dim], t [B, T], "
        "coords [H, W, 2], psi []; output frames [B, T, 3, H, W] in about [-1, 1] (nested grids). "
        "Needs pip install -e '.[export]'.",
    )
    add_ckpt_argument(p)
    p.add_argument("--out", required=True, help="the ONNX file to write, e.g. g.onnx")
    p.add_argument(
        "--opset",
        type=at_least(OPSET),
        default=OPSET,
        help=f"ONNX opset, from {OPSET} (the default) to "
        "the newest the installed onnx package defines; the file's opset is read back and printed",
    )
    add_runtime_arguments(p, device=False)
    p.set_defaults(func=cmd_export)


def add_gallery_parser(sub) -> None:
    p = sub.add_parser(
        "gallery",
        help="write a static HTML page of what a snapshot renders",
        description="Write OUT/index.html (openable from disk) with captions: a sample grid, time "
        "extrapolation beside the training interval, 4x super-resolution beside nearest upscaling, "
        "one first frame with 8 motions, content and motion interpolation, and the training curves "
        "of the run's metrics.jsonl (a PNG when matplotlib is installed).",
    )
    add_ckpt_argument(p)
    p.add_argument("--out", required=True, help="output folder, e.g. site/")
    p.add_argument(
        "--videos", type=positive(int), default=8, help="videos in the sample grid (seeds 0..N-1, default 8)"
    )
    p.add_argument(
        "--gif",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write GIFs, which every browser plays from disk (default on)",
    )
    add_runtime_arguments(p, precision=True)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_gallery)


def add_explore_parser(sub) -> None:
    p = sub.add_parser(
        "explore",
        help="serve a local page that renders frames on demand (time slider, seeds, size)",
        description="Serve a page on http://HOST:PORT/ that renders a snapshot's frames when asked: "
        "content and motion seeds, truncation psi, a time slider past t = 1, playback at a chosen "
        "fps, output size, grid mode and interpolation between two seeds. Standard library only; "
        "the page has no authentication, so it listens on 127.0.0.1 unless --host says otherwise.",
    )
    add_ckpt_argument(p)
    p.add_argument("--port", type=at_least(0), default=7860, help="port (default 7860; 0: any free port)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this machine "
        "only; 0.0.0.0 or '' opens the page, without authentication, to the network). Requests must "
        "name the server in their Host header: a loopback name, this address, or (0.0.0.0) any "
        "address or this machine's name",
    )
    add_runtime_arguments(p, precision=True)
    p.set_defaults(func=cmd_explore)


def register(sub) -> None:
    add_export_parser(sub)
    add_gallery_parser(sub)
    add_explore_parser(sub)
