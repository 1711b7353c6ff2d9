"""Videos users hold: folders (or .zip archives) of video files or frame folders, and UCF-101.

Opening a folder probes every video once (header and first frame), skips the
unusable ones with one warning line each, and prints a summary. Reading
resizes each frame on its own (short side to R with antialiasing, centre crop),
so frames of differing sizes are fine. `digan prepare` decodes through the
same functions, which is why a prepared store and its raw folder give the same clips.
"""

from __future__ import annotations

import io
import math
import os
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..timebase import MAX_FPS
from .base import DataError, Report, VideoSource, error_reason, note, warn
from .io import (
    FRAME_SUFFIXES,
    VIDEO_SUFFIXES,
    count_frames,
    decode_frames,
    frame_files,
    list_videos,
    natural_key,
    read_frame,
)

# ----------------------------------------------------------------------------------------------
# Entries: one video, in a folder or a zip archive.

_zips: dict[tuple[str, int, int], zipfile.ZipFile] = {}
_zip_lock = threading.Lock()


def _zip(path: str) -> zipfile.ZipFile:
    """One open ZipFile per (archive, process, thread): ZipFile objects are not shared safely."""
    key = (path, os.getpid(), threading.get_ident())
    with _zip_lock:
        if key not in _zips:
            _zips[key] = zipfile.ZipFile(path)
        return _zips[key]


@dataclass(frozen=True)
class Entry:
    """One video: a video file or a frame folder, on disk or inside a zip archive."""

    name: str  # path relative to the dataset root, '/'-separated: used in warnings and store indexes
    kind: str  # "file" or "frames"
    path: str  # file or folder on disk, or the archive for zip members
    members: tuple[str, ...] = ()  # zip: the file member, or the frame members in order
    frames_on_disk: tuple[str, ...] = field(default=(), compare=False)  # folder: frame file names in order

    @property
    def in_zip(self) -> bool:
        return bool(self.members)

    def open_file(self):
        if self.in_zip:
            return io.BytesIO(_zip(self.path).read(self.members[0]))
        return open(self.path, "rb")

    def frame_count(self) -> int:
        return len(self.members) if self.in_zip else len(self.frames_on_disk)

    def read_frame(self, k: int) -> np.ndarray:
        """Frame k of a frame folder as uint8 `[H, W, 3]`; DataError if unreadable."""
        if not self.in_zip:
            return read_frame(os.path.join(self.path, self.frames_on_disk[k]))
        name = PurePosixPath(self.members[k]).name
        try:
            data = _zip(self.path).read(self.members[k])
        except (OSError, zipfile.BadZipFile) as e:
            raise DataError(f"unreadable frame {name} ({error_reason(e)})") from None
        return read_frame(io.BytesIO(data), name)


def folder_entries(root: Path) -> list[Entry]:
    """Every video under `root`, in every sub-folder (a dataset's layout: class folders, clip folders), each once."""
    entries = []
    for p in list_videos(root, recursive=True):
        name = p.relative_to(root).as_posix() if p != root else p.name
        if p.is_dir():
            entries.append(Entry(name, "frames", str(p), frames_on_disk=tuple(f.name for f in frame_files(p))))
        else:
            entries.append(Entry(name, "file", str(p)))
    return entries


def zip_entries(path: Path) -> list[Entry]:
    try:
        names = [i.filename for i in zipfile.ZipFile(path).infolist() if not i.is_dir()]
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable zip archive ({error_reason(e)})") from None
    names = [n for n in names if not n.startswith("__MACOSX/") and not PurePosixPath(n).name.startswith(".")]
    entries, folders = [], {}
    for n in names:
        p = PurePosixPath(n)
        if p.suffix.lower() in VIDEO_SUFFIXES:
            entries.append(Entry(n, "file", str(path), members=(n,)))
        elif p.suffix.lower() in FRAME_SUFFIXES:
            folders.setdefault(str(p.parent), []).append(n)
    for d, members in folders.items():
        entries.append(Entry(d, "frames", str(path), members=tuple(sorted(members, key=natural_key))))
    return sorted(entries, key=lambda e: natural_key(e.name))


def zip_text(path: str, member: str) -> str:
    return _zip(path).read(member).decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------------------------
# Frames: resize, probe, decode.


