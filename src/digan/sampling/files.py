"""Writing rendered videos to files: one per seed, grids, comparison strips, interpolation walks, sample grids.

What a model computes is `digan.sampling.render`; this module decides what goes in
which file and streams it there through `digan.data.io.VideoWriter`, so memory
depends on the batch, the size and the chunk, never on the video's length.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import Preset
from ..utils.memory import GIF_COPIES, TIME_BYTES, Part, code_bytes, render_pixel_bytes
from ..data.io import VideoSet, VideoWriter, make_grid, output_path
from ..models import Generator, VideoCode
from ..models.generator import check_size
from .render import (Point, frames_per_chunk, interpolation_codes, morph_video, prepare_videos, render_code,
                       render_videos)
from ..timebase import DEFAULT_TRAIN_FPS, clip_times


# ---------------------------------------------------------------- presentation

def upscale_nearest(video: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 `[..., h, w, 3]` -> `[..., H, W, 3]`, output pixel i showing input floor(i * h / H)."""
    h, w = video.shape[-3:-1]
    rows = np.arange(size[0]) * h // size[0]
    cols = np.arange(size[1]) * w // size[1]
    return video[..., rows[:, None], cols[None, :], :]


def time_bar(t: torch.Tensor, width: int, height: int = 4) -> np.ndarray:
    """uint8 `[T, height, width, 3]`: a progress bar per frame, green inside the training interval
    (t <= 1), red beyond it (time extrapolation), with a white tick where t = 1 falls."""
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1).numpy()
    span = max(float(t.max()), 1.0) if len(t) else 1.0
    bars = np.full((len(t), height, width, 3), 40, np.uint8)
    for k, tk in enumerate(t):
        fill = int(round(np.clip(tk / span, 0, 1) * width))
        bars[k, :, :fill] = (60, 200, 60) if tk <= 1 + 1e-6 else (220, 50, 50)
    if span > 1:
        bars[:, :, min(width - 1, int(width / span))] = 255
    return bars


def side_by_side(*videos: np.ndarray, pad: int = 2) -> np.ndarray:
    """uint8 `[T, H, W, 3]` videos of one length and height, left to right with black gaps."""
    height = max(v.shape[1] for v in videos)
    parts = []
    for k, v in enumerate(videos):
        if k:
            parts.append(np.zeros((len(v), height, pad, 3), np.uint8))
        parts.append(np.pad(v, ((0, 0), (0, height - v.shape[1]), (0, 0), (0, 0))))
    return np.concatenate(parts, axis=2)


