"""`make demo`: train tiny-32 on a built-in dataset for a few minutes, then render what it learned."""

from __future__ import annotations

from pathlib import Path

from .config import get_preset
from .data import open_dataset
from .data.io import make_grid, write_video
from .sampling import clip_times, render_videos
from .training import train


def run_demo(out: Path, kimg: float = 3.0, data: str = "shapes", device: str = "cpu") -> Path:
    preset = get_preset("tiny-32").replace_training(kimg=kimg, snap_kimg=max(kimg / 3, 0.5))
    source = open_dataset(data, preset.resolution)
    print(f"demo: training {preset.name} on '{data}' for {kimg:g} kimg; run again to resume")
    info = train(preset, source, data, out, device=device, run_dir=out / "run")
    from .checkpoint import load_snapshot
    G, meta = load_snapshot(info.run_dir, device)
    frames = preset.training.clip_frames
    seeds = list(range(16))
    videos = render_videos(G, seeds, clip_times(frames, frames))
    samples = out / "samples"
    write_video(samples / "grid.mp4", make_grid(videos), fps=8)
    write_video(samples / "grid.gif", make_grid(videos), fps=8)
    reals = source.read(0, range(frames))
    write_video(samples / "real-example.gif", reals, fps=8)
    print(f"demo: samples in {samples}; snapshot {meta['path']}")
    return samples
