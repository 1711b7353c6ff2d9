"""Reading and writing videos at the border of the library: uint8 `[T, H, W, 3]` RGB.

A "video" on disk is either a video file (decoded with PyAV) or a frame
folder: a directory that directly holds .png/.jpg/.jpeg frames, taken in
natural order (frame2 before frame10), the layout of Sky Time-lapse, TaiChi-HD
and extracted Kinetics.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from .base import DataError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")

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


def list_videos(root: str | os.PathLike) -> list[Path]:
    """Video files and frame folders under `root` (recursively, `root` included), naturally sorted by path."""
    root = Path(root)
    if root.is_file():
        return [root] if is_video_file(root) else []
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        here = Path(dirpath)
        if any(Path(n).suffix.lower() in FRAME_SUFFIXES and not n.startswith(".") for n in filenames):
            found.append(here)
        found.extend(here / n for n in filenames if is_video_file(here / n))
    return sorted(found, key=lambda p: natural_key(p.relative_to(root).as_posix()))


def _rgb(image) -> np.ndarray:
    """A Pillow image (any mode: L, LA, P, RGBA, I;16, ...) as uint8 `[H, W, 3]` RGB."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(image, dtype=np.float64)
        scale = 255.0 / 65535.0 if image.mode != "F" and a.max(initial=0) > 255 else 1.0
        a = np.clip(a * scale, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        from PIL import Image

        rgba = image.convert("RGBA")
        # Transparent pixels become black, as a video player shows them.
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def read_frame_image(path: Path) -> np.ndarray:
    """One frame image as uint8 `[H, W, 3]` RGB; `DataError` if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return _rgb(image)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: unreadable frame ({_reason(e)})") from None


def _reason(e: BaseException) -> str:
    """The cause of an exception in a few words: FFmpeg's and the OS's message without the path."""
    strerror = getattr(e, "strerror", None)
    text = strerror if isinstance(strerror, str) and strerror else str(e).strip()
    text = text.splitlines()[0] if text else type(e).__name__
    return text[:200]


def iter_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Frames of a video file or frame folder, one uint8 `[H, W, 3]` RGB array at a time.

    Sizes may differ between frames (frame folders); callers that resize each
    frame handle that. A decoder error after some frames ends the video there
    (a truncated file keeps its readable head); one before any frame is a `DataError`.
    """
    path = Path(path)
    if max_frames is not None and max_frames <= 0:
        return
    if path.is_dir():
        files = frame_files(path)
        if not files:
            raise DataError(f"{path}: folder holds no .png/.jpg frames")
        for k, f in enumerate(files):
            if max_frames is not None and k >= max_frames:
                return
            yield read_frame_image(f)
        return
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    yield from _decode(path, max_frames)


def _decode(path: Path, max_frames: int | None) -> Iterator[np.ndarray]:
    try:
        yield from _decode_stream(str(path), max_frames)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None


def _decode_stream(source, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode frames from a path or binary file object; DataError (reason only) if none decode."""
    import av

    try:
        container = av.open(source, metadata_errors="ignore")
    except Exception as e:  # PyAV raises many error types for unreadable input
        raise DataError(f"not a readable video ({_reason(e)})") from None
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
                raise DataError(f"cannot decode video ({_reason(e)})") from None
            return
        if count == 0:
            raise DataError("video holds no frames")


def video_fps(path: str | os.PathLike) -> float | None:
    """Frame rate stored in a video file; None for frame folders or when unknown."""
    path = Path(path)
    if path.is_dir():
        return None
    import av

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


def _check_video(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"expected uint8 [T, H, W, 3] with T >= 1, got {frames.dtype} {list(frames.shape)}")
    return frames


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 8) -> Path:
    """Write uint8 `[T, H, W, 3]` as .mp4 (H.264), .gif (looping) or a folder of PNG frames.

    A path ending in '/' or without a suffix is a frame folder (`frame00000.png`, ...).
    GIF stores frame delays in 10 ms steps, and Pillow merges identical
    consecutive frames into one longer frame, so a GIF read back may hold fewer frames.
    The file appears only when complete: it is written under a temporary name
    in the same directory and renamed.
    """
    frames = _check_video(frames)
    as_folder = str(path).endswith(("/", os.sep)) or Path(path).suffix == ""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if as_folder:
        _write_folder(path, frames)
    elif suffix in (".mp4", ".gif"):
        atomic_write(path, lambda tmp: (_write_mp4 if suffix == ".mp4" else _write_gif)(tmp, frames, fps))
    else:
        raise ValueError(f"{path}: cannot write '{path.suffix}': use .mp4, .gif or a folder path")
    return path


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    import av
    from fractions import Fraction

    t, h, w, _ = frames.shape
    # yuv420p subsamples chroma 2x2, so H.264 needs even sizes: pad by repeating the edge.
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "medium"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    # GIF stores delays in 10 ms units; loop=0 loops forever.
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=max(20, round(1000 / fps)),
                   loop=0, disposal=2)


def _write_folder(path: Path, frames: np.ndarray) -> None:
    from PIL import Image

    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        for k, f in enumerate(frames):
            Image.fromarray(f).save(tmp / f"frame{k:05d}.png")
        if path.exists():
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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
        grid[:, y:y + h, x:x + w] = videos[k]
    return grid
