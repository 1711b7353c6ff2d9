"""`digan demo` and `digan study`: the applications that train and show."""

from __future__ import annotations

from pathlib import Path

from ..apps.demo import DEMO_KIMG, DEMO_MINUTES, DEMO_PRESET, run_demo
from ..apps.study import STUDY_DATASETS, STUDY_DEFAULT_DATA, StudyConfig, run_study
from ..config import PRESETS, get_preset
from .common import (
    add_runtime_arguments,
    output_dir,
    parse_numbers,
    positive,
    resolve_device,
    run_precision,
    user_input,
)


def cmd_demo(args) -> int:
    device = resolve_device(args.device)
    out = output_dir(args.out)
    with user_input():
        precision = run_precision(args.precision, out / "run", device, get_preset(DEMO_PRESET).resolution)
    run_demo(out, kimg=args.kimg, data=args.data, device=device, precision=precision)
    return 0


def cmd_study(args) -> int:
    with user_input():
        cfg = StudyConfig(
            preset=args.preset,
            datasets=tuple(d.strip() for d in args.data.split(",") if d.strip()),
            kimg=args.kimg,
            evals=parse_numbers(args.evals, "--evals") or (),
            clips=args.clips,
            seed=args.seed,
            sets=tuple(args.set or ()),
            precision=args.precision,
        )
        cfg.build_preset()
    results = run_study(
        cfg,
        args.out,
        device=resolve_device(args.device),
        progress=not args.quiet,
        jobs=args.jobs,
        runs=args.runs,
        cache=None if args.no_cache else "default",
    )
    print(f"study: report in {Path(args.out) / 'README.md'} ({results['wall_s'] / 60:.1f} min)")
    return 0


def add_demo_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="train tiny-32 for a few minutes on a built-in dataset and render samples",
        description="Train tiny-32 on a built-in dataset (OUT/run, resumed when run again), then "
        "render from its latest snapshot: a sample grid, 4x the training length and 4x the training "
        "size beside what the training clips cover, and a real clip for comparison (OUT/samples). "
        f"About {DEMO_MINUTES} minutes of training on 2 CPU cores at the default {DEMO_KIMG:g} kimg.",
    )
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--data", default="shapes", help="built-in dataset (default shapes)")
    p.add_argument(
        "--kimg",
        type=positive(float),
        default=DEMO_KIMG,
        help=f"clips to train on, in thousands (default {DEMO_KIMG:g})",
    )
    add_runtime_arguments(p, precision=True)
    p.set_defaults(func=cmd_demo)


def add_study_parser(sub) -> None:
    p = sub.add_parser(
        "study",
        help="train a preset on built-in datasets and report FVD and the motion check along the way",
        description="The quality study: for each dataset, train the preset for --kimg (resuming from point to "
        "point), and at each eval point score G_ema on seeds 0..CLIPS-1: I3D FVD of 16-frame clips against "
        "CLIPS real clips beside the floor (two disjoint real sets) and the untrained generator, and the "
        "motion check (foreground speed, moving pixels, still clips) inside the clip and for t in [1, 2]. "
        "Writes OUT/README.md, results.json, plots (with matplotlib) and frame strips. Rerunning it with "
        "the same options reproduces the figures. The I3D features of each clip set are cached under "
        "$DIGAN_CACHE/study-features (default ~/.cache/digan), so the floor and the untrained score are "
        "computed once per dataset and thread count.",
    )
    p.add_argument("--preset", default="tiny-32", help=f"named configuration: {', '.join(PRESETS)} (default tiny-32)")
    default_data = ",".join(STUDY_DEFAULT_DATA)
    p.add_argument(
        "--data",
        default=default_data,
        help=f"built-in datasets, comma-separated: {', '.join(STUDY_DATASETS)} (default {default_data})",
    )
    p.add_argument(
        "--kimg",
        type=positive(float),
        default=60.0,
        help="training budget per dataset, in thousands of clips (default 60)",
    )
    p.add_argument("--evals", help="kimg of the eval points, e.g. 5,10,20 (default: 6 even points up to --kimg)")
    p.add_argument("--clips", type=positive(int), default=128, help="FVD clips a side (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the real-clip sets (default 0)")
    p.add_argument(
        "--set",
        action="append",
        metavar="SECTION.FIELD=VALUE",
        help="replace one preset field, "
        "e.g. training.lr=0.004 or generator.temporal_sigma=0.5 (repeatable); the runs of each variant "
        "go to their own folder",
    )
    p.add_argument(
        "--jobs",
        type=positive(int),
        default=1,
        help="datasets trained at once, in separate processes "
        "sharing the cores (default 1; 2 is faster on a 2-core CPU)",
    )
    p.add_argument("--out", default="docs/study", help="report folder (default docs/study)")
    p.add_argument(
        "--runs", default="runs/study", help="where the training runs go; rerunning resumes them (default runs/study)"
    )
    p.add_argument("--no-cache", action="store_true", help="compute every clip set's features again")
    add_runtime_arguments(p)
    p.add_argument(
        "--precision",
        choices=["float32", "bf16"],
        default="float32",
        help="training arithmetic "
        "(default float32; bf16: autocast as `digan train --precision bf16`, in its own run folder, to "
        "compare learning curves); generating and scoring stay float32",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_study)


def register(sub) -> None:
    add_demo_parser(sub)
    add_study_parser(sub)
