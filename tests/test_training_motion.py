"""Training learns motion: after a few hundred tiny-32 steps on `shapes`, generated clips move like the data more.

The untrained generator's clips are still (its motion path starts near zero):
no pixel changes by more than 0.1 between frames, against about 5% for the
real clips. The motion discriminator sees pairs of frames and their time gap
(DIGAN Sec. 3.2), so training must push the share of moving pixels towards
the data's. Seen to fail with the motion path cut (temporal_sigma = 0: the
generator cannot depend on t, so its clips stay still).
"""

import dataclasses

import numpy as np
import pytest

from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.metrics.motion import motion_statistics
from digan.sampling import render_videos
from digan.timebase import clip_times
from digan.training import Trainer

STEPS = 200


def moving_share_gap(trainer: Trainer, reals: np.ndarray) -> float:
    """|generated - real| share of moving pixels, over the real share (0: the data's own motion)."""
    frames = reals.shape[1]
    fakes = render_videos(trainer.G_ema, list(range(32)), clip_times(frames, frames), batch=16)
    fake, real = motion_statistics(fakes)["moving_pixels"], motion_statistics(reals)["moving_pixels"]
    return abs(fake - real) / real


def train_gap(preset) -> tuple[float, float]:
    frames = preset.training.clip_frames
    held_out = Shapes(32, seed=1)
    reals = np.stack([held_out.read(i, range(frames)) for i in range(32)])
    trainer = Trainer(preset, Shapes(32))
    before = moving_share_gap(trainer, reals)
    for _ in range(STEPS):
        trainer.step()
    return before, moving_share_gap(trainer, reals)


@pytest.mark.slow
def test_motion_moves_towards_the_data():
    before, after = train_gap(get_preset("tiny-32"))
    print(f"moving-pixel gap to the data: before {before:.3f}, after {STEPS} steps {after:.3f}")
    assert before > 0.95  # the untrained generator barely moves
    assert after < 0.9 * before
