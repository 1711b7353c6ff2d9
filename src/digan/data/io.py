"""Reading and writing videos at the border of the library: uint8 `[T, H, W, 3]` RGB.

The one module that opens video files and frame images. A "video" on disk is
either a video file (decoded with PyAV) or a frame folder: a directory that
directly holds .png/.jpg/.jpeg frames, taken in natural order (frame2 before
frame10), the layout of Sky Time-lapse, TaiChi-HD and extracted Kinetics.

Reading: `read_frame` (one image) and `decode_frames` (a video file) take a
path or a binary file object (a member of a zip archive); `iter_frames` and
`read_video` take a path to either kind of video.

Writing: `VideoWriter` takes uint8 `[T, H, W, 3]` chunks and writes them as
they come (.mp4 frames go straight to the H.264 encoder, PNG frames straight
to disk), so a video's length costs no memory; `write_video` is its one-shot
form. A GIF needs its whole palette history, so a .gif collects its frames and
encodes them at `close` (fine for the short clips GIFs are for). A file
appears only when complete: frames go to a temporary name in the same
directory (`digan.utils.atomic.Temporary`), renamed at `close`; a writer left
by an exception, Ctrl-C or SIGTERM (`with` block) removes its temporary file
instead. The path follows the library's one rule for outputs
(`digan.utils.atomic.check_output`: a regular file, a real folder for PNG
frames, or nothing), and a full disk is one line naming the file. `VideoSet`
makes several files change together: all are finished, then renamed at once
(or none, after an error or Ctrl-C).
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..timebase import MAX_FPS
from ..utils.atomic import FileGroup, Temporary, check_output, disk_errors
from .base import DataError, error_reason

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
FORMATS = ("mp4", "gif", "png")  # what the writers write; png is a folder of frames
# H.264 in yuv420p plays in browsers and players; crf 18 is visually lossless for these videos.
MP4_CODEC, MP4_PIX_FMT, MP4_OPTIONS = "libx264", "yuv420p", {"crf": "18", "preset": "medium"}

_DIGITS = re.compile(r"(\d+)")


def natural_key(s: str) -> tuple:
    """Sort key that orders digit runs by value: 'frame2' < 'frame10'; ties break on the raw string."""
    parts = _DIGITS.split(str(s))
    # re.split with a group alternates text, digits, text, ...: same types at the same positions.
    return tuple(int(p) if k % 2 else p.lower() for k, p in enumerate(parts)), str(s)


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def frame_files(folder: Path) -> list[Path]:
    """Frame images directly inside `folder`, naturally sorted."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    frames = [folder / n for n in names if Path(n).suffix.lower() in FRAME_SUFFIXES and not n.startswith(".")]
    return sorted(frames, key=lambda p: natural_key(p.name))


def list_videos(root: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Video files and frame folders under `root` (`root` itself included), naturally sorted by path.

    `recursive`: search every sub-folder (a dataset: UCF-101's class folders, Sky Time-lapse's clip folders);
    otherwise only the files directly in `root` and the frame folders directly in it (a folder of samples).
    Symbolic links are followed, but each folder is searched once and each file counted once, whatever the
    links that lead to it (a path without links is preferred): a link back to a folder above (a loop) or a
    second link to a video adds nothing. Names that start with '.' are skipped, and so is anything named like
    a video that is not a regular file (a FIFO would block the reader forever).
    """
    root = Path(root)
    if root.is_file():
        return [root] if is_video_file(root) else []
    seen: set = set()  # folders searched, by (device, inode)
    files: dict = {}  # (device, inode) -> (through a link, path)
    folders: list[Path] = []
    pending: tuple[list, list] = ([(root, 0)], [])  # folders reached without and through a link
    while pending[0] or pending[1]:  # stacks, not recursion: a deep tree cannot exhaust Python's recursion limit
        linked = not pending[0]
        here, depth = pending[linked].pop()
        try:
            info = here.stat()
            entries = sorted(os.scandir(here), key=lambda e: natural_key(e.name))
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        holds_frames, below = False, []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                via_link, is_dir = linked or entry.is_symlink(), entry.is_dir()
            except OSError:  # not even its type can be read
                continue
            if is_dir:
                below.append((path, via_link))
            elif path.suffix.lower() in FRAME_SUFFIXES:
                holds_frames = True
            elif is_video_file(path):
                try:
                    target = entry.stat()
                    key = (target.st_dev, target.st_ino)
                except OSError:  # a dangling link: listed, so that reading it says what is wrong
                    target, key = None, ("missing", path)
                if target is not None and not stat.S_ISREG(target.st_mode):
                    continue  # a FIFO or a device named like a video: reading it would block or never end
                if key not in files or (files[key][0] and not via_link):
                    files[key] = (via_link, path)
        if holds_frames and (depth > 0 or here == root):
            folders.append(here)
        if recursive or depth == 0:
            for path, via_link in reversed(below):
                if recursive or _holds_frames(path):
                    pending[via_link].append((path, depth + 1))
    found = folders + [path for _, path in files.values()]
    if not recursive:
        found = [p for p in found if p == root or p.parent == root]
    return sorted(found, key=lambda p: natural_key(p.relative_to(root).as_posix()))


def _holds_frames(folder: Path) -> bool:
    try:
        return any(Path(n).suffix.lower() in FRAME_SUFFIXES and not n.startswith(".") for n in os.listdir(folder))
    except OSError:
        return False


def sub_folders(root: str | os.PathLike) -> list[Path]:
    """The folders directly in `root` that are not frame folders (what `list_videos(recursive=False)` skips)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: natural_key(e.name))
    except OSError:
        return []
    return [
        Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir() and not _holds_frames(Path(e.path))
    ]


