"""`digan invert` as one call: read a clip, fit it, write the fit folder and a preview of the input beside the fit.

The fit folder is held (`digan.utils.lock.FolderLock`) from the start: a second `invert` into it is refused with
the holder's PID. Its files (the fit and the preview) change together."""

from __future__ import annotations

import os
from pathlib import Path

from ..data.io import VideoWriter
from ..models import Generator
from ..sampling.files import plural, side_by_side
from ..sampling.render import device_of
from ..timebase import Timebase
from ..utils.atomic import FileGroup, check_output, remove_stale_temps
from ..utils.lock import FolderLock
from ..utils.memory import check
from .clip import read_clip
from .fit import FitOptions, fit_clip, fit_memory
from .fitfile import FIT_META, FIT_WEIGHTS, save_fit

PREVIEW = "input-fit.mp4"


def fit_video(
    G: Generator,
    meta: dict,
    video: str | os.PathLike,
    out: str | os.PathLike,
    *,
    frames: int | None = None,
    start: int = 0,
    fps: float | None = None,
    options: FitOptions = FitOptions(),
    progress: bool | None = None,
) -> dict:
    """Fit a snapshot (G and its metadata) to frames `start ..` of `video` and write `out` (`save_fit`) and
    `out/input-fit.mp4`; returns the summary recorded in the fit (scores, losses, steps, seconds).

    `video` is a video file, a folder of frames or `DATASET:INDEX` (`read_clip`). `frames` defaults to a
    training clip's, or all the video has from `start` if fewer; `fps` to the video file's, else the
    snapshot's training rate. Frame k is fitted at t = k / (C - 1), C the training clip length.
    """
    out = Path(out)
    with FolderLock(out, "digan invert"):
        remove_stale_temps(out)  # left by a killed invert: no live process writes here now
        for name in (FIT_WEIGHTS, FIT_META, PREVIEW):
            check_output(out / name)  # a link or a FIFO in the way is refused before the fit, not after it
        return _fit_video(G, meta, video, out, frames, start, fps, options, progress)


def _fit_video(
    G: Generator,
    meta: dict,
    video: str | os.PathLike,
    out: Path,
    frames: int | None,
    start: int,
    fps: float | None,
    options: FitOptions,
    progress: bool | None,
) -> dict:
    timebase = Timebase.from_meta(meta)
    clip = read_clip(video, G.resolution, frames=frames or timebase.clip_frames, start=start, exact=frames is not None)
    check(
        f"fitting {plural(len(clip.frames), 'frame')} from {plural(options.starts, 'start')}",
        *fit_memory(G, options.starts, tune=options.tune_steps > 0),
        str(device_of(G)),
    )
    fps = fps or clip.fps or timebase.train_fps
    result = fit_clip(G, clip.frames, clip_frames=timebase.clip_frames, fps=fps, options=options, progress=progress)
    summary = {
        "video": clip.name,
        "start": clip.start,
        "frames": len(clip.frames),
        "size": G.resolution,
        **result.scores,
        "loss_start": round(result.start_loss, 5),
        "loss_end": round(result.tune_losses[-1] if result.tune_losses else result.losses[-1], 5),
        "steps": options.steps,
        "starts": options.starts,
        "tune_steps": options.tune_steps,
        "seconds": round(result.seconds, 2),
    }
    with FileGroup(marker=out / FIT_META) as files:  # the preview too: it shows this fit, not an earlier one
        files.add(VideoWriter(out / PREVIEW, fps)).write(side_by_side(clip.frames, result.frames))
        save_fit(
            out,
            result.fit,
            meta,
            source={"video": clip.name, "start": clip.start, "fps": clip.fps},
            scores=summary,
            files=files,
        )
    return summary
