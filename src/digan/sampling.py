"""Rendering videos from a generator: per-seed latents, any times, any size.

DIGAN's generator outputs a continuous function v(x, y, t) (DIGAN Sec. 3.1), so
a video is not a fixed stack of frames: it can be rendered at any frame rate
and length (time interpolation and extrapolation), at any size (space
interpolation and extrapolation), frame by frame in any order, and in chunks
whose memory does not grow with the video's length.

Seed k always gives the same video: its latents come from a generator seeded
by k alone (content and motion from separate streams), whatever the batch
it is rendered in.

Time is clip time t (`digan.timebase`): a training clip spans t in [0, 1].
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data.clips import to_uint8_video
from .data.io import VideoWriter, make_grid, output_path
from .models import Generator, VideoCode
from .timebase import DEFAULT_TRAIN_FPS, Timebase, clip_times  # noqa: F401  (public here too, as before)

CONTENT_STREAM, MOTION_STREAM = 0, 1
CHUNK_PIXELS = 2 ** 17       # pixels rendered at once by every renderer (video count x frames x H x W)
INTERPOLATION_MODES = ("content", "motion", "both")


# ---------------------------------------------------------------- latents and codes

def seed_latents(seeds: Sequence[int], dim: int, stream: int) -> torch.Tensor:
    """`[N, dim]` standard normal latents, row i drawn from seed `seeds[i]` alone."""
    return torch.from_numpy(np.stack([
        np.random.default_rng([int(s), stream]).standard_normal(dim) for s in seeds
    ]).astype(np.float32))


def _device(G: Generator) -> torch.device:
    return next(G.parameters()).device


def seed_w(G: Generator, seeds: Sequence[int], psi: float = 1.0) -> torch.Tensor:
    """Content codes w `[N, w_dim]` of content seeds (truncated towards the mean w by `psi`)."""
    return G.mapping(seed_latents(seeds, G.z_dim, CONTENT_STREAM).to(_device(G)), psi)


def seed_motion(G: Generator, seeds: Sequence[int]) -> torch.Tensor:
    """Motion latents z_M `[N, motion_dim]` of motion seeds."""
    return seed_latents(seeds, G.motion_dim, MOTION_STREAM).to(_device(G))


@torch.no_grad()
def prepare_videos(G: Generator, seeds: Sequence[int], motion_seeds: Sequence[int] | None = None,
                   psi: float = 1.0) -> VideoCode:
    """The INRs of videos (content seed i with motion seed i; motion = content seed by default)."""
    motion_seeds = seeds if motion_seeds is None else motion_seeds
    if len(motion_seeds) != len(seeds):
        raise ValueError("give one motion seed per content seed")
    return G.synthesis.prepare(seed_w(G, seeds, psi), seed_motion(G, motion_seeds))


def frames_per_chunk(videos: int, size: tuple[int, int], pixels: int = CHUNK_PIXELS) -> int:
    """Frames rendered at once so that `videos` x frames x H x W stays near `pixels` (at least 1)."""
    return max(1, pixels // max(1, videos * size[0] * size[1]))


def _size(G: Generator, size: int | tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        return G.resolution, G.resolution
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


@torch.no_grad()
def render_code(G: Generator, code: VideoCode, t: torch.Tensor, *, size: int | tuple[int, int] | None = None,
                grids: str = "nested", chunk: int | None = None) -> Iterator[np.ndarray]:
    """Yield uint8 `[B, t_chunk, H, W, 3]` of prepared videos, `chunk` times at a time.

    `t` is `[T]` (the same times for every video) or `[B, T]`; any reals, in
    any order: every frame depends only on its own t, so the frames are the
    same however the times are split or ordered (non-autoregressive).
    `chunk` defaults to about CHUNK_PIXELS pixels per step (`frames_per_chunk`);
    `grids` is how other sizes sample the coarser scales (`Generator.render`).
    """
    device = code.layers[0].device
    t = torch.as_tensor(t, dtype=torch.float32, device=device)
    if t.ndim == 1:
        t = t[None].expand(code.batch, -1)
    assert t.ndim == 2 and t.shape[0] == code.batch, (t.shape, code.batch)
    chunk = chunk or frames_per_chunk(code.batch, _size(G, size))
    for start in range(0, t.shape[1], chunk):
        yield to_uint8_video(G.render(code, t[:, start:start + chunk], size, grids=grids))


def render_chunks(G: Generator, seeds: Sequence[int], t: torch.Tensor, *, motion_seeds: Sequence[int] | None = None,
                  size: int | tuple[int, int] | None = None, psi: float = 1.0, grids: str = "nested",
                  chunk: int | None = None) -> Iterator[np.ndarray]:
    """Yield uint8 frames `[N, t_chunk, H, W, 3]` of the videos, `chunk` times at a time (`render_code`).

    The INR of each video is prepared once; each chunk renders only its times.
    """
    code = prepare_videos(G, seeds, motion_seeds, psi)
    yield from render_code(G, code, torch.as_tensor(t).reshape(-1), size=size, grids=grids, chunk=chunk)


def render_videos(G: Generator, seeds: Sequence[int], t: torch.Tensor, *, motion_seeds: Sequence[int] | None = None,
                  size: int | tuple[int, int] | None = None, psi: float = 1.0, grids: str = "nested",
                  batch: int = 4, chunk: int | None = None) -> np.ndarray:
    """uint8 videos `[N, T, H, W, 3]` for `seeds` at times `t`, `batch` videos at a time."""
    videos = []
    for i in range(0, len(seeds), batch):
        ms = None if motion_seeds is None else motion_seeds[i:i + batch]
        chunks = render_chunks(G, seeds[i:i + batch], t, motion_seeds=ms, size=size, psi=psi, grids=grids,
                               chunk=chunk)
        videos.append(np.concatenate(list(chunks), axis=1))
    return np.concatenate(videos, axis=0)


def render_video(G: Generator, seed: int, t: torch.Tensor, *, motion_seed: int | None = None,
                 size: int | tuple[int, int] | None = None, psi: float = 1.0, grids: str = "nested",
                 chunk: int | None = None) -> np.ndarray:
    """One video, uint8 `[T, H, W, 3]`: content `seed`, motion `motion_seed` (default `seed`), times `t`."""
    ms = None if motion_seed is None else [motion_seed]
    return render_videos(G, [seed], t, motion_seeds=ms, size=size, psi=psi, grids=grids, chunk=chunk)[0]


def motion_variations(G: Generator, seed: int, motion_seeds: Sequence[int], t: torch.Tensor,
                      **kwargs) -> np.ndarray:
    """uint8 `[M, T, H, W, 3]`: one content seed with M motion seeds.

    At t = 0 the motion code a * t is zero (DIGAN Eq. 3), so every variation
    starts from the same first frame and moves differently from there.
    """
    return render_videos(G, [seed] * len(motion_seeds), t, motion_seeds=list(motion_seeds), **kwargs)


# ---------------------------------------------------------------- interpolation

def slerp(a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of rows `[N, D]` (keeps the norm of Gaussian latents); exact at alpha 0 and 1."""
    alpha = alpha[:, None]
    cos = (a * b).sum(1, keepdim=True) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1, keepdim=True))
    omega = cos.clamp(-1, 1).acos()
    sin = omega.sin()
    near = sin.abs() < 1e-6  # (anti)parallel latents: fall back to a straight line
    safe = torch.where(near, torch.ones_like(sin), sin)
    curved = ((1 - alpha) * omega).sin() / safe * a + (alpha * omega).sin() / safe * b
    return torch.where(near, torch.lerp(a, b, alpha), curved)


