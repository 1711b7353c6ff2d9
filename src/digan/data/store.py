"""Prepared stores: videos decoded once, resized to R x R, kept as raw uint8 frames.

Layout of a store directory:

    settings.json        what was asked (source, resolution, fps, split): written first
    shard-00000.bin      uint8 frames [n, R, R, 3], C order, videos back to back
    shard-00000.json     the shard's inputs, its videos (name, offset, frames) and skips
    ...
    index.json           all videos and skips: written last; a store without it is unfinished

Training memory-maps the shards and copies only the frames a batch asks for,
so a store larger than memory works and a frame pair costs two small reads.
Each shard's two files change together (`digan.utils.atomic.FileGroup`: its
JSON, which marks it finished, is removed first and put in place last);
`prepare` run again keeps every finished shard whose inputs are unchanged and
redoes the rest. One `prepare` at a time holds a store
(`digan.utils.lock.FolderLock`); its decoding workers end with it, even when
it is killed.
"""

from __future__ import annotations

import json
import math
import mmap
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..timebase import MAX_FPS
from ..utils.atomic import FileGroup, atomic_write, remove_stale_temps
from ..utils.files import read_json
from ..utils.lock import FolderLock, folder_entries
from ..utils.memory import FRAME_COPIES, WORKER_BYTES, Part, check
from ..utils.runtime import worker_count
from ..utils.signals import start_worker, stop_workers
from .base import DataError, VideoSource
from .folders import Entry, Report, find_entries, note, probe, resample_ids, stream_video

FORMAT, VERSION = "digan-store", 1


def is_store(path: Path) -> bool:
    """Whether `path` is a store directory, finished or not."""
    for f in (path / "index.json", path / "settings.json"):
        try:
            if read_json(f).get("format") == FORMAT:
                return True
        except (OSError, ValueError, AttributeError):
            pass
    return False


def _write_json(path: Path, data) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))


def _read_json(path: Path) -> dict:
    try:
        return read_json(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable ({e})") from None


class StoreSource(VideoSource):
    """A prepared store as a `VideoSource`: frames read from memory-mapped shards."""

    def __init__(self, path: Path, index: dict):
        self.path, self.resolution = path, int(index["resolution"])
        self.name = index.get("name", path.name)
        self.fps = index.get("fps")
        self.shards = index["shards"]  # [{"file", "frames"}]
        v = index["videos"]
        self.names = [x["name"] for x in v]
        self.shard = np.array([x["shard"] for x in v], np.int64)
        self.offset = np.array([x["offset"] for x in v], np.int64)
        self.frames = np.array([x["frames"] for x in v], np.int64)
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.names)

    def num_frames(self, index: int) -> int:
        return int(self.frames[index])

    def video_name(self, index: int) -> str:
        return self.names[index]

    def _map(self, k: int) -> np.ndarray:
        """Shard k as a read-only uint8 `[n, R, R, 3]` array over a memory map (a plain ndarray:
        indexing it skips np.memmap's per-call overhead)."""
        if k not in self._maps:
            r, n = self.resolution, self.shards[k]["frames"]
            if n == 0:
                self._maps[k] = np.zeros((0, r, r, 3), np.uint8)
            else:
                with open(self.path / self.shards[k]["file"], "rb") as f:
                    buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                self._maps[k] = np.frombuffer(buffer, np.uint8).reshape(n, r, r, 3)
        return self._maps[k]

    def read(self, index: int, frame_ids: Sequence[int]) -> np.ndarray:
        ids = np.asarray(frame_ids, dtype=np.int64).reshape(-1)
        n = self.frames[index]
        if len(ids) and (ids.min() < 0 or ids.max() >= n):
            raise IndexError(f"{self.names[index]}: frame ids must lie in [0, {n})")
        return self._map(int(self.shard[index]))[self.offset[index] + ids]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_maps"] = {}  # each process maps the shards itself
        return state


def open_store(path: str | os.PathLike, resolution: int | None = None) -> StoreSource:
    path = Path(path)
    if not (path / "index.json").is_file():
        raise DataError(f"{path}: unfinished store (an interrupted `digan prepare`): run the same prepare again")
    index = _read_json(path / "index.json")
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise DataError(f"{path}: not a {FORMAT} store of version {VERSION}")
    if resolution is not None and int(resolution) != int(index["resolution"]):
        r = index["resolution"]
        raise DataError(
            f"{path}: store is prepared at {r}x{r}, not {resolution}x{resolution}: use `size` {r} or prepare again"
        )
    for s in index["shards"]:
        f = path / s["file"]
        r = index["resolution"]
        if not f.is_file() or f.stat().st_size != s["frames"] * r * r * 3:
            raise DataError(f"{f}: missing or of the wrong size: prepare the store again")
    if not index["videos"]:
        raise DataError(f"{path}: store holds no videos")
    return StoreSource(path, index)


# ----------------------------------------------------------------------------------------------
# digan prepare


