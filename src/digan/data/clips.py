"""Clips and frame pairs drawn from a `VideoSource`, deterministically.

A clip is `frames` frames taken every `stride` frames from one video; time
t runs over [0, 1] across the clip, so frame k of the clip sits at
t = k / (frames - 1) (the rule of `digan.timebase`, shared with the losses,
the samplers and the metrics).

Every random draw here comes from a generator seeded by (seed, batch index),
so a batch is a pure function of where training is: resuming needs no saved
sampler state, and loader workers cannot change what is drawn.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..timebase import pair_times
from ..utils.malloc import default_malloc
from .base import DataError, Report, VideoSource, note


@dataclass(frozen=True)
class ClipSpec:
    frames: int = 16  # frames per training clip; t = 1 is its last frame
    stride: int = 1  # step between clip frames in the source video

    @property
    def span(self) -> int:
        """Source frames one clip covers."""
        return (self.frames - 1) * self.stride + 1


def sample_pair_indices(rng: np.random.Generator, n: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Clip-frame indices (k1 <= k2) of `n` training pairs.

    DIGAN draws t_a ~ Beta(2, 1) and t_b ~ Beta(1, 2) and sorts them (Sec. 3.2).
    The authors quantise only the real times to frames (k = floor(16 u)) and
    give G continuous times, so real and fake dt differ in distribution. Here
    both sides use these quantised indices: the fake pair is rendered at
    t = k / (frames - 1) exactly where the real pair was read, so D cannot
    tell real from fake by dt alone.
    """
    ka = np.minimum(np.floor(rng.beta(2.0, 1.0, n) * frames), frames - 1).astype(np.int64)
    kb = np.minimum(np.floor(rng.beta(1.0, 2.0, n) * frames), frames - 1).astype(np.int64)
    return np.minimum(ka, kb), np.maximum(ka, kb)


class ClipIndex:
    """All clip windows of a source: which videos are long enough, and where clips may start."""

    def __init__(self, source: VideoSource, spec: ClipSpec):
        self.source, self.spec = source, spec
        lengths = np.array([source.num_frames(i) for i in range(len(source))], dtype=np.int64)
        self.starts = np.maximum(lengths - spec.span + 1, 0)  # valid start positions per video
        self.videos = np.flatnonzero(self.starts)
        short = np.flatnonzero(self.starts == 0)
        if len(short):
            report = Report(source.name)
            for i in short:
                report.skip(
                    source.video_name(int(i)),
                    f"{lengths[i]} frames, shorter than a clip ({spec.frames} frames at stride {spec.stride})",
                )
            note(report.summary(len(self.videos)))
        if len(self.videos) == 0:
            raise DataError(
                f"{source.name}: no video has the {spec.span} frames a clip of "
                f"{spec.frames} frames at stride {spec.stride} needs"
            )
        self.cumulative = np.cumsum(self.starts[self.videos])

    def __len__(self) -> int:
        """Number of distinct clip windows."""
        return int(self.cumulative[-1])

    def window(self, j: int) -> tuple[int, int]:
        """(video, start frame) of window j; windows are ordered video by video."""
        slot = int(np.searchsorted(self.cumulative, j, side="right"))
        before = int(self.cumulative[slot - 1]) if slot else 0
        return int(self.videos[slot]), j - before

    def frame_ids(self, start: int, clip_ids: np.ndarray) -> np.ndarray:
        return start + np.asarray(clip_ids) * self.spec.stride


def to_float_video(frames: np.ndarray) -> torch.Tensor:
    """uint8 `[..., H, W, 3]` -> float `[..., 3, H, W]` in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(torch.float32)
    return x.movedim(-1, -3) / 127.5 - 1.0


def to_uint8_video(video: torch.Tensor) -> np.ndarray:
    """float `[..., 3, H, W]` in [-1, 1] (clamped) -> uint8 `[..., H, W, 3]`, rounded."""
    x = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


class PairBatches:
    """Real training batches: `frames [B, 2, 3, R, R]` in [-1, 1] and `dt [B]`.

    Batch `i` depends only on (seed, i). Clips are drawn uniformly over all clip
    windows (so longer videos give more clips, as the authors' loaders do), and
    a whole clip is mirrored with probability 1/2 when `mirror` is set.
    """

    def __init__(self, source: VideoSource, spec: ClipSpec, batch: int, seed: int = 0, mirror: bool = True):
        self.index = ClipIndex(source, spec)
        self.source, self.spec, self.batch, self.seed, self.mirror = source, spec, batch, seed, mirror

    def rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 0x5EA1, i])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self.rng(i)
        windows = rng.integers(0, len(self.index), self.batch)
        k1, k2 = sample_pair_indices(rng, self.batch, self.spec.frames)
        flips = rng.random(self.batch) < 0.5 if self.mirror else np.zeros(self.batch, bool)
        pairs = []
        for j, w in enumerate(windows):
            video, start = self.index.window(int(w))
            ids = self.index.frame_ids(start, np.array([k1[j], k2[j]]))
            pair = self.source.read(video, ids)
            pairs.append(pair[:, :, ::-1] if flips[j] else pair)
        dt = torch.from_numpy(pair_times(k1, k2, self.spec.frames)).diff(dim=1)[:, 0]
        return to_float_video(np.stack(pairs)), dt


class PrefetchedBatches:
    """Batches `start`, `start + 1`, ... `stop - 1` of `batches`, decoded ahead of use by `workers` processes.

    A DataLoader over step indices that starts at the resume step (edm2's
    InfiniteSampler(start_idx=...)). Batch i is a pure function of (seed, i), so
    workers change when a batch is decoded, never what it holds. Read in order:
    `self[i]` must ask for the next index. `workers=0` decodes on the caller's thread.
    """

    def __init__(self, batches: PairBatches, start: int, stop: int, workers: int = 2, pin_memory: bool = False):

        loader = DataLoader(
            batches,
            sampler=range(start, stop),
            batch_size=None,
            num_workers=workers,
            pin_memory=pin_memory,
            worker_init_fn=_ignore_interrupts,
            generator=torch.Generator(),  # the workers' seeds come from here, not from the global random state
        )
        self.next = start
        self._batches = iter(loader)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i != self.next:
            raise IndexError(f"prefetched batches are read in order: batch {self.next} is next, not {i}")
        self.next += 1
        frames, dt = next(self._batches)  # the loader hands the pair back as a list
        return frames, dt

    def close(self) -> None:
        """Stop the workers (dropping the loader's iterator shuts them down)."""
        self._batches = iter(())

    def __enter__(self) -> "PrefetchedBatches":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ignore_interrupts(worker_id: int) -> None:
    # Ctrl-C reaches the whole process group, and so does SIGTERM from `timeout`, torchrun or a service manager:
    # the training loop, not a loader worker, decides when to stop (a worker killed by SIGTERM crashed the step).
    # The loader still ends its workers when it closes, and they end by themselves when the trainer dies.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    default_malloc()  # a decoder frees what it hands over: its memory goes back to the kernel (`utils.malloc`)