@torch.no_grad()
def interpolation_code(G: Generator, seed_a: int, seed_b: int, alphas: torch.Tensor, mode: str = "both", *,
                       base_seed: int | None = None, psi: float = 1.0) -> VideoCode:
    """INRs along the path from seed_a (alpha 0) to seed_b (alpha 1), one video per alpha.

    `content` moves w in a straight line (the mapped space that sets the INR
    weights) and keeps the motion latent of `base_seed`; `motion` moves z_M on
    the sphere (slerp) and keeps the content of `base_seed`; `both` moves both.
    `base_seed` defaults to seed_a.
    """
    if mode not in INTERPOLATION_MODES:
        raise ValueError(f"unknown interpolation mode '{mode}': expected one of {', '.join(INTERPOLATION_MODES)}")
    base = seed_a if base_seed is None else base_seed
    alphas = torch.as_tensor(alphas, dtype=torch.float32, device=_device(G)).reshape(-1)
    n = len(alphas)
    if mode == "motion":
        w = seed_w(G, [base], psi).expand(n, -1)
    else:
        w_a, w_b = seed_w(G, [seed_a, seed_b], psi).chunk(2)
        w = torch.lerp(w_a.expand(n, -1), w_b.expand(n, -1), alphas[:, None])
    if mode == "content":
        z_motion = seed_motion(G, [base]).expand(n, -1)
    else:
        m_a, m_b = seed_motion(G, [seed_a, seed_b]).chunk(2)
        z_motion = slerp(m_a.expand(n, -1), m_b.expand(n, -1), alphas)
    return G.synthesis.prepare(w.contiguous(), z_motion.contiguous())


