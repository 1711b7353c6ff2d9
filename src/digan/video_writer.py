"""Writing a video frame chunk by frame chunk, so its length costs no memory.

`VideoWriter` takes uint8 `[T, H, W, 3]` chunks and writes them as they come:
.mp4 frames go straight to the H.264 encoder, PNG frames straight to disk.
A GIF needs its whole palette history, so a .gif path collects its frames and
encodes them at `close` (fine for the short clips GIFs are for).

As `digan.data.io.write_video`, the file appears only when complete: frames go
to a temporary name in the same directory, renamed at `close`; a writer left
by an exception (`with` block) removes its temporary file instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np

# The same encoding as digan.data.io.write_video: H.264, yuv420p (plays anywhere), crf 18.
MP4_CODEC, MP4_PIX_FMT, MP4_OPTIONS = "libx264", "yuv420p", {"crf": "18", "preset": "medium"}

FORMATS = ("mp4", "gif", "png")


def output_path(stem: str | os.PathLike, fmt: str) -> Path:
    """`stem.mp4`, `stem.gif`, or the frame folder `stem/` for 'png'."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown video format '{fmt}': expected one of {', '.join(FORMATS)}")
    stem = Path(stem)
    return stem if fmt == "png" else stem.with_name(f"{stem.name}.{fmt}")


class VideoWriter:
    """Streaming writer for .mp4 (H.264), .gif or a PNG frame folder (a path without suffix).

        with VideoWriter("out.mp4", fps=24) as writer:
            for frames in chunks:          # uint8 [t, H, W, 3]
                writer.write(frames)
    """

    def __init__(self, path: str | os.PathLike, fps: float = 8):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        self.kind = "png" if suffix == "" or str(path).endswith(("/", os.sep)) else suffix[1:]
        if self.kind not in FORMATS:
            raise ValueError(f"{path}: cannot write '{self.path.suffix}': use .mp4, .gif or a folder path")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.frames = 0
        self.size: tuple[int, int] | None = None  # (H, W) of the first frame; every frame must match
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:8]
        name = self.path.name if self.kind == "png" else self.path.stem
        self.tmp = self.path.with_name(f".{name}.{tag}.tmp" + ("" if self.kind == "png" else self.path.suffix))
        self._container = self._stream = None
        self._gif: list[np.ndarray] = []
        if self.kind == "png":
            self.tmp.mkdir()

    def write(self, frames: np.ndarray) -> None:
        """Append uint8 `[t, H, W, 3]` (or one `[H, W, 3]` frame)."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 [T, H, W, 3], got {frames.dtype} {list(frames.shape)}")
        if self.size is None:
            self.size = frames.shape[1:3]
        elif frames.shape[1:3] != self.size:
            raise ValueError(f"frame size {frames.shape[1:3]} differs from the first frames' {self.size}")
        if self.kind == "mp4":
            self._write_mp4(frames)
        elif self.kind == "gif":
            self._gif.extend(frames)
        else:
            from PIL import Image
            for k, f in enumerate(frames):
                Image.fromarray(f).save(self.tmp / f"frame{self.frames + k:05d}.png")
        self.frames += len(frames)

    def _write_mp4(self, frames: np.ndarray) -> None:
        import av

        h, w = frames.shape[1:3]
        # yuv420p subsamples chroma 2x2, so H.264 needs even sizes: pad by repeating the edge (as io.py).
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        if self._container is None:
            self._container = av.open(str(self.tmp), mode="w", format="mp4")
            self._stream = self._container.add_stream(MP4_CODEC, rate=Fraction(self.fps).limit_denominator(1001))
            self._stream.width, self._stream.height = frames.shape[2], frames.shape[1]
            self._stream.pix_fmt = MP4_PIX_FMT
            self._stream.options = dict(MP4_OPTIONS)
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        if self.frames == 0:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written")
        if self.kind == "mp4":
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            os.replace(self.tmp, self.path)
        elif self.kind == "gif":
            from .data.io import write_video
            write_video(self.path, np.stack(self._gif), fps=self.fps)
            self._gif = []
        else:
            if self.path.exists():  # swap folders so the old frames never mix with the new
                old = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.old")
                os.replace(self.path, old)
                os.replace(self.tmp, self.path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far; the destination is left as it was."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # an encoder in a bad state: the file is being discarded anyway
                pass
            self._container = None
        self._gif = []
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
