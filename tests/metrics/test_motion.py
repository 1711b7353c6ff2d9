"""The motion check: known speeds are measured, still clips are still, flicker is not motion."""

import numpy as np
import pytest

from digan.data.procedural import Shapes
from digan.metrics.motion import clip_speeds, foreground_positions, motion_ratios, motion_statistics, moving_pixel_share


def square_clip(speed: float, frames: int = 16, size: int = 32, side: int = 6) -> np.ndarray:
    """A bright square moving right at `speed` whole pixels a frame over a dark background: uint8 `[T, H, W, 3]`."""
    clip = np.full((frames, size, size, 3), 30, np.uint8)
    for k in range(frames):
        x = 2 + int(round(k * speed))
        clip[k, 10 : 10 + side, x : x + side] = 220
    return clip


def test_known_speeds_are_measured():
    videos = np.stack([square_clip(0.0), square_clip(1.0), square_clip(1.5)])
    speeds = clip_speeds(videos)
    assert speeds[0] == 0.0
    # the median background holds a moving square's path, so speeds are close to the truth, not exact
    assert speeds[1] == pytest.approx(1.0, abs=0.35)
    assert speeds[2] > speeds[1]


def test_positions_follow_the_square():
    pos, ok = foreground_positions(square_clip(1.5)[None])
    assert ok.all()
    assert np.all(np.diff(pos[0, :, 0]) > 0)  # moves right every frame
    assert np.allclose(pos[0, :, 1], pos[0, 0, 1])  # never up or down


def test_still_and_moving_shares():
    still = np.stack([square_clip(0.0)] * 3)
    moving = np.stack([square_clip(1.0)] * 3)
    s, m = motion_statistics(still), motion_statistics(moving)
    assert s["still_clips"] == 1.0 and s["moving_pixels"] == 0.0 and s["speed"] == 0.0
    assert m["still_clips"] == 0.0 and m["moving_pixels"] > 0
    assert motion_ratios(m, m) == {"speed_ratio": 1.0, "moving_pixels_ratio": 1.0}
    assert motion_ratios(s, m)["moving_pixels_ratio"] == 0.0


def test_flicker_is_not_a_moving_object():
    """Independent noise every frame changes many pixels but has no coherent centroid path."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (4, 16, 32, 32, 3), dtype=np.uint8)
    moving = np.stack([square_clip(1.0)] * 4)
    assert moving_pixel_share(noise).mean() > 10 * moving_pixel_share(moving).mean()


def test_shapes_data_moves_at_its_configured_speed():
    """`shapes` moves 0.01..0.035 frame widths a frame: 0.3..1.1 px at 32 px."""
    source = Shapes(32, count=16)
    videos = np.stack([source.read(i, range(16)) for i in range(16)])
    stats = motion_statistics(videos)
    assert 0.3 < stats["speed"] < 1.2
    assert stats["still_clips"] < 0.2
    assert 0.01 < stats["moving_pixels"] < 0.2


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="uint8"):
        motion_statistics(np.zeros((2, 16, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="T>=2"):
        motion_statistics(np.zeros((2, 1, 8, 8, 3), np.uint8))
