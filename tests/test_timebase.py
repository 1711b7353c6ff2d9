"""Clip time: one rule, t = k / (F - 1), for data pairs, losses, sample grids, metrics and seconds."""

import numpy as np
import pytest
import torch

from digan.timebase import Timebase, clip_frame, clip_time, clip_times, pair_times


def test_one_rule_for_clip_frames_pairs_and_seconds():
    k = np.arange(16)
    t = clip_times(16, 16)
    assert t[0].item() == 0.0 and t[-1].item() == 1.0 and t.dtype == torch.float32
    assert torch.equal(torch.from_numpy(pair_times(k, k[::-1], 16)), torch.stack([t, t.flip(0)], dim=1))
    assert torch.equal(Timebase(16, 8).times(), t)  # seconds at the training rate
    assert torch.equal(Timebase(16, 25).nearest_training_times(t + 0.01), t)  # back onto the clip frames
    assert clip_frame(clip_time(7.5, 31), 31) == pytest.approx(7.5)
    with pytest.raises(ValueError, match="at least 2 frames"):
        clip_times(4, 1)


def test_timebase_maps_frames_and_fps_to_t():
    tb = Timebase(clip_frames=16, train_fps=8)
    assert torch.equal(tb.times(), clip_times(16, 16))  # default: the training clip
    k = torch.arange(10, dtype=torch.float64)
    assert torch.allclose(tb.times(frames=10, fps=24), (k * 8 / (24 * 15)).float())  # t_k = k R / (F (C-1))
    long = tb.times(seconds=8, fps=8)  # 4x the training clip
    assert len(long) == 64 and long[-1].item() == pytest.approx(63 / 15)
    assert tb.times(frames=3, fps=8, start=1.875)[0].item() == pytest.approx(1.0)
    assert tb.t_of(tb.clip_seconds) == pytest.approx(1.0)
    assert len(tb.times(fps=24)) == 46 and tb.times(fps=24)[-1].item() == pytest.approx(1.0)  # one clip, 3x denser
    assert torch.equal(torch.cat([tb.times(frames=10), tb.times(frames=6, start=10 / 8)]), tb.times(frames=16))
    assert torch.equal(
        tb.nearest_training_times(torch.tensor([-0.2, 0.51 / 15, 0.52, 3.0])), torch.tensor([0.0, 1 / 15, 8 / 15, 1.0])
    )
    # a clip of 4 frames on the same time base (a fit): held at its own last frame, t = 3 / 15
    assert torch.equal(tb.nearest_training_times(torch.tensor([0.52, 3.0]), frames=4), torch.tensor([3 / 15, 3 / 15]))


def test_timebase_from_meta_uses_recorded_or_default_fps():
    assert Timebase.from_meta({"clip_frames": 8}) == Timebase(8, 8.0)
    assert Timebase.from_meta({"clip_frames": 8, "train_fps": 25}) == Timebase(8, 25.0)
    assert Timebase.from_meta({"clip_frames": 8, "train_fps": 25}, train_fps=5) == Timebase(8, 5.0)
    with pytest.raises(ValueError):
        Timebase(1, 8)