def _shard_size(n: int) -> int:
    """Videos per shard: at least 64 shards for resuming and parallel work, at most 32 videos each."""
    return max(1, min(32, math.ceil(n / 64)))


def _prepare_shard(dest: str, k: int, entries: list[Entry], resolution: int, fps: float | None) -> dict:
    """Decode the videos of shard k into shard-k.bin/.json; return its JSON record."""
    dest_path = Path(dest)
    name = f"shard-{k:05d}"
    videos, skipped, offset = [], [], 0

    def write(tmp: Path) -> None:
        nonlocal offset
        with open(tmp, "wb") as f:
            for e in entries:
                start, count, reason = f.tell(), 0, None
                try:
                    p = probe(e)
                    for frame in stream_video(e, resolution, resample_ids(p.frames, p.fps, fps)):  # one at a time
                        f.write(np.ascontiguousarray(frame).tobytes())
                        count += 1
                except DataError as err:
                    reason = str(err)
                except Exception as err:  # a decoder crash on one file must not stop the others
                    reason = f"cannot decode ({type(err).__name__}: {err})"
                if reason is not None or count == 0:  # its frames so far go: the shard holds whole videos
                    f.seek(start)
                    f.truncate()
                    skipped.append({"name": e.name, "reason": reason or "no frame decodes"})
                    continue
                videos.append({"name": e.name, "offset": offset, "frames": count})
                offset += count
            f.flush()
            os.fsync(f.fileno())

    with FileGroup(marker=dest_path / f"{name}.json") as files:
        files.write(dest_path / f"{name}.bin", write)
        record = {
            "inputs": [e.name for e in entries],
            "file": f"{name}.bin",
            "frames": offset,
            "videos": videos,
            "skipped": skipped,
        }
        files.write(dest_path / f"{name}.json", lambda tmp: tmp.write_text(json.dumps(record, indent=1)))
    return record


def _shard_done(dest: Path, k: int, entries: list[Entry], resolution: int) -> dict | None:
    j = dest / f"shard-{k:05d}.json"
    if not j.is_file():
        return None
    try:
        record = read_json(j)
        b = dest / record["file"]
        ok = record["inputs"] == [e.name for e in entries] and b.stat().st_size == record["frames"] * resolution**2 * 3
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if ok else None


def prepare_memory(size: int) -> tuple:
    """What one decoding process of `prepare` holds at once, as `(build, now, hints)` for
    `digan.utils.memory.check`: the frame it resizes and writes (`stream_video`: one at a time, whatever the
    video's length), at `size` x `size` (the source frame it comes from is not counted: its size is unknown)."""

    def build(size: int) -> list[Part]:
        return [Part("a frame being resized", FRAME_COPIES * size * size * 3, ("size",), on_device=False)]

    return build, {"size": size}, {"size": lambda n: f"frames of at most {n}x{n} fit (`size`)"}


def prepare_workers(size: int, workers: int) -> int:
    """The decoding processes `prepare` runs: checked to fit one (`MemoryLimit`), then at most one per core and
    as many as free memory holds (said in a line when fewer than asked)."""
    build, now, hints = prepare_memory(size)
    check(f"preparing {size}x{size} frames", build, now, hints)
    if workers == 1:  # decodes on this process
        return 1
    count, why = worker_count(workers, WORKER_BYTES + sum(p.bytes for p in build(**now)))
    if why:
        note(f"prepare: {why}")
    return max(1, count)


def prepare(
    src: str | os.PathLike,
    dest: str | os.PathLike,
    size: int,
    *,
    fps: float | None = None,
    workers: int = 1,
    split: str = "train+test",
    fold: int = 1,
    progress: bool = True,
) -> StoreSource:
    """Decode the videos under `src` once into a store at `dest` (see the module docstring); resumable."""
    src, dest = Path(src).expanduser(), Path(dest).expanduser()
    # Every option is checked before the destination is touched: a refused run leaves nothing to block the next.
    if size < 4:
        raise DataError(f"`size` must be at least 4, got {size}")
    resolution = int(size)
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= MAX_FPS):  # resampling to 1e300 fps explodes
        raise DataError(f"fps must be a positive number of at most {MAX_FPS:g}, got {fps}")
    if workers < 1:
        raise DataError(f"`workers` must be at least 1, got {workers}")
    workers = prepare_workers(resolution, workers)
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    if is_store(src):
        raise DataError(f"{src}: is already a prepared store")
    if dest.exists() and not dest.is_dir():
        raise DataError(f"{dest}: exists and is not a folder")
    if dest.is_dir() and folder_entries(dest) and not is_store(dest):
        raise DataError(f"{dest}: folder is not empty and not a store; choose a new folder")
    settings = {
        "format": FORMAT,
        "version": VERSION,
        "source": str(src.resolve()),
        "resolution": int(resolution),
        "fps": fps,
        "split": split,
        "fold": fold,
    }
    report = Report(src.name)
    entries, name = find_entries(src, split, fold, report)
    if not entries:
        raise DataError(f"{src}: no videos found (looked for video files and frame folders)")
    if _finished(dest, settings):  # only read: a finished store needs no lock (and may be on read-only media)
        note(f"{dest}: already prepared")
        return open_store(dest, resolution)
    fresh = not dest.exists() or not folder_entries(dest)  # nothing of an earlier run to keep
    with FolderLock(dest, "digan prepare"):  # creates dest; removes it again if it is left empty
        return _prepare_locked(src, dest, resolution, fps, workers, progress, settings, report, entries, name, fresh)