# ----------------------------------------------------------------------------------------------
# Reading.


def _rgb(image) -> np.ndarray:
    """A Pillow image (any mode: L, LA, P, RGBA, I;16, ...) as uint8 `[H, W, 3]` RGB."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(image, dtype=np.float64)
        scale = 255.0 / 65535.0 if image.mode != "F" and a.max(initial=0) > 255 else 1.0
        a = np.clip(a * scale, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        # Transparent pixels become black, as a video player shows them.
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def read_frame(source: str | os.PathLike | BinaryIO, name: str | None = None) -> np.ndarray:
    """One frame image (a path or a binary file object) as uint8 `[H, W, 3]` RGB.

    Raises DataError "unreadable frame NAME (reason)"; NAME defaults to the file's name.
    """

    try:
        with Image.open(source) as image:
            image.load()
            return _rgb(image)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        name = name or Path(getattr(source, "name", source)).name
        raise DataError(f"unreadable frame {name} ({error_reason(e)})") from None


def decode_frames(source: str | os.PathLike | BinaryIO, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Frames of a video file (a path or a binary file object), one uint8 `[H, W, 3]` at a time.

    A decoder error after some frames ends the video there (a truncated file
    keeps its readable head); one before any frame is a DataError (the reason only, no path).
    """

    try:
        container = av.open(str(source) if isinstance(source, os.PathLike) else source, metadata_errors="ignore")
    except Exception as e:  # PyAV raises many error types for unreadable input
        raise DataError(f"not a readable video ({error_reason(e)})") from None
    with container:
        if not container.streams.video:
            raise DataError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        count = 0
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
                count += 1
                if max_frames is not None and count >= max_frames:
                    return
        except Exception as e:
            if count == 0:
                raise DataError(f"cannot decode video ({error_reason(e)})") from None
            return
        if count == 0:
            raise DataError("video holds no frames")


def count_frames(source: str | os.PathLike | BinaryIO) -> tuple[int, float | None]:
    """(frames, frame rate or None) of a video file from its packets, without decoding; DataError if unreadable."""

    try:
        with av.open(str(source) if isinstance(source, os.PathLike) else source, metadata_errors="ignore") as container:
            if not container.streams.video:
                raise DataError("no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            packets = sum(1 for p in container.demux(stream) if p.size)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"not a readable video ({error_reason(e)})") from None
    return packets, float(rate) if rate else None


def iter_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Frames of a video file or frame folder, one uint8 `[H, W, 3]` RGB array at a time.

    Sizes may differ between frames (frame folders); callers that resize each
    frame handle that. Errors are DataErrors that name `path` (`decode_frames`
    says when a truncated file keeps its head).
    """
    path = Path(path)
    if max_frames is not None and max_frames <= 0:
        return
    if path.is_dir():
        files = frame_files(path)
        if not files:
            raise DataError(f"{path}: folder holds no .png/.jpg frames")
        for f in files[:max_frames]:
            try:
                frame = read_frame(f)
            except DataError as e:
                raise DataError(f"{path}: {e}") from None
            yield frame
        return
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    try:
        yield from decode_frames(path, max_frames)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None


def video_fps(path: str | os.PathLike) -> float | None:
    """Frame rate stored in a video file; None for frame folders or when unknown."""
    path = Path(path)
    if path.is_dir():
        return None

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            return float(rate) if rate else None
    except Exception:
        return None


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> np.ndarray:
    """A whole video file or frame folder as uint8 `[T, H, W, 3]` RGB; `DataError` if unreadable."""
    frames = list(iter_frames(path, max_frames))
    if not frames:
        raise DataError(f"{path}: video holds no frames")
    shape = frames[0].shape
    for k, f in enumerate(frames):
        if f.shape != shape:
            raise DataError(f"{path}: frame {k} is {f.shape[1]}x{f.shape[0]}, frame 0 is {shape[1]}x{shape[0]}")
    return np.stack(frames)


# ----------------------------------------------------------------------------------------------
# Writing.


def stored_size(fmt: str, size: tuple[int, int]) -> tuple[int, int]:
    """(H, W) of the frames a file of format `fmt` holds for frames of `size`: an mp4's are padded to even sizes
    (H.264 in yuv420p subsamples colour 2x2; the last row or column is repeated), a gif's and png's are `size`."""
    h, w = size
    return (h + h % 2, w + w % 2) if fmt == "mp4" else (h, w)


def output_path(stem: str | os.PathLike, fmt: str) -> Path:
    """`stem.mp4`, `stem.gif`, or the frame folder `stem/` for 'png'."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown video format '{fmt}': expected one of {', '.join(FORMATS)}")
    stem = Path(stem)
    return stem if fmt == "png" else stem.with_name(f"{stem.name}.{fmt}")


