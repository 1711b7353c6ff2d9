"""`make demo`: train tiny-32 on a built-in dataset for a few minutes, then render what it learned."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_snapshot
from ..config import get_preset
from ..data import open_dataset
from ..data.io import write_video
from ..models import Generator
from ..sampling.files import VideoRequest, generate, write_samples
from ..sampling.options import RenderOptions
from ..timebase import Timebase, TimeRequest
from ..training.loop import train
from ..utils.signals import interruption
from .gallery import build_gallery

# The demo's budget: 30 kimg, where tiny-32 draws a coloured shape or two a clip that moves (docs/study.md),
# in about 5 of its DEMO_MINUTES on 2 idle cores since training steps got faster (issue 25; README has the
# measured time and the scores at 20 and 30 kimg).
DEMO_KIMG = 30.0
DEMO_MINUTES = 6
DEMO_PRESET = "tiny-32"


def run_demo(
    out: Path,
    kimg: float = DEMO_KIMG,
    data: str = "shapes",
    device: str = "cpu",
    precision: torch.dtype = torch.float32,
) -> Path:
    """Train (or resume) `out/run`, then write `out/samples` and the gallery `out/site`; returns the samples folder.

    `precision` is the training arithmetic and the renders' (`RenderOptions.precision`).
    """
    preset = get_preset(DEMO_PRESET).replace_training(kimg=kimg, snap_kimg=1.0)
    source = open_dataset(data, preset.resolution)
    print(f"demo: training {preset.name} on '{data}' for {kimg:g} kimg; run again to resume")
    info = train(preset, data, out, source=source, device=device, run_dir=out / "run", precision=precision)
    if info.interrupted:  # stopped after a step by Ctrl-C or SIGTERM, its state saved: the command stops too
        raise interruption(info.signal)
    G, meta = load_snapshot(info.run_dir, device)
    samples = out / "samples"
    render = RenderOptions(precision=precision)
    write_samples(G, preset, samples / "grid", meta.get("train_fps"), render)  # grid.mp4 and .gif, like the run's
    write_video(samples / "real-example.gif", source.read(0, range(preset.training.clip_frames)), fps=8)
    write_property_samples(G, meta, samples, render)
    print(f"demo: samples in {samples}; snapshot {meta['path']}")
    page = build_gallery(G, meta, out / "site", render=render, progress=False)
    print(f"demo: gallery {page} (open it in a browser)")
    return samples


def write_property_samples(
    G: Generator, meta: dict, samples: Path, render: RenderOptions = RenderOptions(), seeds=(0, 1, 2, 3)
) -> list[Path]:
    """What an implicit video generator renders beyond its training clips, each beside the training view.

    - `extrapolation-4x/`: 4x the training clip's length (t up to ~4.3); the left
      half holds the last training frame once t passes 1 (time bar turns red).
    - `superres-4x/`: 4x the training size with scaled grids;
      the left half is the training-size render upscaled by pixel repetition.
    """
    timebase = Timebase.from_meta(meta)
    res = meta["resolution"]
    four_clips = TimeRequest(seconds=4 * timebase.clip_frames / timebase.train_fps)
    long = generate(
        G,
        meta,
        samples / "extrapolation-4x",
        VideoRequest(seeds=tuple(seeds), times=four_clips, render=render, formats=("mp4", "gif"), compare=True),
        progress=False,
    )
    # grids="scaled": every scale sampled 4x more densely, for smooth detail rather than blocks
    superres = generate(
        G,
        meta,
        samples / "superres-4x",
        VideoRequest(seeds=tuple(seeds), render=render.replace(size=4 * res, grids="scaled"), compare=True),
        progress=False,
    )
    print(
        f"demo: time extrapolation ({len(long.t)} frames, t up to {long.t[-1]:.2f}) in "
        f"{samples / 'extrapolation-4x'}; super-resolution ({4 * res}x{4 * res}) in {samples / 'superres-4x'}"
    )
    return long.paths + superres.paths
