"""Writing rendered videos to files: one per seed, grids, comparison strips, interpolation walks, sample grids.

What a model computes is `digan.sampling.render`; this module decides what goes
in which file and streams it there through `digan.data.io.VideoWriter`, so memory
depends on the batch, the size and the chunk, never on the video's length.

A request (`VideoRequest`, `InterpolationRequest`) holds everything a caller
asks for: which videos, which times (`TimeRequest`), how they are rendered
(`RenderOptions`) and which files. `generate` and `interpolate` take one, check
up front that the work fits in memory, and say what they wrote (`Written`). Each holds
its output folder while it writes (`digan.utils.lock.FolderLock`): a second process
writing into the same folder is refused in one line instead of mixing its videos with
the first one's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import Preset
from ..data.io import FORMATS, VideoSet, VideoWriter, make_grid, output_path, stored_size
from ..models import Generator, VideoCode
from ..timebase import DEFAULT_TRAIN_FPS, Timebase, TimeRequest, clip_times
from ..utils.atomic import remove_stale_temps
from ..utils.lock import FolderLock
from ..utils.memory import GIF_COPIES, TIME_BYTES, Part, check, code_bytes, render_pixel_bytes
from .options import RenderOptions, frames_per_chunk
from .render import (
    INTERPOLATION_MODES,
    Point,
    device_of,
    interpolation_codes,
    morph_video,
    prepare_videos,
    render_code,
    render_videos,
)

LAYOUTS = ("grid", "video", "both")


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


# ---------------------------------------------------------------- requests


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """Output formats, lower case and without repeats; an unknown one is a ValueError naming `formats`."""
    chosen = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in formats if f.strip()))
    bad = [f for f in chosen if f not in FORMATS]
    if not chosen or bad:
        raise ValueError(f"unknown `formats` {', '.join(bad) or '(none)'}: use one or more of {', '.join(FORMATS)}")
    return chosen


@dataclass(frozen=True)
class VideoRequest:
    """Videos of seeds, as `digan generate` asks for them.

    seeds         content seeds; one video each, or one per motion seed too
    motion_seeds  None: each video moves with its own seed; else every content seed with each of these
    times         which instants the videos show (`TimeRequest`)
    render        how frames are rendered (`RenderOptions`)
    formats       files written per video: mp4, gif and/or png
    grid          also write a grid of every video; None: when there are several
    compare       also write <name>-compare.mp4: the training size and training frames beside the render
    """

    seeds: tuple[int, ...] = tuple(range(16))
    motion_seeds: tuple[int, ...] | None = None
    times: TimeRequest = field(default_factory=TimeRequest)
    render: RenderOptions = field(default_factory=RenderOptions)
    formats: tuple[str, ...] = ("mp4",)
    grid: bool | None = None
    compare: bool = False

    def __post_init__(self):
        if (
            not self.seeds
            or min(self.seeds) < 0
            or (self.motion_seeds is not None and (not self.motion_seeds or min(self.motion_seeds) < 0))
        ):
            raise ValueError("`seeds` and `motion_seeds` must be non-empty lists of seeds of 0 or more")
        object.__setattr__(self, "formats", check_formats(self.formats))

    @property
    def videos(self) -> int:
        return len(self.seeds) * (1 if self.motion_seeds is None else len(self.motion_seeds))

    @property
    def writes_grid(self) -> bool:
        return self.videos > 1 if self.grid is None else self.grid


@dataclass(frozen=True)
class InterpolationRequest:
    """A walk through points, as `digan interpolate` asks for it.

    points  seeds, or latents (w, z_M) such as fits', in the order the walk visits them
    mode    what moves: content (w), motion (z_M) or both
    steps   videos per pair of points in the grid, ends included
    layout  'grid' (a row of `steps` videos per pair), 'video' (one continuous walk) or 'both'
    """

    points: tuple[Point, ...] = (0, 1)
    mode: str = "both"
    steps: int = 8
    layout: str = "both"
    times: TimeRequest = field(default_factory=TimeRequest)
    render: RenderOptions = field(default_factory=RenderOptions)
    formats: tuple[str, ...] = ("mp4",)

    def __post_init__(self):
        if len(self.points) < 2:
            raise ValueError("interpolation needs at least two `points` (seeds or fits)")
        if self.mode not in INTERPOLATION_MODES:
            raise ValueError(f"unknown `mode` '{self.mode}': expected one of {', '.join(INTERPOLATION_MODES)}")
        if self.steps < 2:
            raise ValueError(f"`steps` must be at least 2, got {self.steps}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown `layout` '{self.layout}': expected one of {', '.join(LAYOUTS)}")
        object.__setattr__(self, "formats", check_formats(self.formats))


@dataclass
class Written:
    """What a request wrote: the files, and the times and size they show (for the caller's summary)."""

    paths: list[Path]
    t: torch.Tensor
    fps: float
    timebase: Timebase
    size: tuple[int, int]

    @property
    def mp4_size(self) -> tuple[int, int] | None:
        """The frame size of the mp4 files of single videos where it is not `size` (padded to even sizes,
        `digan.data.io.stored_size`), else None."""
        padded = stored_size("mp4", self.size)
        return padded if padded != self.size and any(p.suffix == ".mp4" for p in self.paths) else None


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------- writing many videos


def generate(
    G: Generator, meta: dict, out: str | Path, request: VideoRequest = VideoRequest(), *, progress: bool | None = None
) -> Written:
    """Render the videos of `request` with a snapshot's G (`meta`: its metadata, for the time base) into `out`.

    One file per video and format (`seed0003.mp4`, or `seed0003-motion0007.mp4`
    with motion seeds: every content seed with every motion seed), a grid of
    all of them (`grid.mp4`; rows are content seeds when motion seeds are
    given), and with `compare` `<name>-compare.mp4` and `grid-compare.mp4`: the
    training frame nearest each t, rendered at the training size and
    nearest-upscaled, beside the render, over a time bar that turns red past
    the training clip. The work is checked against free memory first
    (`digan.utils.memory.MemoryLimit`); `out` is held while it is written.
    """
    timebase = request.times.timebase(meta["clip_frames"], meta.get("train_fps"))
    frames = request.times.count(timebase)
    check(
        f"rendering {plural(request.videos, 'video')} of {plural(frames, 'frame')}",
        *generate_memory(G, request, frames),
        str(device_of(G)),
    )
    t = request.times.times(timebase)
    jobs = video_jobs(request.seeds, request.motion_seeds)
    batch = request.render.batch
    codes = [
        prepare_videos(G, [j[0] for j in jobs[i : i + batch]], [j[1] for j in jobs[i : i + batch]], request.render.psi)
        for i in range(0, len(jobs), batch)
    ]
    cols = len(request.motion_seeds) if request.motion_seeds is not None and len(request.seeds) > 1 else None
    fps = request.times.video_fps(timebase)
    with FolderLock(out, "digan generate"):
        paths = write_videos(
            G,
            out,
            codes,
            t,
            fps=fps,
            names=[j[2] for j in jobs],
            options=request.render,
            formats=request.formats,
            grid="grid" if request.writes_grid else None,
            grid_cols=cols,
            reference_t=timebase.nearest_training_times(t) if request.compare else None,
            progress=progress,
        )
    return Written(paths, t, fps, timebase, request.render.frame_size(G.resolution))


def video_jobs(seeds: Sequence[int], motion_seeds: Sequence[int] | None = None) -> list[tuple[int, int, str]]:
    """(content seed, motion seed, file stem): `seed0003` per content seed, or `seed0003-motion0007` for every
    content x motion seed."""
    if motion_seeds is None:
        return [(s, s, f"seed{s:04d}") for s in seeds]
    return [(s, m, f"seed{s:04d}-motion{m:04d}") for s in seeds for m in motion_seeds]


def write_videos(
    G: Generator,
    out: str | Path,
    codes: Sequence[VideoCode],
    t: torch.Tensor,
    *,
    fps: float,
    names: Sequence[str] | None = None,
    options: RenderOptions = RenderOptions(),
    formats: Sequence[str] = ("mp4",),
    grid: str | None = "grid",
    grid_cols: int | None = None,
    reference_t: torch.Tensor | None = None,
    progress: bool | None = None,
) -> list[Path]:
    """Stream prepared videos (batches of codes, in order) to `out/<name>.<format>` and `out/<grid>.<format>`.

    `names=None` writes only the grid. Each step renders a chunk of times of
    one batch, writes them and lets them go: memory depends on the batch, the
    size and the chunk, never on len(t). With `reference_t`, each video also
    gets `<name>-compare.mp4` (`comparison_frames`). Every file changes
    together, or none does (`VideoSet`: Ctrl-C, errors).
    """
    out = Path(out)
    remove_stale_temps(out)  # what a killed render left here (files that a live process writes stay)
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    count = sum(code.batch for code in codes)
    assert names is None or len(names) == count, (len(names), count)
    chunk = options.frames_per_step(max(code.batch for code in codes), G.resolution)
    at_training_size = RenderOptions(precision=options.precision)
    if reference_t is not None:
        reference_t = torch.as_tensor(reference_t, dtype=torch.float32).reshape(-1)
        assert reference_t.shape == t.shape and names is not None, (reference_t.shape, t.shape)

    with contextlib.ExitStack() as stack:
        files = stack.enter_context(VideoSet())

        def open_writer(stem: Path, fmt: str) -> VideoWriter:
            return files.open(output_path(stem, fmt), fps)

        writers = [[open_writer(out / name, f) for f in formats] for name in names or []]
        grid_writers = [open_writer(out / grid, f) for f in formats] if grid else []
        compare_writers = (
            [open_writer(out / f"{name}-compare", "mp4") for name in names] if reference_t is not None else []
        )
        compare_grid = open_writer(out / f"{grid}-compare", "mp4") if compare_writers and grid and count > 1 else None
        bar = stack.enter_context(
            tqdm(
                total=len(t) * count,
                unit="frame",
                desc="rendering",
                leave=False,
                disable=None if progress is None else not progress,
            )
        )
        for start in range(0, len(t), chunk):
            part = t[start : start + chunk]
            step = options.replace(chunk=len(part))
            frames = []
            for code in codes:
                frames.append(next(render_code(G, code, part, step)))
                bar.update(len(part) * code.batch)
            frames = np.concatenate(frames, axis=0)  # (N, chunk, H, W, 3)
            for video, ws in zip(frames, writers):
                for w in ws:
                    w.write(video)
            for w in grid_writers:
                w.write(make_grid(frames, grid_cols))
            if compare_writers:
                reference = at_training_size.replace(chunk=len(part))
                refs = np.concatenate(
                    [next(render_code(G, code, reference_t[start : start + chunk], reference)) for code in codes]
                )
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
    return lambda n: f"frames of at most about {'x'.join(map(str, _scaled(h, w, n)))} pixels fit (`size`)"


_FRAMES_HINT = lambda n: f"at most {n:,} frames fit (`frames`, `seconds`, `fps`)"  # noqa: E731
_GIF_NOTE = " (a GIF holds every frame until it is written; mp4 and png stream any length)"


def generate_memory(G: Generator, request: VideoRequest, frames: int) -> tuple:
    """What `generate` holds at once, as `(build, now, hints)` for `digan.utils.memory.check`.

    The times of every frame; the prepared codes of every video; one render
    step; the uint8 frames of one step for every video (and the grid, and with
    `compare` the reference and the strip); and every frame of each GIF.
    """
    h0, w0 = request.render.frame_size(G.resolution)
    held = 1 + request.writes_grid + 2 * request.compare
    options = request.render

    def build(videos: int, frames: int, size: int, batch: int, chunk: int) -> list[Part]:
        h, w = _scaled(h0, w0, size)
        b = max(1, min(batch, videos))
        c = max(1, min(frames, chunk or frames_per_chunk(b, (h, w))))
        gifs = videos + request.writes_grid if "gif" in request.formats else 0
        return [
            Part("the times", frames * TIME_BYTES, ("frames",), on_device=False),
            Part("the video codes", videos * code_bytes(G), ("videos",)),
            Part("a render step", b * c * h * w * render_pixel_bytes(G.cfg), ("batch", "chunk", "size")),
            Part("the frames of a step", videos * c * h * w * 3 * held, ("videos", "size"), on_device=False),
            Part(
                "the GIF frames",
                gifs * frames * h * w * 3 * GIF_COPIES,
                ("frames", "videos", "size"),
                on_device=False,
                note=_GIF_NOTE,
            ),
        ]

    now = {
        "videos": request.videos,
        "frames": frames,
        "size": max(h0, w0),
        "batch": options.batch,
        "chunk": options.chunk or 0,
    }
    hints = {
        "frames": _FRAMES_HINT,
        "size": _size_hint(h0, w0),
        "videos": lambda n: f"at most {n:,} videos fit at once (`seeds`, `motion_seeds`)",
        "batch": lambda n: f"use `batch` {n} or less",
        "chunk": lambda n: f"use `chunk` {n} or less",
    }
    return build, now, hints


def interpolate_memory(G: Generator, request: InterpolationRequest, frames: int) -> tuple:
    """What `interpolate` holds at once, as `(build, now, hints)` for `digan.utils.memory.check`: the grid's codes,
    render step, frames of a step and GIF frames; the walk's render step and GIF frames."""
    h0, w0 = request.render.frame_size(G.resolution)
    pairs = len(request.points) - 1

    def build(steps: int, frames: int, size: int) -> list[Part]:
        h, w = _scaled(h0, w0, size)
        parts = [Part("the times", frames * TIME_BYTES, ("frames",), on_device=False)]
        if request.layout in ("grid", "both"):
            videos = pairs * steps
            b = min(request.render.batch, videos)
            c = max(1, min(frames, frames_per_chunk(b, (h, w))))
            parts += [
                Part("the video codes", videos * code_bytes(G), ("steps",)),
                Part("a render step", b * c * h * w * render_pixel_bytes(G.cfg), ("size",)),
                Part("the frames of a step", videos * c * h * w * 3 * 2, ("steps", "size"), on_device=False),
            ]
            if "gif" in request.formats:
                parts.append(
                    Part(
                        "the GIF frames of the grid",
                        videos * frames * h * w * 3 * GIF_COPIES,
                        ("frames", "steps", "size"),
                        on_device=False,
                        note=_GIF_NOTE,
                    )
                )
        if request.layout in ("video", "both"):
            parts.append(
                Part(
                    "a render step of the walk",
                    frames_per_chunk(1, (h, w)) * h * w * render_pixel_bytes(G.cfg),
                    ("size",),
                )
            )
            if "gif" in request.formats:
                parts.append(
                    Part(
                        "the GIF frames of the walk",
                        pairs * frames * h * w * 3 * GIF_COPIES,
                        ("frames", "size"),
                        on_device=False,
                        note=_GIF_NOTE,
                    )
                )
        return parts

    hints = {"frames": _FRAMES_HINT, "size": _size_hint(h0, w0), "steps": lambda n: f"use `steps` {n} or less"}
    return build, {"steps": request.steps, "frames": frames, "size": max(h0, w0)}, hints


# ---------------------------------------------------------------- interpolation walks


def interpolate(
    G: Generator, meta: dict, out: str | Path, request: InterpolationRequest, *, progress: bool | None = None
) -> Written:
    """Write the walk of `request` (each point to the next) to `out`, after checking that it fits in memory.

    layout 'grid': `interp-<mode>-grid`, one row per pair of points and `steps`
    videos per row, each playing the request's times. layout 'video':
    `interp-<mode>-video`, one continuous video in which each pair takes as many
    frames (`morph_video`). 'both' writes both. `out` is held while it is written.
    """
    timebase = request.times.timebase(meta["clip_frames"], meta.get("train_fps"))
    frames = request.times.count(timebase)
    check(
        f"interpolating {len(request.points) - 1} x {request.steps} videos of {plural(frames, 'frame')}",
        *interpolate_memory(G, request, frames),
        str(device_of(G)),
    )
    t = request.times.times(timebase)
    fps = request.times.video_fps(timebase)
    with FolderLock(out, "digan interpolate"):
        remove_stale_temps(out)  # what a killed render left here (files that a live process writes stay)
        paths = []
        if request.layout in ("grid", "both"):
            codes = interpolation_codes(
                G,
                request.points,
                steps=request.steps,
                mode=request.mode,
                psi=request.render.psi,
                batch=request.render.batch,
            )
            paths += write_videos(
                G,
                out,
                codes,
                t,
                fps=fps,
                options=request.render,
                formats=request.formats,
                grid=f"interp-{request.mode}-grid",
                grid_cols=request.steps,
                progress=progress,
            )
        if request.layout in ("video", "both"):
            with VideoSet() as files:
                writers = [
                    files.open(output_path(Path(out) / f"interp-{request.mode}-video", f), fps) for f in request.formats
                ]
                for a, b in zip(request.points[:-1], request.points[1:]):
                    for frames in morph_video(
                        G, a, b, t, request.render, mode=request.mode, base_seed=request.points[0]
                    ):
                        for w in writers:
                            w.write(frames)
            paths += files.paths
    return Written(paths, t, fps, timebase, request.render.frame_size(G.resolution))


# ---------------------------------------------------------------- sample grids of a training run


def write_samples(
    G: Generator,
    preset: Preset,
    path_stem: Path,
    train_fps: float | None = None,
    render: RenderOptions = RenderOptions(),
) -> None:
    """A grid of fixed-seed videos of one training clip, as MP4 and GIF, played at the training frame rate.

    In float32 unless `render` says otherwise, whatever the training arithmetic: the training loop's
    samples then compare across runs and are what `digan generate` renders from the snapshot.
    `train_fps` is the snapshot's (None: the data recorded none, DEFAULT_TRAIN_FPS as `Timebase` assumes).
    """
    cfg = preset.training
    videos = render_videos(G, list(range(cfg.sample_seeds)), clip_times(cfg.clip_frames, cfg.clip_frames), render)
    grid = make_grid(videos)
    fps = train_fps or DEFAULT_TRAIN_FPS
    with VideoSet() as files:
        for suffix in (".mp4", ".gif"):
            files.open(path_stem.with_suffix(suffix), fps).write(grid)
