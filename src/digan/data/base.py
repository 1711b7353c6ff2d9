"""The dataset interface: a collection of videos read frame by frame.

Every dataset, built-in or on disk, is a `VideoSource`. Training never decodes
a whole clip: it asks for the two frames of a pair (DIGAN Sec. 3.2, the motion
discriminator sees two frames and their time gap), so `read` takes explicit
frame indices.
"""

from __future__ import annotations

import abc
import sys
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm


class DataError(ValueError):
    """A user's data cannot be used; the message is one line meant for the user."""


def error_reason(e: BaseException) -> str:
    """The cause of an exception in a few words, for a DataError: FFmpeg's and the OS's message without the path."""
    strerror = getattr(e, "strerror", None)
    text = strerror if isinstance(strerror, str) and strerror else str(e).strip()
    text = text.splitlines()[0] if text else type(e).__name__
    return text[:200]


MAX_WARNINGS = 20  # warning lines per report; the rest are counted in the summary


def warn(message: str, stream=None) -> None:
    """A one-line warning on stderr for a user's data problem; does not break a progress bar."""

    tqdm.write(f"warning: {message}", file=stream or sys.stderr)


def note(message: str, stream=None) -> None:

    tqdm.write(message, file=stream or sys.stderr)


class Report:
    """Skipped videos of one dataset: one warning line each (the first MAX_WARNINGS), then a summary."""

    def __init__(self, label: str, stream=None):
        self.label, self.stream = label, stream
        self.skipped: list[tuple[str, str]] = []

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append((name, reason))
        if len(self.skipped) <= MAX_WARNINGS:
            warn(f"skipping {name}: {reason}", self.stream)

    def summary(self, used: int) -> str:
        more = len(self.skipped) - MAX_WARNINGS
        extra = f" ({more} more warnings not shown)" if more > 0 else ""
        return f"{self.label}: {used} videos used, {len(self.skipped)} skipped{extra}"


class VideoSource(abc.ABC):
    """Videos with square uint8 RGB frames at one resolution.

    `read(i, ids)` returns `uint8 [len(ids), R, R, 3]` for video `i`; indices
    may repeat and need not be sorted.
    """

    name: str = "videos"
    resolution: int

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def num_frames(self, index: int) -> int: ...

    @abc.abstractmethod
    def read(self, index: int, frame_ids: Sequence[int]) -> np.ndarray: ...

    def video_name(self, index: int) -> str:
        """A name for video `index` in warnings: its path for data on disk."""
        return f"{self.name}[{index}]"

    def describe(self) -> str:
        return f"{self.name}: {len(self)} videos at {self.resolution}x{self.resolution}"
