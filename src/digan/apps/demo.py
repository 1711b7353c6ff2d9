"""`make demo`: train tiny-32 on a built-in dataset for a few minutes, then render what it learned."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_snapshot
from ..config import DEMO_KIMG, get_preset
from ..data import open_dataset
from ..data.io import write_video
from ..sampling.files import generate, write_samples
from .gallery import build_gallery
from ..timebase import Timebase
from ..training.loop import train


def run_demo(out: Path, kimg: float = DEMO_KIMG, data: str = "shapes", device: str = "cpu",
             precision: torch.dtype = torch.float32) -> Path:
    preset = get_preset("tiny-32").replace_training(kimg=kimg, snap_kimg=1.0)
    source = open_dataset(data, preset.resolution)
    print(f"demo: training {preset.name} on '{data}' for {kimg:g} kimg; run again to resume")
    info = train(preset, source, data, out, device=device, run_dir=out / "run", precision=precision)
    G, meta = load_snapshot(info.run_dir, device)
    G.mlp_dtype = precision
    samples = out / "samples"
    write_samples(G, preset, samples / "grid", meta.get("train_fps"))  # grid.mp4 and .gif, as the run's samples
    write_video(samples / "real-example.gif", source.read(0, range(preset.training.clip_frames)), fps=8)
    write_property_samples(G, meta, samples)
    print(f"demo: samples in {samples}; snapshot {meta['path']}")
    page = build_gallery(G, meta, out / "site", progress=False)
    print(f"demo: gallery {page} (open it in a browser)")
    return samples


def write_property_samples(G, meta: dict, samples: Path, seeds=(0, 1, 2, 3)) -> list[Path]:
    """What an implicit video generator renders beyond its training clips, each beside the training view.

    - `extrapolation-4x/`: 4x the training clip's length (t up to ~4.3); the left
      half holds the last training frame once t passes 1 (time bar turns red).
    - `superres-4x/`: 4x the training size with scaled grids (`--grids scaled`);
      the left half is the training-size render upscaled by pixel repetition.
    """
    timebase = Timebase.from_meta(meta)
    fps, res = timebase.train_fps, meta["resolution"]
    long_t = timebase.times(seconds=4 * timebase.clip_frames / fps)
    clip_t = timebase.times()
    paths = generate(G, samples / "extrapolation-4x", list(seeds), long_t, fps=fps, formats=("mp4", "gif"),
                     reference_t=timebase.nearest_training_times(long_t), progress=False)
    # grids="scaled": every scale sampled 4x more densely, for smooth detail rather than blocks
    paths += generate(G, samples / "superres-4x", list(seeds), clip_t, fps=fps, size=4 * res, grids="scaled",
                      formats=("mp4",), reference_t=timebase.nearest_training_times(clip_t), progress=False)
    print(f"demo: time extrapolation ({len(long_t)} frames, t up to {long_t[-1]:.2f}) in {samples / 'extrapolation-4x'}; "
          f"super-resolution ({4 * res}x{4 * res}) in {samples / 'superres-4x'}")
    return paths
