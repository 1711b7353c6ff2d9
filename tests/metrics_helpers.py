"""Small stand-ins for the metric tests: an in-memory dataset and a cheap feature function."""

import numpy as np

from digan.data.base import VideoSource
from digan.metrics.weights import Detector


class CountingSource(VideoSource):
    """Videos whose frame k of video v is filled with (v, k % 256, 7): the pixels say what was read."""

    name = "counting"

    def __init__(self, lengths, resolution=8):
        self.lengths, self.resolution, self.reads = list(lengths), resolution, 0

    def __len__(self):
        return len(self.lengths)

    def num_frames(self, index):
        return self.lengths[index]

    def read(self, index, frame_ids):
        self.reads += 1
        ids = np.asarray(frame_ids)
        assert ids.min() >= 0 and ids.max() < self.lengths[index], "read past the end of a video"
        out = np.zeros((len(ids), self.resolution, self.resolution, 3), np.uint8)
        out[..., 0], out[..., 1], out[..., 2] = index, (ids % 256)[:, None, None], 7
        return out


class MomentFeatures:
    """Features from pixel moments: mean and std of each channel in each quarter of the clip (D = 24)."""

    detector = Detector("moments", "-", "0" * 64)
    dim = 24

    def __init__(self):
        self.calls = 0

    def __call__(self, clips, resize="stretch"):
        self.calls += 1
        out = []
        for c in clips:
            x = np.asarray(c, np.float64)
            parts = np.array_split(x, 4, axis=0)
            out.append(np.concatenate([[p[..., ch].mean(), p[..., ch].std()] for p in parts for ch in range(3)]))
        return np.asarray(out, np.float32)


def noise_generator(calls=None):
    """generate(seeds, frames): seed-determined noise videos, 8x8; frame k's green channel is k."""

    def generate(seeds, frames):
        if calls is not None:
            calls.append((list(seeds), frames))
        videos = np.stack([np.random.default_rng(s).integers(0, 256, (frames, 8, 8, 3)) for s in seeds]).astype(
            np.uint8
        )
        videos[..., 1] = np.arange(frames, dtype=np.uint8)[None, :, None, None]
        return videos

    return generate
