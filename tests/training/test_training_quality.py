"""Training learns: after 150 tiny-32 steps on `shapes`, samples are measurably closer to the data (colour
histograms and moments; docs/study.md, "The quality test", gives the figures). Motion does not improve this
early: the generator first settles on nearly static clips, so it is not asserted here.
"""

import numpy as np
import pytest

from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.sampling import RenderOptions, render_videos
from digan.timebase import clip_times
from digan.training.loop import Trainer

STEPS = 150


def colour_histogram(videos: np.ndarray) -> np.ndarray:
    """Per-channel 16-bin histograms of all pixels, normalised: `[3, 16]`."""
    return np.stack([np.histogram(videos[..., c], bins=16, range=(0, 256))[0] for c in range(3)]) / videos[..., 0].size


def distances(fakes: np.ndarray, reals: np.ndarray) -> tuple[float, float]:
    """(L1 between colour histograms, |difference of pixel means| + |difference of pixel stds|)."""
    histogram = np.abs(colour_histogram(fakes) - colour_histogram(reals)).sum()
    f, r = fakes.astype(np.float64), reals.astype(np.float64)
    moments = abs(f.mean() - r.mean()) + abs(f.std() - r.std())
    return float(histogram), float(moments)


@pytest.mark.slow
def test_samples_approach_the_data():
    preset = get_preset("tiny-32")
    frames = preset.training.clip_frames
    held_out = Shapes(32, seed=1)
    reals = np.stack([held_out.read(i, range(frames)) for i in range(32)])
    trainer = Trainer(preset, Shapes(32))

    def sample():
        return render_videos(trainer.G_ema, list(range(32)), clip_times(frames, frames), RenderOptions(batch=16))

    before = distances(sample(), reals)
    for _ in range(STEPS):
        trainer.step()
    after = distances(sample(), reals)
    print(f"colour histogram and moment distances: before {before}, after {after}")
    assert after[0] < 0.85 * before[0]
    assert after[1] < 0.5 * before[1]