def interpolation_codes(G: Generator, seeds: Sequence[int], *, steps: int = 8, mode: str = "both",
                        psi: float = 1.0, base_seed: int | None = None, batch: int = 4) -> list[VideoCode]:
    """INRs of `steps` evenly spaced points (ends included) from each seed to the next, in batches.

    `base_seed` (the seed whose motion a `content` walk keeps, or whose content
    a `motion` walk keeps) defaults to the first seed.
    """
    if steps < 2:
        raise ValueError(f"interpolation needs at least 2 steps, got {steps}")
    if len(seeds) < 2:
        raise ValueError("interpolation needs at least two seeds")
    base = seeds[0] if base_seed is None else base_seed
    alphas = torch.linspace(0, 1, steps)
    return [interpolation_code(G, a, b, alphas[i:i + batch], mode, base_seed=base, psi=psi)
            for a, b in zip(seeds[:-1], seeds[1:]) for i in range(0, steps, batch)]


def interpolate_videos(G: Generator, seed_a: int, seed_b: int, t: torch.Tensor, *, steps: int = 8,
                       mode: str = "both", size: int | tuple[int, int] | None = None, psi: float = 1.0,
                       grids: str = "nested", base_seed: int | None = None, batch: int = 4) -> np.ndarray:
    """uint8 `[steps, T, H, W, 3]`: whole videos at `steps` evenly spaced points from seed_a to seed_b."""
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    codes = interpolation_codes(G, [seed_a, seed_b], steps=steps, mode=mode, psi=psi, base_seed=base_seed,
                                batch=batch)
    return np.concatenate([np.concatenate(list(render_code(G, code, t, size=size, grids=grids)), axis=1)
                           for code in codes])


def morph_video(G: Generator, seed_a: int, seed_b: int, t: torch.Tensor, *, mode: str = "both",
                size: int | tuple[int, int] | None = None, psi: float = 1.0, grids: str = "nested",
                base_seed: int | None = None, chunk: int | None = None) -> Iterator[np.ndarray]:
    """Yield uint8 `[f, H, W, 3]` chunks of one video that goes from seed_a to seed_b while time plays.

    Frame k is the video at alpha_k = k / (T - 1) on the path, at time t[k]:
    the first frame is seed_a's frame at t[0], the last seed_b's at t[-1].
    Pass a constant `t` to morph a still instant.
    """
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    alphas = torch.linspace(0, 1, len(t)) if len(t) > 1 else torch.zeros(1)
    chunk = chunk or frames_per_chunk(1, _size(G, size))
    for i in range(0, len(t), chunk):
        code = interpolation_code(G, seed_a, seed_b, alphas[i:i + chunk], mode, base_seed=base_seed, psi=psi)
        frames = next(render_code(G, code, t[i:i + chunk, None], size=size, grids=grids, chunk=1))  # (b, 1, H, W, 3)
        yield frames[:, 0]


def interpolate(G: Generator, out: str | Path, seeds: Sequence[int], t: torch.Tensor, *, fps: float,
                mode: str = "both", steps: int = 8, layout: str = "both", size: int | tuple[int, int] | None = None,
                psi: float = 1.0, grids: str = "nested", formats: Sequence[str] = ("mp4",),
                progress: bool | None = None) -> list[Path]:
    """Write the walk through `seeds` (each to the next) to `out`; returns the paths written.

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
        with contextlib.ExitStack() as stack:
            writers = [stack.enter_context(VideoWriter(output_path(Path(out) / f"interp-{mode}-video", f), fps))
                       for f in formats]
            for a, b in zip(seeds[:-1], seeds[1:]):
                for frames in morph_video(G, a, b, t, mode=mode, size=size, psi=psi, grids=grids,
                                          base_seed=seeds[0]):
                    for w in writers:
                        w.write(frames)
        paths += [w.path for w in writers]
    return paths


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
                 grids: str = "nested", formats: Sequence[str] = ("mp4",), grid: str | None = "grid", grid_cols: int | None = None,
                 reference_t: torch.Tensor | None = None, chunk: int | None = None,
                 progress: bool | None = None) -> list[Path]:
    """Stream prepared videos (batches of codes, in order) to `out/<name>.<format>` and `out/<grid>.<format>`.

    `names=None` writes only the grid. Each step renders `chunk` times of one
    batch, writes them and lets them go: memory depends on the batch, the
    size and the chunk, never on len(t).
    """
    out = Path(out)
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    size = _size(G, size)
    count = sum(code.batch for code in codes)
    assert names is None or len(names) == count, (len(names), count)
    chunk = chunk or frames_per_chunk(max(code.batch for code in codes), size)
    if reference_t is not None:
        reference_t = torch.as_tensor(reference_t, dtype=torch.float32).reshape(-1)
        assert reference_t.shape == t.shape and names is not None, (reference_t.shape, t.shape)
    from tqdm import tqdm

    paths = []
    with contextlib.ExitStack() as stack:
        def open_writer(stem: Path, fmt: str) -> VideoWriter:
            writer = stack.enter_context(VideoWriter(output_path(stem, fmt), fps))
            paths.append(writer.path)
            return writer

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
    return paths
