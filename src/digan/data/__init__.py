"""Datasets: video sources on disk and built in, clips and training pairs, video files."""

from .base import DataError, VideoSource
from .clips import ClipIndex, ClipSpec, PairBatches, to_float_video, to_uint8_video
from .io import list_videos, make_grid, natural_key, read_video, write_video

__all__ = [
    "ClipIndex", "ClipSpec", "DataError", "PairBatches", "VideoSource", "list_videos", "make_grid",
    "natural_key", "read_video", "to_float_video", "to_uint8_video", "write_video",
]
