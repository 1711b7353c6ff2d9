"""Rendering fits like generated videos: at any time, rate and size, to files, or as points of an interpolation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..checkpoint import CheckpointError, check_renders
from ..models import Generator
from ..sampling.files import VideoRequest, Written, generate_memory, plural, write_videos
from ..sampling.options import RenderOptions
from ..sampling.render import Point, device_of
from ..timebase import TimeRequest
from ..utils.lock import FolderLock
from ..utils.memory import check
from .fit import Fit
from .fitfile import check_fit, load_fit, load_fit_snapshot


def write_fit(
    G: Generator,
    fit: Fit,
    out: str | Path,
    *,
    times: TimeRequest = TimeRequest(),
    render: RenderOptions = RenderOptions(),
    formats: Sequence[str] = ("mp4",),
    compare: bool = False,
    progress: bool | None = None,
) -> Written:
    """Write the fitted clip as `out/fit.<format>` (and `fit-compare.mp4`), with G the fit's generator
    (`load_fit_snapshot`).

    `times` defaults to the fitted clip's own length at its own frame rate (at another `fps`: as many
    more frames); the comparison holds the fitted clip's last frame, not a training clip's.
    """
    times = times.or_seconds(fit.frames / fit.fps)
    timebase = times.timebase(fit.clip_frames, fit.fps)
    frames = times.count(timebase)
    request = VideoRequest(
        seeds=(0,), times=times, render=render.replace(batch=1), formats=tuple(formats), grid=False, compare=compare
    )
    check(f"rendering a fit of {plural(frames, 'frame')}", *generate_memory(G, request, frames), str(device_of(G)))
    t = times.times(timebase)
    reference_t = timebase.nearest_training_times(t, frames=fit.frames) if compare else None
    fps = times.video_fps(timebase)
    with FolderLock(out, "digan generate --fit"):
        paths = write_videos(
            G,
            out,
            [fit.code(G)],
            t,
            fps=fps,
            names=["fit"],
            options=render,
            formats=request.formats,
            grid=None,
            reference_t=reference_t,
            progress=progress,
        )
    return Written(paths, t, fps, timebase, render.frame_size(G.resolution))


def load_fit_points(
    paths: Sequence[str | os.PathLike], ckpt: str | os.PathLike | None = None, device: str = "cpu"
) -> tuple[Generator, dict, list[Point]]:
    """(G, time metadata, the (w, z_M) of each fit) to interpolate between fits: untuned fits of one snapshot
    (`ckpt`, default the first fit's), on the first fit's time base (its clip length and frame rate)."""
    fits = [load_fit(p) for p in paths]
    tuned = [p for p, f in zip(paths, fits) if f.tuned is not None]
    if tuned:
        raise CheckpointError(
            f"{tuned[0]}: was tuned (`tune`), so it has a generator of its own; interpolate "
            "between fits of the latents only"
        )
    G, meta = load_fit_snapshot(fits[0], ckpt, device)
    for fit in fits[1:]:
        check_fit(fit, G, meta)
        check_renders(G, fit.meta["path"], (fit.w, fit.z_motion))
    return G, {**meta, "train_fps": fits[0].fps}, [(f.w, f.z_motion) for f in fits]