def comparison_frames(reference: np.ndarray, render: np.ndarray, t: torch.Tensor) -> np.ndarray:
    """Reference (training size, training frames) nearest-upscaled | the render, a time bar below."""
    frames = side_by_side(upscale_nearest(reference, render.shape[-3:-1]), render)
    return np.concatenate([frames, time_bar(t, frames.shape[2], max(2, frames.shape[1] // 32))], axis=1)


# ---------------------------------------------------------------- writing many videos

@dataclass
class VideoJob:
    """One output video: content seed, motion seed, file stem."""
    seed: int
    motion_seed: int
    name: str


def video_jobs(seeds: Sequence[int], motion_seeds: Sequence[int] | None = None) -> list[VideoJob]:
    """`seed0003` per content seed, or `seed0003-motion0007` for every content x motion seed."""
    if motion_seeds is None:
        return [VideoJob(s, s, f"seed{s:04d}") for s in seeds]
    return [VideoJob(s, m, f"seed{s:04d}-motion{m:04d}") for s in seeds for m in motion_seeds]


def generate(G: Generator, out: str | Path, seeds: Sequence[int], t: torch.Tensor, *, fps: float,
             motion_seeds: Sequence[int] | None = None, size: int | tuple[int, int] | None = None,
             psi: float = 1.0, grids: str = "nested", formats: Sequence[str] = ("mp4",), grid: bool | None = None,
             reference_t: torch.Tensor | None = None, batch: int = 4, chunk: int | None = None,
             progress: bool | None = None) -> list[Path]:
    """Render videos at times `t` and stream them to files in `out`; returns the paths written.

    One file per video and format (`seed0003.mp4`, or `seed0003-motion0007.mp4`
    with `motion_seeds`: every content seed with every motion seed), and a
    grid of all of them (`grid.mp4`; rows are content seeds when motion seeds
    are given) unless `grid` is False. With `reference_t` (e.g. the training
    frames nearest each t), each video also gets `<name>-compare.mp4`: the
    reference rendered at the training size and nearest-upscaled, beside the
    render, over a time bar that turns red past the training clip (and
    `grid-compare.mp4` with all of them).

    Frames are rendered `chunk` times at a time (default: about CHUNK_PIXELS
    pixels per batch) and written at once, so memory does not grow with len(t).
    """
    jobs = video_jobs(seeds, motion_seeds)
    batches = [jobs[i:i + batch] for i in range(0, len(jobs), batch)]
    codes = [prepare_videos(G, [j.seed for j in b], [j.motion_seed for j in b], psi) for b in batches]
    cols = len(motion_seeds) if motion_seeds is not None and len(seeds) > 1 else None
    return write_videos(G, out, codes, t, fps=fps, names=[j.name for j in jobs], size=size, grids=grids,
                        formats=formats,
                        grid="grid" if (len(jobs) > 1 if grid is None else grid) else None, grid_cols=cols,
                        reference_t=reference_t, chunk=chunk, progress=progress)


def write_videos(G: Generator, out: str | Path, codes: Sequence[VideoCode], t: torch.Tensor, *, fps: float,
                 names: Sequence[str] | None = None, size: int | tuple[int, int] | None = None,
                 grids: str = "nested", formats: Sequence[str] = ("mp4",), grid: str | None = "grid",
                 grid_cols: int | None = None, reference_t: torch.Tensor | None = None, chunk: int | None = None,
                 progress: bool | None = None) -> list[Path]:
    """Stream prepared videos (batches of codes, in order) to `out/<name>.<format>` and `out/<grid>.<format>`.

    `names=None` writes only the grid. Each step renders `chunk` times of one
    batch, writes them and lets them go: memory depends on the batch, the
    size and the chunk, never on len(t).
    """
    out = Path(out)
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    size = check_size(size, G.cfg)
    count = sum(code.batch for code in codes)
    assert names is None or len(names) == count, (len(names), count)
    chunk = chunk or frames_per_chunk(max(code.batch for code in codes), size)
    if reference_t is not None:
        reference_t = torch.as_tensor(reference_t, dtype=torch.float32).reshape(-1)
        assert reference_t.shape == t.shape and names is not None, (reference_t.shape, t.shape)
    from tqdm import tqdm

    with contextlib.ExitStack() as stack:
        files = stack.enter_context(VideoSet())  # every file changes together, or none (Ctrl-C, errors)

        def open_writer(stem: Path, fmt: str) -> VideoWriter:
            return files.open(output_path(stem, fmt), fps)

        writers = [[open_writer(out / name, f) for f in formats] for name in names or []]
        grid_writers = [open_writer(out / grid, f) for f in formats] if grid else []
        compare_writers = ([open_writer(out / f"{name}-compare", "mp4") for name in names]
                           if reference_t is not None else [])
        compare_grid = open_writer(out / f"{grid}-compare", "mp4") if compare_writers and grid and count > 1 else None
        bar = stack.enter_context(tqdm(total=len(t) * count, unit="frame", desc="rendering", leave=False,
                                       disable=None if progress is None else not progress))
        for start in range(0, len(t), chunk):
            part = t[start:start + chunk]
            frames = []
            for code in codes:
                frames.append(next(render_code(G, code, part, size=size, grids=grids, chunk=len(part))))
                bar.update(len(part) * code.batch)
            frames = np.concatenate(frames, axis=0)  # (N, chunk, H, W, 3)
            for video, ws in zip(frames, writers):
                for w in ws:
                    w.write(video)
            for w in grid_writers:
                w.write(make_grid(frames, grid_cols))
            if compare_writers:
                refs = np.concatenate([next(render_code(G, code, reference_t[start:start + chunk], chunk=len(part)))
                                       for code in codes])
                compared = np.stack([comparison_frames(ref, video, part) for ref, video in zip(refs, frames)])
                for video, w in zip(compared, compare_writers):
                    w.write(video)
                if compare_grid is not None:
                    compare_grid.write(make_grid(compared, grid_cols))
    return files.paths


# ---------------------------------------------------------------- what a write holds at once

def _scaled(h: int, w: int, longest: int) -> tuple[int, int]:
    """(h, w) scaled so that its longer side is `longest` (a quantity that `digan.utils.memory.check` can shrink)."""
    k = longest / max(h, w)
    return max(1, round(h * k)), max(1, round(w * k))


def _size_hint(h: int, w: int):
    return lambda n: f"frames of at most about {'x'.join(map(str, _scaled(h, w, n)))} pixels fit (--size)"


_FRAMES_HINT = lambda n: f"at most {n:,} frames fit (--frames, --seconds, --fps)"  # noqa: E731
_GIF_NOTE = " (a GIF holds every frame until it is written; mp4 and png stream any length)"


def generate_memory(G: Generator, videos: int, frames: int, size: int | tuple[int, int] | None = None, *,
                    batch: int = 4, chunk: int | None = None, formats: Sequence[str] = ("mp4",), grid: bool = True,
                    compare: bool = False) -> tuple:
    """What `generate` holds at once, as `(build, now, hints)` for `digan.utils.memory.check`.

    The times of every frame; the prepared codes of every video; one render
    step; the uint8 frames of one step for every video (and the grid, and with
    `compare` the reference and the strip); and every frame of each GIF.
    """
    h0, w0 = check_size(size, G.cfg)
    held = 1 + bool(grid) + 2 * bool(compare)

    def build(videos: int, frames: int, size: int, batch: int, chunk: int) -> list[Part]:
        h, w = _scaled(h0, w0, size)
        b = max(1, min(batch, videos))
        c = max(1, min(frames, chunk or frames_per_chunk(b, (h, w))))
        gifs = videos + bool(grid) if "gif" in formats else 0
        return [
            Part("the times", frames * TIME_BYTES, ("frames",), on_device=False),
            Part("the video codes", videos * code_bytes(G), ("videos",)),
            Part("a render step", b * c * h * w * render_pixel_bytes(G.cfg), ("batch", "chunk", "size")),
            Part("the frames of a step", videos * c * h * w * 3 * held, ("videos", "size"), on_device=False),
            Part("the GIF frames", gifs * frames * h * w * 3 * GIF_COPIES, ("frames", "videos", "size"),
                 on_device=False, note=_GIF_NOTE),
        ]

    now = {"videos": videos, "frames": frames, "size": max(h0, w0), "batch": batch, "chunk": chunk or 0}
    hints = {"frames": _FRAMES_HINT, "size": _size_hint(h0, w0),
             "videos": lambda n: f"at most {n:,} videos fit at once (--seeds, --motion-seeds)",
             "batch": lambda n: f"use --batch {n} or less", "chunk": lambda n: f"use --chunk {n} or less"}
    return build, now, hints


def interpolate_memory(G: Generator, seeds: int, steps: int, frames: int, size: int | tuple[int, int] | None = None,
                       *, layout: str = "both", formats: Sequence[str] = ("mp4",)) -> tuple:
    """What `interpolate` holds at once, as `(build, now, hints)` for `digan.utils.memory.check`: the grid's codes,
    render step, frames of a step and GIF frames; the walk's render step and GIF frames."""
    h0, w0 = check_size(size, G.cfg)
    pairs = seeds - 1

    def build(steps: int, frames: int, size: int) -> list[Part]:
        h, w = _scaled(h0, w0, size)
        parts = [Part("the times", frames * TIME_BYTES, ("frames",), on_device=False)]
        if layout in ("grid", "both"):
            videos = pairs * steps
            b = min(4, videos)
            c = max(1, min(frames, frames_per_chunk(b, (h, w))))
            parts += [
                Part("the video codes", videos * code_bytes(G), ("steps",)),
                Part("a render step", b * c * h * w * render_pixel_bytes(G.cfg), ("size",)),
                Part("the frames of a step", videos * c * h * w * 3 * 2, ("steps", "size"), on_device=False),
            ]
            if "gif" in formats:
                parts.append(Part("the GIF frames of the grid", videos * frames * h * w * 3 * GIF_COPIES,
                                  ("frames", "steps", "size"), on_device=False, note=_GIF_NOTE))
        if layout in ("video", "both"):
            parts.append(Part("a render step of the walk", frames_per_chunk(1, (h, w)) * h * w
                              * render_pixel_bytes(G.cfg), ("size",)))
            if "gif" in formats:
                parts.append(Part("the GIF frames of the walk", pairs * frames * h * w * 3 * GIF_COPIES,
                                  ("frames", "size"), on_device=False, note=_GIF_NOTE))
        return parts

    hints = {"frames": _FRAMES_HINT, "size": _size_hint(h0, w0), "steps": lambda n: f"use --steps {n} or less"}
    return build, {"steps": steps, "frames": frames, "size": max(h0, w0)}, hints


# ---------------------------------------------------------------- interpolation walks

def interpolate(G: Generator, out: str | Path, seeds: Sequence[Point], t: torch.Tensor, *, fps: float,
                mode: str = "both", steps: int = 8, layout: str = "both", size: int | tuple[int, int] | None = None,
                psi: float = 1.0, grids: str = "nested", formats: Sequence[str] = ("mp4",),
                progress: bool | None = None) -> list[Path]:
    """Write the walk through `seeds` (each to the next; seeds or latents such as fits') to `out`; returns the
    paths written.

    layout 'grid': `interp-<mode>-grid`, one row per pair of seeds and `steps`
    videos per row, each playing times `t`. layout 'video': `interp-<mode>-video`,
    one continuous video in which each pair takes len(t) frames (`morph_video`).
    'both' writes both.
    """
    if layout not in ("grid", "video", "both"):
        raise ValueError(f"unknown layout '{layout}': expected grid, video or both")
    paths = []
    if layout in ("grid", "both"):
        codes = interpolation_codes(G, seeds, steps=steps, mode=mode, psi=psi)
        paths += write_videos(G, out, codes, t, fps=fps, size=size, grids=grids, formats=formats,
                              grid=f"interp-{mode}-grid", grid_cols=steps, progress=progress)
    if layout in ("video", "both"):
        with VideoSet() as files:
            writers = [files.open(output_path(Path(out) / f"interp-{mode}-video", f), fps) for f in formats]
            for a, b in zip(seeds[:-1], seeds[1:]):
                for frames in morph_video(G, a, b, t, mode=mode, size=size, psi=psi, grids=grids,
                                          base_seed=seeds[0]):
                    for w in writers:
                        w.write(frames)
        paths += files.paths
    return paths


# ---------------------------------------------------------------- sample grids of a training run

def write_samples(G: Generator, preset: Preset, path_stem: Path, train_fps: float | None = None) -> None:
    """A grid of fixed-seed videos of one training clip, as MP4 and GIF, played at the training frame rate.

    `train_fps` is the snapshot's (None: the data recorded none, DEFAULT_TRAIN_FPS as `Timebase` assumes).
    """
    cfg = preset.training
    videos = render_videos(G, list(range(cfg.sample_seeds)), clip_times(cfg.clip_frames, cfg.clip_frames))
    grid = make_grid(videos)
    fps = train_fps or DEFAULT_TRAIN_FPS
    with VideoSet() as files:
        for suffix in (".mp4", ".gif"):
            files.open(path_stem.with_suffix(suffix), fps).write(grid)
