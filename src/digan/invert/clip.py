"""The clip a fit is made to: frames of a video file, a frame folder or a dataset, at the model's size."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import open_dataset
from ..data.base import DataError
from ..data.folders import resize_crop
from ..data.io import iter_frames, video_fps


@dataclass
class Clip:
    """A clip to fit: uint8 `[N, R, R, 3]` frames at the model's size."""

    frames: np.ndarray
    fps: float | None  # the source's frame rate, when it records one
    name: str  # what it was read from
    start: int = 0  # index of its first frame in the source


def read_clip(
    spec: str | os.PathLike, resolution: int, *, frames: int | None = None, start: int = 0, exact: bool = True
) -> Clip:
    """Frames `start .. start + frames - 1` of a video file, a frame folder or `DATASET:INDEX`, resized to R x R.

    Frames are centre-cropped to a square and resized (bicubic, antialiased),
    as training data is (`digan.data.folders.resize_crop`). `frames=None`
    takes every frame from `start`; with `exact=False` a shorter clip is taken
    as it is. A fit needs at least 2 frames. Errors are one-line DataErrors.
    """
    if start < 0:
        raise DataError(f"start must be 0 or more, got {start}")
    path = Path(spec).expanduser()
    name, _, index = str(spec).rpartition(":")
    stop = None if frames is None else start + frames
    if not path.exists() and name and index.isdigit():
        source = open_dataset(name, resolution)
        i = int(index)
        if i >= len(source):
            raise DataError(f"{spec}: dataset '{name}' holds {len(source)} videos (0 to {len(source) - 1})")
        available = source.num_frames(i)
        ids = list(range(start, available if stop is None else min(stop, available)))
        video = source.read(i, ids) if ids else np.zeros((0, resolution, resolution, 3), np.uint8)
        fps = None
    else:
        video = [resize_crop(f, resolution) for k, f in enumerate(iter_frames(path, stop)) if k >= start]
        video = np.stack(video) if video else np.zeros((0, resolution, resolution, 3), np.uint8)
        fps = video_fps(path)
    got = len(video)
    if frames is not None and exact and got < frames:
        raise DataError(f"{spec}: {got} frames from frame {start}, fewer than the {frames} asked for")
    if got < 2:
        raise DataError(f"{spec}: {got} frame{'' if got == 1 else 's'} from frame {start}; a fit needs at least 2")
    return Clip(np.ascontiguousarray(video), fps, str(spec), start)