def _finished(dest: Path, settings: dict) -> bool:
    """Whether `dest` holds a finished store prepared with `settings` (index.json is written last)."""
    try:
        old = json.loads((dest / "settings.json").read_text())
    except (OSError, ValueError):
        return False
    same = isinstance(old, dict) and all(old.get(k) == v for k, v in settings.items())
    return same and (dest / "index.json").is_file()


def _prepare_locked(
    src: Path,
    dest: Path,
    resolution: int,
    fps: float | None,
    workers: int,
    progress: bool,
    settings: dict,
    report: Report,
    entries: list[Entry],
    name: str,
    fresh: bool,
) -> StoreSource:
    if (dest / "settings.json").is_file():
        old = _read_json(dest / "settings.json")
        diff = [k for k in settings if old.get(k) != settings[k]]
        if diff:
            raise DataError(
                f"{dest}: holds a store prepared with other settings ({', '.join(diff)}); "
                "choose a new folder or delete it"
            )
        if (dest / "index.json").is_file():
            note(f"{dest}: already prepared")
            return open_store(dest, resolution)
    else:
        _write_json(dest / "settings.json", settings)
    remove_stale_temps(dest)  # leftovers of an interrupted run

    size = _shard_size(len(entries))
    plan = [entries[i : i + size] for i in range(0, len(entries), size)]
    records: dict[int, dict] = {}
    todo = []
    for k, part in enumerate(plan):
        done = _shard_done(dest, k, part, resolution)
        if done is None:
            todo.append(k)
        else:
            records[k] = done
            report.skipped += [(x["name"], x["reason"]) for x in done["skipped"]]  # warned on the first run
    if records:
        note(f"{dest}: resuming, {len(records)} of {len(plan)} shards already done")

    bar = tqdm(
        total=len(entries),
        initial=sum(len(plan[k]) for k in records),
        unit="video",
        desc=f"prepare {name}",
        disable=not progress,
        dynamic_ncols=True,
    )
    start = time.time()

    def finish(k: int, record: dict) -> None:
        records[k] = record
        for s in record["skipped"]:
            report.skip(s["name"], s["reason"])
        bar.update(len(plan[k]))

    try:
        if workers > 1 and len(todo) > 1:
            # fork starts workers at once; they run no torch, only PyAV and Pillow.
            context = mp.get_context("fork" if sys.platform == "linux" else "spawn")
            with ProcessPoolExecutor(
                min(workers, len(todo)), mp_context=context, initializer=start_worker, initargs=(os.getpid(),)
            ) as pool:
                try:
                    futures = {pool.submit(_prepare_shard, str(dest), k, plan[k], resolution, fps): k for k in todo}
                    for fut in as_completed(futures):
                        finish(futures[fut], fut.result())
                except BaseException as e:  # Ctrl-C, SIGTERM, a failed shard: the workers stop now, not after the store
                    stop_workers(pool)
                    remove_stale_temps(dest)  # what they were writing (no live process holds it now)
                    if isinstance(e, BrokenProcessPool):
                        raise DataError(
                            f"{dest}: a decoding worker was killed (out of memory?); run the same "
                            "command again to resume, with fewer `workers`"
                        ) from None
                    raise
        else:
            for k in todo:
                finish(k, _prepare_shard(str(dest), k, plan[k], resolution, fps))
    finally:
        bar.close()

    shards, videos = [], []
    for k in range(len(plan)):
        r = records[k]
        shards.append({"file": r["file"], "frames": r["frames"]})
        videos += [{"name": v["name"], "shard": k, "offset": v["offset"], "frames": v["frames"]} for v in r["videos"]]
    skipped = [{"name": n, "reason": why} for n, why in report.skipped]
    note(report.summary(len(videos)) + f" ({time.time() - start:.0f} s)")
    if not videos:
        if fresh:  # leave the destination as it was (a folder the lock made goes), so a corrected command starts afresh
            for f in [dest / "settings.json", *dest.glob("shard-*.bin"), *dest.glob("shard-*.json")]:
                f.unlink(missing_ok=True)
        raise DataError(f"{src}: none of the {len(entries)} videos found can be read; no store written")
    index = {
        **settings,
        "name": name,
        "shards": shards,
        "videos": videos,
        "skipped": skipped,
        "frames": int(sum(v["frames"] for v in videos)),
    }
    _write_json(dest / "index.json", index)
    return open_store(dest, resolution)
