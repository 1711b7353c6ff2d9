"""Clip time: the one rule that places frames in time, for data pairs, losses, sample grids and metrics.

A training clip of F frames spans clip time t = 0..1: its frame k is at
t = k / (F - 1) (method.md, "Time t is normalised to [0, 1]"; docs/conventions.md).
t > 1 extrapolates past the clip. `clip_time` is that rule and `clip_frame`
its inverse; everything else here is written with them.

`Timebase` adds seconds: it takes a training clip to play at `train_fps`
frames per second, so videos can be asked for by length and frame rate.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_TRAIN_FPS = 8.0  # frame rate assumed for training clips when a snapshot does not record one
MAX_FPS = 10_000.0  # any frame rate, asked for or read from a file: slow-motion cameras stay below it, and
# past it encoders fail (1e300 fps overflowed in the MP4 writer) and resampling explodes


def clip_time(k, clip_frames: int):
    """t of clip frame k (int or real; a float, array or tensor): t = k / (clip_frames - 1)."""
    if clip_frames < 2:
        raise ValueError(f"a clip needs at least 2 frames to span t = 0..1, got {clip_frames}")
    return k / (clip_frames - 1)


def clip_frame(t, clip_frames: int):
    """The (real) clip frame at time t: the inverse of `clip_time`."""
    return t * (clip_frames - 1)


def clip_times(frames: int, clip_frames: int) -> torch.Tensor:
    """t `[frames]` (float32) of consecutive frames at the training frame rate, from t = 0."""
    return clip_time(torch.arange(frames, dtype=torch.float32), clip_frames)


def pair_times(k1: np.ndarray, k2: np.ndarray, clip_frames: int) -> np.ndarray:
    """t `[n, 2]` (float32) of pairs of clip-frame indices."""
    return clip_time(np.stack([k1, k2], axis=1), clip_frames).astype(np.float32)


@dataclass(frozen=True)
class Timebase:
    """Seconds <-> clip time t: a training clip is `clip_frames` frames shown at `train_fps`.

    Its frame k is at k / train_fps seconds and at t = k / (clip_frames - 1), so
    t = seconds * train_fps / (clip_frames - 1). A video of N frames at F fps
    shows frame k at k / F seconds: t_k = k * train_fps / (F * (clip_frames - 1)).
    F above train_fps interpolates in time; t_k beyond 1 extrapolates.
    """

    clip_frames: int = 16
    train_fps: float = DEFAULT_TRAIN_FPS

    def __post_init__(self):
        if self.clip_frames < 2 or not 0 < self.train_fps <= MAX_FPS:
            raise ValueError(
                f"a timebase needs clip_frames >= 2 and train_fps in (0, {MAX_FPS:g}], got "
                f"{self.clip_frames}, {self.train_fps}"
            )

    @classmethod
    def from_meta(cls, meta: dict, train_fps: float | None = None) -> "Timebase":
        """From a snapshot's metadata; `train_fps` overrides the recorded rate (default 8 if none)."""
        fps = train_fps or meta.get("train_fps") or DEFAULT_TRAIN_FPS
        return cls(int(meta["clip_frames"]), float(fps))

    @property
    def clip_seconds(self) -> float:
        """Seconds between the first and the last frame of a training clip (t from 0 to 1)."""
        return self.seconds_of(1.0)

    def t_of(self, seconds: float | torch.Tensor) -> float | torch.Tensor:
        return clip_time(seconds * self.train_fps, self.clip_frames)  # seconds * train_fps = clip frames

    def seconds_of(self, t: float | torch.Tensor) -> float | torch.Tensor:
        return clip_frame(t, self.clip_frames) / self.train_fps

    def frame_count(self, seconds: float, fps: float) -> int:
        """Frames in a video lasting `seconds` at `fps` (each frame lasts 1 / fps)."""
        return max(1, round(seconds * fps))

    def times(
        self, frames: int | None = None, fps: float | None = None, seconds: float | None = None, start: float = 0.0
    ) -> torch.Tensor:
        """t `[N]` of a video of `frames` frames (or `seconds` long) at `fps`, its first frame at `start` seconds.

        Defaults: `fps` = the training rate, length = the frames of t in 0..1
        (`times()` is the training clip's own t_k = k / (clip_frames - 1)).
        """
        fps = self.train_fps if fps is None else float(fps)
        frames = self.count(frames, fps, seconds)
        if not math.isfinite(start):
            raise ValueError(f"`start` must be finite, got {start}")
        seconds_k = start + torch.arange(frames, dtype=torch.float64) / fps
        return self.t_of(seconds_k).float()

    def count(self, frames: int | None = None, fps: float | None = None, seconds: float | None = None) -> int:
        """How many frames `times` gives for these arguments, without computing them."""
        fps = self.train_fps if fps is None else float(fps)
        if not math.isfinite(fps) or not fps > 0:
            raise ValueError(f"`fps` must be positive, got {fps}")
        if frames is not None and seconds is not None:
            raise ValueError("give `frames` or `seconds`, not both")
        if seconds is not None and not math.isfinite(seconds * fps):
            raise ValueError(f"`seconds` must be finite, got {seconds}")
        if frames is None:
            # default: the frames of one training clip's t = 0..1 at this rate
            frames = (
                self.frame_count(seconds, fps)
                if seconds is not None
                else math.floor(self.clip_seconds * fps + 1e-6) + 1
            )
        if frames < 1:
            raise ValueError(f"`frames` must be at least 1, got {frames}")
        return int(frames)

    def nearest_training_times(self, t: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """The training clip frame nearest each t (held at the first/last frame outside [0, 1]).

        `frames` counts the frames of a clip of another length on the same time base (a fitted
        clip, `digan.invert.fit`): held at its frame `frames - 1` instead.
        """
        last = (frames or self.clip_frames) - 1
        k = clip_frame(torch.as_tensor(t, dtype=torch.float32), self.clip_frames).round().clamp(0, last)
        return clip_time(k, self.clip_frames)

    def describe(self, t: torch.Tensor) -> str:
        """The span of times `t` in clip time and in seconds, beside the training clip's."""
        lo, hi = float(t.min()), float(t.max())
        return (
            f"t {lo:.3g}..{hi:.3g} ({self.seconds_of(lo):.3g}..{self.seconds_of(hi):.3g} s; "
            f"the training clip is t 0..1, {self.clip_seconds:.3g} s)"
        )


@dataclass(frozen=True)
class TimeRequest:
    """Which instants a video shows, as a user asks for them; at most one of frames, seconds, at and t.

    frames     frames of the video (default: those of one training clip, t 0..1, at `fps`)
    seconds    its length in seconds instead of `frames`
    fps        frame rate of the video (default: the training rate)
    start      seconds at which the first frame is
    at         only these instants, in seconds, in this order
    t          only these clip times (1 = the end of a training clip), in this order
    train_fps  frame rate of the training clips (default: the snapshot's, else DEFAULT_TRAIN_FPS)
    """

    frames: int | None = None
    seconds: float | None = None
    fps: float | None = None
    start: float = 0.0
    at: tuple[float, ...] | None = None
    t: tuple[float, ...] | None = None
    train_fps: float | None = None

    def __post_init__(self):
        chosen = [name for name in ("frames", "seconds", "at", "t") if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(f"give only one of {' / '.join(f'`{c}`' for c in chosen)}")
        for name in ("at", "t"):
            values = getattr(self, name)
            if values is not None:
                values = tuple(float(v) for v in values)
                if not values or not all(math.isfinite(v) for v in values):
                    raise ValueError(f"`{name}` must be one or more finite numbers")
                object.__setattr__(self, name, values)
        for name in ("seconds", "fps", "train_fps"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be a positive number, got {value}")
        for name in ("fps", "train_fps"):
            value = getattr(self, name)
            if value is not None and value > MAX_FPS:
                raise ValueError(f"`{name}` must be at most {MAX_FPS:g} frames per second, got {value:g}")
        if self.frames is not None and self.frames < 1:
            raise ValueError(f"`frames` must be at least 1, got {self.frames}")
        if not math.isfinite(self.start):
            raise ValueError(f"`start` must be finite, got {self.start}")

    @property
    def length_given(self) -> bool:
        """Whether the request says how many frames (else a training clip's, or a caller's default)."""
        return any(getattr(self, name) is not None for name in ("frames", "seconds", "at", "t"))

    def or_seconds(self, seconds: float) -> "TimeRequest":
        """This request, `seconds` long when it does not say how long."""
        return self if self.length_given else dataclasses.replace(self, seconds=seconds)

    def timebase(self, clip_frames: int, train_fps: float | None = None) -> Timebase:
        """The time base of a model whose clips have `clip_frames` frames at `train_fps` (`self.train_fps` wins)."""
        return Timebase(int(clip_frames), float(self.train_fps or train_fps or DEFAULT_TRAIN_FPS))

    def video_fps(self, timebase: Timebase) -> float:
        """The frame rate of the files: `fps`, else the training rate."""
        return self.fps or timebase.train_fps

    def count(self, timebase: Timebase) -> int:
        """How many frames the video has, without computing their times (a memory check comes first)."""
        for values in (self.at, self.t):
            if values is not None:
                return len(values)
        return timebase.count(self.frames, self.video_fps(timebase), self.seconds)

    def times(self, timebase: Timebase) -> torch.Tensor:
        """t `[T]` (float32) of every frame; a time too large to be finite is a ValueError naming the cause."""
        if self.at is not None:
            t = timebase.t_of(torch.tensor(self.at, dtype=torch.float64)).float()
        elif self.t is not None:
            t = torch.tensor(self.t, dtype=torch.float32)
        else:
            t = timebase.times(frames=self.count(timebase), fps=self.video_fps(timebase), start=self.start)
        if not torch.isfinite(t).all():
            raise ValueError(f"{timebase.describe(t)}: not finite; ask for a smaller `start`, `seconds` or `at`")
        return t
