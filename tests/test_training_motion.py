"""Training learns motion: after 10 kimg of tiny-32 on `shapes`, clips move like the data.

The statistic is the share of pixels that change by more than 0.1 between
consecutive frames (metrics/motion.py); the real clips have about 5%. The
untrained generator's clips flicker (about 1.5x the data's share), the
clips then go still for a while (0.00x at 125 steps), and objects start to
move (with the wider networks of round 2 of docs/study.md: 0.35x the data's at 5 kimg, 1.01x at 10). So this test
needs 625 steps, the first 10 kimg of the demo's run: 0.00x, 0.06x, 0.52x, 0.58x and 1.23x the data's
share at 125, 250, 375, 500 and 625 steps (measured with tiny-32's present widths, adopted in round 5,
when this test ran them as an override of the full widths).

Seen to fail with the motion path cut (temporal_sigma = 0: the generator
cannot depend on t, so the share stays 0 and the gap at 1: 1.000 before and after).
"""

import numpy as np
import pytest

from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.metrics.motion import motion_statistics
from digan.sampling.render import render_videos
from digan.timebase import clip_times
from digan.training.loop import Trainer

STEPS = 625  # 10 kimg of 16 clips


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
def test_motion_moves_towards_the_data(one_thread):
    # One thread: training is deterministic only at a fixed thread count, and this one run is the
    # study's setting. The outcome depends on it: with the widths before round 5 at 2 threads the gap
    # went 0.614 -> 0.505, short of the bound, while it learnt at 1 (docs/study.md: single runs are noisy).
    before, after = train_gap(get_preset("tiny-32"))
    print(f"moving-pixel gap to the data: before {before:.3f}, after {STEPS} steps {after:.3f}")
    assert after < 0.75 * before  # gap 0.46 untrained, 0.23 after (widths before round 5: 0.01 at 10 kimg, round 2)