def resize_crop(frame: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 `[H, W, 3]` -> `[R, R, 3]`: centre square, resized with antialiasing (bicubic, Pillow).

    Cropping the centre square and resizing it equals resizing the short side to R
    and cropping the centre: Pillow resizes the float box directly, no rounding in between.
    """

    h, w = frame.shape[:2]
    if h == w == resolution:
        return np.ascontiguousarray(frame)
    s = min(h, w)
    box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    image = Image.fromarray(np.ascontiguousarray(frame))
    return np.asarray(image.resize((resolution, resolution), Image.Resampling.BICUBIC, box=box))


@dataclass(frozen=True)
class Probe:
    frames: int  # frames the video holds at its own rate
    fps: float | None  # its frame rate; None for frame folders


def probe(entry: Entry) -> Probe:
    """Frame count and rate of a video, decoding only its first frame; DataError if unusable."""
    if entry.kind == "frames":
        n = entry.frame_count()
        if n == 0:
            raise DataError("folder holds no frames")
        entry.read_frame(0)
        return Probe(n, None)
    try:
        with entry.open_file() as f:
            if f.seek(0, 2) == 0:
                raise DataError("empty file")
            f.seek(0)
            packets, rate = count_frames(f)
        with entry.open_file() as f:
            list(decode_frames(f, 1))  # runs to its end, so the container closes before the file
    except DataError:
        raise
    except Exception as e:  # the file itself cannot be opened or read
        raise DataError(f"not a readable video ({error_reason(e)})") from None
    if packets == 0:
        raise DataError("video holds no frames")
    return Probe(packets, rate)


def resample_ids(frames: int, fps: float | None, target_fps: float | None) -> np.ndarray:
    """Source frame of each output frame when resampling `frames` frames at `fps` to `target_fps`.

    Output frame k shows the source frame nearest in time to k / target_fps.
    """
    if not target_fps or not fps or abs(fps - target_fps) < 1e-6:
        return np.arange(frames)
    n = int(np.floor((frames - 1) * target_fps / fps + 1e-9)) + 1
    return np.minimum(np.floor(np.arange(n) * fps / target_fps + 0.5).astype(np.int64), frames - 1)


def decode_video(entry: Entry, resolution: int, source_ids: np.ndarray | None = None) -> np.ndarray:
    """Frames `source_ids` (sorted, default all) of a video, resized: uint8 `[n, R, R, 3]`.

    A video file that ends before a wanted frame (truncated) gets one warning,
    and its last decoded frame stands in for the missing ones (a raw source has
    promised the probed length; `stream_video` drops them instead).
    Raises DataError only when nothing decodes.
    """
    if entry.kind == "frames":
        ids = np.arange(entry.frame_count()) if source_ids is None else np.asarray(source_ids)
        return np.stack([resize_crop(entry.read_frame(int(k)), resolution) for k in ids])
    with entry.open_file() as f:
        if source_ids is None:
            return np.stack([resize_crop(x, resolution) for x in decode_frames(f)])
        wanted = np.asarray(source_ids, dtype=np.int64)
        keep = set(wanted.tolist())
        last = int(wanted.max()) + 1
        kept: dict[int, np.ndarray] = {}  # only the wanted frames are resized and held
        decoded = 0
        for k, x in enumerate(decode_frames(f, last)):
            decoded = k + 1
            if k in keep:
                kept[k] = resize_crop(x, resolution)
    if decoded < last:
        warn(f"{entry.name}: only {decoded} of {last} frames decode (truncated?); repeating its last frame")
        final = max(k for k in kept) if kept else None
        if final is None or final != decoded - 1:  # the last decoded frame was not wanted: decode it
            with entry.open_file() as f:
                *_, x = decode_frames(f, decoded)
            kept[decoded - 1] = resize_crop(x, resolution)
    return np.stack([kept[min(int(k), decoded - 1)] for k in wanted])


def stream_video(entry: Entry, resolution: int, source_ids: np.ndarray) -> Iterator[np.ndarray]:
    """Frames `source_ids` (sorted, repeats allowed) of a video, resized, one uint8 `[R, R, 3]` at a time (what
    `digan prepare` writes), holding one, so memory does not grow with the video's length.

    A video file that ends before a wanted frame (truncated) gives the frames before its end, with one warning.
    """
    ids = np.asarray(source_ids, dtype=np.int64).reshape(-1)
    if not len(ids):
        return
    if entry.kind == "frames":
        shown, frame = None, None
        for k in ids.tolist():
            if k != shown:
                shown, frame = k, resize_crop(entry.read_frame(k), resolution)
            yield frame
        return
    j, decoded = 0, 0
    with entry.open_file() as f:
        for k, x in enumerate(decode_frames(f, int(ids[-1]) + 1)):
            decoded = k + 1
            if ids[j] == k:
                frame = resize_crop(x, resolution)
                while j < len(ids) and ids[j] == k:
                    yield frame
                    j += 1
    if j < len(ids):
        warn(f"{entry.name}: only {decoded} of {int(ids[-1]) + 1} frames decode (truncated?); keeping those")


# ----------------------------------------------------------------------------------------------
# The raw source.


@dataclass(frozen=True)
class Video:
    entry: Entry
    source_ids: np.ndarray  # source frame of each frame this dataset exposes (frame-rate resampling)


class RawVideos(VideoSource):
    """Videos decoded on demand from a folder or zip. Slower than a prepared store; same frames.

    Video files are decoded whole, resized, and kept in a small LRU cache
    (`cache_mb`), so consecutive pairs from one video decode it once; frame
    folders read only the requested frames.
    """

    def __init__(self, videos: list[Video], resolution: int, name: str = "videos", cache_mb: float = 512):
        self.videos, self.resolution, self.name = videos, int(resolution), name
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._warned: set[tuple[str, int]] = set()

    def __len__(self) -> int:
        return len(self.videos)

    def num_frames(self, index: int) -> int:
        return len(self.videos[index].source_ids)

    def video_name(self, index: int) -> str:
        return self.videos[index].entry.name

    def read(self, index: int, frame_ids: Sequence[int]) -> np.ndarray:
        video = self.videos[index]
        ids = np.asarray(frame_ids, dtype=np.int64).reshape(-1)
        if video.entry.kind == "frames":
            src = video.source_ids[ids]
            return np.stack([self._frame(video.entry, int(k)) for k in src]) if len(ids) else self._empty()
        return self._whole(index, ids)

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.resolution, self.resolution, 3), np.uint8)

    def _frame(self, entry: Entry, k: int) -> np.ndarray:
        try:
            return resize_crop(entry.read_frame(k), self.resolution)
        except DataError as e:
            # Found only now (the probe reads frame 0): show a black frame rather than stop training.
            if (entry.name, k) not in self._warned:
                self._warned.add((entry.name, k))
                warn(f"{entry.name}: {e}; using a black frame (run `digan prepare` to skip such videos)")
            return np.zeros((self.resolution, self.resolution, 3), np.uint8)

    def _whole(self, index: int, ids: np.ndarray) -> np.ndarray:
        """Frames `ids` of a video file: from the cache of whole decoded videos, or, for a video
        too long to cache, decoded up to the last of them."""
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index][ids]
        video = self.videos[index]
        r = self.resolution
        if len(video.source_ids) * r * r * 3 > self.cache_bytes:
            try:
                return decode_video(video.entry, r, video.source_ids[ids])
            except DataError as e:
                warn(f"{video.entry.name}: {e}; using black frames (run `digan prepare` to skip such videos)")
                return np.zeros((len(ids), r, r, 3), np.uint8)
        try:
            frames = decode_video(video.entry, self.resolution, video.source_ids)
        except DataError as e:
            warn(f"{video.entry.name}: {e}; using black frames (run `digan prepare` to skip such videos)")
            frames = np.zeros((len(video.source_ids), self.resolution, self.resolution, 3), np.uint8)
        with self._lock:
            self._cache[index] = frames
            while sum(v.nbytes for v in self._cache.values()) > self.cache_bytes and len(self._cache) > 1:
                self._cache.popitem(last=False)
        return frames[ids]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"], state["_lock"] = OrderedDict(), None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


class Chunked(VideoSource):
    """Each video of `source` cut into non-overlapping chunks of `length` frames; tails dropped.

    The Sky Time-lapse and Kinetics protocol of the paper (16-frame chunks).
    """

    def __init__(self, source: VideoSource, length: int):
        if length < 1:
            raise DataError(f"chunk length must be >= 1, got {length}")
        self.source, self.length = source, int(length)
        self.resolution, self.name = source.resolution, source.name
        self.chunks = [(i, c * length) for i in range(len(source)) for c in range(source.num_frames(i) // length)]

    def __len__(self) -> int:
        return len(self.chunks)

    def num_frames(self, index: int) -> int:
        return self.length

    def video_name(self, index: int) -> str:
        i, start = self.chunks[index]
        return f"{self.source.video_name(i)}@{start}"

    def read(self, index: int, frame_ids: Sequence[int]) -> np.ndarray:
        i, start = self.chunks[index]
        ids = np.asarray(frame_ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.length):
            raise IndexError(f"frame ids must lie in [0, {self.length})")
        return self.source.read(i, start + ids)


# ----------------------------------------------------------------------------------------------
# Finding the videos of a dataset: plain folders, zips, UCF-101 splits.

SPLITS = ("train", "test", "train+test")


def ucf_lists(root: Path, fold: int) -> tuple[str | None, dict[str, str]]:
    """The UCF-101 split files of `fold` under root (or in a zip): {'train': text, 'test': text}."""
    want = {f"trainlist{fold:02d}.txt": "train", f"testlist{fold:02d}.txt": "test"}
    found: dict[str, str] = {}
    if root.is_file():
        for n in zipfile.ZipFile(root).namelist():
            key = want.get(PurePosixPath(n).name.lower())
            if key and key not in found:
                found[key] = zip_text(str(root), n)
    else:
        for p in sorted(root.rglob("*list*.txt")):
            key = want.get(p.name.lower())
            if key and key not in found:
                found[key] = p.read_text(errors="replace")
    return ("ucf101" if found else None), found


def select_ucf(entries: list[Entry], lists: dict[str, str], split: str, fold: int, report: Report) -> list[Entry]:
    """Entries named in the split lists, matched by file name (UCF's class folders differ in case)."""
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}': expected one of {', '.join(SPLITS)}")
    parts = split.split("+")
    missing = [p for p in parts if p not in lists]
    if missing:
        raise DataError(f"UCF-101 split '{split}' needs {' and '.join(m + 'list' for m in missing)} files, not found")
    listed: list[tuple[str, str]] = []  # (path as listed, list file)
    for p in parts:
        for line in lists[p].splitlines():
            if line.strip():
                listed.append((line.split()[0].replace("\\", "/"), f"{p}list{fold:02d}.txt"))
    by_name = {PurePosixPath(e.name).name.lower(): e for e in entries}
    chosen, seen = [], set()
    for n, source in listed:
        key = PurePosixPath(n).name.lower()
        if key in seen:
            continue
        seen.add(key)
        if key in by_name:
            chosen.append(by_name[key])
        else:
            report.skip(n, f"listed in {source} but not found")
    return sorted(chosen, key=lambda e: natural_key(e.name))


def find_entries(path: Path, split: str, fold: int, report: Report) -> tuple[list[Entry], str]:
    """The videos of a folder or zip (UCF-101 split applied when its split files are present), and a name."""
    if path.is_file() and path.suffix.lower() == ".zip":
        entries = zip_entries(path)
    elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        entries = [Entry(path.name, "file", str(path))]
    elif path.is_dir():
        entries = folder_entries(path)
    else:
        raise DataError(f"{path}: not a folder, a .zip or a video file")
    kind, lists = ucf_lists(path, fold) if (path.is_dir() or path.suffix.lower() == ".zip") else (None, {})
    if kind:
        entries = select_ucf(entries, lists, split, fold, report)
    return entries, kind or (path.stem if path.is_file() else path.name)


def probe_all(
    entries: list[Entry], report: Report, workers: int = 0, progress: Callable[[Iterator], Iterator] | None = None
) -> list[tuple[Entry, Probe]]:
    """Probe entries (in threads: PyAV releases the GIL), skipping unusable ones with a warning."""

    def one(e: Entry):
        try:
            return e, probe(e), None
        except DataError as err:
            return e, None, str(err)

    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = pool.map(one, entries)
            results = list(progress(results) if progress else results)
    else:
        results = [one(e) for e in (progress(entries) if progress else entries)]
    good = []
    for e, p, err in results:
        if err is None:
            good.append((e, p))
        else:
            report.skip(e.name, err)
    return good


def raw_videos(
    entries: list[Entry],
    resolution: int,
    *,
    name: str,
    report: Report,
    fps: float | None = None,
    workers: int | None = None,
    quiet: bool = False,
    cache_mb: float = 512,
) -> RawVideos:
    """Probe `entries` (skipping the unusable with a warning each) into a `RawVideos` source."""
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= MAX_FPS):  # resampling to 1e300 fps explodes
        raise DataError(f"`fps` must be a positive number of at most {MAX_FPS:g}, got {fps}")
    probed = probe_all(entries, report, workers if workers is not None else min(8, os.cpu_count() or 1))
    videos = []
    for e, p in probed:
        if fps and p.fps is None and not any(v.entry.kind == "frames" for v in videos):
            warn(f"{e.name}: frame folders carry no frame rate; fps={fps:g} leaves them as they are", report.stream)
        videos.append(Video(e, resample_ids(p.frames, p.fps, fps)))
    if not quiet:
        note(report.summary(len(videos)))
    if not videos:
        raise DataError(f"{report.label}: none of the {len(entries)} videos found can be read")
    return RawVideos(videos, resolution, name=name, cache_mb=cache_mb)


def open_raw(
    path: str | os.PathLike,
    resolution: int,
    *,
    fps: float | None = None,
    split: str = "train+test",
    fold: int = 1,
    workers: int | None = None,
    quiet: bool = False,
    cache_mb: float = 512,
) -> RawVideos:
    """A raw folder, zip, video file or UCF-101 tree as a `VideoSource` (frames decoded on demand)."""
    path = Path(path)
    report = Report(path.name, stream=open(os.devnull, "w") if quiet else None)
    entries, name = find_entries(path, split, fold, report)
    if not entries:
        raise DataError(f"{path}: no videos found (looked for {', '.join(VIDEO_SUFFIXES)} files and frame folders)")
    return raw_videos(
        entries, resolution, name=name, report=report, fps=fps, workers=workers, quiet=quiet, cache_mb=cache_mb
    )