class VideoWriter:
    """Streaming writer for .mp4 (H.264), .gif or a PNG frame folder (a path ending in '/' or without suffix).

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
        if not 0 < fps <= MAX_FPS:  # the encoders overflow past it
            raise ValueError(f"`fps` must be above 0 and at most {MAX_FPS:g}, got {fps}")
        self.fps = fps
        self.frames = 0
        self.size: tuple[int, int] | None = None  # (H, W) of the first frame; every frame must match
        # format given explicitly to the encoders: the temporary name needs no suffix
        self._temp = Temporary(self.path, folder=self.kind == "png")
        self.tmp = self._temp.tmp
        self.finished = False
        self._container = self._stream = None
        self._gif: list[np.ndarray] = []

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
        with disk_errors(self.path):
            if self.kind == "mp4":
                self._encode_mp4(frames)
            elif self.kind == "gif":
                self._gif.extend(frames)
            else:
                for k, f in enumerate(frames):
                    Image.fromarray(f).save(self.tmp / f"frame{self.frames + k:05d}.png")
        self.frames += len(frames)

    def _encode_mp4(self, frames: np.ndarray) -> None:

        h, w = frames.shape[1:3]
        # yuv420p subsamples chroma 2x2, so H.264 needs even sizes: pad by repeating the edge (`stored_size`).
        H, W = stored_size("mp4", (h, w))
        frames = np.pad(frames, ((0, 0), (0, H - h), (0, W - w), (0, 0)), mode="edge")
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

    def _encode_gif(self) -> None:

        images = [Image.fromarray(f) for f in self._gif]
        # GIF stores delays in 10 ms units; loop=0 loops forever.
        images[0].save(
            self.tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(20, round(1000 / self.fps)),
            loop=0,
            disposal=2,
        )

    def finish(self) -> None:
        """Encode what is left into the temporary file; the destination is not touched yet (`commit`)."""
        if self.finished:
            return
        if self.frames == 0:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written")
        with disk_errors(self.path):
            if self.kind == "mp4":
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._container.close()
                self._container = None
            elif self.kind == "gif":
                self._encode_gif()
                self._gif = []
        self.finished = True

    def check(self) -> None:
        """The destination still follows the rule for outputs (`check_output`)."""
        check_output(self.path, folder=self.kind == "png")

    def commit(self) -> Path:
        """Move the finished file (or frame folder) into place; returns its path. A frame folder replaces the
        old one whole (swapped), so old frames never mix with new ones."""
        self.finish()
        return self._temp.commit()

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        self.finish()
        return self.commit()

    def abort(self) -> None:
        """Drop everything written so far; the destination is left as it was."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # an encoder in a bad state: the file is being discarded anyway
                pass
            self._container = None
        self._gif = []
        self._temp.abort()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:  # a full disk while encoding the end: no temporary left behind either
            self.abort()
            raise


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 8) -> Path:
    """Write uint8 `[T, H, W, 3]` at once as .mp4 (H.264), .gif (looping) or a folder of PNG frames.

    A path ending in '/' or without a suffix is a frame folder (`frame00000.png`, ...).
    GIF stores frame delays in 10 ms steps, and Pillow merges identical
    consecutive frames into one longer frame, so a GIF read back may hold fewer frames.
    Like every `VideoWriter` file, it appears only when complete.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"expected uint8 [T, H, W, 3] with T >= 1, got {frames.dtype} {list(frames.shape)}")
    with VideoWriter(path, fps) as writer:
        writer.write(frames)
    return writer.path


class VideoSet(FileGroup):
    """Video files that change together: all of them, or (after an error, Ctrl-C or SIGTERM) none.

        with VideoSet() as files:
            mp4, gif = files.open("seed0000.mp4", fps), files.open("seed0000.gif", fps)
            ...                              # write chunks to both

    Leaving the block finishes every file first (the slow part: encoding), then
    renames all of them into place with Ctrl-C held back for those few renames;
    an exception or Ctrl-C before that leaves every destination as it was. A
    `digan.utils.atomic.FileGroup`: other files can join it (`write`, `add`).
    """

    def open(self, path: str | os.PathLike, fps: float = 8) -> VideoWriter:
        return self.add(VideoWriter(path, fps))


def make_grid(videos: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile uint8 `[N, T, H, W, 3]` into one uint8 `[T, H', W', 3]` video, row-major, black padding."""
    videos = np.asarray(videos)
    if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[-1] != 3 or len(videos) == 0:
        raise ValueError(f"expected uint8 [N, T, H, W, 3] with N >= 1, got {videos.dtype} {list(videos.shape)}")
    n, t, h, w, _ = videos.shape
    cols = max(1, min(cols or math.ceil(math.sqrt(n)), n))
    rows = math.ceil(n / cols)
    grid = np.zeros((t, rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, 3), np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[:, y : y + h, x : x + w] = videos[k]
    return grid
